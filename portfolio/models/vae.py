"""VAE (validation des acquis de l'expérience): enrolment, experiences, the dossier de validation
(livret 2), its frozen versions sent to a jury, the jury's decisions, and the dossier's exports."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import Model, db
from portfolio.models.base import TimestampMixin, UTCDateTime, str_enum, utcnow
from portfolio.models.evidence import Evidence
from portfolio.models.framework import Block, Certification, Competency
from portfolio.models.user import User


class TimeBasis(enum.StrEnum):
    FULL_TIME = "full_time"
    PART_TIME = "part_time"


class DossierStatus(enum.StrEnum):
    DRAFT = "draft"          # being written (a sent version may exist: edits make the next one)
    SENT = "sent"            # the latest version is with the jury
    DECIDED = "decided"      # the jury has given its outcome on the latest version


class BlockResult(enum.StrEnum):
    VALIDATED = "validated"          # validé
    NOT_VALIDATED = "not_validated"  # non validé


class Outcome(enum.StrEnum):
    FULL = "full"        # validation totale
    PARTIAL = "partial"  # validation partielle
    REFUSAL = "refusal"  # refus


class ExportKind(enum.StrEnum):
    PDF = "pdf"
    ARCHIVE = "archive"


class ExportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class VaeEnrolment(TimestampMixin, Model):
    """A VAE candidate's certification, and the tutor who accompanies them (accompagnateur), if any."""

    __tablename__ = "vae_enrolments"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    certification_id: Mapped[int] = mapped_column(ForeignKey("certifications.id", ondelete="RESTRICT"))
    adviser_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    certification: Mapped[Certification] = relationship()
    adviser: Mapped[User | None] = relationship(foreign_keys=[adviser_id])


experience_evidence = db.Table(
    "experience_evidence",
    db.Column("experience_id", db.ForeignKey("experiences.id", ondelete="CASCADE"), primary_key=True),
    db.Column("evidence_id", db.ForeignKey("evidence.id", ondelete="CASCADE"), primary_key=True),
)


class Experience(TimestampMixin, Model):
    """A professional or volunteer experience of a VAE candidate."""

    __tablename__ = "experiences"
    __table_args__ = (CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_in_order"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organisation: Mapped[str] = mapped_column(String(200))
    sector: Mapped[str] = mapped_column(String(200), default="")
    job_title: Mapped[str] = mapped_column(String(200))
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    time_basis: Mapped[TimeBasis] = mapped_column(str_enum(TimeBasis, "time_basis"))
    is_volunteer: Mapped[bool] = mapped_column(default=False)
    activities: Mapped[str] = mapped_column(Text, default="")
    tools: Mapped[str] = mapped_column(Text, default="")

    candidate: Mapped[User] = relationship()
    evidence: Mapped[list[Evidence]] = relationship(secondary=experience_evidence, order_by="Evidence.id")


class Dossier(TimestampMixin, Model):
    """The dossier de validation (livret 2) a candidate writes for their certification."""

    __tablename__ = "dossiers"
    __table_args__ = (UniqueConstraint("candidate_id", "certification_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    certification_id: Mapped[int] = mapped_column(ForeignKey("certifications.id", ondelete="RESTRICT"))
    presentation: Mapped[str] = mapped_column(Text, default="")  # the candidate and their career
    status: Mapped[DossierStatus] = mapped_column(str_enum(DossierStatus, "dossier_status"),
                                                  default=DossierStatus.DRAFT)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    candidate: Mapped[User] = relationship()
    certification: Mapped[Certification] = relationship()
    sections: Mapped[list[DossierSection]] = relationship(back_populates="dossier", cascade="all, delete-orphan",
                                                          passive_deletes=True)
    narratives: Mapped[list[DossierNarrative]] = relationship(back_populates="dossier",
                                                              cascade="all, delete-orphan", passive_deletes=True)
    versions: Mapped[list[DossierVersion]] = relationship(back_populates="dossier", order_by="DossierVersion.number",
                                                          cascade="all, delete-orphan", passive_deletes=True)


section_experiences = db.Table(
    "dossier_section_experiences",
    db.Column("section_id", db.ForeignKey("dossier_sections.id", ondelete="CASCADE"), primary_key=True),
    db.Column("experience_id", db.ForeignKey("experiences.id", ondelete="CASCADE"), primary_key=True),
)


class DossierSection(Model):
    """One block of the dossier: whether the candidate applies for it, and the activities that show it."""

    __tablename__ = "dossier_sections"
    __table_args__ = (UniqueConstraint("dossier_id", "block_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    block_id: Mapped[int] = mapped_column(ForeignKey("blocks.id", ondelete="RESTRICT"))
    is_applied: Mapped[bool] = mapped_column(default=False)
    activities: Mapped[str] = mapped_column(Text, default="")   # what they did
    context: Mapped[str] = mapped_column(Text, default="")      # in which context
    means: Mapped[str] = mapped_column(Text, default="")        # with which means

    dossier: Mapped[Dossier] = relationship(back_populates="sections")
    block: Mapped[Block] = relationship()
    experiences: Mapped[list[Experience]] = relationship(secondary=section_experiences, order_by="Experience.id")


class DossierNarrative(Model):
    """The candidate's narrative (récit) for one competency of the dossier.

    The evidence for a competency is not stored here: it is the candidate's own tags
    (``evidence.Claim``, with their justification), the same ones a learner makes, so a candidate tags
    once and the dossier shows it.
    """

    __tablename__ = "dossier_narratives"
    __table_args__ = (UniqueConstraint("dossier_id", "competency_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    competency_id: Mapped[int] = mapped_column(ForeignKey("competencies.id", ondelete="RESTRICT"))
    narrative: Mapped[str] = mapped_column(Text, default="")

    dossier: Mapped[Dossier] = relationship(back_populates="narratives")
    competency: Mapped[Competency] = relationship()


class Jury(TimestampMixin, Model):
    __tablename__ = "juries"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    members: Mapped[list[User]] = relationship(secondary="jury_members", order_by="User.name")


jury_members = db.Table(
    "jury_members",
    db.Column("jury_id", db.ForeignKey("juries.id", ondelete="CASCADE"), primary_key=True),
    db.Column("user_id", db.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)


class DossierVersion(Model):
    """A version of a dossier as it was sent: ``snapshot`` is frozen and never changes.

    Snapshot schema (JSON): ``{"candidate": {name, email}, "certification": {code, title, registration},
    "presentation", "version", "sent_at", "experiences": [{id, organisation, sector, job_title, start,
    end, time_basis, volunteer, activities, tools}], "blocks": [{code, title, activities, context, means,
    experience_ids, "competencies": [{code, statement, narrative, "evidence": [{id, title, kind, justification?,
    "files": [{filename, sha256, size, media_type, storage_key}]}]}]}]}`` — applied blocks only.
    ``justification`` (the tag's) is in versions sent after the dossier moved onto the learners' tags;
    readers take it as optional, older versions read as they always did.
    """

    __tablename__ = "dossier_versions"
    __table_args__ = (UniqueConstraint("dossier_id", "number"), CheckConstraint("number >= 1", name="number_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    snapshot: Mapped[dict] = mapped_column(JSON)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    jury_id: Mapped[int | None] = mapped_column(ForeignKey("juries.id", ondelete="SET NULL"), index=True)

    dossier: Mapped[Dossier] = relationship(back_populates="versions")
    jury: Mapped[Jury | None] = relationship()


class JuryBlockDecision(TimestampMixin, Model):
    """A jury member's decision on one block of a sent version, with its reasons (a record)."""

    __tablename__ = "jury_block_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("dossier_versions.id", ondelete="CASCADE"), index=True)
    block_id: Mapped[int] = mapped_column(ForeignKey("blocks.id", ondelete="RESTRICT"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    result: Mapped[BlockResult] = mapped_column(str_enum(BlockResult, "block_result"))
    comment: Mapped[str] = mapped_column(Text)

    block: Mapped[Block] = relationship()
    decided_by: Mapped[User | None] = relationship()


class JuryOutcome(TimestampMixin, Model):
    """The jury's overall outcome on a sent version."""

    __tablename__ = "jury_outcomes"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("dossier_versions.id", ondelete="CASCADE"), index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    outcome: Mapped[Outcome] = mapped_column(str_enum(Outcome, "jury_outcome"))
    comment: Mapped[str] = mapped_column(Text)

    decided_by: Mapped[User | None] = relationship()


class DossierExport(TimestampMixin, Model):
    """A PDF or archive export of a dossier (draft or sent version), built by a background job."""

    __tablename__ = "dossier_exports"
    __table_args__ = (
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_percent"),
        CheckConstraint("size IS NULL OR size >= 0", name="size_not_negative"),
        CheckConstraint("status <> 'done' OR (storage_key IS NOT NULL AND sha256 IS NOT NULL)", name="done_has_file"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("dossier_versions.id", ondelete="SET NULL"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[ExportKind] = mapped_column(str_enum(ExportKind, "export_kind"))
    status: Mapped[ExportStatus] = mapped_column(str_enum(ExportStatus, "export_status"),
                                                 default=ExportStatus.QUEUED)
    progress: Mapped[int] = mapped_column(default=0)  # percent
    storage_key: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
