"""Sign-in throttling, per address and per account, shared by every worker.

Every sign-in attempt is counted against the client's address (``LOGIN_RATE_LIMIT``) and against the
account it names (``LOGIN_ACCOUNT_RATE_LIMIT``, whether that account exists or not); a successful
sign-in clears the account's count, never the address's. Past a limit the attempt is refused — even
with the right password — until the window passes.

The counts live in Redis when ``PORTFOLIO_REDIS_URL`` is set (a sliding log per key in a sorted set), in the
database otherwise (the ``login_attempts`` table): in both cases every gunicorn worker and every machine
sees the same counts. The same counters limit the password tries on a share link (scope ``share``, keyed
by the link, ``SHARE_PASSWORD_RATE_LIMIT``). In the database, an attempt is inserted and committed on its
own connection before it is counted, so parallel attempts cannot all slip under the limit, and the refusal survives the
request's rollback. Keys are HMACs of the address and the normalised e-mail, never the values.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import redis
from flask import current_app
from limits import parse_many
from sqlalchemy import delete, func, insert, select, text

from portfolio.extensions import db
from portfolio.models import LoginAttempt
from portfolio.models.base import utcnow

ADDRESS, ACCOUNT, SHARE = "address", "account", "share"
#: The setting that gives each scope's limits ("share": the password tries on one share link).
LIMIT_SETTINGS = {ADDRESS: "LOGIN_RATE_LIMIT", ACCOUNT: "LOGIN_ACCOUNT_RATE_LIMIT", SHARE: "SHARE_PASSWORD_RATE_LIMIT"}


@dataclass(frozen=True)
class Refusal:
    scope: str
    retry_after: int  # seconds

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))


def _limits(scope: str) -> list[tuple[int, int]]:
    spec = current_app.config[LIMIT_SETTINGS[scope]]
    return [(item.amount, item.get_expiry()) for item in parse_many(spec)]


def _key(scope: str, value: str) -> str:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, f"portfolio.login-limit|{scope}|{value}".encode(), hashlib.sha256).hexdigest()


def _redis():
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    clients = current_app.extensions.setdefault("portfolio.login_limits", {})
    if url not in clients:
        clients[url] = redis.Redis.from_url(url, socket_timeout=2)
    return clients[url]


def _prefix() -> str:
    return current_app.config.get("LOGIN_LIMIT_PREFIX") or "portfolio:login"


def _redis_name(scope: str, key: str) -> str:
    return f"{_prefix()}:{scope}:{key}"


def _hit_redis(client, scope: str, key: str) -> Refusal | None:
    """The database's sliding log in a sorted set: every attempt's time, those within each window counted.

    One ``MULTI``/``EXEC`` per attempt, so parallel attempts each count every earlier one; no window edge
    where the count starts again (fixed windows let twice the limit through across an edge).
    """
    limits = _limits(scope)
    now = time.time()
    longest = max(seconds for _amount, seconds in limits)
    name = _redis_name(scope, key)
    pipe = client.pipeline(transaction=True)
    pipe.zadd(name, {uuid.uuid4().hex: now})
    pipe.zremrangebyscore(name, "-inf", f"({now - longest}")
    pipe.expire(name, longest + 1)
    for amount, seconds in limits:
        pipe.zrangebyscore(name, f"({now - seconds}", "+inf", start=0, num=amount + 1, withscores=True)
    windows = pipe.execute()[3:]
    for (amount, seconds), rows in zip(limits, windows, strict=True):
        if len(rows) > amount:
            oldest = rows[0][1]
            return Refusal(scope, max(1, int(oldest + seconds - now)))
    return None


def _hit_database(scope: str, key: str) -> Refusal | None:
    limits = _limits(scope)
    now = utcnow()
    longest = max(seconds for _amount, seconds in limits)
    # Its own connection and one transaction per attempt, serialised per key (an advisory lock on
    # PostgreSQL, the write lock the insert takes on SQLite): each attempt counts every earlier one, so
    # parallel attempts cannot pass together; committed whatever the request then does.
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"login:{scope}:{key}"})
        conn.execute(insert(LoginAttempt).values(scope=scope, key=key, attempted_at=now))
        conn.execute(delete(LoginAttempt).where(LoginAttempt.scope == scope, LoginAttempt.key == key,
                                                LoginAttempt.attempted_at < now - timedelta(seconds=longest)))
        for amount, seconds in limits:
            since = now - timedelta(seconds=seconds)
            rows = conn.execute(select(LoginAttempt.attempted_at).where(
                LoginAttempt.scope == scope, LoginAttempt.key == key, LoginAttempt.attempted_at > since)
                .order_by(LoginAttempt.attempted_at).limit(amount + 1)).scalars().all()
            if len(rows) > amount:
                oldest = rows[0]
                return Refusal(scope, max(1, int((oldest + timedelta(seconds=seconds) - now).total_seconds())))
    return None


def _hit(scope: str, value: str) -> Refusal | None:
    key = _key(scope, value)
    client = _redis()
    if client is not None:
        return _hit_redis(client, scope, key)
    return _hit_database(scope, key)


def register_attempt(address: str | None, email: str) -> Refusal | None:
    """Count one attempt for this address and this account; the refusal, if either is over its limit."""
    refusal = _hit(ADDRESS, address or "unknown")
    account = _hit(ACCOUNT, (email or "").strip().lower())
    return refusal or account


def clear_account(email: str) -> None:
    """A successful sign-in: the account's count starts again (the address's does not)."""
    _clear(ACCOUNT, (email or "").strip().lower())


def register_share_attempt(link_id: int) -> Refusal | None:
    """Count one password try on a share link, whoever makes it; the refusal when over the link's limit."""
    return _hit(SHARE, str(link_id))


def clear_share(link_id: int) -> None:
    """The right password: the link's count starts again."""
    _clear(SHARE, str(link_id))


def _clear(scope: str, value: str) -> None:
    key = _key(scope, value)
    client = _redis()
    if client is not None:
        client.delete(_redis_name(scope, key))
        return
    # In the request's transaction (which already holds the write lock on SQLite): it commits with the sign-in.
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.scope == scope, LoginAttempt.key == key))


def attempts_count(scope: str, value: str) -> int:
    """For tests and the administrator: attempts recorded in the database for this key."""
    key = _key(scope, value)
    return db.session.scalar(select(func.count()).select_from(LoginAttempt)
                             .where(LoginAttempt.scope == scope, LoginAttempt.key == key)) or 0
