"""Open Badges 3.0 credentials issued for validated blocks, and the revocation status lists they point at."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import Model
from portfolio.models.assessment import BlockDecision
from portfolio.models.base import TimestampMixin, UTCDateTime, str_enum, utcnow
from portfolio.models.framework import Block
from portfolio.models.user import User
from portfolio.models.vae import JuryBlockDecision


class CredentialSource(enum.StrEnum):
    TUTOR = "tutor"   # a tutor's block validation (BlockDecision)
    JURY = "jury"     # a VAE jury's block decision, once the outcome is recorded (JuryBlockDecision)


class SubjectKind(enum.StrEnum):
    EMAIL_HASH = "email_hash"   # salted SHA-256 of the e-mail address (IdentityObject)
    DID = "did"                 # a decentralised identifier the learner typed


class StatusList(TimestampMixin, Model):
    """A W3C Bitstring Status List (revocation). The bits live here, not in the credentials' rows: a
    credential erased with its holder keeps its bit, and an index is handed out once (``next_index``)."""

    __tablename__ = "credential_status_lists"
    __table_args__ = (
        CheckConstraint("size >= 131072 AND size % 8 = 0", name="size_minimum"),
        CheckConstraint("next_index >= 0 AND next_index <= size", name="next_index_range"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20), default="revocation")
    size: Mapped[int] = mapped_column(default=131072)
    next_index: Mapped[int] = mapped_column(default=0)
    bits: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Credential(TimestampMixin, Model):
    """One signed OpenBadgeCredential (VC-JWT) claimed by a learner for one validated block."""

    __tablename__ = "credentials"
    __table_args__ = (
        UniqueConstraint("status_list_id", "status_index"),
        CheckConstraint("status_index >= 0", name="status_index_positive"),
        CheckConstraint("block_decision_id IS NULL OR jury_decision_id IS NULL", name="one_source"),
        Index("ix_credentials_user_block", "user_id", "block_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    # Personal data: erased with the person (their bit stays in the status list).
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    block_id: Mapped[int] = mapped_column(ForeignKey("blocks.id", ondelete="RESTRICT"))
    source: Mapped[CredentialSource] = mapped_column(str_enum(CredentialSource, "credential_source", length=10))
    block_decision_id: Mapped[int | None] = mapped_column(ForeignKey("block_decisions.id", ondelete="SET NULL"),
                                                          index=True)
    jury_decision_id: Mapped[int | None] = mapped_column(
        ForeignKey("jury_block_decisions.id", ondelete="SET NULL"), index=True)
    subject_kind: Mapped[SubjectKind] = mapped_column(str_enum(SubjectKind, "credential_subject_kind", length=12))
    status_list_id: Mapped[int] = mapped_column(ForeignKey("credential_status_lists.id", ondelete="RESTRICT"))
    status_index: Mapped[int]
    kid: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(Text)  # the compact JWS as issued
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship()
    block: Mapped[Block] = relationship()
    block_decision: Mapped[BlockDecision | None] = relationship()
    jury_decision: Mapped[JuryBlockDecision | None] = relationship()
    status_list: Mapped[StatusList] = relationship()
