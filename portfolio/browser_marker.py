"""A long-lived, signed cookie naming the accounts that have signed in on this browser.

It is set at every sign-in and survives sign-out. The supervisor's sign-off page refuses a browser that
has ever been the learner whose logbook it opens: signing one's own logbook from one's own browser is
refused even after signing out. (A learner could still use another browser; the one-time code sent to the
supervisor's address is what they cannot complete alone.) The cookie holds only account ids and is signed
with the secret key, so it can be neither forged to block someone else nor read for anything else.
"""

from __future__ import annotations

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "portfolio_accounts_seen"
SALT = "portfolio.browser-marker"
MAX_IDS = 20
MAX_AGE = 5 * 365 * 24 * 3600


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def accounts_seen() -> set[int]:
    """The ids of the accounts that have signed in on this browser (empty if the cookie is absent or forged)."""
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 4000:
        return set()
    try:
        ids = _serializer().loads(raw)
    except BadSignature:
        return set()
    return {i for i in ids if type(i) is int} if isinstance(ids, list) else set()


def mark_browser(response: Response, user) -> None:
    """Add ``user`` to the accounts this browser has been."""
    ids = [i for i in sorted(accounts_seen()) if i != user.id][-(MAX_IDS - 1):] + [user.id]
    response.set_cookie(COOKIE, _serializer().dumps(ids), max_age=MAX_AGE, httponly=True, samesite="Lax",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
