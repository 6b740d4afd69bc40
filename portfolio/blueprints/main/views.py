"""Home page per role, language choice, health check."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, redirect, render_template, request, session
from flask_login import current_user, login_required
from sqlalchemy import text

from portfolio import unit_of_work
from portfolio.blueprints.auth.views import _safe_next
from portfolio.blueprints.main.forms import LanguageForm
from portfolio.extensions import db
from portfolio.i18n import LOCALE_COOKIE, LOCALE_COOKIE_MAX_AGE
from portfolio.models import Cohort, MemberRole
from portfolio.services import access, cohorts, dashboard
from portfolio.storage import StorageError, get_storage

bp = Blueprint("main", __name__)


@bp.route("/")
@login_required
def home():
    """Each role's start page: where one is and what comes next (learner, VAE candidate, tutor, jury, admin)."""
    learner = candidate = tutor = jury = None
    if access.has_permission(current_user, access.Permission.FOLLOW_TRAINING):
        cert = cohorts.learner_certification(current_user)
        learner = dashboard.learner_home(current_user, cert)
    if access.has_permission(current_user, access.Permission.KEEP_VAE_DOSSIER):
        candidate = dashboard.candidate_home(current_user)
    if access.has_permission(current_user, access.Permission.TEACH):
        tutor = dashboard.tutor_home(current_user)
    if access.has_permission(current_user, access.Permission.SIT_ON_JURY):
        jury = dashboard.jury_home(current_user)
    admin = dashboard.admin_home() if access.has_permission(current_user, access.Permission.ADMINISTER) else None
    # The header shows the learner's unread count too: counted once (``base.html`` reads ``unread_total``).
    extra = {"unread_total": learner.unread_total} if learner is not None else {}
    return render_template("main/home.html", learner=learner, candidate=candidate, tutor=tutor, jury=jury,
                           admin=admin, **extra)


@bp.route("/language", methods=["POST"])
def set_language():
    """Remember the interface language (in the session, and on the account when signed in)."""
    form = LanguageForm()
    if form.validate_on_submit():
        session["locale"] = form.locale.data
        if current_user.is_authenticated:
            current_user.locale = form.locale.data
    response = redirect(_safe_next(form.next.data))
    if form.locale.data in current_app.config["LANGUAGES"]:  # the cookie would otherwise win over this choice
        response.set_cookie(LOCALE_COOKIE, form.locale.data, max_age=LOCALE_COOKIE_MAX_AGE, httponly=True,
                            samesite="Lax", secure=request.is_secure)
    return response


@bp.route("/lang/<locale>")
def switch_language(locale: str):
    """The header's language link: remembered on this browser by a cookie, then back where one was.

    A GET writes nothing to the database; a signed-in account takes the choice at its next sign-in
    (``auth.login``) or through ``POST /language``.
    """
    if locale not in current_app.config["LANGUAGES"]:
        abort(404)
    response = redirect(_safe_next(request.args.get("next")))
    response.set_cookie(LOCALE_COOKIE, locale, max_age=LOCALE_COOKIE_MAX_AGE, httponly=True, samesite="Lax",
                        secure=request.is_secure)
    return response


@bp.route("/healthz")
def healthz() -> tuple[Response, int]:
    """Readiness of the database and the evidence store, as JSON; 503 when one is down. Anyone sees
    ready or not and which part is down; only an administrator sees the store's backend and the errors
    (they name paths and buckets)."""
    checks: dict[str, dict[str, str]] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = {"status": "ok"}
    except Exception as exc:  # noqa: BLE001 — any failure means "not ready"
        unit_of_work.rollback()
        checks["database"] = {"status": "error", "error": exc.__class__.__name__}
    try:
        storage = get_storage()
        storage.check()
        checks["storage"] = {"status": "ok", "backend": storage.description}
    except StorageError as exc:
        checks["storage"] = {"status": "error", "error": str(exc)}
    ok = all(c["status"] == "ok" for c in checks.values())
    if not (current_user.is_authenticated and access.has_permission(current_user, access.Permission.ADMINISTER)):
        checks = {name: {"status": check["status"]} for name, check in checks.items()}
    return jsonify(status="ok" if ok else "error", ready=ok, checks=checks), 200 if ok else 503


@bp.app_context_processor
def language_form() -> dict:
    return {"language_form": LanguageForm}


@bp.route("/cohorts/<int:cohort_id>")
@access.permission_required(access.Permission.VIEW_COHORTS)
def cohort(cohort_id: int):
    """A cohort's learners and tutors, for its tutors and the administrators."""
    found = db.get_or_404(Cohort, cohort_id)
    access.ensure(access.can_view_cohort(current_user, found))
    return render_template("main/cohort.html", cohort=found, MemberRole=MemberRole)
