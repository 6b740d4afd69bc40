"""The archive of a person's data: a JSON file per kind of record, every file they stored, and an
``index.html`` that reads offline. Written to any binary stream; stored files are copied chunk by chunk
(the memory used does not grow with their size) and checked against their SHA-256."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from typing import Any, BinaryIO

from flask import render_template
from flask_babel import gettext as _

from portfolio.models.base import utcnow
from portfolio.services.dossier_export import safe_name
from portfolio.services.errors import DomainError
from portfolio.services.privacy.records import PersonalRecords, stored_files

ProgressCallback = Callable[[int], None]
#: Above this many rows a table is listed in index.html by its count only (the JSON has them all).
INDEX_ROWS = 500


class ArchiveError(DomainError):
    code = "archive_failed"


def table_label(name: str) -> str:
    """The person-readable name of a kind of record (the JSON file keeps the table's name)."""
    labels = {
        "users": _("Profil"),
        "user_roles": _("Rôles"),
        "cohort_memberships": _("Promotions"),
        "evidence": _("Preuves"),
        "evidence_files": _("Fichiers des preuves"),
        "claims": _("Rattachements aux compétences"),
        "assessments": _("Évaluations reçues ou données"),
        "competency_states": _("Niveaux actuels"),
        "block_decisions": _("Décisions de validation des blocs"),
        "comments": _("Commentaires"),
        "notifications": _("Notifications"),
        "api_tokens": _("Jetons d'accès à l'API"),
        "internships": _("Stages"),
        "logbook_entries": _("Entrées des journaux de stage"),
        "logbook_entry_competencies": _("Compétences pratiquées (journal)"),
        "signoff_links": _("Liens de signature envoyés"),
        "signoff_link_entries": _("Entrées couvertes par les liens"),
        "share_links": _("Liens de partage"),
        "share_views": _("Ouvertures des liens de partage"),
        "vae_enrolments": _("Inscription VAE"),
        "experiences": _("Expériences"),
        "dossiers": _("Dossiers de validation"),
        "dossier_sections": _("Sections des dossiers"),
        "dossier_narratives": _("Récits par compétence (dossier)"),
        "dossier_versions": _("Versions envoyées au jury"),
        "jury_block_decisions": _("Décisions du jury par bloc"),
        "jury_outcomes": _("Décisions finales du jury"),
        "dossier_exports": _("Exports des dossiers"),
        "jury_members": _("Jurys dont vous êtes membre"),
        "audit_events": _("Journal d'audit"),
        "personal_data_exports": _("Archives de vos données"),
        "privacy_requests": _("Demandes sur vos données"),
        "competency_mappings": _("Correspondances entre versions de fiches enregistrées"),
        "competency_mapping_entries": _("Lignes de ces correspondances"),
    }
    return labels.get(name, name)


def archive_plan(records: PersonalRecords) -> list[dict[str, Any]]:
    """Where each stored file goes in the archive: ``files/<evidence>/<file>-<name>``."""
    plan = []
    for f in stored_files(records):
        f = dict(f)
        f["path"] = f"files/{f['evidence_id']}/{f['file_id']}-{safe_name(f['filename'])}"
        plan.append(f)
    return plan


def write_personal_archive(records: PersonalRecords, storage, out: BinaryIO, *,
                           progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Write the ZIP to ``out`` and return its manifest (every member with its SHA-256)."""
    plan = archive_plan(records)
    total = sum(int(f["size"] or 0) for f in plan) or 1
    done = 0
    manifest: dict[str, Any] = {"user_id": records.user_id, "generated_at": utcnow().isoformat(),
                                "data": {}, "files": []}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for name, rows in records.tables.items():
            body = json.dumps(rows, ensure_ascii=False, indent=2, sort_keys=True).encode()
            path = f"data/{name}.json"
            archive.writestr(path, body)
            manifest["data"][name] = {"path": path, "rows": len(rows), "sha256": hashlib.sha256(body).hexdigest()}
        for f in plan:
            digest = hashlib.sha256()
            info = zipfile.ZipInfo(f["path"], date_time=utcnow().timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                for chunk in storage.iter_chunks(f["storage_key"]):
                    digest.update(chunk)
                    member.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(min(99, done * 100 // total))
            if digest.hexdigest() != f["sha256"]:
                raise ArchiveError(_("Un fichier a changé dans le stockage (%(name)s) : archive interrompue.",
                                     name=f["filename"]))
            manifest["files"].append({k: f[k] for k in ("path", "evidence_id", "filename", "sha256", "size",
                                                        "media_type")})
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
        archive.writestr("index.html", render_template(
            "privacy/archive_index.html", records=records, manifest=manifest, plan=plan,
            label=table_label, limit=INDEX_ROWS))
    if progress is not None:
        progress(100)
    return manifest
