"""Certifications (versioned RNCP fiches), their blocks and competencies."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import Model
from portfolio.models.base import TimestampMixin


class Certification(TimestampMixin, Model):
    """One registration (version) of an RNCP fiche; a new registration is a new row."""

    __tablename__ = "certifications"
    __table_args__ = (UniqueConstraint("code", "registration"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), index=True)
    registration: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(Text)
    level: Mapped[str | None] = mapped_column(String(16))
    authority: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(32))
    #: The CASE CFDocument identifier of a file made elsewhere, exported back unchanged (None: ours, derived).
    case_identifier: Mapped[str | None] = mapped_column(String(36))

    blocks: Mapped[list[Block]] = relationship(
        back_populates="certification", order_by="Block.position", cascade="all, delete-orphan", passive_deletes=True
    )
    links: Mapped[list[CertificationLink]] = relationship(
        back_populates="certification", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def label(self) -> str:
        return f"{self.code} — {self.title}"


class CertificationLink(Model):
    """A predecessor or successor fiche, kept by code since that fiche may not be loaded."""

    __tablename__ = "certification_links"
    __table_args__ = (UniqueConstraint("certification_id", "kind", "other_code"),
                      CheckConstraint("kind IN ('predecessor', 'successor')", name="kind"))

    id: Mapped[int] = mapped_column(primary_key=True)
    certification_id: Mapped[int] = mapped_column(ForeignKey("certifications.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # "predecessor" | "successor"
    other_code: Mapped[str] = mapped_column(String(200))
    certification: Mapped[Certification] = relationship(back_populates="links")


class Block(Model):
    __tablename__ = "blocks"
    __table_args__ = (UniqueConstraint("certification_id", "code"),
                      CheckConstraint("position >= 1", name="position_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    certification_id: Mapped[int] = mapped_column(
        ForeignKey("certifications.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    assessment_methods: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int]
    #: The CASE CFItem identifier of a file made elsewhere (None: ours, derived from the codes).
    case_identifier: Mapped[str | None] = mapped_column(String(36))

    certification: Mapped[Certification] = relationship(back_populates="blocks")
    competencies: Mapped[list[Competency]] = relationship(
        back_populates="block", order_by="Competency.position", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def short_code(self) -> str:
        """``BC01`` from ``RNCP28754BC01``."""
        return self.code.removeprefix(self.certification.code) if self.certification else self.code


class Competency(Model):
    __tablename__ = "competencies"
    __table_args__ = (UniqueConstraint("block_id", "code"),
                      CheckConstraint("position >= 1", name="position_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    block_id: Mapped[int] = mapped_column(ForeignKey("blocks.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(48), index=True)
    statement: Mapped[str] = mapped_column(Text)
    position: Mapped[int]
    needs_review: Mapped[bool] = mapped_column(default=False)
    #: The CASE CFItem identifier of a file made elsewhere (None: ours, derived from the codes).
    case_identifier: Mapped[str | None] = mapped_column(String(36))

    block: Mapped[Block] = relationship(back_populates="competencies")
