"""The learner's own data (GDPR): archives of everything a person stored, and their requests
(access, erasure) with the answer the data protection officer gave."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import Model
from portfolio.models.base import TimestampMixin, UTCDateTime, str_enum
from portfolio.models.user import User


class DataExportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class PersonalDataExport(TimestampMixin, Model):
    """One archive of all of a person's data (right of access and portability), offered for a while."""

    __tablename__ = "personal_data_exports"
    __table_args__ = (
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_percent"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[DataExportStatus] = mapped_column(str_enum(DataExportStatus, "data_export_status"),
                                                     default=DataExportStatus.QUEUED)
    progress: Mapped[int] = mapped_column(default=0)
    storage_key: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: After this moment the archive is deleted by ``privacy sweep`` and no longer offered.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)

    user: Mapped[User] = relationship()


class RequestKind(enum.StrEnum):
    ERASURE = "erasure"


class RequestStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    REFUSED = "refused"


class PrivacyRequest(TimestampMixin, Model):
    """A request a person made about their data, and how it was handled (kept after an erasure)."""

    __tablename__ = "privacy_requests"
    __table_args__ = (
        Index("ix_privacy_requests_status_due", "status", "due_at"),
        # One open request of a kind per person, held by the database (two clicks at once make one).
        Index("uq_privacy_requests_open", "user_id", "kind", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
        CheckConstraint("due_at >= created_at", name="due_after_request"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Kept after the erasure (the row is then pseudonymised, not deleted).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    kind: Mapped[RequestKind] = mapped_column(str_enum(RequestKind, "privacy_request_kind"))
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, "privacy_request_status"),
                                                  default=RequestStatus.OPEN)
    message: Mapped[str] = mapped_column(Text, default="")        # the person's own words
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())       # one month, GDPR art. 12(3)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")         # the officer's reason
    #: What was removed, what was kept and why: the answer given to the person.
    outcome: Mapped[dict] = mapped_column(JSON, default=dict)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    handled_by: Mapped[User | None] = relationship(foreign_keys=[handled_by_id])
