"""E-mail that leaves only after the transaction commits, never inside it.

Services call ``queue_email``; the messages wait in the session and are sent by an ``after_commit``
hook (dropped on rollback). Without ``SMTP_URL`` nothing is sent: in-app notifications remain.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("portfolio")
OUTBOX = "portfolio.outbox"


def queue_email(session: Session, to: str, subject: str, body: str) -> None:
    if current_app.config.get("SMTP_URL"):
        session.info.setdefault(OUTBOX, []).append((to, subject, body, current_app._get_current_object()))


def send_now(app, to: str, subject: str, body: str) -> None:  # type: ignore[no-untyped-def]
    url = urlsplit(app.config["SMTP_URL"])
    message = EmailMessage()
    message["From"] = app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    smtp_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    with smtp_class(url.hostname or "localhost", url.port or (465 if url.scheme == "smtps" else 25),
                    timeout=10) as smtp:
        if url.scheme == "smtp+starttls":
            smtp.starttls()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    for to, subject, body, app in session.info.pop(OUTBOX, []):
        try:
            send_now(app, to, subject, body)
        except (OSError, smtplib.SMTPException):  # the notification is in the app anyway
            log.warning("could not send an e-mail to %s", to, exc_info=True)


@event.listens_for(Session, "after_rollback")
def _drop_on_rollback(session: Session) -> None:
    session.info.pop(OUTBOX, None)
