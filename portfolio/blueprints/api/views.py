"""The JSON API, ``/api/v1``: evidence, certifications, progress and assessment, logbooks and the VAE
dossier, for scripts, CI jobs and learning platforms — what a person does on the pages.

Shapes: every route declares its request and answer schemas once (``schemas.py``, marshmallow 4),
with ``spec.operation``; requests are read through those declarations and the OpenAPI 3.1 document
is generated from them by apispec (``spec.py``). We chose apispec + marshmallow over flask-smorest and
spectree/pydantic: both are kept by the marshmallow-code maintainers and widely used, apispec writes
OpenAPI 3.1 (``type: [..., "null"]``), and it leaves routing, the order of checks (403 before 404
before 400) and the error body ``{"error": {"code", "message", "field"?}}`` to us, where
flask-smorest would impose its own blueprint, error format and document route, and spectree would
validate before the view's permission checks.

Authentication is a personal access token in ``Authorization: Bearer ...`` and nothing else: no
session cookie is read, so there is no CSRF to guard against (the blueprint is CSRF-exempt).
Errors are ``{"error": {"code", "message"[, "field"]}}`` with a stable ``code`` and a French
message. What the caller may not see answers 404, as everywhere else in the application.

Over 400 lines: the API's routes, each a few lines that name their schemas.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for
from flask_babel import gettext as _
from marshmallow import Schema
from marshmallow.experimental.context import Context
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portfolio import unit_of_work
from portfolio.blueprints.api import schemas as sc
from portfolio.blueprints.api.spec import InvalidRequest, build_document, operation
from portfolio.blueprints.api.spec import body as read_body
from portfolio.blueprints.api.spec import load as load_schema
from portfolio.blueprints.api.spec import query as read_query
from portfolio.blueprints.downloads import blob_download
from portfolio.blueprints.evidence.views import staged_uploads
from portfolio.extensions import db
from portfolio.models import Assessment, Block, Certification, Cohort, Dossier, Evidence, EvidenceFile, Internship, User
from portfolio.services import access, cohorts, tokens, viewers
from portfolio.services import assessment as assessment_service
from portfolio.services import evidence as evidence_service
from portfolio.services import logbook as logbook_service
from portfolio.services import vae as vae_service
from portfolio.services.assessment import matrix_csv, matrix_filename
from portfolio.services.errors import Conflict, DomainError, NotFound
from portfolio.services.read_audit import audit_read
from portfolio.storage import StorageError, content_disposition
from portfolio.uploads import streams_uploads

bp = Blueprint("api", __name__, url_prefix="/api/v1")

PUBLIC_ENDPOINTS = frozenset({"api.openapi"})


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
def handle_api_error(exc: ApiError):
    unit_of_work.rollback()
    response = jsonify(_error_body(exc.code, exc.message, exc.field))
    response.status_code = exc.status
    response.headers.update(exc.headers)
    return response


@bp.errorhandler(InvalidRequest)
def handle_invalid_request(exc: InvalidRequest):
    unit_of_work.rollback()
    return jsonify(_error_body(exc.code, exc.message, exc.field)), exc.status


@bp.errorhandler(DomainError)
def handle_domain_error(exc: DomainError):
    """A refusal by a service: nothing it flushed is kept."""
    unit_of_work.rollback()
    if isinstance(exc, evidence_service.LimitExceeded):
        status = 413
    elif isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, Conflict | evidence_service.EvidenceLocked | evidence_service.DirectUploadUnavailable):
        status = 409
    else:
        status = 422
    body = _error_body(exc.code, exc.message, exc.field)
    if isinstance(exc, assessment_service.BlockIncomplete | vae_service.DossierIncomplete):
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


def dump(schema: type[Schema], value: Any, *, many: bool = False, analyses: dict | None = None) -> Any:
    """An answer, through its declared schema; ``analyses`` are the files' summaries, read once per list."""
    with Context({"analyses": analyses if analyses is not None else {}}):
        return schema(many=many).dump(value)


def _evidence(item: Evidence, analyses: dict | None = None) -> dict:
    if analyses is None:
        analyses = viewers.file_analyses(item.files)
    return dump(sc.EvidenceSchema, item, analyses=analyses)


def _evidence_list(items: Iterable[Evidence], schema: type[Schema] = sc.EvidenceSchema) -> list:
    items = list(items)
    if items:  # the files still being checked, in one query for the whole list
        db.session.scalars(select(Evidence).where(Evidence.id.in_([e.id for e in items]))
                           .options(selectinload(Evidence.pending_files))).all()
    analyses = viewers.file_analyses(f for e in items for f in e.files)  # one query for the whole list
    return dump(schema, items, many=True, analyses=analyses)


# --- routes ------------------------------------------------------------------------------------------

EVIDENCE = (sc.EvidenceSchema, "La preuve.")


@bp.get("/openapi.json")
@operation("getOpenApi", "Ce document.", {"200": {"description": "Le document OpenAPI.",
                                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
           secured=False)
def openapi():
    """The OpenAPI 3.1 description of this API (public)."""
    return jsonify(build_document(url_for("api.openapi", _external=True).rsplit("/", 1)[0]))


@bp.get("/certifications")
@operation("listCertifications", "Les certifications chargées, avec leurs blocs et compétences.",
           {"200": (sc.CertificationListSchema, "Les certifications.")})
def list_certifications():
    """Every certification loaded, with its blocks and competencies."""
    certs = db.session.scalars(
        select(Certification).options(selectinload(Certification.blocks).selectinload(Block.competencies))
        .order_by(Certification.code, Certification.registration)
    ).all()
    return jsonify(dump(sc.CertificationListSchema, {"certifications": certs}))


@bp.get("/evidence")
@operation("listEvidence", "Les preuves de l'appelant·e.",
           {"200": (sc.EvidenceListSchema, "Les preuves, les plus récentes d'abord.")}, query=sc.EvidenceQuerySchema)
def list_evidence():
    """The caller's own evidence, filtered by block, competency, kind or words of the title."""
    args = read_query()
    query = evidence_service.evidence_query(_user(), block=args.get("block"), competency=args.get("competency"),
                                            kind=args.get("kind"), q=args.get("q"))
    return jsonify(evidence=_evidence_list(db.session.scalars(query)))


@bp.post("/evidence")
@operation("createEvidence", "Déposer une preuve (apprenant·e ou candidat·e VAE).",
           {"201": {"description": "Preuve créée (brouillon).",
                    "content": {"application/json": {"schema": sc.EvidenceSchema}},
                    "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}}}},
           form=sc.EvidenceCreateSchema, body=sc.EvidenceCreateLinkSchema, errors=("Forbidden", "TooLarge", "Invalid"))
@streams_uploads("file", owner=lambda: g.get("api_user"))
def create_evidence():
    """Record a piece of evidence from a multipart form (files in ``file`` parts) or a JSON object."""
    user = _user()
    if not access.has_permission(user, access.Permission.KEEP_EVIDENCE):
        raise ApiError(403, "forbidden", _("Seuls les apprenant·es et les candidat·es VAE déposent des preuves."))
    if request.is_json:
        data, uploads = read_body(), []
    else:
        # Files went to the store while the body arrived (portfolio.uploads): no spooled copy.
        data = load_schema(sc.EvidenceCreateSchema, {k: request.form[k] for k in sc.EVIDENCE_TEXT_FIELDS
                                                      if k in request.form}, only=sc.EVIDENCE_TEXT_FIELDS)
        uploads = [evidence_service.Upload(f.filename or "", f.stream)
                   for f in request.files.getlist("file") if f and (f.filename or f.content_length)]
        uploads += staged_uploads(request.form)
    item = evidence_service.create_evidence(
        user,
        title=data.get("title", ""),
        kind=data.get("kind", ""),
        context=data.get("context") or "project",
        occurred_on=data.get("occurred_on") or date.today(),
        description=data.get("description", ""),
        url=data.get("url") or None,
        uploads=uploads,
    )
    location = url_for("api.get_evidence", evidence_id=item.id, _external=True)
    return jsonify(_evidence(item)), 201, {"Location": location}


@bp.get("/evidence/<int:evidence_id>")
@operation("getEvidence", "Une preuve (propriétaire, ses formateur·rices, administrateur·rices).",
           {"200": EVIDENCE}, errors=("NotFound",))
def get_evidence(evidence_id: int):
    """One piece of evidence, for whoever may read it (its owner, their tutors, administrators)."""
    return jsonify(_evidence(_load(evidence_id)))


@bp.patch("/evidence/<int:evidence_id>")
@operation("updateEvidence", "Modifier un brouillon (propriétaire seulement) ; les champs absents gardent leur "
           "valeur.", {"200": (sc.EvidenceSchema, "La preuve modifiée.")}, body=sc.EvidenceUpdateSchema,
           errors=("BadRequest", "Forbidden", "NotFound", "Conflict", "Invalid"))
def update_evidence(evidence_id: int):
    """Change some fields of a draft; the fields left out keep their value."""
    item = _load_own(evidence_id)
    data = read_body()
    evidence_service.update_evidence(
        item, actor=_user(),
        title=data.get("title", item.title),
        kind=data.get("kind", item.kind.value),
        context=data.get("context", item.context.value),
        occurred_on=(data.get("occurred_on") or item.occurred_on) if "occurred_on" in data else item.occurred_on,
        description=data.get("description", item.description),
        url=(data["url"] or None) if "url" in data else item.url,
    )
    return jsonify(_evidence(item))


@bp.delete("/evidence/<int:evidence_id>")
@operation("deleteEvidence", "Supprimer un brouillon (propriétaire seulement).",
           {"204": {"description": "Supprimée."}}, errors=("Forbidden", "NotFound", "Conflict"))
def delete_evidence(evidence_id: int):
    """Delete a draft; its stored files go too once no other evidence uses them (after the commit)."""
    item = _load_own(evidence_id)
    evidence_service.delete_evidence(item, actor=_user())
    return "", 204


@bp.get("/evidence/<int:evidence_id>/files/<int:file_id>")
@operation("downloadFile", "Télécharger un fichier (toujours en pièce jointe, `nosniff`).", {
    "200": {"description": "Le contenu exact du fichier.",
            "headers": {"Content-Disposition": {"schema": {"type": "string"}},
                        "Content-Length": {"schema": {"type": "integer"}}},
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
    "302": {"description": "Stockage S3 : redirection vers une adresse signée valable 60 secondes.",
            "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}}}}, errors=("NotFound",))
def download_file(evidence_id: int, file_id: int):
    """A file, always as an attachment: a presigned redirect on S3, streamed from local disk."""
    user = _user()
    item = _load(evidence_id)
    file = db.session.get(EvidenceFile, file_id)
    if file is None or file.evidence_id != item.id:
        raise ApiError(404, "not_found", _("Fichier introuvable."))
    blob = file.blob
    audit_read(user, item.owner_id, "evidence.download", subject_type="evidence", subject_id=item.id,
               data={"file": file.id, "via": "api"})
    try:
        return blob_download(blob, file.filename, inline=False, mimetype=False)
    except StorageError:
        raise ApiError(503, "storage_unavailable",
                       _("Le stockage des preuves est indisponible. Réessayez dans quelques minutes.")) from None


@bp.post("/evidence/<int:evidence_id>/tags")
@operation("addTag", "Rattacher la preuve à une compétence de sa certification.",
           {"201": (sc.TagSchema, "Rattachement créé.")}, body=sc.TagCreateSchema,
           errors=("BadRequest", "Forbidden", "NotFound", "Conflict", "Invalid"))
def add_tag(evidence_id: int):
    """Tag a draft against a competency of the owner's certification, with a justification."""
    item = _load_own(evidence_id)
    data = read_body()
    claim = evidence_service.tag_evidence(item, data.get("competency", ""), data.get("justification", ""),
                                          actor=_user())
    return jsonify(dump(sc.TagSchema, claim)), 201


@bp.delete("/evidence/<int:evidence_id>/tags/<code>")
@operation("removeTag", "Détacher la preuve d'une compétence.", {"204": {"description": "Détachée."}},
           errors=("Forbidden", "NotFound", "Conflict"))
def remove_tag(evidence_id: int, code: str):
    """Remove a tag from a draft."""
    item = _load_own(evidence_id)
    evidence_service.untag_evidence(item, code, actor=_user())
    return "", 204


@bp.post("/uploads")
@operation("createUpload", "Envoi direct d'un gros fichier au stockage S3 : un formulaire signé (POST présigné) "
           "dont la politique fixe la clé, la taille maximale et le type ; le stockage refuse tout le reste.",
           {"201": (sc.PresignedPostSchema, "Le formulaire signé, valable 15 minutes.")}, body=sc.UploadRequestSchema,
           errors=("BadRequest", "Forbidden", "Conflict", "TooLarge", "Invalid"))
def create_upload():
    """A presigned POST to send one large file straight to the bucket; then create with ``staged``."""
    user = _user()
    if not access.has_permission(user, access.Permission.KEEP_EVIDENCE):
        raise ApiError(403, "forbidden", _("Seuls les apprenant·es et les candidat·es VAE déposent des preuves."))
    data = read_body()
    form = evidence_service.stage_upload(user, filename=data.get("filename", ""), size=data["size"])
    return jsonify(dump(sc.PresignedPostSchema, form)), 201


@bp.get("/me/progress")
@operation("getMyProgress", "Avancement de l'appelant·e : preuves par compétence et par bloc.",
           {"200": (sc.ProgressSchema, "L'avancement.")}, errors=("NotFound",))
def my_progress():
    """For the caller's certification, per block: evidence counted per competency, and totals."""
    user = _user()
    cert = cohorts.learner_certification(user)
    if cert is None:
        raise ApiError(404, "no_certification", _("Vous ne préparez aucune certification."))
    blocks = []
    claims = evidence_service.claims_by_competency(user, cert)
    for block in cert.blocks:
        competencies = [{"code": c.code, "statement": c.statement, "evidence_count": len(claims.get(c.id, []))}
                        for c in block.competencies]
        evidence_ids = {claim.evidence_id for c in block.competencies for claim in claims.get(c.id, [])}
        blocks.append({
            "code": block.code,
            "title": block.title,
            "competencies": competencies,
            "competencies_total": len(competencies),
            "competencies_with_evidence": sum(1 for c in competencies if c["evidence_count"]),
            "evidence_count": len(evidence_ids),
        })
    return jsonify(dump(sc.ProgressSchema, {"certification": cert, "blocks": blocks}))


# --- submission and assessment -----------------------------------------------------------------------

@bp.post("/evidence/<int:evidence_id>/submit")
@operation("submitEvidence", "Soumettre un brouillon rattaché à au moins une compétence (propriétaire seulement) ; "
           "ses fichiers, sa description et ses rattachements ne changent plus.",
           {"200": (sc.EvidenceSchema, "La preuve soumise.")}, errors=("Forbidden", "NotFound", "Conflict", "Invalid"))
def submit_evidence(evidence_id: int):
    """Send a tagged draft to the owner's tutors; its files, description and tags are then frozen."""
    item = _load_own(evidence_id, _("Seule la personne qui a déposé cette preuve peut la soumettre."))
    assessment_service.submit_evidence(item, actor=_user())
    return jsonify(_evidence(item))


@bp.post("/evidence/<int:evidence_id>/withdraw")
@operation("withdrawEvidence", "Retirer une soumission tant que personne ne l'a évaluée (propriétaire seulement).",
           {"200": (sc.EvidenceSchema, "La preuve, redevenue brouillon.")},
           errors=("Forbidden", "NotFound", "Conflict"))
def withdraw_evidence(evidence_id: int):
    """Take a submission back to draft, while nobody has assessed it."""
    item = _load_own(evidence_id, _("Seule la personne qui a déposé cette preuve peut la retirer."))
    assessment_service.withdraw_evidence(item, actor=_user())
    return jsonify(_evidence(item))


@bp.get("/assessments/queue")
@operation("getAssessmentQueue", "Les preuves soumises des apprenant·es que l'appelant·e évalue "
           "(formateur·rices, administrateur·rices), les plus anciennes d'abord.",
           {"200": (sc.QueueSchema, "La file d'attente.")}, query=sc.QueueQuerySchema, errors=("Forbidden", "Invalid"))
def assessment_queue():
    """Submitted evidence awaiting assessment from the caller's learners, oldest first."""
    user = _assessor()
    args = read_query()
    found = assessment_service.queue(user, cohort_id=args.get("cohort"), learner_id=args.get("learner"),
                                     block_code=(args.get("block") or "").strip() or None)
    return jsonify(count=len(found), evidence=_evidence_list(found, sc.QueuedEvidenceSchema))


@bp.get("/evidence/<int:evidence_id>/assessments")
@operation("listAssessments", "Les évaluations appuyées sur cette preuve, remplacées comprises, les plus anciennes "
           "d'abord.", {"200": (sc.AssessmentListSchema, "Les évaluations.")}, errors=("NotFound",))
def list_assessments(evidence_id: int):
    """Every assessment that relied on this evidence, oldest first, superseded ones included."""
    item = _load(evidence_id)
    return jsonify(dump(sc.AssessmentListSchema, {"assessments": assessment_service.assessments_on(item)}))


@bp.post("/evidence/<int:evidence_id>/assessments")
@operation("createAssessment", "Évaluer une compétence rattachée à une preuve soumise (formateur·rices de la "
           "promotion, administrateur·rices). Ajoutée, jamais modifiée : elle remplace (`supersedes`) l'évaluation "
           "précédente de la compétence.", {"201": (sc.AssessmentSchema, "Évaluation enregistrée.")},
           body=sc.AssessmentCreateSchema, errors=("BadRequest", "Forbidden", "NotFound", "Conflict", "Invalid"))
def create_assessment(evidence_id: int):
    """Record a level for one tagged competency; a second one for the same competency supersedes the first."""
    user = _assessor()
    item = _load(evidence_id)
    if not access.can_assess_learner(user, item.owner):
        raise ApiError(403, "forbidden", _("Vous n'évaluez pas cette personne."))
    data = read_body()
    record = assessment_service.record_assessment(item, data.get("competency", ""), data.get("level", ""),
                                                  data.get("comment", ""), assessor=user)
    return jsonify(dump(sc.AssessmentSchema, record)), 201


def _learner(learner_id: int) -> User:
    learner = db.session.get(User, learner_id)
    if learner is None or not access.can_view_learner(_user(), learner):
        raise ApiError(404, "not_found", _("Apprenant·e introuvable."))
    return learner


@bp.post("/learners/<int:learner_id>/blocks/<code>/validation")
@operation("validateBlock", "Valider un bloc pour un·e apprenant·e dont toutes les compétences du bloc sont "
           "acquises ; sinon 422 `block_incomplete` avec `missing`.",
           {"201": (sc.BlockDecisionSchema, "Décision enregistrée.")}, body=sc.ValidationCreateSchema,
           body_required=False, errors=("BadRequest", "Forbidden", "NotFound", "Conflict", "Invalid"))
def validate_block(learner_id: int, code: str):
    """Validate a block for a learner once every competency of it is acquired (422 lists those missing)."""
    user = _assessor()
    learner = _learner(learner_id)
    if not access.can_assess_learner(user, learner):
        raise ApiError(403, "forbidden", _("Vous n'évaluez pas cette personne."))
    cert = cohorts.learner_certification(learner)
    if cert is None:
        raise ApiError(404, "no_certification", _("Cette personne ne prépare aucune certification."))
    block = assessment_service.find_block(cert.id, code)
    data = read_body(optional=True)
    decision = assessment_service.validate_block(learner, block, actor=user, comment=data.get("comment", ""))
    return jsonify(dump(sc.BlockDecisionSchema, decision)), 201


@bp.get("/learners/<int:learner_id>/progress")
@operation("getLearnerProgress", "L'avancement d'un·e apprenant·e comme sur sa page : par compétence le niveau "
           "actuel donné par le·la formateur·rice, les preuves rattachées et l'historique des évaluations ; par bloc "
           "la décision actuelle (l'apprenant·e, ses formateur·rices, les administrateur·rices).",
           {"200": (sc.LearnerProgressSchema, "L'avancement.")}, errors=("NotFound",))
def learner_progress(learner_id: int):
    """The progress page as data: levels from the current state, tags, history and block decisions."""
    learner = _learner(learner_id)
    cert = cohorts.learner_certification(learner)
    if cert is None:
        raise ApiError(404, "no_certification", _("Cette personne ne prépare aucune certification."))
    blocks = assessment_service.learner_progress(learner, cert)
    # The page's rows carry only what the page shows; the API gives whole tags and assessment records.
    claims = evidence_service.claims_by_competency(learner, cert)
    history: dict[int, list[Assessment]] = {}
    for item in db.session.scalars(select(Assessment).where(Assessment.learner_id == learner.id)
                                   .options(selectinload(Assessment.assessor), selectinload(Assessment.competency))
                                   .order_by(Assessment.created_at, Assessment.id)):
        history.setdefault(item.competency_id, []).append(item)
    for block in blocks:
        for competency in block.competencies:
            competency.claims = claims.get(competency.competency.id, [])
            competency.history = history.get(competency.competency.id, [])
    return jsonify(dump(sc.LearnerProgressSchema, {"learner": learner, "certification": cert, "blocks": blocks}))


# --- cohorts -------------------------------------------------------------------------------------------

@bp.get("/cohorts")
@operation("listCohorts", "Les promotions de l'appelant·e (suivies ou enseignées ; toutes pour un·e "
           "administrateur·rice).", {"200": (sc.CohortListSchema, "Les promotions.")})
def list_cohorts():
    """The caller's cohorts: those they teach or belong to; every cohort for an administrator."""
    user = _user()
    if access.has_permission(user, access.Permission.ADMINISTER):
        found = db.session.scalars(select(Cohort).options(selectinload(Cohort.certification))
                                   .order_by(Cohort.year.desc(), Cohort.name)).all()
    else:
        found = cohorts.cohorts_of(user)
    return jsonify(dump(sc.CohortListSchema, {"cohorts": found}))


def _matrix_dict(matrix: assessment_service.Matrix) -> dict:
    competencies = matrix.competencies()
    return {
        "cohort": matrix.cohort,
        "blocks": matrix.blocks,
        "learners": [{
            "id": learner.id, "name": learner.name, "email": learner.email,
            "levels": {c.code: (level.value if (level := matrix.level(learner, c)) else None) for c in competencies},
            "acquired": matrix.acquired(learner),
            "validated_blocks": [b.code for b in matrix.blocks if (learner.id, b.id) in matrix.validated],
        } for learner in matrix.learners],
    }


@bp.get("/cohorts/<int:cohort_id>/matrix")
@operation("getCohortMatrix", "La matrice d'une promotion : apprenant·es × compétences, niveau actuel par case.", {
    "200": {"description": "La matrice, en JSON, ou en CSV avec `format=csv` (séparateur `;`, UTF-8 avec BOM, "
                           "libellés français, en pièce jointe `matrice-<nom-de-la-promotion>.csv`).",
            "content": {"application/json": {"schema": sc.MatrixSchema}, "text/csv": {"schema": {"type": "string"}}}}},
    query=sc.MatrixQuerySchema, errors=("Forbidden", "NotFound", "Invalid"))
def cohort_matrix(cohort_id: int):
    """Learners × competencies of a cohort, as JSON or (``?format=csv``) as a spreadsheet."""
    user = _require(access.Permission.VIEW_COHORTS,
                    _("Seul·es les formateur·rices et les administrateur·rices consultent les promotions."))
    cohort = db.session.get(Cohort, cohort_id)
    if cohort is None or not access.can_view_cohort(user, cohort):
        raise ApiError(404, "not_found", _("Promotion introuvable."))
    args = read_query()
    output = args.get("format") or "json"
    block_code = (args.get("block") or "").strip() or None
    sort = args.get("sort") or "name"
    matrix = assessment_service.cohort_matrix(cohort, block_code=block_code, sort=sort)
    if block_code and not matrix.blocks:
        raise ApiError(404, "not_found", _("Bloc inconnu : %(code)s", code=block_code), "block")
    if output == "json":
        return jsonify(dump(sc.MatrixSchema, _matrix_dict(matrix)))
    response = Response(matrix_csv(matrix), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = content_disposition(matrix_filename(cohort), inline=False)
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- internship logbooks --------------------------------------------------------------------------------

def _internship(internship_id: int) -> Internship:
    found = db.session.get(Internship, internship_id)
    if found is None or not access.can_view_internship(_user(), found):
        raise ApiError(404, "not_found", _("Stage introuvable."))
    return found


@bp.get("/internships")
@operation("listInternships", "Les stages de l'appelant·e, les plus récents d'abord.",
           {"200": (sc.InternshipListSchema, "Les stages.")})
def list_internships():
    """The caller's own internships (a tutor reads a learner's through ``/internships/{id}/entries``)."""
    return jsonify(dump(sc.InternshipListSchema, {"internships": logbook_service.internships_of(_user())}))


@bp.get("/internships/<int:internship_id>/entries")
@operation("listLogbookEntries", "Le carnet d'un stage : le stage et ses entrées (l'apprenant·e, ses "
           "formateur·rices, les administrateur·rices).", {"200": (sc.EntryListSchema, "Le carnet.")},
           errors=("NotFound",))
def list_entries(internship_id: int):
    internship = _internship(internship_id)
    return jsonify(dump(sc.EntryListSchema, {"internship": internship, "entries": internship.entries}))


@bp.post("/internships/<int:internship_id>/entries")
@operation("createLogbookEntry", "Ajouter une entrée (brouillon) au carnet : un jour du stage, ses heures, ses "
           "activités, les compétences exercées (l'apprenant·e seulement).",
           {"201": (sc.EntrySchema, "Entrée créée.")}, body=sc.EntryCreateSchema,
           errors=("BadRequest", "Forbidden", "NotFound", "Invalid"))
def create_entry(internship_id: int):
    internship = _internship(internship_id)
    if not access.can_edit_internship(_user(), internship):
        raise ApiError(403, "forbidden", _("Seul·e l'apprenant·e écrit son carnet de stage."))
    data = read_body()
    entry = logbook_service.add_entry(internship, actor=_user(), day=data.get("day"), hours=data.get("hours", ""),
                                      activities=data.get("activities", ""),
                                      competency_codes=data.get("competencies") or ())
    return jsonify(dump(sc.EntrySchema, entry)), 201


# --- the VAE dossier ---------------------------------------------------------------------------------------

def _dossier(dossier_id: int) -> Dossier:
    found = db.session.get(Dossier, dossier_id)
    if found is None or not access.can_view_dossier(_user(), found):
        raise ApiError(404, "not_found", _("Dossier introuvable."))
    return found


def _own_dossier(dossier_id: int) -> Dossier:
    found = _dossier(dossier_id)
    if not access.can_edit_dossier(_user(), found):
        raise ApiError(403, "forbidden", _("Seul·e le·la candidat·e écrit son dossier."))
    return found


def _dossier_dict(dossier: Dossier) -> dict:
    shown = vae_service.dossier_competencies(dossier)
    report = {r.section.id: r for r in vae_service.completeness(dossier)}
    sections = []
    for section in vae_service.sections_in_order(dossier):
        competencies = []
        for competency in section.block.competencies:
            item = shown.get(competency.id)
            competencies.append({
                "code": competency.code, "statement": competency.statement,
                "narrative": item.narrative if item else "",
                "evidence": [{"id": e.id, "title": e.title, "justification": item.justification_for(e)}
                             for e in item.evidence] if item else [],
            })
        found = report.get(section.id)
        sections.append({
            "code": section.block.code, "title": section.block.title, "applied": section.is_applied,
            "activities": section.activities, "context": section.context, "means": section.means,
            "experiences": [e.id for e in section.experiences],
            "complete": found.complete if found is not None else None, "competencies": competencies,
        })
    versions = [{"id": v.id, "number": v.number, "sent_at": v.sent_at,
                 "outcome": outcome.outcome.value if (outcome := vae_service.current_outcome(v)) else None}
                for v in dossier.versions]
    return {"id": dossier.id, "candidate": dossier.candidate, "certification": dossier.certification.code,
            "status": dossier.status.value, "presentation": dossier.presentation, "sections": sections,
            "missing": vae_service.missing_items(dossier), "versions": versions, "updated_at": dossier.updated_at}


@bp.get("/dossiers/<int:dossier_id>")
@operation("getDossier", "Un dossier de VAE (livret 2) comme sur sa page : présentation, blocs, récits et preuves "
           "par compétence, ce qui manque, versions envoyées (le·la candidat·e, son accompagnateur·rice, les "
           "administrateur·rices).", {"200": (sc.DossierSchema, "Le dossier.")}, errors=("NotFound",))
def get_dossier(dossier_id: int):
    return jsonify(dump(sc.DossierSchema, _dossier_dict(_dossier(dossier_id))))


@bp.put("/dossiers/<int:dossier_id>/sections/<code>")
@operation("updateDossierSection", "Écrire un bloc du dossier : demandé ou non, activités, contexte, moyens, "
           "expériences, et pour chaque compétence citée son récit et ses preuves (rattachées comme depuis la page "
           "de la preuve). Le·la candidat·e seulement ; un dossier envoyé redevient brouillon.",
           {"200": (sc.DossierSchema, "Le dossier.")}, body=sc.DossierSectionUpdateSchema,
           errors=("BadRequest", "Forbidden", "NotFound", "Conflict", "Invalid"))
def update_dossier_section(dossier_id: int, code: str):
    user = _user()
    dossier = _own_dossier(dossier_id)
    section = vae_service.section_for(dossier, code)
    data = read_body()
    vae_service.update_section(section, actor=user, applied=data["applied"], activities=data.get("activities", ""),
                               context=data.get("context", ""), means=data.get("means", ""),
                               experience_ids=data.get("experiences") or [])
    by_code = {c.code: c for c in section.block.competencies}
    for item in data.get("competencies") or []:
        competency = by_code.get(item.get("code", "").strip().upper())
        if competency is None:
            raise ApiError(422, "invalid", _("Compétence inconnue dans ce bloc : %(code)s", code=item.get("code")),
                           "competencies")
        current = vae_service.dossier_competencies(dossier).get(competency.id)
        vae_service.set_claim(dossier, competency, actor=user, narrative=item.get("narrative", ""),
                              evidence_ids=item["evidence"] if "evidence" in item else
                              ([e.id for e in current.evidence] if current else []))
    return jsonify(dump(sc.DossierSchema, _dossier_dict(dossier)))


@bp.post("/dossiers/<int:dossier_id>/send")
@operation("sendDossier", "Envoyer le dossier au jury : il est figé en une nouvelle version ; sinon 422 "
           "`dossier_incomplete` avec `missing` (le·la candidat·e seulement).",
           {"201": (sc.DossierVersionSchema, "Version envoyée.")},
           errors=("Forbidden", "NotFound", "Invalid"))
def send_dossier(dossier_id: int):
    dossier = _own_dossier(dossier_id)
    version = vae_service.send_dossier(dossier, actor=_user())
    return jsonify(dump(sc.DossierVersionSchema, {
        "id": version.id, "number": version.number, "sent_at": version.sent_at,
        "blocks": [b["code"] for b in version.snapshot["blocks"]]})), 201
