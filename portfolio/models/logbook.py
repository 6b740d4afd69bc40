"""The internship logbook: internships, dated entries, and the links a supervisor signs them through."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import db
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


class Internship(TimestampMixin, db.Model):
    """A learner's internship in an organisation, with the supervisor who signs its logbook."""

    __tablename__ = "internships"

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
        back_populates="internship", order_by="(LogbookEntry.day, LogbookEntry.id)", cascade="all, delete-orphan"
    )
    links: Mapped[list[SignoffLink]] = relationship(
        back_populates="internship", order_by="SignoffLink.id.desc()", cascade="all, delete-orphan"
    )


class LogbookEntry(TimestampMixin, db.Model):
    """One day's activities; once signed, it is a record and never changes."""

    __tablename__ = "logbook_entries"
    __table_args__ = (Index("ix_logbook_entries_internship_day", "internship_id", "day"),)

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
    returned_remark: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    internship: Mapped[Internship] = relationship(back_populates="entries")
    competencies: Mapped[list[Competency]] = relationship(
        secondary=logbook_entry_competencies, order_by="Competency.code", lazy="selectin")
    current_link: Mapped[SignoffLink | None] = relationship(foreign_keys=[current_link_id])

    @property
    def is_editable(self) -> bool:
        return self.status in (EntryStatus.DRAFT, EntryStatus.RETURNED)


class SignoffLink(TimestampMixin, db.Model):
    """A signed, expiring link sent to the supervisor; only the SHA-256 of its nonce is stored."""

    __tablename__ = "signoff_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    internship_id: Mapped[int] = mapped_column(ForeignKey("internships.id", ondelete="CASCADE"), index=True)
    nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    sent_to: Mapped[str] = mapped_column(String(254))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    internship: Mapped[Internship] = relationship(back_populates="links")
    entries: Mapped[list[LogbookEntry]] = relationship(
        secondary=signoff_link_entries, order_by="(LogbookEntry.day, LogbookEntry.id)")
