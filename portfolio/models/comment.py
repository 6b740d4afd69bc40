"""One comment model for everything people comment on: a piece of evidence (tutor ↔ learner) or a
VAE dossier (candidate ↔ adviser). Exactly one subject column is set (a CHECK says so), each with a
real foreign key, so deleting the subject deletes its comments."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portfolio.extensions import Model
from portfolio.models.base import TimestampMixin
from portfolio.models.user import User


class Comment(TimestampMixin, Model):
    """A message about one subject (``evidence_id`` or ``dossier_id``); ``author`` is gone if the account is."""

    __tablename__ = "comments"
    __table_args__ = (
        CheckConstraint("(evidence_id IS NULL) <> (dossier_id IS NULL)", name="one_subject"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int | None] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), index=True)
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)

    author: Mapped[User | None] = relationship()
