"""Home page per role, language choice, health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, session
from flask_login import current_user, login_required
from sqlalchemy import text

from portfolio.blueprints.auth.views import _safe_next
from portfolio.blueprints.main.forms import LanguageForm
from portfolio.extensions import db
from portfolio.models import Cohort, MemberRole, Role
from portfolio.services import access, cohorts, frameworks
from portfolio.storage import StorageError, get_storage

bp = Blueprint("main", __name__)


@bp.route("/")
@login_required
def home():
    """Each role's start page: a learner's blocks, a tutor's cohorts, the admin menu."""
    certification = None
    if current_user.has_role(Role.LEARNER, Role.VAE_CANDIDATE):
        cert = cohorts.learner_certification(current_user)
        certification = frameworks.load_certification_tree(cert.id) if cert else None
    taught = cohorts.cohorts_of(current_user, MemberRole.TUTOR) if current_user.has_role(Role.TUTOR) else []
    return render_template("main/home.html", certification=certification, taught=taught)


@bp.route("/language", methods=["POST"])
def set_language():
    """Remember the interface language (in the session, and on the account when signed in)."""
    form = LanguageForm()
    if form.validate_on_submit():
        session["locale"] = form.locale.data
        if current_user.is_authenticated:
            current_user.locale = form.locale.data
            db.session.commit()
    return redirect(_safe_next(form.next.data))


@bp.route("/healthz")
def healthz():
    """Readiness of the database and the evidence store, as JSON; 503 when one is down."""
    checks: dict[str, dict[str, str]] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = {"status": "ok"}
    except Exception as exc:  # noqa: BLE001 — any failure means "not ready"
        db.session.rollback()
        checks["database"] = {"status": "error", "error": exc.__class__.__name__}
    try:
        storage = get_storage()
        storage.check()
        checks["storage"] = {"status": "ok", "backend": storage.description}
    except StorageError as exc:
        checks["storage"] = {"status": "error", "error": str(exc)}
    ok = all(c["status"] == "ok" for c in checks.values())
    return jsonify(status="ok" if ok else "error", checks=checks), 200 if ok else 503


@bp.app_context_processor
def language_form() -> dict:
    return {"language_form": LanguageForm}


@bp.route("/cohorts/<int:cohort_id>")
@access.permission_required(access.Permission.VIEW_COHORTS)
def cohort(cohort_id: int):
    """A cohort's learners and tutors, for its tutors and the administrators."""
    found = db.session.get(Cohort, cohort_id)
    access.ensure(found is not None and access.can_view_cohort(current_user, found))
    return render_template("main/cohort.html", cohort=found, MemberRole=MemberRole)
