"""The person's own data (download it all, ask for its erasure), the public privacy page, and the data
protection officer's pages (open requests and their deadlines, the record of processing activities)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from portfolio.blueprints.admin.forms import EmptyForm
from portfolio.blueprints.downloads import file_response
from portfolio.blueprints.forms import form_error
from portfolio.blueprints.privacy.forms import ErasureRequestForm, HandleRequestForm
from portfolio.extensions import db
from portfolio.models import PersonalDataExport, PrivacyRequest, RequestStatus
from portfolio.models.base import utcnow
from portfolio.services import access
from portfolio.services.errors import DomainError
from portfolio.services.privacy import erasure, exports, policy
from portfolio.storage import get_storage

bp = Blueprint("privacy", __name__)


@bp.route("/privacy")
def notice():
    """What is stored, why, for how long and who sees it (generated from the configuration)."""
    return render_template("privacy/notice.html", activities=policy.processing_activities(),
                           rules=policy.retention_rules(), days_label=policy.days_label,
                           controller=current_app.config["PRIVACY_CONTROLLER"],
                           contact=current_app.config["PRIVACY_CONTACT"])


@bp.route("/me/data")
@login_required
def my_data():
    """Download all of one's data, follow the archive's progress, ask for erasure."""
    export = exports.latest_export(current_user)
    return render_template("privacy/my_data.html", export=export, empty_form=EmptyForm(),
                           available=export is not None and exports.export_is_available(export),
                           erasure_form=ErasureRequestForm(), open_request=erasure.open_request(current_user),
                           answered=_answered_requests())


def _answered_requests() -> list[PrivacyRequest]:
    return list(db.session.scalars(select(PrivacyRequest).where(
        PrivacyRequest.user_id == current_user.id, PrivacyRequest.status != RequestStatus.OPEN)
        .order_by(PrivacyRequest.id.desc())))


@bp.route("/me/data/export", methods=["POST"])
@login_required
def request_export():
    """Start building the archive (a background job when Redis is configured, else right away)."""
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        exports.request_data_export(current_user, actor=current_user)
    except DomainError as exc:
        form_error(form, exc)
    else:
        flash(_("Préparation de l'archive de vos données lancée : cette page en suit l'avancement."), "success")
    return redirect(url_for("privacy.my_data"))


@bp.route("/me/data/export/<int:export_id>/progress")
@login_required
def export_progress(export_id: int):
    """The archive's state as JSON, for the progress bar."""
    export = _load_export(export_id)
    return {"status": export.status.value, "progress": export.progress,
            "error": export.error, "available": exports.export_is_available(export)}


@bp.route("/me/data/export/<int:export_id>/download")
@login_required
def download_export(export_id: int):
    """The finished archive, streamed from the store, while it is offered."""
    export = _load_export(export_id)
    if not exports.export_is_available(export) or export.storage_key is None:
        abort(404)
    return file_response(get_storage().iter_chunks(export.storage_key), f"mes-donnees-{utcnow():%Y-%m-%d}.zip",
                         mimetype="application/zip", size=export.size)


def _load_export(export_id: int) -> PersonalDataExport:
    export = db.get_or_404(PersonalDataExport, export_id)
    access.ensure(access.can_view_personal_export(current_user, export))
    return export


@bp.route("/me/data/erasure", methods=["POST"])
@login_required
def request_erasure():
    """Ask the data protection officer to erase one's data (answered within a month)."""
    form = ErasureRequestForm()
    if form.validate_on_submit():
        try:
            erasure.request_erasure(current_user, form.message.data or "")
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Demande d'effacement enregistrée : elle sera traitée au plus tard dans un mois."), "success")
            return redirect(url_for("privacy.my_data"))
    export = exports.latest_export(current_user)
    return render_template("privacy/my_data.html", export=export, empty_form=EmptyForm(),
                           available=export is not None and exports.export_is_available(export),
                           erasure_form=form, open_request=erasure.open_request(current_user),
                           answered=_answered_requests()), 422


@bp.route("/admin/privacy")
@access.permission_required(access.Permission.HANDLE_PRIVACY)
def requests():
    """Open requests, the nearest deadline first, and the last ones answered."""
    done = list(db.session.scalars(select(PrivacyRequest).where(PrivacyRequest.status != RequestStatus.OPEN)
                                   .order_by(PrivacyRequest.handled_at.desc()).limit(50)))
    return render_template("privacy/requests.html", open_requests=erasure.open_requests(), done=done,
                           now=utcnow())


@bp.route("/admin/privacy/requests/<int:request_id>", methods=["GET", "POST"])
@access.permission_required(access.Permission.HANDLE_PRIVACY)
def handle(request_id: int):
    """Decide on one request, with a reason; shows what an erasure would remove and keep."""
    found = db.get_or_404(PrivacyRequest, request_id)
    form = HandleRequestForm()
    if found.status == RequestStatus.OPEN and form.validate_on_submit():
        try:
            erasure.handle_request(found, officer=current_user, approve=form.decision.data == "erase",
                                   reason=form.reason.data)
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Demande traitée : la réponse est enregistrée."), "success")
            return redirect(url_for("privacy.handle", request_id=found.id))
    preview = None
    if found.status == RequestStatus.OPEN and found.user is not None:
        preview = {name: len(keys) for name, keys in erasure.owned_rows(found.user.id).items() if name != "users"}
    return render_template("privacy/handle.html", item=found, form=form, preview=preview, kept=erasure.KEPT,
                           now=utcnow()), 422 if form.errors else 200


@bp.route("/admin/privacy/register")
@access.permission_required(access.Permission.HANDLE_PRIVACY)
def register():
    """The record of processing activities (GDPR art. 30), to hand to the data protection officer."""
    return render_template("privacy/register.html", activities=policy.processing_activities(),
                           rules=policy.retention_rules(), days_label=policy.days_label,
                           controller=current_app.config["PRIVACY_CONTROLLER"],
                           contact=current_app.config["PRIVACY_CONTACT"], now=utcnow())
