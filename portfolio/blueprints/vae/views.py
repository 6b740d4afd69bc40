"""VAE: the candidate's experiences and dossier de validation, their adviser's reading and comments,
the administrators' juries and assignments, and the jury's reading of a frozen version and decisions.

Over 400 lines: one blueprint: the candidate's, adviser's, jury's and administrators' pages of one dossier.
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms import SelectChoice

from portfolio import unit_of_work
from portfolio.blueprints.admin.forms import EmptyForm
from portfolio.blueprints.downloads import file_response
from portfolio.blueprints.forms import edit_form, flash_refusal, form_error
from portfolio.blueprints.vae.forms import (
    AdviserForm,
    AssignForm,
    BlockDecisionForm,
    CommentForm,
    EnrolForm,
    ExperienceForm,
    JuryCreateForm,
    JuryMemberForm,
    OutcomeForm,
    PresentationForm,
    SectionForm,
    SendForm,
)
from portfolio.extensions import db
from portfolio.models import (
    Certification,
    Dossier,
    DossierExport,
    DossierVersion,
    Experience,
    ExportKind,
    ExportStatus,
    Jury,
    User,
)
from portfolio.services import access, dossier_export
from portfolio.services import comments as comment_service
from portfolio.services import vae as service
from portfolio.services.errors import DomainError
from portfolio.services.read_audit import audit_read
from portfolio.services.users import find_user_by_email

bp = Blueprint("vae", __name__, url_prefix="/vae")


def _is_candidate() -> bool:
    return access.has_permission(current_user, access.Permission.KEEP_VAE_DOSSIER)


@bp.app_context_processor
def vae_helpers() -> dict:
    return {"vae_time_basis_label": service.time_basis_label, "vae_status_label": service.status_label,
            "vae_result_label": service.result_label, "vae_outcome_label": service.outcome_label,
            "vae_outcome_summary": service.outcome_summary}


def candidate_required(view):
    """Signed in as a VAE candidate (anonymous → sign-in; other roles → 403)."""
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not _is_candidate():
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def _flash_errors(form) -> None:
    for errors in form.errors.values():
        for error in errors:
            flash(error, "error")


def _own_dossier():
    """The signed-in candidate's dossier; None until they chose their certification on this page (which
    creates it: a GET only reads)."""
    return service.dossier_of(current_user)


def _load_dossier(dossier_id: int) -> Dossier:
    found = db.get_or_404(Dossier, dossier_id)
    access.ensure(access.can_view_dossier(current_user, found))
    return found


def _load_own_dossier(dossier_id: int) -> Dossier:
    found = _load_dossier(dossier_id)
    if not access.can_edit_dossier(current_user, found):
        abort(403)
    return found


def _load_version(version_id: int) -> DossierVersion:
    found = db.get_or_404(DossierVersion, version_id)
    access.ensure(access.can_view_version(current_user, found))
    return found


def _load_experience(experience_id: int) -> Experience:
    found = db.get_or_404(Experience, experience_id)
    access.ensure(found.candidate_id == current_user.id)
    return found


# --- the candidate -------------------------------------------------------------------------------

@bp.route("/", methods=["GET", "POST"])
@candidate_required
def home():
    """First visit: choose the certification; then the dossier."""
    dossier = _own_dossier()
    if dossier is not None:
        return redirect(url_for("vae.dossier_detail", dossier_id=dossier.id))
    form = EnrolForm()
    certifications = list(db.session.scalars(select(Certification).where(Certification.is_active.is_(True))
                                             .order_by(Certification.code, Certification.registration.desc())))
    form.certification.choices = [SelectChoice(c.id, f"{c.code} — {c.title}") for c in certifications]
    if form.validate_on_submit():
        try:
            service.enrol_candidate(current_user, db.session.get(Certification, form.certification.data),
                                    actor=current_user)
            dossier = service.get_or_create_dossier(current_user)
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Certification choisie. Décrivez maintenant vos expériences."), "success")
            return redirect(url_for("vae.experiences"))
    return render_template("vae/enrol.html", form=form), 422 if form.errors else 200


@bp.route("/experiences/")
@candidate_required
def experiences():
    if service.enrolment_of(current_user) is None:
        return redirect(url_for("vae.home"))
    return render_template("vae/experiences.html", items=service.experiences_of(current_user),
                           empty_form=EmptyForm())


def _experience_form(item: Experience | None) -> ExperienceForm:
    form = edit_form(ExperienceForm, item, evidence=[e.id for e in item.evidence] if item else [])
    form.evidence.choices = [SelectChoice(e.id, f"{e.title} ({e.occurred_on.strftime('%d/%m/%Y')})")
                             for e in service.candidate_evidence(current_user)]
    return form


def _experience_values(form: ExperienceForm) -> dict:
    return {"organisation": form.organisation.data, "sector": form.sector.data or "",
            "job_title": form.job_title.data, "start_date": form.start_date.data, "end_date": form.end_date.data,
            "time_basis": form.time_basis.data, "is_volunteer": form.is_volunteer.data,
            "activities": form.activities.data or "", "tools": form.tools.data or ""}


@bp.route("/experiences/new", methods=["GET", "POST"])
@candidate_required
def experience_create():
    if service.enrolment_of(current_user) is None:
        return redirect(url_for("vae.home"))
    form = _experience_form(None)
    if form.validate_on_submit():
        try:
            item = service.create_experience(current_user, actor=current_user, **_experience_values(form))
            service.set_experience_evidence(item, form.evidence.data or [], actor=current_user)
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Expérience enregistrée."), "success")
            return redirect(url_for("vae.experiences") + f"#experience-{item.id}")
    return render_template("vae/experience_form.html", form=form, item=None), 422 if form.errors else 200


@bp.route("/experiences/<int:experience_id>/edit", methods=["GET", "POST"])
@candidate_required
def experience_edit(experience_id: int):
    item = _load_experience(experience_id)
    form = _experience_form(item)
    if form.validate_on_submit():
        try:
            service.update_experience(item, actor=current_user, **_experience_values(form))
            service.set_experience_evidence(item, form.evidence.data or [], actor=current_user)
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Expérience mise à jour."), "success")
            return redirect(url_for("vae.experiences") + f"#experience-{item.id}")
    return render_template("vae/experience_form.html", form=form, item=item), 422 if form.errors else 200


@bp.route("/experiences/<int:experience_id>/delete", methods=["POST"])
@candidate_required
def experience_delete(experience_id: int):
    item = _load_experience(experience_id)
    if EmptyForm().validate_on_submit():
        service.delete_experience(item, actor=current_user)
        flash(_("Expérience supprimée."), "success")
    return redirect(url_for("vae.experiences"))


@bp.route("/dossiers/<int:dossier_id>")
@login_required
def dossier_detail(dossier_id: int):
    """The draft: presentation, blocks, completeness, comments and sent versions."""
    dossier = _load_dossier(dossier_id)
    return _render_dossier(dossier)


def _render_dossier(dossier: Dossier, send_form: SendForm | None = None, status: int = 200):
    can_edit = access.can_edit_dossier(current_user, dossier)
    report = service.completeness(dossier)
    return render_template(
        "vae/dossier.html", dossier=dossier, can_edit=can_edit, send_form=send_form or SendForm(),
        can_comment=access.can_comment_dossier(current_user, dossier),
        sections=service.sections_in_order(dossier), claims=service.dossier_competencies(dossier),
        report=report, missing=service.missing_items(dossier), comments=comment_service.comments_on(dossier),
        comment_form=CommentForm(), empty_form=EmptyForm(), enrolment=service.enrolment_of(dossier.candidate),
        experiences={e.id: e for e in service.experiences_of(dossier.candidate)},
        outcomes={v.id: service.current_outcome(v) for v in dossier.versions}), status


@bp.route("/dossiers/<int:dossier_id>/presentation", methods=["GET", "POST"])
@login_required
def edit_presentation(dossier_id: int):
    dossier = _load_own_dossier(dossier_id)
    form = edit_form(PresentationForm, dossier)
    if form.validate_on_submit():
        try:
            service.update_presentation(dossier, form.presentation.data or "", actor=current_user)
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Présentation enregistrée."), "success")
            return redirect(url_for("vae.dossier_detail", dossier_id=dossier.id) + "#presentation")
    return render_template("vae/presentation_form.html", form=form, dossier=dossier), 422 if form.errors else 200


@bp.route("/dossiers/<int:dossier_id>/blocks/<block_code>", methods=["GET", "POST"])
@login_required
def edit_section(dossier_id: int, block_code: str):
    """One block: apply or not, the activities that show it, and each competency's narrative and evidence."""
    dossier = _load_own_dossier(dossier_id)
    try:
        section = service.section_for(dossier, block_code)
    except DomainError:
        abort(404)
    claims = service.dossier_competencies(dossier)
    form = edit_form(SectionForm, section, experiences=[e.id for e in section.experiences])
    form.experiences.choices = [SelectChoice(e.id, f"{e.job_title} — {e.organisation}")
                                for e in service.experiences_of(current_user)]
    evidence = service.candidate_evidence(current_user)
    competencies = section.block.competencies
    if form.validate_on_submit():
        try:
            service.update_section(section, actor=current_user, applied=form.is_applied.data,
                                   activities=form.activities.data or "", context=form.context.data or "",
                                   means=form.means.data or "", experience_ids=form.experiences.data or [])
            for competency in competencies:
                ids = [int(v) for v in request.form.getlist(f"evidence-{competency.id}") if v.isdigit()]
                narrative = request.form.get(f"narrative-{competency.id}", "")
                if competency.id in claims or narrative.strip() or ids:
                    service.set_claim(dossier, competency, actor=current_user, narrative=narrative, evidence_ids=ids)
        except DomainError as exc:
            flash_refusal(exc)
            return redirect(url_for("vae.edit_section", dossier_id=dossier.id, block_code=block_code)), 303
        else:
            flash(_("Bloc %(code)s enregistré.", code=block_code), "success")
            return redirect(url_for("vae.dossier_detail", dossier_id=dossier.id) + f"#block-{block_code}")
    if form.errors:
        _flash_errors(form)
    return render_template("vae/section_form.html", form=form, dossier=dossier, section=section, claims=claims,
                           evidence=evidence, competencies=competencies), 422 if form.errors else 200


@bp.route("/dossiers/<int:dossier_id>/send", methods=["POST"])
@login_required
def send(dossier_id: int):
    """Send the dossier to the jury, once the candidate has ticked the confirmation; a refusal is shown in
    the send form itself (what is missing, or the unticked confirmation)."""
    dossier = _load_own_dossier(dossier_id)
    form = SendForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        unit_of_work.rollback()
        return _render_dossier(dossier, form, 422)
    try:
        version = service.send_dossier(dossier, actor=current_user)
    except service.DossierIncomplete as exc:
        unit_of_work.rollback()
        form.form_errors.append(exc.message)
        form.missing = exc.missing
        return _render_dossier(dossier, form, 422)
    flash(_("Version %(n)d envoyée au jury. Elle restera telle quelle ; vos modifications feront la suivante.",
            n=version.number), "success")
    # A fragment of its own: the browser would otherwise keep the form's "#send-form" on the new page.
    return redirect(url_for("vae.version_detail", version_id=version.id) + "#main")


@bp.route("/dossiers/<int:dossier_id>/comments", methods=["POST"])
@login_required
def comment(dossier_id: int):
    dossier = _load_dossier(dossier_id)
    if not access.can_comment_dossier(current_user, dossier):
        abort(403)
    form = CommentForm()
    if form.validate_on_submit():
        try:
            service.add_dossier_comment(dossier, form.body.data or "", author=current_user)
        except DomainError as exc:
            flash_refusal(exc)
        else:
            flash(_("Commentaire publié."), "success")
    else:
        _flash_errors(form)
    return redirect(url_for("vae.dossier_detail", dossier_id=dossier.id) + "#comments")


# --- a sent version (candidate, adviser, administrators, the jury it is assigned to) ---------------

@bp.route("/versions/<int:version_id>")
@login_required
def version_detail(version_id: int):
    """The frozen version, read from its snapshot; the jury's decisions; the forms to decide."""
    return _render_version(_load_version(version_id))


def _render_version(version: DossierVersion, outcome_form: OutcomeForm | None = None,
                    block_form: BlockDecisionForm | None = None, status: int = 200):
    """The version page; a refused decision is shown again in its own form, with what the juror typed."""
    can_decide = access.can_decide_version(current_user, version) and service.deliberation_open(version)
    assign_form = None
    if access.has_permission(current_user, access.Permission.ADMINISTER):
        assign_form = AssignForm(jury=version.jury_id)
        assign_form.jury.choices = [SelectChoice(j.id, j.name) for j in service.juries()]
    snapshot = version.snapshot
    return render_template(
        "vae/version.html", version=version, snapshot=snapshot, can_decide=can_decide,
        experiences={e["id"]: e for e in snapshot.get("experiences", [])},
        decisions=service.block_decisions(version), current=service.current_block_decisions(version),
        outcomes=service.outcomes(version), outcome=service.current_outcome(version),
        outcome_form=(outcome_form or OutcomeForm(prefix="outcome")) if can_decide else None,
        block_form=block_form, assign_form=assign_form, expected=service.expected_outcome(version),
        presented=service.presented_blocks(version),
        can_view_draft=access.can_view_dossier(current_user, version.dossier)), status


@bp.route("/versions/<int:version_id>/decisions", methods=["POST"])
@login_required
def decide_block(version_id: int):
    version = _load_version(version_id)
    if not access.can_decide_version(current_user, version):
        abort(403)
    form = BlockDecisionForm()
    if form.validate_on_submit():
        try:
            service.record_block_decision(version, form.block.data, form.result.data, form.comment.data or "",
                                          member=current_user)
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Décision enregistrée pour le bloc %(code)s.", code=form.block.data), "success")
            return redirect(url_for("vae.version_detail", version_id=version.id) + f"#block-{form.block.data}")
    unit_of_work.rollback()
    return _render_version(version, block_form=form, status=422)


@bp.route("/versions/<int:version_id>/outcome", methods=["POST"])
@login_required
def decide_outcome(version_id: int):
    version = _load_version(version_id)
    if not access.can_decide_version(current_user, version):
        abort(403)
    form = OutcomeForm(prefix="outcome")
    if form.validate_on_submit():
        try:
            service.record_outcome(version, form.outcome.data, form.comment.data or "", member=current_user,
                                   confirmed=form.confirm.data)
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Délibération close : la décision globale est enregistrée et notifiée au·à la candidat·e."),
                  "success")
            return redirect(url_for("vae.version_detail", version_id=version.id) + "#outcome")
    if not form.confirm.data and not form.confirm.errors:  # every missing piece at once
        form.confirm.errors = [_("Cochez la case de confirmation : la décision globale clôt la délibération et "
                                 "sera notifiée au·à la candidat·e.")]
    unit_of_work.rollback()
    return _render_version(version, outcome_form=form, status=422)


@bp.route("/versions/<int:version_id>/assign", methods=["POST"])
@access.permission_required(access.Permission.ADMINISTER)
def assign(version_id: int):
    version = _load_version(version_id)
    form = AssignForm()
    form.jury.choices = [SelectChoice(j.id, j.name) for j in service.juries()]
    if form.validate_on_submit():
        service.assign_version(version, db.get_or_404(Jury, form.jury.data), actor=current_user)
        flash(_("Dossier confié au jury."), "success")
    else:
        _flash_errors(form)
    return redirect(url_for("vae.version_detail", version_id=version.id))


# --- the jury --------------------------------------------------------------------------------------

@bp.route("/jury/")
@login_required
def jury_dossiers():
    """The versions assigned to the juries the member sits on."""
    if not access.has_permission(current_user, access.Permission.SIT_ON_JURY):
        abort(403)
    versions = service.versions_for_juror(current_user)
    return render_template("vae/jury_dossiers.html", versions=versions,
                           outcomes={v.id: service.current_outcome(v) for v in versions})


# --- advisers and administrators -------------------------------------------------------------------

@bp.route("/candidates/")
@login_required
def candidates():
    """Administrators: every candidate, their adviser and sent versions; a tutor: those they accompany."""
    if access.sees_every_cohort(current_user):
        items = service.candidates()
    elif access.has_permission(current_user, access.Permission.SEE_VAE_CANDIDATES):
        items = service.candidates(adviser=current_user)
    else:
        abort(403)
    tutors = service.possible_advisers()
    forms = {}
    if access.has_permission(current_user, access.Permission.ADMINISTER):
        for enrolment in items:
            form = AdviserForm(formdata=None, prefix=f"a{enrolment.user_id}", adviser=enrolment.adviser_id or 0)
            form.adviser.choices = [SelectChoice(0, _("Aucun·e")), *[SelectChoice(t.id, t.name) for t in tutors]]
            forms[enrolment.user_id] = form
    return render_template("vae/candidates.html", items=items, forms=forms,
                           dossiers={e.user_id: service.dossier_of(e.user) for e in items})


@bp.route("/candidates/<int:user_id>/adviser", methods=["POST"])
@access.permission_required(access.Permission.ADMINISTER)
def set_adviser(user_id: int):
    candidate = db.get_or_404(User, user_id)
    access.ensure(service.enrolment_of(candidate) is not None)
    form = AdviserForm(prefix=f"a{user_id}")
    form.adviser.choices = [SelectChoice(0, _("Aucun·e")),
                            *[SelectChoice(t.id, t.name) for t in service.possible_advisers()]]
    if form.validate_on_submit():
        adviser = db.session.get(User, form.adviser.data) if form.adviser.data else None
        try:
            service.set_adviser(candidate, adviser, actor=current_user)
        except DomainError as exc:
            flash_refusal(exc)
        else:
            flash(_("Accompagnateur·rice enregistré·e pour %(name)s.", name=candidate.name), "success")
    else:
        _flash_errors(form)
    return redirect(url_for("vae.candidates"))


@bp.route("/juries/", methods=["GET", "POST"])
@access.permission_required(access.Permission.ADMINISTER)
def juries():
    form = JuryCreateForm()
    jurors = service.possible_jurors()
    form.members.choices = [SelectChoice(u.id, f"{u.name} <{u.email}>") for u in jurors]
    if form.validate_on_submit():
        try:
            jury = service.create_jury(form.name.data, [u for u in jurors if u.id in (form.members.data or [])],
                                       actor=current_user)
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Jury « %(name)s » créé.", name=jury.name), "success")
            return redirect(url_for("vae.jury_detail", jury_id=jury.id))
    return render_template("vae/juries.html", form=form, juries=service.juries(),
                           versions=service.sent_versions()), 422 if form.errors else 200


@bp.route("/juries/<int:jury_id>", methods=["GET", "POST"])
@access.permission_required(access.Permission.ADMINISTER)
def jury_detail(jury_id: int):
    jury = db.get_or_404(Jury, jury_id)
    form = JuryMemberForm()
    if form.validate_on_submit():
        user = find_user_by_email(form.email.data)
        try:
            if user is None:
                raise DomainError(_("Aucun compte pour %(email)s.", email=form.email.data), field="email")
            service.add_jury_member(jury, user, actor=current_user)
        except DomainError as exc:
            unit_of_work.rollback()
            form.email.errors = [*form.email.errors, exc.message]
        else:
            flash(_("%(name)s rejoint le jury.", name=user.name), "success")
            return redirect(url_for("vae.jury_detail", jury_id=jury.id))
    versions = list(db.session.scalars(select(DossierVersion).where(DossierVersion.jury_id == jury.id)
                                       .order_by(DossierVersion.sent_at.desc())))
    return render_template("vae/jury_detail.html", jury=jury, form=form, empty_form=EmptyForm(),
                           versions=versions), 422 if form.errors else 200


@bp.route("/juries/<int:jury_id>/members/<int:user_id>/remove", methods=["POST"])
@access.permission_required(access.Permission.ADMINISTER)
def jury_remove_member(jury_id: int, user_id: int):
    jury = db.get_or_404(Jury, jury_id)
    user = db.get_or_404(User, user_id)
    if EmptyForm().validate_on_submit():
        try:
            service.remove_jury_member(jury, user, actor=current_user)
        except DomainError as exc:
            flash_refusal(exc)
        else:
            flash(_("%(name)s ne fait plus partie du jury.", name=user.name), "success")
    return redirect(url_for("vae.jury_detail", jury_id=jury.id))


# --- exports (PDF and archive, built by a background job) -----------------------------------------------

def _load_export(export_id: int) -> DossierExport:
    found = db.get_or_404(DossierExport, export_id)
    access.ensure(access.can_view_export(current_user, found))
    return found


@bp.route("/dossiers/<int:dossier_id>/exports", methods=["POST"])
@login_required
def export_dossier(dossier_id: int):
    """Start an export (PDF or archive) of the draft, or of a sent version, as a background job."""
    version_id = request.form.get("version_id", "")
    if version_id.isdigit():
        version = _load_version(int(version_id))
        access.ensure(version.dossier_id == dossier_id)
        dossier = version.dossier
    else:
        version, dossier = None, _load_dossier(dossier_id)
    kind = request.form.get("kind")
    if not EmptyForm().validate_on_submit() or kind not in ("pdf", "archive"):
        abort(400)
    export = dossier_export.enqueue_export(dossier, kind, version, current_user)
    # After the commit: on the RQ queue when Redis is configured, else built now, in this request.
    dossier_export.dispatch_after_commit(export.id)
    return redirect(url_for("vae.export_detail", export_id=export.id))


@bp.route("/exports/<int:export_id>")
@login_required
def export_detail(export_id: int):
    """An export's progress (JSON with ?format=json, polled by the page) and, once done, its download."""
    export = _load_export(export_id)
    if request.args.get("format") == "json":
        return {"status": export.status.value, "progress": export.progress, "error": export.error,
                "download": url_for("vae.export_download", export_id=export.id)
                if export.status == ExportStatus.DONE else None}
    return render_template("vae/export.html", export=export, empty_form=EmptyForm())


@bp.route("/exports/<int:export_id>/download")
@login_required
def export_download(export_id: int):
    """The finished export, streamed from the evidence store."""
    export = _load_export(export_id)
    if export.status != ExportStatus.DONE:
        abort(404)
    owner_id = db.get_or_404(Dossier, export.dossier_id).candidate_id
    audit_read(current_user, owner_id, "vae.export.download", subject_type="dossier_export", subject_id=export.id,
               data={"dossier": export.dossier_id, "version": export.version_id})
    filename = dossier_export.export_filename(export)
    media_type = "application/pdf" if export.kind == ExportKind.PDF else "application/zip"
    return file_response(dossier_export.iter_export(export), filename, mimetype=media_type, size=export.size)
