"""The internship logbook: internships, dated entries, and the links a supervisor signs them through."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import Model, db
from portfolio.models.base import TimestampMixin, UTCDateTime, str_enum, utcnow
from portfolio.models.framework import Competency
from portfolio.models.user import User


class EntryStatus(enum.StrEnum):
    DRAFT = "draft"          # the learner writes it
    PENDING = "pending"      # sent to the supervisor through a link
    SIGNED = "signed"        # signed: never changes again
    RETURNED = "returned"    # sent back with a remark: the learner edits and sends it again


#: The competencies an entry says were practised.
logbook_entry_competencies = Table(
    "logbook_entry_competencies",
    db.metadata,
    Column("entry_id", ForeignKey("logbook_entries.id", ondelete="CASCADE"), primary_key=True),
    Column("competency_id", ForeignKey("competencies.id", ondelete="RESTRICT"), primary_key=True, index=True),
)

#: The entries a link covered when it was sent (a record; which link may act now is ``current_link_id``).
signoff_link_entries = Table(
    "signoff_link_entries",
    db.metadata,
    Column("link_id", ForeignKey("signoff_links.id", ondelete="CASCADE"), primary_key=True),
    Column("entry_id", ForeignKey("logbook_entries.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Internship(TimestampMixin, Model):
    """A learner's internship in an organisation, with the supervisor who signs its logbook."""

    __tablename__ = "internships"
    __table_args__ = (
        CheckConstraint("end_date >= start_date", name="dates_in_order"),
        CheckConstraint("expected_hours BETWEEN 1 AND 10000", name="expected_hours_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organisation: Mapped[str] = mapped_column(String(200))
    supervisor_name: Mapped[str] = mapped_column(String(200))
    supervisor_email: Mapped[str] = mapped_column(String(254))
    start_date: Mapped[date]
    end_date: Mapped[date]
    #: The internship's expected length in hours (by default 7 h per working day).
    expected_hours: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    learner: Mapped[User] = relationship()
    entries: Mapped[list[LogbookEntry]] = relationship(
        back_populates="internship", order_by="(LogbookEntry.day, LogbookEntry.id)", cascade="all, delete-orphan",
        passive_deletes=True
    )
    links: Mapped[list[SignoffLink]] = relationship(
        back_populates="internship", order_by="SignoffLink.id.desc()", cascade="all, delete-orphan",
        passive_deletes=True
    )


class LogbookEntry(TimestampMixin, Model):
    """One day's activities; once signed, it is a record and never changes."""

    __tablename__ = "logbook_entries"
    __table_args__ = (
        Index("ix_logbook_entries_internship_day", "internship_id", "day"),
        CheckConstraint("minutes > 0 AND minutes <= 1440", name="minutes_in_day"),
        CheckConstraint("status <> 'signed' OR (signed_at IS NOT NULL AND signed_by_name IS NOT NULL)",
                        name="signed_has_signature"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    internship_id: Mapped[int] = mapped_column(ForeignKey("internships.id", ondelete="CASCADE"))
    day: Mapped[date]
    #: Time spent, in minutes (exact sums; shown as hours).
    minutes: Mapped[int]
    activities: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[EntryStatus] = mapped_column(str_enum(EntryStatus, "logbook_entry_status"),
                                                default=EntryStatus.DRAFT)
    #: The link through which the entry may be signed now (the last one it was sent with).
    current_link_id: Mapped[int | None] = mapped_column(
        ForeignKey("signoff_links.id", ondelete="SET NULL"), index=True)
    signed_by_name: Mapped[str | None] = mapped_column(String(200))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    supervisor_comment: Mapped[str | None] = mapped_column(Text)
    #: What the entry was signed under, frozen with the signature (the internship may change later).
    signed_organisation: Mapped[str | None] = mapped_column(String(200))
    signed_supervisor_name: Mapped[str | None] = mapped_column(String(200))
    #: The address the one-time code that confirmed the signature was sent to.
    signed_supervisor_email: Mapped[str | None] = mapped_column(String(254))
    signed_expected_hours: Mapped[int | None]
    signed_minutes: Mapped[int | None]
    returned_remark: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    internship: Mapped[Internship] = relationship(back_populates="entries")
    competencies: Mapped[list[Competency]] = relationship(
        secondary=logbook_entry_competencies, order_by="Competency.code", lazy="selectin")
    current_link: Mapped[SignoffLink | None] = relationship(foreign_keys=[current_link_id])

    @property
    def is_editable(self) -> bool:
        return self.status in (EntryStatus.DRAFT, EntryStatus.RETURNED)


class SignoffLink(TimestampMixin, Model):
    """A signed, expiring link sent to the supervisor; only the SHA-256 of its nonce is stored."""

    __tablename__ = "signoff_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    internship_id: Mapped[int] = mapped_column(ForeignKey("internships.id", ondelete="CASCADE"), index=True)
    nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    sent_to: Mapped[str] = mapped_column(String(254))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The one-time codes that confirm a signature are rows of ``signoff_codes`` (SignoffCode).

    internship: Mapped[Internship] = relationship(back_populates="links")
    entries: Mapped[list[LogbookEntry]] = relationship(
        secondary=signoff_link_entries, order_by="(LogbookEntry.day, LogbookEntry.id)")


class SignoffCode(TimestampMixin, Model):
    """A one-time code e-mailed to a link's ``sent_to`` address that confirms the supervisor's signature.

    Only its HMAC (under the app's secret, bound to the link) is kept. It expires, allows a few tries
    (counted by conditional UPDATEs), is used once; a link gets only a few codes (rows counted)."""

    __tablename__ = "signoff_codes"
    __table_args__ = (
        CheckConstraint("attempts >= 0 AND attempts <= 5", name="attempts_range"),
        CheckConstraint("expires_at > created_at", name="expires_after_creation"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The code dies with its link (and the link with its internship).
    link_id: Mapped[int] = mapped_column(ForeignKey("signoff_links.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
