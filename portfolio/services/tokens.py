"""Personal access tokens for the JSON API.

A token is shown once, at creation; only its SHA-256 is stored, plus a few characters after the
``pft_`` prefix so that a person can recognise it in a list. A token leaked from a CI log is
revoked, never edited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from portfolio import unit_of_work
from portfolio.extensions import db
from portfolio.models import ApiToken, User
from portfolio.models.base import utcnow
from portfolio.services.audit import record_event
from portfolio.services.errors import DomainError

TOKEN_PREFIX = "pft_"  # noqa: S105 — a public marker that makes leaked tokens easy to scan for
SHOWN_PREFIX = 8          # characters kept after TOKEN_PREFIX, for display only
MAX_NAME = 100
MAX_TOKEN_LENGTH = 200    # a real token is 47 characters; anything much longer is noise
TOUCH_INTERVAL = timedelta(minutes=1)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return the row and the raw token (never stored, shown once)."""
    name = (name or "").strip()
    if not name:
        raise DomainError(_("Donnez un nom au jeton (par exemple « CI GitLab »)."), field="name")
    if len(name) > MAX_NAME:
        raise DomainError(_("Le nom du jeton ne doit pas dépasser %(n)d caractères.", n=MAX_NAME), field="name")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name, token_hash=hash_token(raw),
                     prefix=raw[len(TOKEN_PREFIX):len(TOKEN_PREFIX) + SHOWN_PREFIX])
    db.session.add(token)
    db.session.flush()
    record_event("token.create", actor=user, subject_type="api_token", subject_id=token.id,
                 data={"name": name, "prefix": token.prefix, "user": user.id})
    return token, raw


def revoke_token(token: ApiToken, actor: User | None) -> None:
    """Revoke a token for good; revoking it again changes nothing."""
    if token.revoked_at is not None:
        return
    token.revoked_at = utcnow()
    db.session.flush()
    record_event("token.revoke", actor=actor, subject_type="api_token", subject_id=token.id,
                 data={"name": token.name, "prefix": token.prefix, "user": token.user_id})


def authenticate_token(raw: str | None) -> User | None:
    """The enabled user a live token belongs to, or None.

    The lookup is by SHA-256, so the comparison never runs over the secret itself (no timing
    oracle); ``last_used_at`` is refreshed at most once a minute, to keep reads mostly read-only.
    """
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > MAX_TOKEN_LENGTH:
        return None
    digest = hash_token(raw)
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest) or token.revoked_at is not None:
        return None
    user = token.user
    if user is None or not user.is_enabled:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_INTERVAL:
        with unit_of_work.read_audit():  # the trace of a use, kept even on a GET
            token.last_used_at = now
    return user


def list_tokens(user: User) -> list[ApiToken]:
    """A person's tokens, newest first, revoked ones included (they say when they were revoked)."""
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    ))
