"""Cohorts (promotions): a certification, a year, learners and tutors."""

from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import Model
from portfolio.models.base import TimestampMixin, str_enum
from portfolio.models.framework import Certification
from portfolio.models.user import User


class MemberRole(enum.StrEnum):
    LEARNER = "learner"
    TUTOR = "tutor"


class Cohort(TimestampMixin, Model):
    __tablename__ = "cohorts"
    __table_args__ = (CheckConstraint("year BETWEEN 2000 AND 2100", name="year_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    certification_id: Mapped[int] = mapped_column(ForeignKey("certifications.id", ondelete="RESTRICT"))
    year: Mapped[int]

    certification: Mapped[Certification] = relationship()
    memberships: Mapped[list[CohortMembership]] = relationship(
        back_populates="cohort", cascade="all, delete-orphan", passive_deletes=True
    )

    def members(self, role: MemberRole) -> list[User]:
        return sorted((m.user for m in self.memberships if m.role == role), key=lambda u: u.name.lower())


class CohortMembership(TimestampMixin, Model):
    __tablename__ = "cohort_memberships"
    __table_args__ = (UniqueConstraint("cohort_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[MemberRole] = mapped_column(
        str_enum(MemberRole, "member_role", length=10)
    )

    cohort: Mapped[Cohort] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship()
