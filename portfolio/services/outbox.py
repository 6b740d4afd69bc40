"""E-mail that leaves only after the transaction commits, never inside it, and is retried when it fails.

Services call ``queue_email``: with ``SMTP_URL`` configured, an ``OutboxMessage`` row is written in the
request's transaction and sent by ``unit_of_work.after_commit`` once it commits (a rollback drops both).
The send marks the row sent, or failed with the next try after a back-off (1 min, 5 min, 30 min, 2 h,
then given up); ``flask outbox retry`` (cron) and the RQ worker's periodic run send what is due. Without
``SMTP_URL`` nothing is written or sent: in-app notifications remain, and pages say no e-mail leaves.

A one-time secret in an e-mail (the supervisor's sign-off code) is passed apart (``secrets``): the stored
body holds a placeholder, the secret is sealed (AES-256-GCM under a key derived from ``SECRET_KEY`` by
HKDF, the row's id as associated data) in ``secrets_encrypted``, put back into the body only for the
SMTP conversation, and wiped (``""``) as soon as the message is sent or given up: a given-up message
whose secret is gone is not sent again (an administrator's retry says so). It is never logged.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import smtplib
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session, scoped_session

from portfolio import unit_of_work
from portfolio.extensions import db
from portfolio.models.base import utcnow
from portfolio.models.outbox import OutboxMessage, OutboxStatus

log = logging.getLogger("portfolio")

#: Wait before the next try after the 1st, 2nd, 3rd and 4th failure; after the 5th, it is given up.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
MAX_ATTEMPTS = len(BACKOFF) + 1


HKDF_LABEL = b"portfolio/outbox/secrets/v1"
SEALED_PREFIX = "v1:"


def placeholder(name: str) -> str:
    """What stands for the secret ``name`` in a stored body (and stays there once the secret is wiped)."""
    return f"[{name}]"


def _key() -> bytes:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_LABEL).derive(secret)


def _seal(values: dict[str, str], message_id: int) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key()).encrypt(nonce, json.dumps(values).encode(), f"outbox:{message_id}".encode())
    return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode()


def _unseal(value: str, message_id: int) -> dict[str, str]:
    if not value.startswith(SEALED_PREFIX):
        raise ValueError("unknown sealed format")
    raw = base64.b64decode(value[len(SEALED_PREFIX):])
    return json.loads(AESGCM(_key()).decrypt(raw[:12], raw[12:], f"outbox:{message_id}".encode()))


def queue_email(session: Session | scoped_session[Any], to: str, subject: str, body: str, *, user_id: int | None = None,
                kind: str = "notification", subject_id: int | None = None,
                secrets: dict[str, str] | None = None) -> OutboxMessage | None:
    """Write the e-mail in this transaction and send it after the commit; ``None`` without SMTP.

    ``secrets``: values the body names by :func:`placeholder` (``[code]``), kept sealed, never in clear."""
    if not current_app.config.get("SMTP_URL"):
        return None
    for name in secrets or {}:
        if placeholder(name) not in body:
            raise ValueError(f"the body must name the secret {name!r} by its placeholder")
    message = OutboxMessage(recipient=to, subject=subject[:300], body=body, user_id=user_id, kind=kind,
                            subject_id=subject_id, status=OutboxStatus.QUEUED.value, attempts=0,
                            next_attempt_at=utcnow())
    session.add(message)
    session.flush()
    if secrets:
        message.secrets_encrypted = _seal(secrets, message.id)
        session.flush()
    message_id = message.id
    # current_app is a LocalProxy, which Flask types as the Flask app it stands for.
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def deliver_after_commit() -> None:
        with app.app_context(), unit_of_work.job():
            deliver(db.session.get(OutboxMessage, message_id))

    unit_of_work.after_commit(deliver_after_commit, session, uses_database=True)
    return message


def send_now(app, to: str, subject: str, body: str) -> None:
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


def deliver(message: OutboxMessage | None, now: datetime | None = None) -> bool:
    """Try to send one message now; mark it sent, or failed with its next try. Flushes only."""
    if message is None or message.status == OutboxStatus.SENT.value:
        return False
    now = now or utcnow()
    message.attempts += 1
    body = message.body
    if message.secrets_encrypted is not None:
        try:
            if not message.secrets_encrypted:
                raise LookupError("SecretWiped")  # given up before: its one-time secret is gone
            values = _unseal(message.secrets_encrypted, message.id)
        except (InvalidTag, ValueError, LookupError) as exc:  # wiped, or the app's secret changed since
            message.status, message.next_attempt_at, message.secrets_encrypted = OutboxStatus.FAILED.value, None, ""
            message.last_error = "SecretWiped" if isinstance(exc, LookupError) else "SealedSecretUnreadable"
            log.warning("e-mail %s not sent: its one-time secret is gone (%s)", message.id, message.last_error)
            db.session.flush()
            return False
        for name, value in values.items():
            body = body.replace(placeholder(name), value)
    try:
        # current_app is a LocalProxy, which Flask types as the Flask app it stands for.
        send_now(current_app._get_current_object(), message.recipient, message.subject,  # type: ignore[attr-defined]
                 body)
    except (OSError, smtplib.SMTPException) as exc:
        message.status = OutboxStatus.FAILED.value
        # Only the kind of failure and the SMTP code: never the address (nor the server's reply text).
        code = getattr(exc, "smtp_code", None)
        message.last_error = f"{type(exc).__name__}{f' {code}' if code else ''}"[:200]
        message.next_attempt_at = (now + BACKOFF[message.attempts - 1]
                                   if message.attempts < MAX_ATTEMPTS else None)
        if message.next_attempt_at is None and message.secrets_encrypted is not None:
            message.secrets_encrypted = ""  # given up: the secret is wiped (a one-time code expires anyway)
        log.warning("could not send e-mail %s (attempt %d, %s)", message.id, message.attempts,
                    message.last_error)
        db.session.flush()
        return False
    message.status = OutboxStatus.SENT.value
    if message.secrets_encrypted is not None:
        message.secrets_encrypted = ""  # sent: the secret is wiped, the body keeps its placeholder
    message.sent_at = now
    message.next_attempt_at = None
    message.last_error = None
    db.session.flush()
    return True


def retry_due(now: datetime | None = None, limit: int = 100) -> tuple[int, int]:
    """Send the messages whose next try is due; returns (sent, failed). Flushes only."""
    now = now or utcnow()
    due = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status.in_([OutboxStatus.QUEUED.value, OutboxStatus.FAILED.value]),
               OutboxMessage.next_attempt_at.is_not(None),
               OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)).all()
    sent = sum(1 for message in due if deliver(message, now))
    return sent, len(due) - sent


def latest_for(kind: str, subject_ids: list[int]) -> dict[int, OutboxMessage]:
    """The latest e-mail of ``kind`` about each subject id (e.g. each sign-off link)."""
    if not subject_ids:
        return {}
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind,
                                                          OutboxMessage.subject_id.in_(subject_ids))
                              .order_by(OutboxMessage.id)).all()
    return {row.subject_id: row for row in rows if row.subject_id is not None}


def mail_state(message: OutboxMessage | None) -> str | None:
    """``sent``, ``queued`` (never tried), ``retrying`` (failed, tried again later) or ``failed`` (given up)."""
    if message is None:
        return None
    if message.status == OutboxStatus.FAILED.value:
        return "retrying" if message.next_attempt_at is not None else "failed"
    return message.status


def undelivered(limit: int = 200) -> list[OutboxMessage]:
    """The e-mails that have not left: failed (retried later or given up) first, then the queued ones."""
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status != OutboxStatus.SENT.value)
        .order_by(OutboxMessage.status.desc(), OutboxMessage.id.desc()).limit(limit)))


def count_by_state() -> dict[str, int]:
    """How many e-mails are ``sent``, ``queued``, ``retrying`` and ``failed`` (given up)."""
    rows = db.session.execute(
        select(OutboxMessage.status, OutboxMessage.next_attempt_at.is_(None), func.count())
        .group_by(OutboxMessage.status, OutboxMessage.next_attempt_at.is_(None))).all()
    counts = {"sent": 0, "queued": 0, "retrying": 0, "failed": 0}
    for status, given_up, number in rows:
        if status == OutboxStatus.FAILED.value:
            counts["failed" if given_up else "retrying"] += number
        else:
            counts[status] += number
    return counts


def retry_now(message: OutboxMessage) -> bool:
    """An administrator's "try again now" on an e-mail that has not left (a given-up one included).

    The row is already committed, so sending inside the request is safe: a rollback afterwards only
    loses the new state, and the next ``retry_due`` tries again. Flushes only."""
    if message.status == OutboxStatus.SENT.value:
        return False
    if message.attempts >= MAX_ATTEMPTS:
        message.attempts = MAX_ATTEMPTS - 1  # one more try, then given up again if it fails
    return deliver(message)
