"""The OpenAPI 3.1 document of ``/api/v1``, kept next to the views it describes.

``tests/test_api.py`` checks that every API route of the URL map appears here and that the document
validates, so a new route cannot ship undocumented.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from portfolio.models import DecisionKind, EvidenceContext, EvidenceKind, EvidenceStatus, Level

VERSION = "1.0.0"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


EVIDENCE_ID = {"name": "evidence_id", "in": "path", "required": True, "schema": {"type": "integer"}}
FILE_ID = {"name": "file_id", "in": "path", "required": True, "schema": {"type": "integer"}}
CODE = {"name": "code", "in": "path", "required": True, "schema": {"type": "string"},
        "description": "Code de la compétence, par exemple `RNCP28754BC01C01`."}
BLOCK_CODE = {"name": "code", "in": "path", "required": True, "schema": {"type": "string"},
              "description": "Code du bloc, par exemple `RNCP28754BC01`."}
LEARNER_ID = {"name": "learner_id", "in": "path", "required": True, "schema": {"type": "integer"}}
COHORT_ID = {"name": "cohort_id", "in": "path", "required": True, "schema": {"type": "integer"}}
LEVEL = {"type": "string", "enum": [level.value for level in Level],
         "description": "`acquired` (acquis), `in_progress` (en cours d'acquisition), `not_acquired` (non acquis)."}

EVIDENCE_FIELDS: dict[str, Any] = {
    "title": {"type": "string", "maxLength": 200},
    "kind": {"type": "string", "enum": [k.value for k in EvidenceKind]},
    "context": {"type": "string", "enum": [c.value for c in EvidenceContext], "default": "project"},
    "occurred_on": {"type": "string", "format": "date", "description": "Date ISO ; aujourd'hui par défaut."},
    "description": {"type": "string", "description": "Markdown (source)."},
    "url": {"type": ["string", "null"], "format": "uri", "description": "Adresse http(s)."},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Code stable, par exemple `unauthorized`, "
                                                          "`not_found`, `invalid`, `limit_exceeded`."},
                "message": {"type": "string", "description": "Message en français, pour une personne."},
                "field": {"type": ["string", "null"], "description": "Champ en cause, s'il y en a un."},
                "missing": {"type": "array", "items": {"type": "string"},
                            "description": "Code `block_incomplete` : les compétences du bloc non encore "
                                         "acquises."},
            },
        }},
    },
    "Competency": {
        "type": "object",
        "required": ["code", "statement", "position"],
        "properties": {"code": {"type": "string"}, "statement": {"type": "string"}, "position": {"type": "integer"}},
    },
    "Block": {
        "type": "object",
        "required": ["code", "title", "position", "competencies"],
        "properties": {"code": {"type": "string"}, "title": {"type": "string"}, "position": {"type": "integer"},
                       "competencies": {"type": "array", "items": _ref("Competency")}},
    },
    "Certification": {
        "type": "object",
        "required": ["id", "code", "registration", "title", "level", "is_active", "blocks"],
        "properties": {
            "id": {"type": "integer"},
            "code": {"type": "string", "examples": ["RNCP28754"]},
            "registration": {"type": "string", "description": "Date d'enregistrement de la fiche (version)."},
            "title": {"type": "string"},
            "level": {"type": ["string", "null"]},
            "is_active": {"type": "boolean"},
            "blocks": {"type": "array", "items": _ref("Block")},
        },
    },
    "File": {
        "type": "object",
        "required": ["id", "filename", "media_type", "size", "sha256", "download_url", "created_at", "report",
                     "archive"],
        "properties": {
            "id": {"type": "integer"},
            "filename": {"type": "string", "description": "Nom d'origine (affichage seulement)."},
            "media_type": {"type": "string", "description": "Type reconnu au dépôt, pas celui annoncé."},
            "size": {"type": "integer", "description": "Taille en octets."},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "download_url": {"type": "string", "format": "uri"},
            "created_at": {"type": "string", "format": "date-time"},
            "report": {
                "anyOf": [_ref("TestReportSummary"), _ref("CoverageSummary"), _ref("UnreadableReport"),
                          {"type": "null"}],
                "description": "Pour un rapport de tests JUnit XML (pytest, Maven Surefire, PHPUnit, Jest, Vitest) : "
                               "`tests`, `passed`, `failures`, `errors`, `skipped`, `duration` ; pour un rapport de "
                               "couverture Cobertura (coverage.py, JaCoCo, istanbul…) : `coverage` ; pour un rapport "
                               "illisible : `unreadable` et `reason` (le fichier reste téléchargeable) ; `null` pour "
                               "tout autre fichier. Lu une fois par contenu, puis conservé.",
            },
            "archive": {
                "anyOf": [_ref("ArchiveSummary"), _ref("RefusedArchive"), {"type": "null"}],
                "description": "Pour une archive `.zip`, `.tar` ou `.tar.gz` : son résumé, ou la raison de son "
                               "refus ; `null` pour tout autre fichier.",
            },
        },
    },
    "TestReportSummary": {
        "type": "object",
        "required": ["tests", "passed", "failures", "errors", "skipped", "duration"],
        "properties": {
            "tests": {"type": "integer", "minimum": 0},
            "passed": {"type": "integer", "minimum": 0},
            "failures": {"type": "integer", "minimum": 0, "description": "Assertions en échec."},
            "errors": {"type": "integer", "minimum": 0, "description": "Erreurs hors assertion (exception, "
                                                                      "fixture en échec)."},
            "skipped": {"type": "integer", "minimum": 0},
            "duration": {"type": ["number", "null"], "description": "Durée en secondes, si le rapport la donne."},
        },
    },
    "CoverageSummary": {
        "type": "object", "required": ["coverage"],
        "properties": {"coverage": {"type": ["number", "null"], "minimum": 0, "maximum": 100,
                                    "description": "Couverture des lignes en pourcentage (deux décimales)."}},
    },
    "UnreadableReport": {
        "type": "object", "required": ["unreadable", "reason"],
        "properties": {"unreadable": {"const": True},
                       "reason": {"type": "string", "description": "Pourquoi : XML mal formé ou tronqué, DTD ou "
                                                                   "entités (refusées), taille excessive."}},
    },
    "ArchiveSummary": {
        "type": "object", "required": ["entries", "files", "languages", "has_tests"],
        "properties": {
            "entries": {"type": "integer", "description": "Entrées de l'archive (fichiers et dossiers)."},
            "files": {"type": "integer", "description": "Fichiers seulement."},
            "languages": {"type": "object", "additionalProperties": {"type": "integer"},
                          "description": "Lignes par langage (hors dossiers vendus : node_modules, vendor…), "
                                         "du plus au moins présent."},
            "has_tests": {"type": "boolean", "description": "L'archive contient des fichiers de tests."},
        },
    },
    "RefusedArchive": {
        "type": "object", "required": ["refused", "reason"],
        "properties": {
            "refused": {"type": "string", "enum": ["zip_bomb", "too_many_entries", "too_large", "entry_too_large",
                                                   "too_deep", "path_too_long", "unsafe_path", "duplicate_entry",
                                                   "link", "special_file", "encrypted", "unsupported", "corrupt",
                                                   "not_an_archive"],
                        "description": "Code stable de la raison du refus ; rien n'est extrait d'une archive "
                                       "refusée."},
            "reason": {"type": "string", "description": "La raison, en français, pour une personne."},
        },
    },
    "Tag": {
        "type": "object",
        "required": ["code", "justification"],
        "properties": {"code": {"type": "string"}, "justification": {"type": "string"}},
    },
    "Evidence": {
        "type": "object",
        "required": ["id", "title", "kind", "context", "occurred_on", "description", "description_html", "url",
                     "status", "submitted_at", "previous_version_id", "size", "sha256", "files", "tags",
                     "created_at", "updated_at"],
        "properties": {
            "id": {"type": "integer"},
            **EVIDENCE_FIELDS,
            "description_html": {"type": "string", "description": "La description rendue en HTML assaini."},
            "status": {"type": "string", "enum": [s.value for s in EvidenceStatus],
                       "description": "`draft` (modifiable), `submitted` (figée, en attente), `assessed`."},
            "submitted_at": {"type": ["string", "null"], "format": "date-time",
                             "description": "Date de soumission ; `null` pour un brouillon."},
            "previous_version_id": {"type": ["integer", "null"],
                                    "description": "La preuve évaluée que celle-ci continue, s'il y en a une."},
            "size": {"type": "integer", "description": "Total des tailles des fichiers, en octets."},
            "sha256": {
                "type": ["string", "null"], "pattern": "^[0-9a-f]{64}$",
                "description": "SHA-256 des empreintes SHA-256 des fichiers, triées puis jointes par des sauts "
                               "de ligne (`\\n`, sans saut final) ; `null` pour une preuve sans fichier.",
            },
            "files": {"type": "array", "items": _ref("File")},
            "tags": {"type": "array", "items": _ref("Tag")},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "EvidenceList": {
        "type": "object", "required": ["evidence"],
        "properties": {"evidence": {"type": "array", "items": _ref("Evidence")}},
    },
    "CertificationList": {
        "type": "object", "required": ["certifications"],
        "properties": {"certifications": {"type": "array", "items": _ref("Certification")}},
    },
    "EvidenceCreate": {
        "type": "object",
        "required": ["title", "kind"],
        "properties": {
            **EVIDENCE_FIELDS,
            "file": {"type": "array", "items": {"type": "string", "format": "binary"},
                     "description": "Un ou plusieurs fichiers (une partie `file` par fichier)."},
            "staged": {"type": "array", "items": {"type": "string"},
                       "description": "Clés de fichiers déjà envoyés directement au stockage (`POST /uploads`)."},
            "staged_filename": {"type": "array", "items": {"type": "string"},
                                "description": "Nom d'origine de chaque fichier `staged`, dans le même ordre."},
            "staged_size": {"type": "array", "items": {"type": "integer"},
                            "description": "Taille annoncée de chaque fichier `staged` (vérifiée)."},
            "staged_sha256": {"type": "array", "items": {"type": "string"},
                              "description": "SHA-256 annoncé de chaque fichier `staged` (vérifié)."},
        },
        "description": "Au moins un fichier, un fichier `staged` ou une adresse `url`.",
    },
    "UploadRequest": {
        "type": "object", "required": ["filename", "size"],
        "properties": {"filename": {"type": "string"}, "size": {"type": "integer", "minimum": 1}},
    },
    "PresignedPost": {
        "type": "object", "required": ["key", "url", "fields"],
        "properties": {
            "key": {"type": "string", "description": "À renvoyer dans `staged` à la création de la preuve."},
            "url": {"type": "string", "format": "uri"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "Champs à envoyer tels quels, le fichier en dernier (partie `file`)."},
            "max_size": {"type": "integer"},
            "expires_in": {"type": "integer"},
        },
    },
    "EvidenceCreateLink": {
        "type": "object", "required": ["title", "kind", "url"], "properties": deepcopy(EVIDENCE_FIELDS),
        "description": "Une preuve sans fichier (un lien), envoyée en JSON.",
    },
    "EvidenceUpdate": {
        "type": "object", "additionalProperties": False, "minProperties": 1,
        "properties": deepcopy(EVIDENCE_FIELDS),
    },
    "TagCreate": {
        "type": "object",
        "required": ["competency", "justification"],
        "properties": {"competency": {"type": "string", "description": "Code de la compétence."},
                       "justification": {"type": "string", "maxLength": 2000}},
    },
    "Person": {
        "type": "object", "required": ["id", "name"],
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
    },
    "QueuedEvidence": {
        "allOf": [_ref("Evidence"), {
            "type": "object", "required": ["owner"],
            "properties": {"owner": _ref("Person")},
        }],
    },
    "Queue": {
        "type": "object", "required": ["count", "evidence"],
        "properties": {"count": {"type": "integer"},
                       "evidence": {"type": "array", "items": _ref("QueuedEvidence"),
                                    "description": "Les plus anciennement soumises d'abord."}},
    },
    "AssessmentCreate": {
        "type": "object", "required": ["competency", "level"],
        "properties": {
            "competency": {"type": "string", "description": "Code d'une compétence rattachée à la preuve."},
            "level": LEVEL,
            "comment": {"type": "string", "maxLength": 10000, "description": "Markdown."},
        },
    },
    "Assessment": {
        "type": "object",
        "required": ["id", "learner", "competency", "level", "comment", "assessor", "evidence", "supersedes",
                     "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "learner": _ref("Person"),
            "competency": {"type": "string"},
            "level": LEVEL,
            "comment": {"type": "string", "description": "Markdown (source)."},
            "assessor": {"oneOf": [_ref("Person"), {"type": "null"}]},
            "evidence": {"type": ["integer", "null"], "description": "La preuve sur laquelle l'évaluation s'appuie."},
            "supersedes": {"type": ["integer", "null"],
                           "description": "L'évaluation précédente de la même compétence, que celle-ci remplace."},
            "created_at": {"type": "string", "format": "date-time"},
        },
        "description": "Un enregistrement : jamais modifié ni supprimé ; une correction est une nouvelle évaluation.",
    },
    "AssessmentList": {
        "type": "object", "required": ["assessments"],
        "properties": {"assessments": {"type": "array", "items": _ref("Assessment")}},
    },
    "ValidationCreate": {
        "type": "object",
        "properties": {"comment": {"type": "string", "description": "Markdown."}},
    },
    "BlockDecision": {
        "type": "object",
        "required": ["id", "learner", "block", "kind", "comment", "decided_by", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "learner": _ref("Person"),
            "block": {"type": "string"},
            "kind": {"type": "string", "enum": [k.value for k in DecisionKind]},
            "comment": {"type": "string"},
            "decided_by": {"oneOf": [_ref("Person"), {"type": "null"}]},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "Cohort": {
        "type": "object", "required": ["id", "name", "year", "certification"],
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "year": {"type": "integer"},
                       "certification": {"type": "string", "description": "Code de la certification préparée."}},
    },
    "CohortList": {
        "type": "object", "required": ["cohorts"],
        "properties": {"cohorts": {"type": "array", "items": _ref("Cohort")}},
    },
    "Matrix": {
        "type": "object", "required": ["cohort", "blocks", "learners"],
        "properties": {
            "cohort": _ref("Cohort"),
            "blocks": {"type": "array", "items": {
                "type": "object", "required": ["code", "title", "competencies"],
                "properties": {
                    "code": {"type": "string"}, "title": {"type": "string"},
                    "competencies": {"type": "array", "items": {
                        "type": "object", "required": ["code", "statement"],
                        "properties": {"code": {"type": "string"}, "statement": {"type": "string"}},
                    }},
                },
            }},
            "learners": {"type": "array", "items": {
                "type": "object", "required": ["id", "name", "email", "levels", "acquired", "validated_blocks"],
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "email": {"type": "string", "format": "email"},
                    "levels": {"type": "object", "additionalProperties": {"oneOf": [LEVEL, {"type": "null"}]},
                               "description": "Niveau actuel par code de compétence ; `null` : pas encore évaluée."},
                    "acquired": {"type": "integer", "description": "Compétences acquises (blocs affichés)."},
                    "validated_blocks": {"type": "array", "items": {"type": "string"}},
                },
            }},
        },
    },
    "Progress": {
        "type": "object",
        "required": ["certification", "blocks"],
        "properties": {
            "certification": {
                "type": "object", "required": ["id", "code", "registration", "title"],
                "properties": {"id": {"type": "integer"}, "code": {"type": "string"},
                               "registration": {"type": "string"}, "title": {"type": "string"}},
            },
            "blocks": {"type": "array", "items": {
                "type": "object",
                "required": ["code", "title", "competencies", "competencies_total", "competencies_with_evidence",
                             "evidence_count"],
                "properties": {
                    "code": {"type": "string"},
                    "title": {"type": "string"},
                    "competencies": {"type": "array", "items": {
                        "type": "object", "required": ["code", "statement", "evidence_count"],
                        "properties": {"code": {"type": "string"}, "statement": {"type": "string"},
                                       "evidence_count": {"type": "integer"}},
                    }},
                    "competencies_total": {"type": "integer"},
                    "competencies_with_evidence": {"type": "integer"},
                    "evidence_count": {"type": "integer",
                                       "description": "Preuves distinctes rattachées à une compétence du bloc."},
                },
            }},
        },
    },
}

RESPONSES: dict[str, Any] = {
    "Unauthorized": {
        "description": "Jeton absent, invalide ou révoqué, ou compte désactivé.",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer realm=...`"}},
        "content": {"application/json": {"schema": _ref("Error")}},
    },
    "Forbidden": _json(_ref("Error"), "Action refusée à ce rôle (la ressource reste visible)."),
    "NotFound": _json(_ref("Error"), "Inexistant, ou hors de portée de l'appelant."),
    "Invalid": _json(_ref("Error"), "Donnée refusée ; `field` nomme le champ."),
    "Conflict": _json(_ref("Error"), "Preuve déjà soumise (non modifiable), rattachement en double, ou état "
                                     "qui ne permet pas l'action (preuve non soumise, déjà évaluée, bloc déjà "
                                     "validé)."),
    "TooLarge": _json(_ref("Error"), "Limite dépassée (taille d'un fichier, quota, nombre de fichiers) ; "
                                     "le message dit laquelle et de combien."),
    "BadRequest": _json(_ref("Error"), "Le corps n'est pas un objet JSON."),
}


def _operation(op_id: str, summary: str, responses: dict, *, parameters: list | None = None,
               body: dict | None = None, secured: bool = True, errors: tuple[str, ...] = ()) -> dict:
    operation: dict[str, Any] = {"operationId": op_id, "summary": summary, "responses": dict(responses)}
    if parameters:
        operation["parameters"] = parameters
    if body:
        operation["requestBody"] = body
    if not secured:
        operation["security"] = []
    else:
        operation["responses"]["401"] = _error("Unauthorized")
    status = {"BadRequest": "400", "Forbidden": "403", "NotFound": "404", "Conflict": "409",
              "TooLarge": "413", "Invalid": "422"}
    for name in errors:
        operation["responses"][status[name]] = _error(name)
    return operation


PATHS: dict[str, Any] = {
    "/openapi.json": {"get": _operation(
        "getOpenApi", "Ce document.", {"200": {"description": "Le document OpenAPI.",
                                               "content": {"application/json": {"schema": {"type": "object"}}}}},
        secured=False)},
    "/certifications": {"get": _operation(
        "listCertifications", "Les certifications chargées, avec leurs blocs et compétences.",
        {"200": _json(_ref("CertificationList"), "Les certifications.")})},
    "/evidence": {
        "get": _operation(
            "listEvidence", "Les preuves de l'appelant·e.",
            {"200": _json(_ref("EvidenceList"), "Les preuves, les plus récentes d'abord.")},
            parameters=[
                {"name": "block", "in": "query", "schema": {"type": "string"},
                 "description": "Code de bloc : preuves rattachées à l'une de ses compétences."},
                {"name": "competency", "in": "query", "schema": {"type": "string"}},
                {"name": "kind", "in": "query", "schema": EVIDENCE_FIELDS["kind"]},
                {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "Mots du titre."},
            ]),
        "post": _operation(
            "createEvidence", "Déposer une preuve (apprenant·e ou candidat·e VAE).",
            {"201": {**_json(_ref("Evidence"), "Preuve créée (brouillon)."),
                     "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}}}},
            body={"required": True, "content": {
                "multipart/form-data": {"schema": _ref("EvidenceCreate"),
                                        "encoding": {"file": {"contentType": "application/octet-stream"}}},
                "application/json": {"schema": _ref("EvidenceCreateLink")},
            }},
            errors=("Forbidden", "TooLarge", "Invalid")),
    },
    "/evidence/{evidence_id}": {
        "get": _operation("getEvidence", "Une preuve (propriétaire, ses formateur·rices, administrateur·rices).",
                          {"200": _json(_ref("Evidence"), "La preuve.")}, parameters=[EVIDENCE_ID],
                          errors=("NotFound",)),
        "patch": _operation("updateEvidence", "Modifier un brouillon (propriétaire seulement).",
                            {"200": _json(_ref("Evidence"), "La preuve modifiée.")}, parameters=[EVIDENCE_ID],
                            body={"required": True,
                                  "content": {"application/json": {"schema": _ref("EvidenceUpdate")}}},
                            errors=("BadRequest", "Forbidden", "NotFound", "Conflict", "Invalid")),
        "delete": _operation("deleteEvidence", "Supprimer un brouillon (propriétaire seulement).",
                             {"204": {"description": "Supprimée."}}, parameters=[EVIDENCE_ID],
                             errors=("Forbidden", "NotFound", "Conflict")),
    },
    "/evidence/{evidence_id}/files/{file_id}": {"get": _operation(
        "downloadFile", "Télécharger un fichier (toujours en pièce jointe, `nosniff`).",
        {"200": {"description": "Le contenu exact du fichier.",
                 "headers": {"Content-Disposition": {"schema": {"type": "string"}},
                             "Content-Length": {"schema": {"type": "integer"}}},
                 "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
         "302": {"description": "Stockage S3 : redirection vers une adresse signée valable 60 secondes.",
                 "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}}}},
        parameters=[EVIDENCE_ID, FILE_ID], errors=("NotFound",))},
    "/evidence/{evidence_id}/tags": {"post": _operation(
        "addTag", "Rattacher la preuve à une compétence de sa certification.",
        {"201": _json(_ref("Tag"), "Rattachement créé.")}, parameters=[EVIDENCE_ID],
        body={"required": True, "content": {"application/json": {"schema": _ref("TagCreate")}}},
        errors=("BadRequest", "Forbidden", "NotFound", "Conflict", "Invalid"))},
    "/evidence/{evidence_id}/tags/{code}": {"delete": _operation(
        "removeTag", "Détacher la preuve d'une compétence.", {"204": {"description": "Détachée."}},
        parameters=[EVIDENCE_ID, CODE], errors=("Forbidden", "NotFound", "Conflict"))},
    "/uploads": {"post": _operation(
        "createUpload", "Envoi direct d'un gros fichier au stockage S3 : un formulaire signé (POST présigné) "
        "dont la politique fixe la clé, la taille maximale et le type ; le stockage refuse tout le reste.",
        {"201": _json(_ref("PresignedPost"), "Le formulaire signé, valable 15 minutes.")},
        body={"required": True, "content": {"application/json": {"schema": _ref("UploadRequest")}}},
        errors=("BadRequest", "Forbidden", "Conflict", "TooLarge", "Invalid"))},
    "/me/progress": {"get": _operation(
        "getMyProgress", "Avancement de l'appelant·e : preuves par compétence et par bloc.",
        {"200": _json(_ref("Progress"), "L'avancement.")}, errors=("NotFound",))},
    "/evidence/{evidence_id}/submit": {"post": _operation(
        "submitEvidence", "Soumettre un brouillon rattaché à au moins une compétence (propriétaire seulement) ; "
        "ses fichiers, sa description et ses rattachements ne changent plus.",
        {"200": _json(_ref("Evidence"), "La preuve soumise.")}, parameters=[EVIDENCE_ID],
        errors=("Forbidden", "NotFound", "Conflict", "Invalid"))},
    "/evidence/{evidence_id}/withdraw": {"post": _operation(
        "withdrawEvidence", "Retirer une soumission tant que personne ne l'a évaluée (propriétaire seulement).",
        {"200": _json(_ref("Evidence"), "La preuve, redevenue brouillon.")}, parameters=[EVIDENCE_ID],
        errors=("Forbidden", "NotFound", "Conflict"))},
    "/assessments/queue": {"get": _operation(
        "getAssessmentQueue", "Les preuves soumises des apprenant·es que l'appelant·e évalue "
        "(formateur·rices, administrateur·rices), les plus anciennes d'abord.",
        {"200": _json(_ref("Queue"), "La file d'attente.")},
        parameters=[
            {"name": "cohort", "in": "query", "schema": {"type": "integer"}, "description": "Id de promotion."},
            {"name": "learner", "in": "query", "schema": {"type": "integer"}, "description": "Id d'apprenant·e."},
            {"name": "block", "in": "query", "schema": {"type": "string"},
             "description": "Code de bloc : preuves rattachées à l'une de ses compétences."},
        ],
        errors=("Forbidden", "Invalid"))},
    "/evidence/{evidence_id}/assessments": {
        "get": _operation(
            "listAssessments", "Les évaluations appuyées sur cette preuve, remplacées comprises, les plus "
            "anciennes d'abord.", {"200": _json(_ref("AssessmentList"), "Les évaluations.")},
            parameters=[EVIDENCE_ID], errors=("NotFound",)),
        "post": _operation(
            "createAssessment", "Évaluer une compétence rattachée à une preuve soumise (formateur·rices de la "
            "promotion, administrateur·rices). Ajoutée, jamais modifiée : elle remplace (`supersedes`) "
            "l'évaluation précédente de la compétence.",
            {"201": _json(_ref("Assessment"), "Évaluation enregistrée.")}, parameters=[EVIDENCE_ID],
            body={"required": True, "content": {"application/json": {"schema": _ref("AssessmentCreate")}}},
            errors=("BadRequest", "Forbidden", "NotFound", "Conflict", "Invalid")),
    },
    "/learners/{learner_id}/blocks/{code}/validation": {"post": _operation(
        "validateBlock", "Valider un bloc pour un·e apprenant·e dont toutes les compétences du bloc sont "
        "acquises ; sinon 422 `block_incomplete` avec `missing`.",
        {"201": _json(_ref("BlockDecision"), "Décision enregistrée.")}, parameters=[LEARNER_ID, BLOCK_CODE],
        body={"required": False, "content": {"application/json": {"schema": _ref("ValidationCreate")}}},
        errors=("BadRequest", "Forbidden", "NotFound", "Conflict", "Invalid"))},
    "/cohorts": {"get": _operation(
        "listCohorts", "Les promotions de l'appelant·e (suivies ou enseignées ; toutes pour un·e "
        "administrateur·rice).", {"200": _json(_ref("CohortList"), "Les promotions.")})},
    "/cohorts/{cohort_id}/matrix": {"get": _operation(
        "getCohortMatrix", "La matrice d'une promotion : apprenant·es × compétences, niveau actuel par case.",
        {"200": {"description": "La matrice, en JSON, ou en CSV avec `format=csv` (séparateur `;`, UTF-8 "
                                "avec BOM, libellés français, en pièce jointe `matrice-<nom-de-la-promotion>.csv`).",
                 "content": {"application/json": {"schema": _ref("Matrix")},
                             "text/csv": {"schema": {"type": "string"}}}}},
        parameters=[
            COHORT_ID,
            {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"],
                                                         "default": "json"}},
            {"name": "block", "in": "query", "schema": {"type": "string"}, "description": "Un seul bloc."},
            {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["name", "acquired"],
                                                       "default": "name"},
             "description": "Par nom, ou par nombre de compétences acquises (décroissant)."},
        ],
        errors=("Forbidden", "NotFound", "Invalid"))},
}


def build_document(server_url: str = "/api/v1") -> dict:
    """The whole document; ``server_url`` is the API's base (``https://host/api/v1``)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Portfolio API",
            "version": VERSION,
            "description": (
                "API JSON du portfolio de compétences. Authentification : un jeton d'accès personnel "
                "(`pft_...`), créé dans les paramètres du compte, envoyé en `Authorization: Bearer <jeton>`. "
                "Les erreurs sont `{\"error\": {\"code\", \"message\", \"field\"?}}` ; ce que l'appelant·e "
                "ne peut pas voir répond 404."
            ),
        },
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "paths": deepcopy(PATHS),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "Jeton d'accès personnel `pft_...`."}},
            "schemas": deepcopy(SCHEMAS),
            "responses": deepcopy(RESPONSES),
        },
    }
