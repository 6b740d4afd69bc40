"""E-mail waiting to leave: written in the request's transaction, sent after its commit, retried."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import Model
from portfolio.models.base import TimestampMixin, UTCDateTime

if TYPE_CHECKING:
    from portfolio.models.user import User


class OutboxStatus(StrEnum):
    QUEUED = "queued"  # never tried yet
    SENT = "sent"
    FAILED = "failed"  # last try failed: retried at next_attempt_at, or given up when it is empty


class OutboxMessage(TimestampMixin, Model):
    """One e-mail. ``user_id`` is the person it concerns (who sees its failure: the learner for the
    supervisor's sign-off link), ``kind`` and ``subject_id`` what it is about (``signoff_link`` and the
    link's id). ``last_error`` names the kind of failure only, never an address.

    A one-time secret the e-mail carries (the supervisor's sign-off code) is never in ``body``: the body
    holds a placeholder, and ``secrets_encrypted`` the secret sealed under a key derived from the app's
    secret, only until the message is sent or given up; then it is wiped (``""``: there was one)."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'sent', 'failed')", name="status"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_outbox_messages_kind_subject", "kind", "subject_id"),
        Index("ix_outbox_messages_status_next", "status", "next_attempt_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    secrets_encrypted: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User | None] = relationship(lazy="joined")
