"""The next version of a fiche: which competency of the old certification becomes which of the new one."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import Model
from portfolio.models.base import TimestampMixin, UTCDateTime, str_enum, utcnow
from portfolio.models.framework import Certification, Competency
from portfolio.models.user import User


class MappingKind(enum.StrEnum):
    SUGGESTED = "suggested"  # proposed by text similarity, not changed by a person
    MANUAL = "manual"        # chosen or confirmed by an administrator


class CompetencyMapping(TimestampMixin, Model):
    """One mapping per (old certification, new certification): who saved it last, when it was applied."""

    __tablename__ = "competency_mappings"
    __table_args__ = (UniqueConstraint("old_certification_id", "new_certification_id",
                                       name="uq_competency_mappings_pair"),
                      CheckConstraint("old_certification_id <> new_certification_id", name="two_versions"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    old_certification_id: Mapped[int] = mapped_column(ForeignKey("certifications.id", ondelete="CASCADE"))
    new_certification_id: Mapped[int] = mapped_column(ForeignKey("certifications.id", ondelete="CASCADE"),
                                                      index=True)
    saved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    applied_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    old_certification: Mapped[Certification] = relationship(foreign_keys=[old_certification_id])
    new_certification: Mapped[Certification] = relationship(foreign_keys=[new_certification_id])
    saved_by: Mapped[User | None] = relationship(foreign_keys=[saved_by_id])
    applied_by: Mapped[User | None] = relationship(foreign_keys=[applied_by_id])
    entries: Mapped[list[CompetencyMappingEntry]] = relationship(
        back_populates="mapping", order_by="CompetencyMappingEntry.id", cascade="all, delete-orphan",
        passive_deletes=True)


class CompetencyMappingEntry(Model):
    """One old competency's target: a competency of the new version, or none (``new_competency_id`` NULL).

    An old competency split in two has two entries; one with no correspondence has a single NULL entry."""

    __tablename__ = "competency_mapping_entries"
    __table_args__ = (UniqueConstraint("mapping_id", "old_competency_id", "new_competency_id",
                                       name="uq_mapping_entries_target"),
                      CheckConstraint("score IS NULL OR (score >= 0 AND score <= 100)", name="score_range"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    mapping_id: Mapped[int] = mapped_column(ForeignKey("competency_mappings.id", ondelete="CASCADE"), index=True)
    old_competency_id: Mapped[int] = mapped_column(ForeignKey("competencies.id", ondelete="CASCADE"))
    new_competency_id: Mapped[int | None] = mapped_column(ForeignKey("competencies.id", ondelete="CASCADE"))
    kind: Mapped[MappingKind] = mapped_column(str_enum(MappingKind, "mapping_kind", length=10))
    #: Text similarity (0–100) of the two statements, as suggested; kept for the page.
    score: Mapped[int | None] = mapped_column(Integer)

    mapping: Mapped[CompetencyMapping] = relationship(back_populates="entries")
    old_competency: Mapped[Competency] = relationship(foreign_keys=[old_competency_id])
    new_competency: Mapped[Competency | None] = relationship(foreign_keys=[new_competency_id])
