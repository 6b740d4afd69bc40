"""Every shape of the API, declared once with marshmallow: what a request may send (``load``), what an
answer holds (``dump``), and — read by apispec — the OpenAPI document (``spec.py``).

Requests: a schema checks the shape (a JSON object, strings where strings are expected, ISO dates,
numeric identifiers, no unknown field where that is refused) and answers 422 ``invalid`` naming the
field; the rules about values (a known kind, a non-empty title, a justification's length…) are the
services', with their own French messages, and are documented here (``enum``, ``maxLength``) so the
document says what the service enforces. Answers: views hand models (or plain dicts they built) to a
schema's ``dump``; no hand-written dict, no second description.

Over 400 lines: declarations only: every request and answer shape of the API.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields
from marshmallow.experimental.context import Context

from portfolio.markdown import render_markdown
from portfolio.models import (
    BlockResult,
    DecisionKind,
    DossierStatus,
    EntryStatus,
    EvidenceContext,
    EvidenceKind,
    EvidenceStatus,
    Level,
    Outcome,
)
from portfolio.services import viewers

LEVELS = [level.value for level in Level]
LEVEL_DOC = "`acquired` (acquis), `in_progress` (en cours d'acquisition), `not_acquired` (non acquis)."


# --- request fields: French messages naming the field ---------------------------------------------------

class Text(fields.String):
    """A string; ``null`` reads as empty (as the services expect), anything else is refused."""

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        if value is None and not self.allow_none:
            value = ""
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(_("Le champ %(field)s doit être une chaîne de caractères.", field=self.name))
        return value


class IsoDate(Text):
    """An ISO date (``AAAA-MM-JJ``); empty is ``None`` (the view's default applies)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"format": "date", **kwargs.pop("metadata", {})}, **kwargs)

    # A date from a Text field: marshmallow's type says a Text field always gives a str.
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date | None:  # type: ignore[override]
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValidationError(_("Date invalide : utilisez le format AAAA-MM-JJ.")) from None


class Identifier(fields.Integer):
    """A numeric id in a query string: ASCII digits only (no sign, no other script's digits)."""

    # An empty parameter is an absent one (None); the class stays an Integer for the OpenAPI document,
    # whose marshmallow type says an Integer always gives an int.
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | None:  # type: ignore[override]
        text = str(value).strip()
        if not text:
            return None
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise ValidationError(_("Le paramètre %(field)s doit être un identifiant numérique.", field=self.name))
        return int(text)


class Size(fields.Integer):
    """A byte count in a JSON body: a JSON integer (not a string, not a boolean)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValidationError(_("Taille de fichier manquante."))
        return value

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        if value is None:
            raise ValidationError(_("Taille de fichier manquante."))
        return super().deserialize(value, attr, data, **kwargs)


class Choice(Text):
    """One of a few words in a query string; the refusal lists them."""

    def __init__(self, choices: Sequence[str], message: Callable[[str], str], **kwargs: Any) -> None:
        self.choices, self.message = list(choices), message
        super().__init__(metadata={"enum": self.choices, **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip().lower()
        if text not in self.choices:
            raise ValidationError(self.message(text))
        return text


class IdList(fields.List):
    """A list of integer ids in a JSON body."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(fields.Integer(strict=True), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[int | None]:
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValidationError(_("Le champ %(field)s doit être une liste d'identifiants.", field=self.name))
        return list(value)


class Hours(fields.Raw):
    """A duration: a JSON number or a string the logbook service reads (``7,5``, ``7h30``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"type": ["number", "string"], **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValidationError(_("Le champ %(field)s doit être un nombre d'heures.", field=self.name))
        return str(value)


class Flag(fields.Boolean):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(_("Le champ %(field)s doit valoir true ou false.", field=self.name))
        return value


def first_error(schema: Schema, error: ValidationError) -> tuple[str | None, str]:
    """The field to name and its message: an unknown field first, then the schema's own order."""
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    unknown = sorted(k for k in messages if k not in schema.load_fields and k != "_schema")
    if unknown:
        return unknown[0], _("Champ inconnu : %(field)s", field=unknown[0])
    for name in list(schema.load_fields) + list(messages):
        if name in messages:
            found = messages[name]
            while isinstance(found, dict):
                found = next(iter(found.values()))
            text = found[0] if isinstance(found, list) and found else str(found)
            return (None if name == "_schema" else name), str(text)
    return None, str(error)


class Request(Schema):
    class Meta:
        unknown = EXCLUDE


class StrictRequest(Schema):
    class Meta:
        unknown = RAISE


# --- evidence ---------------------------------------------------------------------------------------------

KIND = {"enum": [k.value for k in EvidenceKind]}
CONTEXT = {"enum": [c.value for c in EvidenceContext]}


class EvidenceFields(Request):
    title = Text(metadata={"maxLength": 200})
    kind = Text(metadata=KIND)
    context = Text(metadata={**CONTEXT, "default": "project"})
    occurred_on = IsoDate(metadata={"description": "Date ISO ; aujourd'hui par défaut."})
    description = Text(metadata={"description": "Markdown (source)."})
    url = Text(allow_none=True, metadata={"format": "uri", "description": "Adresse http(s)."})


EVIDENCE_TEXT_FIELDS = tuple(EvidenceFields().fields)


class EvidenceCreateLinkSchema(EvidenceFields):
    """Une preuve sans fichier (un lien), envoyée en JSON : `url` est alors obligatoire."""

    title = Text(required=True, metadata={"maxLength": 200})
    kind = Text(required=True, metadata=KIND)


class EvidenceCreateSchema(EvidenceCreateLinkSchema):
    """Au moins un fichier, un fichier `staged` ou une adresse `url`."""

    file = fields.List(fields.String(metadata={"format": "binary"}),
                       metadata={"description": "Un ou plusieurs fichiers (une partie `file` par fichier)."})
    staged = fields.List(fields.String(), metadata={
        "description": "Clés de fichiers déjà envoyés directement au stockage (`POST /uploads`)."})
    staged_filename = fields.List(fields.String(), metadata={
        "description": "Nom d'origine de chaque fichier `staged`, dans le même ordre."})
    staged_size = fields.List(fields.Integer(), metadata={
        "description": "Taille annoncée de chaque fichier `staged` (vérifiée)."})
    staged_sha256 = fields.List(fields.String(), metadata={
        "description": "SHA-256 annoncé de chaque fichier `staged` (vérifié)."})


class EvidenceUpdateSchema(StrictRequest, EvidenceFields):
    """Les champs absents gardent leur valeur ; un champ inconnu est refusé."""

    class Meta:
        unknown = RAISE


class EvidenceQuerySchema(Request):
    block = Text(metadata={"description": "Code de bloc : preuves rattachées à l'une de ses compétences."})
    competency = Text()
    kind = Text(metadata=KIND)
    q = Text(metadata={"description": "Mots du titre."})


class TagCreateSchema(Request):
    competency = Text(required=True, metadata={"description": "Code de la compétence."})
    justification = Text(required=True, metadata={"maxLength": 2000})


class UploadRequestSchema(Request):
    filename = Text(required=True)
    size = Size(required=True, metadata={"minimum": 1})


# --- answers: evidence ------------------------------------------------------------------------------------

def evidence_digest(file_hashes: Sequence[str]) -> str | None:
    """One SHA-256 for a whole piece of evidence: that of its files' hashes, sorted, joined by newlines.

    The order files were added in does not change it, and a client can recompute it from the
    ``files`` array alone. Evidence with no file (a link) has none: ``None``.
    """
    if not file_hashes:
        return None
    return hashlib.sha256("\n".join(sorted(file_hashes)).encode("ascii")).hexdigest()


class TestReportSummarySchema(Schema):
    tests = fields.Integer(required=True, metadata={"minimum": 0})
    passed = fields.Integer(required=True, metadata={"minimum": 0})
    failures = fields.Integer(required=True, metadata={"minimum": 0, "description": "Assertions en échec."})
    errors = fields.Integer(required=True, metadata={
        "minimum": 0, "description": "Erreurs hors assertion (exception, fixture en échec)."})
    skipped = fields.Integer(required=True, metadata={"minimum": 0})
    duration = fields.Float(required=True, allow_none=True,
                            metadata={"description": "Durée en secondes, si le rapport la donne."})


class CoverageSummarySchema(Schema):
    coverage = fields.Float(required=True, allow_none=True, metadata={
        "minimum": 0, "maximum": 100, "description": "Couverture des lignes en pourcentage (deux décimales)."})


class UnreadableReportSchema(Schema):
    unreadable = fields.Boolean(required=True, metadata={"enum": [True]})
    reason = fields.String(required=True, metadata={
        "description": "Pourquoi : XML mal formé ou tronqué, DTD ou entités (refusées), taille excessive."})


class ArchiveSummarySchema(Schema):
    entries = fields.Integer(required=True, metadata={"description": "Entrées de l'archive (fichiers et dossiers)."})
    files = fields.Integer(required=True, metadata={"description": "Fichiers seulement."})
    languages = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True, metadata={
        "description": "Lignes par langage (hors dossiers vendus : node_modules, vendor…), du plus au moins présent."})
    has_tests = fields.Boolean(required=True, metadata={"description": "L'archive contient des fichiers de tests."})
    executables = fields.List(fields.String(), metadata={
        "description": "Chemins des programmes exécutables qu'elle contient (PE, ELF, Mach-O, scripts déguisés en "
                       "documents) : à ne pas ouvrir."})


class RefusedArchiveSchema(Schema):
    refused = fields.String(required=True, metadata={
        "enum": ["zip_bomb", "too_many_entries", "too_large", "entry_too_large", "too_deep", "path_too_long",
                 "unsafe_path", "duplicate_entry", "link", "special_file", "encrypted", "unsupported", "corrupt",
                 "not_an_archive"],
        "description": "Code stable de la raison du refus ; rien n'est extrait d'une archive refusée."})
    reason = fields.String(required=True, metadata={"description": "La raison, en français, pour une personne."})


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


#: Schemas that only a ``$ref`` in field metadata names: spec.py registers them.
EXTRA_COMPONENTS = (TestReportSummarySchema, CoverageSummarySchema, UnreadableReportSchema, ArchiveSummarySchema,
                    RefusedArchiveSchema)


def _analyses() -> dict[int, viewers.Analysis]:
    return Context[dict].get({}).get("analyses", {})


class FileSchema(Schema):
    id = fields.Integer(required=True)
    filename = fields.String(required=True, metadata={"description": "Nom d'origine (affichage seulement)."})
    media_type = fields.String(required=True, attribute="blob.media_type",
                               metadata={"description": "Type reconnu au dépôt, pas celui annoncé."})
    size = fields.Integer(required=True, attribute="blob.size", metadata={"description": "Taille en octets."})
    sha256 = fields.String(required=True, attribute="blob.sha256", metadata={"pattern": "^[0-9a-f]{64}$"})
    download_url = fields.Function(
        lambda f: url_for("api.download_file", evidence_id=f.evidence_id, file_id=f.id, _external=True),
        required=True, metadata={"type": "string", "format": "uri"})
    created_at = fields.DateTime(required=True)
    report = fields.Function(lambda f: viewers.api_summaries(f, _analyses())["report"], required=True, metadata={
        "anyOf": [_ref("TestReportSummary"), _ref("CoverageSummary"), _ref("UnreadableReport"), {"type": "null"}],
        "description": "Pour un rapport de tests JUnit XML (pytest, Maven Surefire, PHPUnit, Jest, Vitest) : "
                       "`tests`, `passed`, `failures`, `errors`, `skipped`, `duration` ; pour un rapport de "
                       "couverture Cobertura (coverage.py, JaCoCo, istanbul…) : `coverage` ; pour un rapport "
                       "illisible : `unreadable` et `reason` (le fichier reste téléchargeable) ; `null` pour "
                       "tout autre fichier. Lu une fois par contenu, puis conservé."})
    archive = fields.Function(lambda f: viewers.api_summaries(f, _analyses())["archive"], required=True, metadata={
        "anyOf": [_ref("ArchiveSummary"), _ref("RefusedArchive"), {"type": "null"}],
        "description": "Pour une archive `.zip`, `.tar` ou `.tar.gz` : son résumé, ou la raison de son refus ; "
                       "`null` pour tout autre fichier."})


class PendingFileSchema(Schema):
    """A file sent straight to the bucket whose bytes are still being checked."""

    filename = fields.String(required=True)
    size = fields.Integer(required=True, metadata={"description": "Taille de l'objet envoyé, en octets."})
    sha256 = fields.String(required=True, allow_none=True, metadata={
        "description": "Le SHA-256 annoncé à l'envoi (`staged_sha256`), vérifié ; `null` si aucun."})
    status = fields.Constant("verifying", required=True, metadata={
        "type": "string", "enum": ["verifying"],
        "description": "`verifying` : l'application relit le fichier et vérifie son SHA-256. Il rejoint `files` "
                       "une fois vérifié ; s'il ne correspond pas, il est supprimé et son auteur·rice notifié·e."})
    created_at = fields.DateTime(required=True)


class TagSchema(Schema):
    code = fields.String(required=True, attribute="competency.code")
    justification = fields.String(required=True)


class EvidenceSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True, metadata={"maxLength": 200})
    kind = fields.String(required=True, metadata=KIND)
    context = fields.String(required=True, metadata=CONTEXT)
    occurred_on = fields.Date(required=True)
    description = fields.String(required=True, metadata={"description": "Markdown (source)."})
    description_html = fields.Function(lambda e: str(render_markdown(e.description)), required=True, metadata={
        "type": "string", "description": "La description rendue en HTML assaini."})
    url = fields.String(required=True, allow_none=True, metadata={"format": "uri"})
    status = fields.String(required=True, metadata={
        "enum": [s.value for s in EvidenceStatus],
        "description": "`draft` (modifiable), `submitted` (figée, en attente), `assessed`."})
    submitted_at = fields.DateTime(required=True, allow_none=True,
                                   metadata={"description": "Date de soumission ; `null` pour un brouillon."})
    previous_version_id = fields.Integer(required=True, allow_none=True, metadata={
        "description": "La preuve évaluée que celle-ci continue, s'il y en a une."})
    size = fields.Function(lambda e: sum(f.blob.size for f in e.files), required=True, metadata={
        "type": "integer", "description": "Total des tailles des fichiers, en octets."})
    sha256 = fields.Function(lambda e: evidence_digest([f.blob.sha256 for f in e.files]), required=True, metadata={
        "type": ["string", "null"], "pattern": "^[0-9a-f]{64}$",
        "description": "SHA-256 des empreintes SHA-256 des fichiers, triées puis jointes par des sauts de ligne "
                       "(`\\n`, sans saut final) ; `null` pour une preuve sans fichier."})
    files = fields.List(fields.Nested(FileSchema), required=True)
    pending_files = fields.List(fields.Nested(PendingFileSchema), required=True, metadata={
        "description": "Fichiers envoyés directement (`staged`) en cours de vérification : la preuve ne peut pas "
                       "être soumise tant que cette liste n'est pas vide."})
    tags = fields.List(fields.Nested(TagSchema), required=True, attribute="claims")
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class EvidenceListSchema(Schema):
    evidence = fields.List(fields.Nested(EvidenceSchema), required=True)


class PersonSchema(Schema):
    """Someone named in a record: enough to display them, not their account."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)


class QueuedEvidenceSchema(EvidenceSchema):
    owner = fields.Nested(PersonSchema, required=True)


class QueueSchema(Schema):
    count = fields.Integer(required=True)
    evidence = fields.List(fields.Nested(QueuedEvidenceSchema), required=True,
                           metadata={"description": "Les plus anciennement soumises d'abord."})


class QueueQuerySchema(Request):
    cohort = Identifier(metadata={"description": "Id de promotion."})
    learner = Identifier(metadata={"description": "Id d'apprenant·e."})
    block = Text(metadata={"description": "Code de bloc : preuves rattachées à l'une de ses compétences."})


class PresignedPostSchema(Schema):
    key = fields.String(required=True, metadata={"description": "À renvoyer dans `staged` à la création de la preuve."})
    url = fields.String(required=True, metadata={"format": "uri"})
    fields_ = fields.Dict(keys=fields.String(), values=fields.String(), required=True, data_key="fields",
                          attribute="fields", metadata={
                              "description": "Champs à envoyer tels quels, le fichier en dernier (partie `file`)."})
    max_size = fields.Integer()
    expires_in = fields.Integer()


# --- certifications, progress ------------------------------------------------------------------------------

class CompetencySchema(Schema):
    code = fields.String(required=True)
    statement = fields.String(required=True)
    position = fields.Integer(required=True)


class BlockSchema(Schema):
    code = fields.String(required=True)
    title = fields.String(required=True)
    position = fields.Integer(required=True)
    competencies = fields.List(fields.Nested(CompetencySchema), required=True)


class CertificationSchema(Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True, metadata={"examples": ["RNCP28754"]})
    registration = fields.String(required=True,
                                 metadata={"description": "Date d'enregistrement de la fiche (version)."})
    title = fields.String(required=True)
    level = fields.String(required=True, allow_none=True)
    is_active = fields.Boolean(required=True)
    blocks = fields.List(fields.Nested(BlockSchema), required=True)


class CertificationListSchema(Schema):
    certifications = fields.List(fields.Nested(CertificationSchema), required=True)


class CertificationRefSchema(Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    registration = fields.String(required=True)
    title = fields.String(required=True)


class ProgressCompetencySchema(Schema):
    code = fields.String(required=True)
    statement = fields.String(required=True)
    evidence_count = fields.Integer(required=True)


class ProgressBlockSchema(Schema):
    code = fields.String(required=True)
    title = fields.String(required=True)
    competencies = fields.List(fields.Nested(ProgressCompetencySchema), required=True)
    competencies_total = fields.Integer(required=True)
    competencies_with_evidence = fields.Integer(required=True)
    evidence_count = fields.Integer(required=True, metadata={
        "description": "Preuves distinctes rattachées à une compétence du bloc."})


class ProgressSchema(Schema):
    certification = fields.Nested(CertificationRefSchema, required=True)
    blocks = fields.List(fields.Nested(ProgressBlockSchema), required=True)


# --- assessment ---------------------------------------------------------------------------------------------

class AssessmentCreateSchema(Request):
    competency = Text(required=True, metadata={"description": "Code d'une compétence rattachée à la preuve."})
    level = Text(required=True, metadata={"enum": LEVELS, "description": LEVEL_DOC})
    comment = Text(metadata={"maxLength": 10000, "description": "Markdown."})


class AssessmentSchema(Schema):
    """Un enregistrement : jamais modifié ni supprimé ; une correction est une nouvelle évaluation."""

    id = fields.Integer(required=True)
    learner = fields.Nested(PersonSchema, required=True)
    competency = fields.String(required=True, attribute="competency.code")
    level = fields.String(required=True, metadata={"enum": LEVELS, "description": LEVEL_DOC})
    comment = fields.String(required=True, metadata={"description": "Markdown (source)."})
    assessor = fields.Nested(PersonSchema, required=True, allow_none=True)
    evidence = fields.Integer(required=True, allow_none=True, attribute="evidence_id",
                              metadata={"description": "La preuve sur laquelle l'évaluation s'appuie."})
    supersedes = fields.Integer(required=True, allow_none=True, attribute="supersedes_id", metadata={
        "description": "L'évaluation précédente de la même compétence, que celle-ci remplace."})
    created_at = fields.DateTime(required=True)


class AssessmentListSchema(Schema):
    assessments = fields.List(fields.Nested(AssessmentSchema), required=True)


class ValidationCreateSchema(Request):
    comment = Text(metadata={"description": "Markdown."})


class BlockDecisionSchema(Schema):
    id = fields.Integer(required=True)
    learner = fields.Nested(PersonSchema, required=True)
    block = fields.String(required=True, attribute="block.code")
    kind = fields.String(required=True, metadata={"enum": [k.value for k in DecisionKind]})
    comment = fields.String(required=True)
    decided_by = fields.Nested(PersonSchema, required=True, allow_none=True)
    created_at = fields.DateTime(required=True)


# --- cohorts ------------------------------------------------------------------------------------------------

class CohortSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    year = fields.Integer(required=True)
    certification = fields.String(required=True, attribute="certification.code",
                                  metadata={"description": "Code de la certification préparée."})


class CohortListSchema(Schema):
    cohorts = fields.List(fields.Nested(CohortSchema), required=True)


class MatrixCompetencySchema(Schema):
    code = fields.String(required=True)
    statement = fields.String(required=True)


class MatrixBlockSchema(Schema):
    code = fields.String(required=True)
    title = fields.String(required=True)
    competencies = fields.List(fields.Nested(MatrixCompetencySchema), required=True)


class MatrixLearnerSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True, metadata={"format": "email"})
    levels = fields.Dict(keys=fields.String(),
                         values=fields.String(allow_none=True, metadata={"enum": [*LEVELS, None]}),
                         required=True, metadata={
                             "description": "Niveau actuel par code de compétence ; `null` : pas encore évaluée."})
    acquired = fields.Integer(required=True, metadata={"description": "Compétences acquises (blocs affichés)."})
    validated_blocks = fields.List(fields.String(), required=True)


class MatrixSchema(Schema):
    cohort = fields.Nested(CohortSchema, required=True)
    blocks = fields.List(fields.Nested(MatrixBlockSchema), required=True)
    learners = fields.List(fields.Nested(MatrixLearnerSchema), required=True)


class MatrixQuerySchema(Request):
    format = Choice(["json", "csv"], lambda value: _("Format inconnu : %(format)s (json, csv).", format=value),
                    metadata={"default": "json"})
    block = Text(metadata={"description": "Un seul bloc."})
    sort = Choice(["name", "acquired"], lambda value: _("Tri inconnu : %(sort)s (name, acquired).", sort=value),
                  metadata={
        "default": "name", "description": "Par nom, ou par nombre de compétences acquises (décroissant)."})


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={
        "description": "Code stable, par exemple `unauthorized`, `not_found`, `invalid`, `limit_exceeded`."})
    message = fields.String(required=True, metadata={"description": "Message en français, pour une personne."})
    field = fields.String(allow_none=True, metadata={"description": "Champ en cause, s'il y en a un."})
    missing = fields.List(fields.String(), metadata={
        "description": "Code `block_incomplete` : les compétences du bloc non encore acquises ; code "
                       "`dossier_incomplete` : ce qui manque au dossier, une phrase par élément."})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


# --- the learner's progress as the pages show it ------------------------------------------------------------

class ProgressTagSchema(Schema):
    evidence = fields.Integer(required=True, attribute="evidence_id")
    title = fields.String(required=True, attribute="evidence.title")
    justification = fields.String(required=True)


class LevelledCompetencySchema(Schema):
    code = fields.String(required=True, attribute="competency.code")
    statement = fields.String(required=True, attribute="competency.statement")
    level = fields.String(required=True, allow_none=True, metadata={
        "enum": [*LEVELS, None],
        "description": "Niveau actuel donné par le·la formateur·rice ; `null` : pas encore évalué."})
    tags = fields.List(fields.Nested(ProgressTagSchema), required=True, attribute="claims")
    assessments = fields.List(fields.Nested(AssessmentSchema), required=True, attribute="history",
                              metadata={"description": "L'historique, le plus ancien d'abord."})


class LevelledBlockSchema(Schema):
    code = fields.String(required=True, attribute="block.code")
    title = fields.String(required=True, attribute="block.title")
    competencies = fields.List(fields.Nested(LevelledCompetencySchema), required=True)
    acquired = fields.Function(lambda b: b.count(Level.ACQUIRED), required=True, metadata={"type": "integer"})
    total = fields.Integer(required=True)
    decision = fields.Nested(BlockDecisionSchema, required=True, allow_none=True, metadata={
        "description": "La décision actuelle sur le bloc (validé ou validation retirée) ; `null` : aucune."})


class LearnerProgressSchema(Schema):
    learner = fields.Nested(PersonSchema, required=True)
    certification = fields.Nested(CertificationRefSchema, required=True)
    blocks = fields.List(fields.Nested(LevelledBlockSchema), required=True)


# --- logbooks -----------------------------------------------------------------------------------------------

class InternshipSchema(Schema):
    id = fields.Integer(required=True)
    learner = fields.Nested(PersonSchema, required=True)
    organisation = fields.String(required=True)
    supervisor_name = fields.String(required=True)
    supervisor_email = fields.String(required=True, metadata={"format": "email"})
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    expected_hours = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)


class InternshipListSchema(Schema):
    internships = fields.List(fields.Nested(InternshipSchema), required=True)


class EntrySchema(Schema):
    id = fields.Integer(required=True)
    internship = fields.Integer(required=True, attribute="internship_id")
    day = fields.Date(required=True)
    minutes = fields.Integer(required=True, metadata={"description": "Durée de la journée, en minutes."})
    activities = fields.String(required=True, metadata={"description": "Markdown (source)."})
    competencies = fields.Function(lambda e: [c.code for c in e.competencies], required=True,
                                   metadata={"type": "array", "items": {"type": "string"}})
    status = fields.String(required=True, metadata={"enum": [s.value for s in EntryStatus]})
    created_at = fields.DateTime(required=True)


class EntryListSchema(Schema):
    internship = fields.Nested(InternshipSchema, required=True)
    entries = fields.List(fields.Nested(EntrySchema), required=True)


class EntryCreateSchema(Request):
    day = IsoDate(required=True)
    hours = Hours(required=True, metadata={"description": "Durée : `7`, `7.5`, `\"7,5\"`, `\"7h30\"`."})
    activities = Text(required=True, metadata={"description": "Markdown."})
    competencies = fields.List(Text(), metadata={"description": "Codes des compétences exercées."})


# --- the VAE dossier ----------------------------------------------------------------------------------------

class DossierEvidenceSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    justification = fields.String(required=True, metadata={"description": "La justification du rattachement."})


class DossierCompetencySchema(Schema):
    code = fields.String(required=True)
    statement = fields.String(required=True)
    narrative = fields.String(required=True, metadata={"description": "Le récit (Markdown)."})
    evidence = fields.List(fields.Nested(DossierEvidenceSchema), required=True, metadata={
        "description": "Les preuves rattachées à la compétence (les mêmes rattachements que partout ailleurs)."})


class DossierSectionSchema(Schema):
    code = fields.String(required=True)
    title = fields.String(required=True)
    applied = fields.Boolean(required=True)
    activities = fields.String(required=True)
    context = fields.String(required=True)
    means = fields.String(required=True)
    experiences = fields.List(fields.Integer(), required=True)
    complete = fields.Boolean(required=True, allow_none=True,
                              metadata={"description": "Pour un bloc demandé : rien n'y manque."})
    competencies = fields.List(fields.Nested(DossierCompetencySchema), required=True)


class DossierVersionRefSchema(Schema):
    id = fields.Integer(required=True)
    number = fields.Integer(required=True)
    sent_at = fields.DateTime(required=True)
    outcome = fields.String(required=True, allow_none=True, metadata={"enum": [*(o.value for o in Outcome), None]})


class DossierSchema(Schema):
    id = fields.Integer(required=True)
    candidate = fields.Nested(PersonSchema, required=True)
    certification = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": [s.value for s in DossierStatus]})
    presentation = fields.String(required=True)
    sections = fields.List(fields.Nested(DossierSectionSchema), required=True)
    missing = fields.List(fields.String(), required=True,
                          metadata={"description": "Ce qui empêche encore l'envoi, une phrase par élément."})
    versions = fields.List(fields.Nested(DossierVersionRefSchema), required=True)
    updated_at = fields.DateTime(required=True)


class DossierCompetencyUpdateSchema(Request):
    code = Text(required=True)
    narrative = Text()
    evidence = IdList(metadata={"description": "Les preuves à rattacher ; celles qui n'y sont plus sont détachées."})


class DossierSectionUpdateSchema(Request):
    applied = Flag(required=True)
    activities = Text()
    context = Text()
    means = Text()
    experiences = IdList()
    competencies = fields.List(fields.Nested(DossierCompetencyUpdateSchema), metadata={
        "description": "Le récit et les preuves de chaque compétence citée ; les autres ne changent pas."})


class JuryResultSchema(Schema):
    block = fields.String(required=True)
    result = fields.String(required=True, metadata={"enum": [r.value for r in BlockResult]})


class DossierVersionSchema(Schema):
    id = fields.Integer(required=True)
    number = fields.Integer(required=True)
    sent_at = fields.DateTime(required=True)
    blocks = fields.List(fields.String(), required=True, metadata={"description": "Les blocs envoyés."})
