"""Comments on anything people comment on (evidence, a VAE dossier): one model, one way to write and
read them. Who may comment, and whom to notify, stays with the subject's own service."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portfolio.extensions import db
from portfolio.models import Comment, Dossier, Evidence, User
from portfolio.services.audit import record_event
from portfolio.services.errors import DomainError

Subject = Evidence | Dossier


def _subject_column(subject: Subject):
    return Comment.evidence_id if isinstance(subject, Evidence) else Comment.dossier_id


def add_comment_to(subject: Subject, body: str, *, author: User, max_length: int, action: str,
                   empty_message: str | None = None) -> Comment:
    """Write a comment on ``subject`` (stripped, not empty, at most ``max_length``) and audit it as ``action``."""
    body = (body or "").strip()
    if not body:
        raise DomainError(empty_message or _("Le commentaire est vide."), field="body")
    if len(body) > max_length:
        raise DomainError(_("Le commentaire ne doit pas dépasser %(n)d caractères.", n=max_length), field="body")
    comment = Comment(author_id=author.id, body=body)
    if isinstance(subject, Evidence):
        comment.evidence_id = subject.id
        subject_type = "evidence"
    else:
        comment.dossier_id = subject.id
        subject_type = "dossier"
    db.session.add(comment)
    db.session.flush()
    record_event(action, actor=author, subject_type=subject_type, subject_id=subject.id,
                 data={"comment": comment.id})
    return comment


def comments_on(subject: Subject) -> list[Comment]:
    """A subject's comments, oldest first (ids never go back: the table has AUTOINCREMENT)."""
    return list(db.session.scalars(select(Comment).where(_subject_column(subject) == subject.id)
                                   .options(selectinload(Comment.author)).order_by(Comment.id)))
