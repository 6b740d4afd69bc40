"""Request-wide behaviour: security headers, error pages, template helpers."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from portfolio.services import access

log = logging.getLogger("portfolio")


def init_app(app: Flask) -> None:
    app.after_request(set_security_headers)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(Exception, handle_unexpected_error)

    from portfolio.markdown import render_markdown

    app.add_template_filter(render_markdown, "markdown")
    app.add_template_filter(format_timestamp, "timestamp")

    @app.context_processor
    def inject_helpers() -> dict:
        from flask_babel import get_locale

        from portfolio.blueprints.evidence.forms import CONTEXT_CHOICES, KIND_CHOICES
        from portfolio.services.evidence import human_size

        kinds = {c.value: c.label for c in KIND_CHOICES}
        contexts = {c.value: c.label for c in CONTEXT_CHOICES}
        statuses = {"draft": _("Brouillon"), "submitted": _("Soumise"), "assessed": _("Évaluée")}
        return {
            "kind_label": lambda kind: kinds.get(str(kind), str(kind)),
            "context_label": lambda context: contexts.get(str(context), str(context)),
            "status_label": lambda status: statuses.get(str(status), str(status)),
            "human_size": human_size,
            "max_file_size": human_size(app.config["MAX_FILE_SIZE"]),
            "direct_upload": direct_upload_origin() is not None,
            "Permission": access.Permission,
            "has_permission": lambda perm: access.has_permission(current_user, perm),
            "current_locale": str(get_locale() or app.config["BABEL_DEFAULT_LOCALE"]),
            "unread_notifications": unread_notifications,
            "level_label": level_label,
        }


def unread_notifications() -> int:
    """The header's unread count: one indexed COUNT, only for signed-in people (0 when the database fails,
    so that an error page can still be drawn)."""
    from sqlalchemy.exc import SQLAlchemyError

    from portfolio.services.assessment import unread_count

    if not current_user.is_authenticated:
        return 0
    try:
        return unread_count(current_user)
    except SQLAlchemyError:
        log.warning("could not count unread notifications", exc_info=True)
        return 0


def level_label(level) -> str:  # type: ignore[no-untyped-def]
    from portfolio.services.assessment import level_label as label

    return label(level)


def format_timestamp(value) -> str:  # type: ignore[no-untyped-def]
    """A UTC timestamp in the interface's time zone and language (``12/03/2026 14:05`` in French)."""
    from flask_babel import format_datetime

    return format_datetime(value, "short") if value else ""


def direct_upload_origin() -> str | None:
    """The bucket's origin when the store accepts presigned POSTs (S3), else None (local disk).

    Signing a form makes no network call; the answer is kept for the life of the process.
    """
    from urllib.parse import urlsplit

    from flask import current_app

    from portfolio.storage import StorageError, get_storage

    cache = current_app.extensions.setdefault("portfolio.direct_upload", {})
    if "origin" not in cache:
        try:
            form = get_storage().presigned_post(key="incoming/0/probe", max_size=1, content_type="x/x", expires=60)
        except StorageError:
            return None  # not cached: the store may come back
        parts = urlsplit(form["url"]) if form else None
        cache["origin"] = f"{parts.scheme}://{parts.netloc}" if parts else None
    return cache["origin"]


def set_security_headers(response):  # type: ignore[no-untyped-def]
    from flask import current_app

    headers = response.headers
    bucket = direct_upload_origin() if response.mimetype == "text/html" else None
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'{' ' + bucket if bucket else ''}; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; "
        f"frame-ancestors {current_app.config['FRAME_ANCESTORS']}",
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config["ENV"] == "production":
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _wants_json() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/") or request.path == "/healthz"


def handle_http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
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
    message = messages.get(code, _("Une erreur est survenue."))
    if _wants_json():
        return jsonify(error={"code": exc.name.lower().replace(" ", "_"), "message": message}), code
    return render_template("errors/error.html", code=code, message=message), code


def handle_csrf_error(exc: CSRFError):  # type: ignore[no-untyped-def]
    message = _("Le formulaire a expiré ou n'est pas valide. Rechargez la page et réessayez.")
    return render_template("errors/error.html", code=400, message=message), 400


def handle_unexpected_error(exc: Exception):  # type: ignore[no-untyped-def]
    # Never a stack trace to the user: log it, show the error page.
    from portfolio.extensions import db

    log.exception("Unhandled error on %s %s", request.method, request.path)
    db.session.rollback()
    message = _("Une erreur inattendue est survenue. Elle a été enregistrée ; réessayez plus tard.")
    if _wants_json():
        return jsonify(error={"code": "internal_error", "message": message}), 500
    return render_template("errors/error.html", code=500, message=message), 500
