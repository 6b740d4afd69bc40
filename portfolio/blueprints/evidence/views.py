"""A learner's evidence: list, create, edit, delete, files, tags, submission and versions; downloads for
whoever may read it; the page also carries its assessments and comments (see the assessment blueprint).

Over 400 lines: one blueprint's routes, each short; they share the evidence pages' loaders and forms.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response as BaseResponse
from wtforms import SelectChoice

from portfolio.analysis.archives import ArchiveRefused, EntryNotFound
from portfolio.blueprints.admin.forms import EmptyForm
from portfolio.blueprints.assessment.forms import LEVEL_CHOICES, AssessmentForm, CommentForm
from portfolio.blueprints.downloads import blob_download
from portfolio.blueprints.evidence.forms import KIND_CHOICES, EvidenceForm, FilterForm, TagForm
from portfolio.blueprints.forms import edit_form, flash_refusal, form_error
from portfolio.extensions import db
from portfolio.markdown import render_markdown
from portfolio.models import Block, Certification, Evidence, EvidenceFile, EvidenceStatus
from portfolio.services import access, cohorts, viewers
from portfolio.services import assessment as assessment_service
from portfolio.services import evidence as evidence_service
from portfolio.services import self_assessment as self_assessment_service
from portfolio.services.errors import DomainError
from portfolio.services.read_audit import audit_read
from portfolio.storage import StorageError, content_disposition, get_storage
from portfolio.uploads import streams_uploads

bp = Blueprint("evidence", __name__, url_prefix="/evidence")

#: Types a browser may show in the page; everything else is downloaded (SVG and HTML never inline).
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"})


@bp.app_context_processor
def viewer_helpers() -> dict:
    """Words and numbers of the file views (evidence page, archive entries)."""
    return {
        "archive_refusal": viewers.refusal_message,
        "case_status": viewers.case_status,
        "seconds": lambda value: _("%(value)s s", value=format_decimal(value, "#,##0.###")),
        "percent": lambda value: f"{format_decimal(value, '#,##0.##')}\u00a0%",
        "code_view_bytes": viewers.CODE_VIEW_BYTES,
        "image_types": viewers.IMAGE_TYPES,
    }


def _load(evidence_id: int) -> Evidence:
    found = db.get_or_404(Evidence, evidence_id, options=[selectinload(Evidence.files),
                                                       selectinload(Evidence.claims)])
    access.ensure(access.can_view_evidence(current_user, found))
    return found


def _load_own(evidence_id: int) -> Evidence:
    found = _load(evidence_id)
    if not access.can_edit_evidence(current_user, found):
        abort(403)
    return found


def _uploads() -> list[evidence_service.Upload | evidence_service.StagedUpload]:
    """Files sent through the app, then those the browser sent straight to the bucket."""
    uploads: list[evidence_service.Upload | evidence_service.StagedUpload] = [
        evidence_service.Upload(f.filename or "", f.stream)
        for f in request.files.getlist("files") if f and (f.filename or f.content_length)]
    return uploads + staged_uploads(request.form)


def staged_uploads(form) -> list[evidence_service.StagedUpload]:
    """``staged`` keys with their parallel ``staged_filename`` / ``staged_size`` / ``staged_sha256`` fields."""
    keys = form.getlist("staged")
    names = form.getlist("staged_filename")
    sizes = form.getlist("staged_size")
    hashes = form.getlist("staged_sha256")
    result = []
    for i, key in enumerate(keys):
        size = sizes[i] if i < len(sizes) else ""
        result.append(evidence_service.StagedUpload(
            key=key, filename=names[i] if i < len(names) else "fichier",
            size=int(size) if size.isascii() and size.isdigit() else None,
            sha256=(hashes[i] or None) if i < len(hashes) else None))
    return result


def _certification() -> Certification | None:
    return cohorts.learner_certification(current_user)


@bp.route("/")
@access.permission_required(access.Permission.KEEP_EVIDENCE)
def index():
    """The learner's evidence, filtered by block, competency, kind, or a word of the title."""
    form = FilterForm(request.args)
    cert = _certification()
    blocks = cert.blocks if cert else []
    form.block.choices = [SelectChoice("", _("Tous les blocs"))] + [SelectChoice(b.code, b.code) for b in blocks]
    form.competency.choices = [SelectChoice("", _("Toutes les compétences"))] + [
        SelectChoice(c.code, c.code) for b in blocks for c in b.competencies]
    form.kind.choices = [SelectChoice("", _("Tous les types")), *KIND_CHOICES]
    form.validate()
    query = evidence_service.evidence_query(current_user, block=form.block.data or None,
                                            competency=form.competency.data or None,
                                            kind=form.kind.data or None, q=form.q.data or None)
    items = db.session.scalars(query).all()
    return render_template("evidence/index.html", items=items, form=form,
                           view="table" if request.args.get("view") == "table" else "cards",
                           reports=viewers.report_digests(items))


@bp.route("/new", methods=["GET", "POST"])
@access.permission_required(access.Permission.KEEP_EVIDENCE)
@streams_uploads("files")
def create():
    """Record a new piece of evidence with its files or its link."""
    form = EvidenceForm()
    if form.validate_on_submit():
        try:
            item = evidence_service.create_evidence(
                current_user, title=form.title.data, kind=form.kind.data, context=form.context.data,
                occurred_on=form.occurred_on.data, description=form.description.data, url=form.url.data,
                uploads=_uploads())
        except DomainError as exc:
            form_error(form, exc)
        else:
            flash(_("Preuve enregistrée. Rattachez-la maintenant aux compétences qu'elle démontre."), "success")
            return redirect(url_for("evidence.detail", evidence_id=item.id))
    return render_template("evidence/form.html", form=form, item=None), 422 if form.errors else 200


@bp.route("/<int:evidence_id>")
@login_required
def detail(evidence_id: int):
    """A piece of evidence, its files and its tags; its assessments and comments."""
    item = _load(evidence_id)
    if item.files:  # the page shows what the files hold (code, reports, images, archives' trees)
        audit_read(current_user, item.owner_id, "evidence.view", subject_type="evidence", subject_id=item.id,
                   data={"files": [f.id for f in item.files]})
    return render_detail(item)


def render_detail(item: Evidence, *, assessment_form: AssessmentForm | None = None,
                  comment_form: CommentForm | None = None, status: int = 200):
    """The evidence page; the assessment views re-render it with a refused form and its errors."""
    can_edit = access.can_edit_evidence(current_user, item)
    tag_form = TagForm()
    cert = _certification() if can_edit and item.status == EvidenceStatus.DRAFT else None
    tag_form.competency.choices = [SelectChoice("", _("Choisissez…"))] + [
        SelectChoice(c.code, f"{c.code} — {c.statement[:90]}", optgroup=f"{b.code} {b.title}")
        for b in (cert.blocks if cert else []) for c in b.competencies]
    views = [viewers.file_view(f) for f in item.files]
    return render_template("evidence/detail.html", item=item, tag_form=tag_form, empty_form=EmptyForm(),
                           description=render_markdown(item.description), can_edit=can_edit,
                           can_assess=access.can_assess_learner(current_user, item.owner),
                           review=assessment_service.evidence_review(item), views=views,
                           assessment_form=assessment_form, comment_form=comment_form or CommentForm(),
                           level_choices=LEVEL_CHOICES,
                           self_ratings=(self_assessment_service.self_assessments_on(item)
                                         if access.can_view_self_assessment(current_user, item) else {})), status


@bp.route("/<int:evidence_id>/submit", methods=["POST"])
@login_required
def submit(evidence_id: int):
    """Send a tagged draft for assessment: from then on it cannot change."""
    return _owner_action(evidence_id, assessment_service.submit_evidence,
                         _("Preuve soumise pour évaluation : vos formateur·rices sont prévenu·es."))


@bp.route("/<int:evidence_id>/withdraw", methods=["POST"])
@login_required
def withdraw(evidence_id: int):
    """Take a submission back while nobody has assessed it; it is a draft again."""
    return _owner_action(evidence_id, assessment_service.withdraw_evidence,
                         _("Preuve retirée : elle est de nouveau modifiable."))


@bp.route("/<int:evidence_id>/new-version", methods=["POST"])
@login_required
def new_version(evidence_id: int):
    """Continue an assessed piece of evidence as a new draft; the assessed one stays as it is."""
    item = _load_own(evidence_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        copy = assessment_service.new_version(item, actor=current_user)
    except DomainError as exc:
        flash_refusal(exc)
        return redirect(url_for("evidence.detail", evidence_id=evidence_id))
    flash(_("Nouvelle version créée : modifiez-la puis soumettez-la."), "success")
    return redirect(url_for("evidence.detail", evidence_id=copy.id))


def _owner_action(evidence_id: int, operation, done: str):
    item = _load_own(evidence_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        operation(item, actor=current_user)
    except DomainError as exc:
        flash_refusal(exc)
    else:
        flash(done, "success")
    return redirect(url_for("evidence.detail", evidence_id=evidence_id))


@bp.route("/<int:evidence_id>/edit", methods=["GET", "POST"])
@login_required
@streams_uploads("files")
def edit(evidence_id: int):
    """Edit a draft; new files may be added."""
    item = _load_own(evidence_id)
    form = edit_form(EvidenceForm, item)
    refused = False
    if form.validate_on_submit():
        try:
            evidence_service.update_evidence(
                item, actor=current_user, title=form.title.data, kind=form.kind.data, context=form.context.data,
                occurred_on=form.occurred_on.data, description=form.description.data, url=form.url.data)
            evidence_service.add_files(item, _uploads(), actor=current_user)
        except DomainError as exc:
            form_error(form, exc)
            refused = True  # (a refusal naming no field, e.g. submitted meanwhile, is a message, not a field error)
        else:
            flash(_("Preuve mise à jour."), "success")
            return redirect(url_for("evidence.detail", evidence_id=item.id))
    return render_template("evidence/form.html", form=form, item=item), 422 if form.errors or refused else 200


@bp.route("/<int:evidence_id>/delete", methods=["POST"])
@login_required
def delete(evidence_id: int):
    """Delete a draft and, once nothing refers to them, its stored files."""
    item = _load_own(evidence_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        evidence_service.delete_evidence(item, actor=current_user)
    except DomainError as exc:
        flash_refusal(exc)
        return redirect(url_for("evidence.detail", evidence_id=evidence_id))
    flash(_("Preuve supprimée."), "success")
    return redirect(url_for("evidence.index"))


@bp.route("/<int:evidence_id>/files/<int:file_id>/delete", methods=["POST"])
@login_required
def delete_file(evidence_id: int, file_id: int):
    """Remove one file from a draft."""
    item = _load_own(evidence_id)
    file = db.get_or_404(EvidenceFile, file_id)
    access.ensure(file.evidence_id == item.id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        evidence_service.remove_file(item, file, actor=current_user)
    except DomainError as exc:
        flash_refusal(exc)
    else:
        flash(_("Fichier retiré."), "success")
    return redirect(url_for("evidence.detail", evidence_id=evidence_id))


@bp.route("/<int:evidence_id>/files/<int:file_id>")
@login_required
def download(evidence_id: int, file_id: int):
    """A file, after the authorization check: a presigned URL on S3, streamed from local disk."""
    item = _load(evidence_id)
    file = db.get_or_404(EvidenceFile, file_id)
    access.ensure(file.evidence_id == item.id)
    audit_read(current_user, item.owner_id, "evidence.download", subject_type="evidence", subject_id=item.id,
               data={"file": file.id})
    return send_evidence_file(file, inline=request.args.get("download") is None)


def send_evidence_file(file: EvidenceFile, *, inline: bool) -> BaseResponse:
    """The one way a file leaves the store, once the caller has authorized and audited the read (this
    page, a share link): shown inline only for the safe types, else downloaded; nosniff and a sandbox."""
    blob = file.blob
    inline = inline and blob.media_type in INLINE_TYPES
    try:
        # A file shown inline runs nothing, even if it hides a script: a sandbox CSP of its own.
        return blob_download(blob, file.filename, inline=inline, csp="default-src 'none'; img-src 'self'; sandbox")
    except StorageError:
        abort(503)


def _load_file(evidence_id: int, file_id: int) -> tuple[Evidence, EvidenceFile]:
    item = _load(evidence_id)
    file = db.get_or_404(EvidenceFile, file_id)
    access.ensure(file.evidence_id == item.id)
    return item, file


@bp.route("/<int:evidence_id>/files/<int:file_id>/image")
@login_required
def image(evidence_id: int, file_id: int):
    """An image file for an ``<img>`` of the page, SVG included, always under a sandbox CSP."""
    item, file = _load_file(evidence_id, file_id)
    blob = file.blob
    if blob.media_type not in viewers.IMAGE_TYPES:
        abort(404)
    audit_read(current_user, item.owner_id, "evidence.image", subject_type="evidence", subject_id=item.id,
               data={"file": file.id})
    if blob.sha256 in request.if_none_match:  # content-addressed: the hash is the version
        response = Response(status=304)
    else:
        # Always streamed, never a presigned redirect: the page's CSP only allows images from 'self',
        # and only this response can carry the sandbox policy that keeps an SVG's scripts inert.
        try:
            reader = get_storage().open(blob.storage_key)
        except StorageError:
            abort(503)
        response = Response(_stream(reader), content_type=blob.media_type, direct_passthrough=True)
        response.headers["Content-Length"] = str(blob.size)
    response.set_etag(blob.sha256)
    response.headers["Content-Disposition"] = content_disposition(file.filename, inline=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Opened on its own, an SVG is a document: no script runs, nothing loads, no same-origin access.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _stream(reader):
    with reader:
        yield from reader


@bp.route("/<int:evidence_id>/files/<int:file_id>/archive")
@login_required
def archive_entry(evidence_id: int, file_id: int):
    """One file of an archive, highlighted (``?path=`` names it as the archive's tree lists it)."""
    item, file = _load_file(evidence_id, file_id)
    path = request.args.get("path", "")
    audit_read(current_user, item.owner_id, "evidence.archive_entry", subject_type="evidence", subject_id=item.id,
               data={"file": file.id, "path": path[:500]})
    refusal = entry = None
    try:
        entry = viewers.archive_entry(file, path)
    except EntryNotFound:
        abort(404)
    except ArchiveRefused as exc:
        refusal = exc
    except StorageError:
        abort(503)
    return render_template("evidence/archive_entry.html", item=item, file=file, entry=entry,
                           refusal=refusal), 422 if refusal else 200


@bp.route("/<int:evidence_id>/tags", methods=["POST"])
@login_required
def add_tag(evidence_id: int):
    """Tag the evidence against a competency of the learner's certification."""
    item = _load_own(evidence_id)
    form = TagForm()
    form.competency.choices = [SelectChoice(request.form.get("competency", ""), "")]
    if form.validate_on_submit():
        try:
            evidence_service.tag_evidence(item, form.competency.data, form.justification.data or "", actor=current_user)
        except DomainError as exc:
            flash_refusal(exc)
        else:
            flash(_("Compétence %(code)s rattachée.", code=form.competency.data), "success")
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
    return redirect(url_for("evidence.detail", evidence_id=evidence_id) + "#tags")


@bp.route("/<int:evidence_id>/tags/<code>/delete", methods=["POST"])
@login_required
def remove_tag(evidence_id: int, code: str):
    """Remove a tag from a draft."""
    item = _load_own(evidence_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        evidence_service.untag_evidence(item, code, actor=current_user)
    except DomainError as exc:
        flash_refusal(exc)
    else:
        flash(_("Compétence %(code)s détachée.", code=code), "success")
    return redirect(url_for("evidence.detail", evidence_id=evidence_id) + "#tags")


@bp.route("/<int:evidence_id>/self-assessment", methods=["POST"])
@login_required
def self_assess(evidence_id: int):
    """The learner rates one tagged competency of their draft (level and a sentence)."""
    item = _load(evidence_id)
    if not access.can_self_assess(current_user, item):
        abort(403)
    if not EmptyForm().validate_on_submit():
        abort(400)
    code = request.form.get("competency", "")
    try:
        self_assessment_service.rate_competency(item, code, request.form.get("level", ""),
                                                request.form.get("comment", ""), actor=current_user)
    except DomainError as exc:
        flash_refusal(exc)
    else:
        flash(_("Auto-évaluation de %(code)s enregistrée.", code=code.strip().upper()), "success")
    return redirect(url_for("evidence.detail", evidence_id=evidence_id) + "#tags")


@bp.route("/uploads", methods=["POST"])
@access.permission_required(access.Permission.KEEP_EVIDENCE)
def stage_upload():
    """A presigned POST for sending one large file straight to the bucket (JSON in, JSON out)."""
    data = request.get_json(silent=True) or {}
    size = data.get("size")
    if not isinstance(size, int) or isinstance(size, bool):
        return jsonify(error={"code": "invalid", "message": _("Taille de fichier manquante.")}), 422
    try:
        form = evidence_service.stage_upload(current_user, filename=str(data.get("filename", "")), size=size)
    except evidence_service.DirectUploadUnavailable as exc:
        return jsonify(error={"code": exc.code, "message": exc.message}), 409
    except DomainError as exc:
        return jsonify(error={"code": exc.code, "message": exc.message}), 413 if isinstance(
            exc, evidence_service.LimitExceeded) else 422
    return jsonify(form), 201


@bp.route("/preview", methods=["POST"])
@login_required
def preview():
    """The live preview of a Markdown description, sanitized exactly as it will be shown."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    return jsonify(html=str(render_markdown(request.form.get("text", ""))))


def block_claims(block: Block) -> dict:
    return evidence_service.claims_by_competency(current_user, block)
