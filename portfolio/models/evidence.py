"""Evidence: a learner's piece of proof, its files (blobs addressed by SHA-256) and its claims."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import db
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


class Blob(TimestampMixin, db.Model):
    """Stored content, once per SHA-256 whoever uploaded it."""

    __tablename__ = "blobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(127))
    storage_key: Mapped[str] = mapped_column(String(255))


class Evidence(TimestampMixin, db.Model):
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
        back_populates="evidence", order_by="EvidenceFile.id", cascade="all, delete-orphan"
    )
    claims: Mapped[list[Claim]] = relationship(
        back_populates="evidence", order_by="Claim.id", cascade="all, delete-orphan"
    )


class EvidenceFile(TimestampMixin, db.Model):
    """A file of a piece of evidence: the original filename (display only) and the blob it points at."""

    __tablename__ = "evidence_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id", ondelete="RESTRICT"), index=True)
    filename: Mapped[str] = mapped_column(String(255))

    evidence: Mapped[Evidence] = relationship(back_populates="files")
    blob: Mapped[Blob] = relationship(lazy="joined")


class Claim(TimestampMixin, db.Model):
    """Evidence tagged against a competency, with the learner's justification."""

    __tablename__ = "claims"
    __table_args__ = (UniqueConstraint("evidence_id", "competency_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    competency_id: Mapped[int] = mapped_column(ForeignKey("competencies.id", ondelete="RESTRICT"), index=True)
    justification: Mapped[str] = mapped_column(Text)

    evidence: Mapped[Evidence] = relationship(back_populates="claims")
    competency: Mapped[Competency] = relationship(lazy="joined")


class ApiToken(TimestampMixin, db.Model):
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
