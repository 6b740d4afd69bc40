"""Assessments (append-only judgements), the current state they lead to, block decisions and in-app
notifications (comments on evidence are ``models.comment.Comment``)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import Model
from portfolio.models.base import TimestampMixin, UTCDateTime, str_enum, utcnow
from portfolio.models.evidence import Claim, Evidence
from portfolio.models.framework import Block, Competency
from portfolio.models.user import User


class Level(enum.StrEnum):
    ACQUIRED = "acquired"
    IN_PROGRESS = "in_progress"
    NOT_ACQUIRED = "not_acquired"


class Assessment(TimestampMixin, Model):
    """One judgement of one learner on one competency. Never edited: a correction supersedes it."""

    __tablename__ = "assessments"
    __table_args__ = (Index("ix_assessments_learner_competency", "learner_id", "competency_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    competency_id: Mapped[int] = mapped_column(ForeignKey("competencies.id", ondelete="RESTRICT"))
    assessor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    evidence_id: Mapped[int | None] = mapped_column(ForeignKey("evidence.id", ondelete="SET NULL"), index=True)
    level: Mapped[Level] = mapped_column(str_enum(Level, "assessment_level"))
    comment: Mapped[str] = mapped_column(Text, default="")
    #: Unique: an assessment is superseded once, so two assessors racing on the same current state
    #: cannot both succeed (the database refuses the second).
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id", ondelete="SET NULL"), unique=True)
    #: The level carried over from the previous version of the fiche: the assessment it repeats (on the old
    #: competency, unchanged). The assessor, evidence and comment are that assessment's.
    migrated_from_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id", ondelete="SET NULL"))

    learner: Mapped[User] = relationship(foreign_keys=[learner_id])
    assessor: Mapped[User | None] = relationship(foreign_keys=[assessor_id])
    competency: Mapped[Competency] = relationship()
    evidence: Mapped[Evidence | None] = relationship()
    supersedes: Mapped[Assessment | None] = relationship(remote_side=[id], foreign_keys=[supersedes_id])
    migrated_from: Mapped[Assessment | None] = relationship(remote_side=[id], foreign_keys=[migrated_from_id])


class CompetencyState(Model):
    """The current level per learner and competency, kept in step with assessments (no history scan)."""

    __tablename__ = "competency_states"

    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    competency_id: Mapped[int] = mapped_column(ForeignKey("competencies.id", ondelete="RESTRICT"),
                                               primary_key=True)
    level: Mapped[Level] = mapped_column(str_enum(Level, "state_level"))
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    assessment: Mapped[Assessment] = relationship()


class DecisionKind(enum.StrEnum):
    VALIDATED = "validated"
    REVOKED = "revoked"


class BlockDecision(TimestampMixin, Model):
    """A tutor's validation of a block for a learner, or its revocation: records, never edited."""

    __tablename__ = "block_decisions"
    __table_args__ = (Index("ix_block_decisions_learner_block", "learner_id", "block_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    block_id: Mapped[int] = mapped_column(ForeignKey("blocks.id", ondelete="RESTRICT"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[DecisionKind] = mapped_column(str_enum(DecisionKind, "decision_kind"))
    comment: Mapped[str] = mapped_column(Text, default="")

    learner: Mapped[User] = relationship(foreign_keys=[learner_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    block: Mapped[Block] = relationship()


class Notification(TimestampMixin, Model):
    """An in-app notification; ``link`` is a path inside the app."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(String(500))
    link: Mapped[str | None] = mapped_column(String(500))
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SelfAssessment(TimestampMixin, Model):
    """The learner's own level on one tagged competency of a piece of evidence, with a sentence.

    Attached to the tag (claim): removing the tag from a draft removes it (CASCADE); it is written only
    while the evidence is a draft, so what the tutors read after the submission is what was sent."""

    __tablename__ = "self_assessments"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"), unique=True)
    level: Mapped[Level] = mapped_column(str_enum(Level, "self_assessment_level"))
    comment: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    claim: Mapped[Claim] = relationship()
