"""Evidence: a learner's piece of proof, its files (blobs addressed by SHA-256) and its claims."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import Model
from portfolio.models.base import TimestampMixin, UTCDateTime, str_enum, utcnow
from portfolio.models.framework import Competency
from portfolio.models.user import User


class EvidenceKind(enum.StrEnum):
    CODE = "code"
    UML = "uml"
    TEST_REPORT = "test_report"
    LOGBOOK = "logbook"
    DOCUMENT = "document"
    LINK = "link"
    OTHER = "other"


class EvidenceContext(enum.StrEnum):
    PROJECT = "project"
    INTERNSHIP = "internship"
    PROFESSIONAL = "professional"
    CASE_STUDY = "case_study"


class EvidenceStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ASSESSED = "assessed"


class Blob(TimestampMixin, Model):
    """Stored content, once per SHA-256 whoever uploaded it."""

    __tablename__ = "blobs"
    __table_args__ = (CheckConstraint("size > 0", name="size_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(127))
    storage_key: Mapped[str] = mapped_column(String(255))


class Evidence(TimestampMixin, Model):
    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[EvidenceKind] = mapped_column(str_enum(EvidenceKind, "evidence_kind"))
    context: Mapped[EvidenceContext] = mapped_column(str_enum(EvidenceContext, "evidence_context"))
    occurred_on: Mapped[date]
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[EvidenceStatus] = mapped_column(str_enum(EvidenceStatus, "evidence_status"),
                                                  default=EvidenceStatus.DRAFT)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: A new version continues an assessed piece of evidence, which stays as it was.
    previous_version_id: Mapped[int | None] = mapped_column(ForeignKey("evidence.id", ondelete="SET NULL"))

    owner: Mapped[User] = relationship()
    previous_version: Mapped[Evidence | None] = relationship(remote_side=[id])
    files: Mapped[list[EvidenceFile]] = relationship(
        back_populates="evidence", order_by="EvidenceFile.id", cascade="all, delete-orphan", passive_deletes=True
    )
    claims: Mapped[list[Claim]] = relationship(
        back_populates="evidence", order_by="Claim.id", cascade="all, delete-orphan", passive_deletes=True
    )
    pending_files: Mapped[list[PendingFile]] = relationship(
        back_populates="evidence", order_by="PendingFile.id", cascade="all, delete-orphan", passive_deletes=True
    )


class EvidenceFile(TimestampMixin, Model):
    """A file of a piece of evidence: the original filename (display only) and the blob it points at."""

    __tablename__ = "evidence_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id", ondelete="RESTRICT"), index=True)
    filename: Mapped[str] = mapped_column(String(255))

    evidence: Mapped[Evidence] = relationship(back_populates="files")
    blob: Mapped[Blob] = relationship(lazy="joined")


class PendingFile(TimestampMixin, Model):
    """A file sent straight to the bucket (presigned POST) whose bytes are still being checked.

    The request that records it only looks the object up (its size); a background job then reads it
    once, checks its SHA-256 (the one declared, if any), and turns it into an ``EvidenceFile`` — or
    deletes it and tells the owner. Until then the evidence shows « vérification en cours » and cannot
    be submitted. Its bytes are charged to the owner's quota from the start (``size``).
    """

    __tablename__ = "pending_files"
    __table_args__ = (CheckConstraint("size > 0", name="size_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    staged_key: Mapped[str] = mapped_column(String(255), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    #: The SHA-256 the client declared, checked against the bytes; None when it declared none.
    sha256: Mapped[str | None] = mapped_column(String(64))

    evidence: Mapped[Evidence] = relationship(back_populates="pending_files")


class Claim(TimestampMixin, Model):
    """Evidence tagged against a competency, with the learner's justification."""

    __tablename__ = "claims"
    __table_args__ = (UniqueConstraint("evidence_id", "competency_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    competency_id: Mapped[int] = mapped_column(ForeignKey("competencies.id", ondelete="RESTRICT"), index=True)
    justification: Mapped[str] = mapped_column(Text)
    #: A copy made when the learner's cohort moved to the next version of the fiche: the tag it came from
    #: (which stays, on the old competency, as it was).
    migrated_from_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id", ondelete="SET NULL"))

    evidence: Mapped[Evidence] = relationship(back_populates="claims")
    competency: Mapped[Competency] = relationship(lazy="joined")
    migrated_from: Mapped[Claim | None] = relationship(remote_side=[id], lazy="select")


class ApiToken(TimestampMixin, Model):
    """A personal access token: only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()
