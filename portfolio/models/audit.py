"""Audit events, chained by a keyed MAC so that an edited, inserted or deleted event is detectable.

Each event carries its position in the chain (``seq``, unique: two writers can never both take the same
place), the MAC of its predecessor (``prev_hash``) and its own MAC (``hash``), an HMAC-SHA256 under a key
that is not in the database (``PORTFOLIO_AUDIT_KEY``, or derived from the secret key). ``audit_head`` is a
one-row table holding the chain's head: appending updates it first, so the row lock (PostgreSQL) or the
write lock (SQLite) serialises writers for the rest of their transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portfolio.extensions import Model
from portfolio.models.base import UTCDateTime, utcnow

#: ``prev_hash`` of the first event.
GENESIS = "0" * 64


class AuditEvent(Model):
    __tablename__ = "audit_events"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Position in the chain, 1, 2, 3…: unique, so a fork cannot be stored.
    seq: Mapped[int] = mapped_column(unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    #: Which key signed the event (a fingerprint, never the key); NULL for events written before the
    #: chain was keyed (plain SHA-256, anchored by the first keyed event after them).
    key_id: Mapped[str | None] = mapped_column(String(16))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Model):
    """The chain's head: its last position and MAC. One row (``id = 1``)."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"), CheckConstraint("seq >= 0", name="seq"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS)
