"""Notifications: in the app, and by e-mail after the commit when SMTP is configured.

Any service tells someone something through :func:`notify`; whom to tell stays with that service.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, func, select

from portfolio.extensions import db
from portfolio.models import Notification, User
from portfolio.models.base import utcnow
from portfolio.services.outbox import queue_email


def notify(user: User, message: str, link: str | None = None, *, email_subject: str | None = None) -> None:
    """An in-app notification, and an e-mail after the commit when SMTP is configured."""
    notification = Notification(user_id=user.id, message=message[:500], link=link)
    db.session.add(notification)
    if email_subject:
        db.session.flush()  # the e-mail names its notification, whose page shows a failed delivery
        queue_email(db.session, user.email, email_subject, f"{message}\n\n{link or ''}", user_id=user.id,
                    kind="notification", subject_id=notification.id)


def unread_count_query(user_id: int | ColumnElement[int]) -> Select:
    """``SELECT count(*)`` of the person's unread notifications (a page may fold it into a larger query)."""
    return select(func.count()).select_from(Notification).where(Notification.user_id == user_id,
                                                                 Notification.read_at.is_(None))


def unread_count(user: User) -> int:
    return db.session.scalar(unread_count_query(user.id)) or 0


def notifications_of(user: User, limit: int = 50) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id.desc()).limit(limit)))


def open_notification(notification: Notification) -> str | None:
    """Mark one notification read; its link (a path inside the app) or None."""
    if notification.read_at is None:
        notification.read_at = utcnow()
        db.session.flush()
    link = notification.link or ""
    return link if link.startswith("/") and not link.startswith("//") and "\\" not in link else None


def mark_notifications_read(user: User) -> None:
    now = utcnow()
    for item in db.session.scalars(select(Notification).where(Notification.user_id == user.id,
                                                              Notification.read_at.is_(None))):
        item.read_at = now
    db.session.flush()
