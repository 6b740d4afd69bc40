"""The JSON API, ``/api/v1``: evidence, certifications, progress and assessment, for scripts and CI jobs.

Authentication is a personal access token in ``Authorization: Bearer ...`` and nothing else: no
session cookie is read, so there is no CSRF to guard against (the blueprint is CSRF-exempt).
Errors are ``{"error": {"code", "message"[, "field"]}}`` with a stable ``code`` and a French
message. What the caller may not see answers 404, as everywhere else in the application.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, g, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portfolio.blueprints.api.openapi import build_document
from portfolio.blueprints.api.representations import (
    assessment_json,
    certification_json,
    cohort_json,
    decision_json,
    evidence_json,
    matrix_json,
    queued_evidence_json,
    tag_json,
)
from portfolio.blueprints.evidence.views import staged_uploads
from portfolio.extensions import db
from portfolio.models import Block, Certification, Cohort, Evidence, EvidenceFile, User
from portfolio.services import access, cohorts, tokens, viewers
from portfolio.services import assessment as assessment_service
from portfolio.services import evidence as evidence_service
from portfolio.services.assessment import matrix_csv, matrix_filename
from portfolio.services.audit import record_event
from portfolio.services.errors import Conflict, DomainError, NotFound
from portfolio.storage import StorageError, content_disposition, get_storage
from portfolio.uploads import stream_files_to

bp = Blueprint("api", __name__, url_prefix="/api/v1")

PUBLIC_ENDPOINTS = frozenset({"api.openapi"})
EDITABLE_FIELDS = ("title", "kind", "context", "occurred_on", "description", "url")


class ApiError(Exception):
    """An answer other than success, raised anywhere in a view and rendered as JSON."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


def _error_body(code: str, message: str, field: str | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


@bp.errorhandler(ApiError)
def handle_api_error(exc: ApiError):  # type: ignore[no-untyped-def]
    db.session.rollback()
    response = jsonify(_error_body(exc.code, exc.message, exc.field))
    response.status_code = exc.status
    response.headers.update(exc.headers)
    return response


@bp.errorhandler(DomainError)
def handle_domain_error(exc: DomainError):  # type: ignore[no-untyped-def]
    """A refusal by a service: nothing it flushed is kept."""
    db.session.rollback()
    if isinstance(exc, evidence_service.LimitExceeded):
        status = 413
    elif isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, Conflict | evidence_service.EvidenceLocked | evidence_service.DirectUploadUnavailable):
        status = 409
    else:
        status = 422
    body = _error_body(exc.code, exc.message, exc.field)
    if isinstance(exc, assessment_service.BlockIncomplete):
        body["error"]["missing"] = exc.missing
    return jsonify(body), status


@bp.before_request
def authenticate() -> None:
    """Resolve the bearer token to ``g.api_user``; no token, a bad one or a revoked one → 401."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    scheme, _sep, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(401, "unauthorized", _("Authentification requise : envoyez « Authorization: Bearer "
                                              "<jeton> » avec un jeton d'accès personnel."),
                       headers={"WWW-Authenticate": 'Bearer realm="portfolio"'})
    user = tokens.authenticate_token(raw.strip())
    if user is None:
        # RFC 6750: say the token itself was refused, so that a client does not retry it.
        raise ApiError(401, "unauthorized", _("Jeton d'accès invalide, révoqué, ou compte désactivé."),
                       headers={"WWW-Authenticate": 'Bearer realm="portfolio", error="invalid_token"'})
    g.api_user = user


@bp.after_request
def commit_token_use(response: Response) -> Response:
    # Read-only requests have no commit of their own: this one keeps the token's last_used_at.
    if g.get("api_user") is not None and response.status_code < 400:
        db.session.commit()
    return response


# --- helpers ---------------------------------------------------------------------------------------

def _user() -> User:
    return g.api_user


def _load(evidence_id: int) -> Evidence:
    found = db.session.get(Evidence, evidence_id, options=[selectinload(Evidence.files),
                                                           selectinload(Evidence.claims)])
    if found is None or not access.can_view_evidence(_user(), found):
        raise ApiError(404, "not_found", _("Preuve introuvable."))
    return found


def _load_own(evidence_id: int, message: str | None = None) -> Evidence:
    """Evidence the caller may change. One who can read it but not change it (a tutor) gets 403."""
    found = _load(evidence_id)
    if not access.can_edit_evidence(_user(), found):
        raise ApiError(403, "forbidden",
                       message or _("Seule la personne qui a déposé cette preuve peut la modifier."))
    return found


def _require(permission: access.Permission, message: str) -> User:
    """The caller, if their role grants ``permission``; otherwise 403 (before any object is looked up)."""
    user = _user()
    if not access.has_permission(user, permission):
        raise ApiError(403, "forbidden", message)
    return user


def _assessor() -> User:
    return _require(access.Permission.ASSESS,
                    _("Seul·es les formateur·rices et les administrateur·rices évaluent les apprenant·es."))


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise ApiError(422, "invalid", _("Le paramètre %(field)s doit être un identifiant numérique.", field=name),
                       name)
    return int(value)


def _json_object(*, optional: bool = False) -> dict:
    if optional and not request.get_data(cache=True):
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", _("Le corps de la requête doit être un objet JSON."))
    return body


def _text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(422, "invalid", _("Le champ %(field)s doit être une chaîne de caractères.", field=field),
                       field)
    return value


def _date(value: Any, default: date) -> date:
    if value in (None, ""):
        return default
    try:
        return date.fromisoformat(_text(value, "occurred_on"))
    except ValueError:
        raise ApiError(422, "invalid", _("Date invalide : utilisez le format AAAA-MM-JJ."), "occurred_on") from None


# --- routes ------------------------------------------------------------------------------------------

@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API (public)."""
    return jsonify(build_document(url_for("api.openapi", _external=True).rsplit("/", 1)[0]))


@bp.get("/certifications")
def list_certifications():
    """Every certification loaded, with its blocks and competencies."""
    certs = db.session.scalars(
        select(Certification).options(selectinload(Certification.blocks).selectinload(Block.competencies))
        .order_by(Certification.code, Certification.registration)
    ).all()
    return jsonify(certifications=[certification_json(c) for c in certs])


@bp.get("/evidence")
def list_evidence():
    """The caller's own evidence, filtered by block, competency, kind or words of the title."""
    args = request.args
    query = evidence_service.evidence_query(_user(), block=args.get("block"), competency=args.get("competency"),
                                            kind=args.get("kind"), q=args.get("q"))
    items = db.session.scalars(query).all()
    analyses = viewers.file_analyses(f for e in items for f in e.files)  # one query for the whole list
    return jsonify(evidence=[evidence_json(e, analyses) for e in items])


@bp.post("/evidence")
def create_evidence():
    """Record a piece of evidence from a multipart form (files in ``file`` parts) or a JSON object."""
    user = _user()
    if not access.has_permission(user, access.Permission.KEEP_EVIDENCE):
        raise ApiError(403, "forbidden", _("Seuls les apprenant·es et les candidat·es VAE déposent des preuves."))
    if request.is_json:
        data, uploads = _json_object(), []
    else:
        # Files go to the store while the body arrives: no spooled copy on local disk.
        stream_files_to(get_storage(), evidence_service.upload_limit(user))
        data = request.form
        uploads = [evidence_service.Upload(f.filename or "", f.stream)
                   for f in request.files.getlist("file") if f and (f.filename or f.content_length)]
        uploads += staged_uploads(request.form)
    item = evidence_service.create_evidence(
        user,
        title=_text(data.get("title"), "title"),
        kind=_text(data.get("kind"), "kind"),
        context=_text(data.get("context"), "context") or "project",
        occurred_on=_date(data.get("occurred_on"), date.today()),
        description=_text(data.get("description"), "description"),
        url=_text(data.get("url"), "url") or None,
        uploads=uploads,
    )
    db.session.commit()
    location = url_for("api.get_evidence", evidence_id=item.id, _external=True)
    return jsonify(evidence_json(item)), 201, {"Location": location}


@bp.get("/evidence/<int:evidence_id>")
def get_evidence(evidence_id: int):
    """One piece of evidence, for whoever may read it (its owner, their tutors, administrators)."""
    return jsonify(evidence_json(_load(evidence_id)))


@bp.patch("/evidence/<int:evidence_id>")
def update_evidence(evidence_id: int):
    """Change some fields of a draft; the fields left out keep their value."""
    item = _load_own(evidence_id)
    body = _json_object()
    unknown = sorted(set(body) - set(EDITABLE_FIELDS))
    if unknown:
        raise ApiError(422, "invalid", _("Champ inconnu : %(field)s", field=unknown[0]), unknown[0])
    evidence_service.update_evidence(
        item, actor=_user(),
        title=_text(body["title"], "title") if "title" in body else item.title,
        kind=_text(body["kind"], "kind") if "kind" in body else item.kind.value,
        context=_text(body["context"], "context") if "context" in body else item.context.value,
        occurred_on=_date(body["occurred_on"], item.occurred_on) if "occurred_on" in body else item.occurred_on,
        description=_text(body["description"], "description") if "description" in body else item.description,
        url=(_text(body["url"], "url") or None) if "url" in body else item.url,
    )
    db.session.commit()
    return jsonify(evidence_json(item))


@bp.delete("/evidence/<int:evidence_id>")
def delete_evidence(evidence_id: int):
    """Delete a draft; its stored files go too once no other evidence uses them."""
    item = _load_own(evidence_id)
    keys = evidence_service.delete_evidence(item, actor=_user())
    db.session.commit()
    evidence_service.delete_released_objects(keys)
    return "", 204


@bp.get("/evidence/<int:evidence_id>/files/<int:file_id>")
def download_file(evidence_id: int, file_id: int):
    """A file, always as an attachment: a presigned redirect on S3, streamed from local disk."""
    user = _user()
    item = _load(evidence_id)
    file = db.session.get(EvidenceFile, file_id)
    if file is None or file.evidence_id != item.id:
        raise ApiError(404, "not_found", _("Fichier introuvable."))
    blob = file.blob
    if user.id != item.owner_id:
        record_event("evidence.download", actor=user, subject_type="evidence", subject_id=item.id,
                     data={"file": file.id, "via": "api"})
        db.session.commit()
    storage = get_storage()
    try:
        url = storage.presigned_get_url(blob.storage_key, filename=file.filename, content_type=blob.media_type,
                                        inline=False, expires=60)
        if url:
            return redirect(url, code=302)
        chunks = storage.iter_chunks(blob.storage_key)
    except StorageError:
        raise ApiError(503, "storage_unavailable",
                       _("Le stockage des preuves est indisponible. Réessayez dans quelques minutes.")) from None
    response = Response(chunks, content_type=blob.media_type, direct_passthrough=True)
    response.headers["Content-Length"] = str(blob.size)
    response.headers["Content-Disposition"] = content_disposition(file.filename, inline=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/evidence/<int:evidence_id>/tags")
def add_tag(evidence_id: int):
    """Tag a draft against a competency of the owner's certification, with a justification."""
    item = _load_own(evidence_id)
    body = _json_object()
    claim = evidence_service.tag_evidence(item, _text(body.get("competency"), "competency"),
                                          _text(body.get("justification"), "justification"), actor=_user())
    db.session.commit()
    return jsonify(tag_json(claim)), 201


@bp.delete("/evidence/<int:evidence_id>/tags/<code>")
def remove_tag(evidence_id: int, code: str):
    """Remove a tag from a draft."""
    item = _load_own(evidence_id)
    evidence_service.untag_evidence(item, code, actor=_user())
    db.session.commit()
    return "", 204


@bp.post("/uploads")
def create_upload():
    """A presigned POST to send one large file straight to the bucket; then create with ``staged``."""
    user = _user()
    if not access.has_permission(user, access.Permission.KEEP_EVIDENCE):
        raise ApiError(403, "forbidden", _("Seuls les apprenant·es et les candidat·es VAE déposent des preuves."))
    data = _json_object()
    size = data.get("size")
    if not isinstance(size, int) or isinstance(size, bool):
        raise ApiError(422, "invalid", _("Taille de fichier manquante."), "size")
    form = evidence_service.stage_upload(user, filename=_text(data.get("filename"), "filename"), size=size)
    return jsonify(form), 201


@bp.get("/me/progress")
def my_progress():
    """For the caller's certification, per block: evidence counted per competency, and totals."""
    user = _user()
    cert = cohorts.learner_certification(user)
    if cert is None:
        raise ApiError(404, "no_certification", _("Vous ne préparez aucune certification."))
    blocks = []
    for block in cert.blocks:
        claims = evidence_service.claims_by_competency(user, block)
        competencies = [{"code": c.code, "statement": c.statement, "evidence_count": len(claims.get(c.id, []))}
                        for c in block.competencies]
        evidence_ids = {claim.evidence_id for found in claims.values() for claim in found}
        blocks.append({
            "code": block.code,
            "title": block.title,
            "competencies": competencies,
            "competencies_total": len(competencies),
            "competencies_with_evidence": sum(1 for c in competencies if c["evidence_count"]),
            "evidence_count": len(evidence_ids),
        })
    return jsonify(certification={"id": cert.id, "code": cert.code, "registration": cert.registration,
                                  "title": cert.title}, blocks=blocks)


# --- submission and assessment -----------------------------------------------------------------------

@bp.post("/evidence/<int:evidence_id>/submit")
def submit_evidence(evidence_id: int):
    """Send a tagged draft to the owner's tutors; its files, description and tags are then frozen."""
    item = _load_own(evidence_id, _("Seule la personne qui a déposé cette preuve peut la soumettre."))
    assessment_service.submit_evidence(item, actor=_user())
    db.session.commit()
    return jsonify(evidence_json(item))


@bp.post("/evidence/<int:evidence_id>/withdraw")
def withdraw_evidence(evidence_id: int):
    """Take a submission back to draft, while nobody has assessed it."""
    item = _load_own(evidence_id, _("Seule la personne qui a déposé cette preuve peut la retirer."))
    assessment_service.withdraw_evidence(item, actor=_user())
    db.session.commit()
    return jsonify(evidence_json(item))


@bp.get("/assessments/queue")
def assessment_queue():
    """Submitted evidence awaiting assessment from the caller's learners, oldest first."""
    user = _assessor()
    found = assessment_service.queue(user, cohort_id=_int_arg("cohort"), learner_id=_int_arg("learner"),
                                     block_code=request.args.get("block", "").strip() or None)
    analyses = viewers.file_analyses(f for e in found for f in e.files)
    return jsonify(count=len(found), evidence=[queued_evidence_json(e, analyses) for e in found])


@bp.get("/evidence/<int:evidence_id>/assessments")
def list_assessments(evidence_id: int):
    """Every assessment that relied on this evidence, oldest first, superseded ones included."""
    item = _load(evidence_id)
    return jsonify(assessments=[assessment_json(a) for a in assessment_service.assessments_on(item)])


@bp.post("/evidence/<int:evidence_id>/assessments")
def create_assessment(evidence_id: int):
    """Record a level for one tagged competency; a second one for the same competency supersedes the first."""
    user = _assessor()
    item = _load(evidence_id)
    if not access.can_assess_learner(user, item.owner):
        raise ApiError(403, "forbidden", _("Vous n'évaluez pas cette personne."))
    body = _json_object()
    record = assessment_service.record_assessment(
        item, _text(body.get("competency"), "competency"), _text(body.get("level"), "level"),
        _text(body.get("comment"), "comment"), assessor=user)
    db.session.commit()
    return jsonify(assessment_json(record)), 201


@bp.post("/learners/<int:learner_id>/blocks/<code>/validation")
def validate_block(learner_id: int, code: str):
    """Validate a block for a learner once every competency of it is acquired (422 lists those missing)."""
    user = _assessor()
    learner = db.session.get(User, learner_id)
    if learner is None or not access.can_view_learner(user, learner):
        raise ApiError(404, "not_found", _("Apprenant·e introuvable."))
    if not access.can_assess_learner(user, learner):
        raise ApiError(403, "forbidden", _("Vous n'évaluez pas cette personne."))
    cert = cohorts.learner_certification(learner)
    if cert is None:
        raise ApiError(404, "no_certification", _("Cette personne ne prépare aucune certification."))
    block = assessment_service.find_block(cert.id, code)
    body = _json_object(optional=True)
    decision = assessment_service.validate_block(learner, block, actor=user,
                                                 comment=_text(body.get("comment"), "comment"))
    db.session.commit()
    return jsonify(decision_json(decision)), 201


# --- cohorts -------------------------------------------------------------------------------------------

@bp.get("/cohorts")
def list_cohorts():
    """The caller's cohorts: those they teach or belong to; every cohort for an administrator."""
    user = _user()
    if access.has_permission(user, access.Permission.ADMINISTER):
        found = db.session.scalars(select(Cohort).options(selectinload(Cohort.certification))
                                   .order_by(Cohort.year.desc(), Cohort.name)).all()
    else:
        found = cohorts.cohorts_of(user)
    return jsonify(cohorts=[cohort_json(c) for c in found])


@bp.get("/cohorts/<int:cohort_id>/matrix")
def cohort_matrix(cohort_id: int):
    """Learners × competencies of a cohort, as JSON or (``?format=csv``) as a spreadsheet."""
    user = _require(access.Permission.VIEW_COHORTS,
                    _("Seul·es les formateur·rices et les administrateur·rices consultent les promotions."))
    cohort = db.session.get(Cohort, cohort_id)
    if cohort is None or not access.can_view_cohort(user, cohort):
        raise ApiError(404, "not_found", _("Promotion introuvable."))
    output = request.args.get("format", "json").strip().lower()
    if output not in ("json", "csv"):
        raise ApiError(422, "invalid", _("Format inconnu : %(format)s (json, csv).", format=output), "format")
    block_code = request.args.get("block", "").strip() or None
    sort = request.args.get("sort", "name").strip()
    if sort not in ("name", "acquired"):
        raise ApiError(422, "invalid", _("Tri inconnu : %(sort)s (name, acquired).", sort=sort), "sort")
    matrix = assessment_service.cohort_matrix(cohort, block_code=block_code, sort=sort)
    if block_code and not matrix.blocks:
        raise ApiError(404, "not_found", _("Bloc inconnu : %(code)s", code=block_code), "block")
    if output == "json":
        return jsonify(matrix_json(matrix))
    response = Response(matrix_csv(matrix), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = content_disposition(matrix_filename(cohort), inline=False)
    response.headers["Cache-Control"] = "private, no-store"
    return response
