"""The session cookie of a launch inside a platform's iframe: ``SameSite=None; Secure``, only there.

Inside Moodle's iframe our pages are third-party: a ``Lax`` cookie is not sent back, so the session of
an embedded launch is written with ``SameSite=None; Secure``. Every other session keeps the app's
settings (``Lax``), including a launch in a new window.
"""

from __future__ import annotations

from flask import g
from flask.sessions import SecureCookieSessionInterface

EMBEDDED = "lti_embedded"


class EmbeddableSessionInterface(SecureCookieSessionInterface):
    def save_session(self, app, session, response):
        g.portfolio_session_embedded = bool(session.get(EMBEDDED))
        return super().save_session(app, session, response)

    def get_cookie_samesite(self, app):
        return "None" if g.get("portfolio_session_embedded") else super().get_cookie_samesite(app)

    def get_cookie_secure(self, app):
        return True if g.get("portfolio_session_embedded") else super().get_cookie_secure(app)
