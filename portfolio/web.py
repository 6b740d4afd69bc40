"""Request-wide behaviour: security headers, error pages, template helpers."""

from __future__ import annotations

import logging
from functools import lru_cache
from urllib.parse import urlsplit

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import format_datetime, get_locale, get_timezone
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from portfolio.blueprints.admin.forms import ROLE_CHOICES
from portfolio.blueprints.evidence.forms import CONTEXT_CHOICES, KIND_CHOICES
from portfolio.extensions import db
from portfolio.formatting import date_long, date_short, human_size
from portfolio.markdown import render_markdown
from portfolio.services import access
from portfolio.services.assessment import level_label as label
from portfolio.services.lti import platforms
from portfolio.services.notifications import unread_count
from portfolio.storage import StorageError, get_storage

log = logging.getLogger("portfolio")


def init_app(app: Flask) -> None:
    app.after_request(set_security_headers)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(Exception, handle_unexpected_error)


    app.add_template_filter(render_markdown, "markdown")
    app.add_template_filter(format_timestamp, "timestamp")
    app.add_template_filter(date_long, "date_long")
    app.add_template_filter(date_short, "date_short")

    @app.context_processor
    def inject_helpers() -> dict:
        kinds = {c.value: c.label for c in KIND_CHOICES}
        contexts = {c.value: c.label for c in CONTEXT_CHOICES}
        roles = {c.value: c.label for c in ROLE_CHOICES}
        statuses = {"draft": _("Brouillon"), "submitted": _("Soumise"), "assessed": _("Évaluée")}
        return {
            "kind_label": lambda kind: kinds.get(str(kind), str(kind)),
            "context_label": lambda context: contexts.get(str(context), str(context)),
            "status_label": lambda status: statuses.get(str(status), str(status)),
            "role_label": lambda role: str(roles.get(str(role), str(role))),
            "human_size": human_size,
            "max_file_size": human_size(app.config["MAX_FILE_SIZE"]),
            "direct_upload": direct_upload_origin() is not None,
            "can": lambda name, obj=None: access.can(current_user, name, obj),
            # Kept so that a template still written the old way renders; tests/security/test_access_rules.py
            # refuses them in templates (ask can("name")).
            "Permission": access.Permission,
            "has_permission": lambda perm: access.has_permission(current_user, perm),
            "current_locale": str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"]),
            "unread_notifications": unread_notifications,
            "level_label": level_label,
            "shown_email": lambda person: person.email if access.can_see_email(current_user, person)
            else access.mask_email(person.email),
        }


def unread_notifications() -> int:
    """The header's unread count: one indexed COUNT, only for signed-in people (0 when the database fails,
    so that an error page can still be drawn)."""
    if not current_user.is_authenticated:
        return 0
    try:
        return unread_count(current_user)
    except SQLAlchemyError:
        log.warning("could not count unread notifications", exc_info=True)
        return 0


def level_label(level) -> str:
    return label(level)


def format_timestamp(value) -> str:
    """A UTC timestamp in the interface's time zone and language (``12/03/2026 14:05`` in French).

    Babel works out the pattern and the time zone again for every call (0.4 ms each): a progress page
    shows dozens of the same timestamps on every visit, so the text is kept by (timestamp, locale, zone)."""
    if not value:
        return ""
    return _format_timestamp(value, str(get_locale()), str(get_timezone()))


@lru_cache(maxsize=8192)
def _format_timestamp(value, locale: str, zone: str) -> str:
    """``locale`` and ``zone`` are the current ones (Babel reads them itself): they are part of the key."""
    return format_datetime(value, "short")


def direct_upload_origin() -> str | None:
    """The bucket's origin when the store accepts presigned POSTs (S3), else None (local disk).

    Signing a form makes no network call; the answer is kept for the life of the process.
    """
    cache = current_app.extensions.setdefault("portfolio.direct_upload", {})
    if "origin" not in cache:
        try:
            form = get_storage().presigned_post(key="incoming/0/probe", max_size=1, content_type="x/x", expires=60)
        except StorageError:
            return None  # not cached: the store may come back
        parts = urlsplit(form["url"]) if form else None
        cache["origin"] = f"{parts.scheme}://{parts.netloc}" if parts else None
    return cache["origin"]


def frame_ancestors() -> str:
    """The CSP ``frame-ancestors`` sources: ``FRAME_ANCESTORS`` and the origins of the registered LTI
    platforms (they embed the app)."""
    configured = current_app.config["FRAME_ANCESTORS"]
    try:
        extra = platforms.frame_origins()
    except Exception:  # the database is down: the error page still gets a header
        current_app.logger.warning("could not read the LTI platforms for frame-ancestors", exc_info=True)
        extra = []
    return " ".join([configured, *[o for o in extra if o not in configured.split()]])


def set_security_headers(response):
    headers = response.headers
    bucket = direct_upload_origin() if response.mimetype == "text/html" else None
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'{' ' + bucket if bucket else ''}; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; "
        f"frame-ancestors {frame_ancestors()}",
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config["ENV"] == "production":
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _wants_json() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/") or request.path == "/healthz"


def handle_http_error(exc: HTTPException):
    messages = {
        400: _("La demande est incorrecte."),
        401: _("Vous devez vous connecter."),
        403: _("Vous n'avez pas accès à cette page."),
        404: _("Cette page n'existe pas ou vous n'y avez pas accès."),
        405: _("Cette action n'est pas permise ici."),
        413: _("Le fichier envoyé est trop volumineux."),
        429: _("Trop de tentatives. Patientez une minute avant de réessayer."),
    }
    code = exc.code or 500
    # A refusal that names its own limit (portfolio.uploads) says so; the others get the usual words.
    message = getattr(exc, "message", None) or messages.get(code, _("Une erreur est survenue."))
    if _wants_json():
        return jsonify(error={"code": exc.name.lower().replace(" ", "_"), "message": message}), code
    return render_template("errors/error.html", code=code, message=message), code


def handle_csrf_error(exc: CSRFError):
    message = _("Le formulaire a expiré ou n'est pas valide. Rechargez la page et réessayez.")
    return render_template("errors/error.html", code=400, message=message), 400


def handle_unexpected_error(exc: Exception):
    # Never a stack trace to the user: log it, show the error page.
    log.exception("Unhandled error on %s %s", request.method, request.path)
    db.session.rollback()
    message = _("Une erreur inattendue est survenue. Elle a été enregistrée ; réessayez plus tard.")
    if _wants_json():
        return jsonify(error={"code": "internal_error", "message": message}), 500
    return render_template("errors/error.html", code=500, message=message), 500
