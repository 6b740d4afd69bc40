"""The background job that builds a dossier export (PDF or archive) into the evidence store, its
queueing (RQ when Redis is configured, else inline after the request's commit) and its download.

The job has its own units of work (``unit_of_work.job``): the claim (``running``, so the page shows
it), each progress step (short, visible to the page that polls it while the job runs; in between the
job only reads the database and writes to the store), then the result.
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Iterator

from flask import current_app
from sqlalchemy import update

from portfolio import jobs, unit_of_work
from portfolio.extensions import db
from portfolio.models import Dossier, DossierExport, DossierVersion, ExportKind, ExportStatus
from portfolio.models.base import utcnow
from portfolio.services import vae
from portfolio.services.audit import record_event
from portfolio.services.dossier_export.archive import ExportError, archive_plan, safe_name, write_archive
from portfolio.services.dossier_export.pdf import render_dossier_pdf
from portfolio.services.errors import DomainError
from portfolio.storage import BlobNotFound, StorageError, get_storage

log = logging.getLogger("portfolio.services.dossier_export")

MAX_EXPORT_SIZE = 64 * 1024 ** 3  # what put_stream accepts for one export

def _snapshot_for(export) -> dict:
    if export.version_id is not None:
        version = db.session.get(DossierVersion, export.version_id)
        if version is None:
            raise ExportError("La version demandée du dossier n'existe plus.")
        return version.snapshot

    dossier = db.session.get_one(Dossier, export.dossier_id)
    return vae.dossier_snapshot(dossier)


def _failure_message(exc: BaseException) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    if isinstance(exc, BlobNotFound):
        return f"Un fichier de preuve manque dans le stockage ({exc.key}) : export impossible."
    if isinstance(exc, StorageError):
        return f"Le stockage des preuves est indisponible : {exc}"
    if isinstance(exc, OSError):
        return f"Erreur d'écriture pendant l'export : {exc}"
    return f"Erreur inattendue pendant l'export ({type(exc).__name__}) : réessayez ou prévenez l'administrateur."


def _set_progress(export_id: int, percent: int) -> None:
    """Record progress in its own short unit of work, visible to the page that polls it while the job
    runs (between two of them the job only reads the database and writes to the store)."""


    with unit_of_work.job():
        db.session.execute(update(DossierExport).where(DossierExport.id == export_id).values(progress=percent))


def export_filename(export, snapshot: dict | None = None) -> str:
    """The name offered when downloading an export."""

    stem = "dossier-vae"
    if snapshot:
        stem += f"-{safe_name(snapshot.get('certification', {}).get('code', ''), 'certification')}"
        stem += f"-v{snapshot['version']}" if snapshot.get("version") and export.version_id else "-brouillon"
    return stem + (".pdf" if export.kind == ExportKind.PDF else ".zip")


def run_export(export_id: int) -> str:
    """Build one export (the background job) and keep it in the evidence store; return its status.

    The job's units of work: the claim (``running``, so the page shows it), each progress step, then
    the result; a failure leaves the export ``failed`` with a message for a person.
    Never raises for an export that fails (the message is on the row); logs unexpected errors.
    """

    with unit_of_work.job():
        export = db.session.get(DossierExport, export_id)
        if export is None:
            log.warning("dossier export %s: no such export", export_id)
            return "missing"
        if export.status in (ExportStatus.DONE, ExportStatus.RUNNING):
            return export.status.value
        export.status = ExportStatus.RUNNING
        export.progress = 0
        export.error = None
    kind = export.kind
    draft = export.version_id is None
    try:
        snapshot = _snapshot_for(export)
        entries = archive_plan(snapshot)
        pdf = render_dossier_pdf(snapshot, draft=draft)
        storage = get_storage()
        if kind == ExportKind.PDF:
            _set_progress(export_id, 80)
            blob = storage.put_stream(io.BytesIO(pdf), max_size=MAX_EXPORT_SIZE, filename="dossier.pdf")
        else:
            _set_progress(export_id, 10)
            last = [10]

            def progress(percent: int) -> None:
                scaled = 10 + percent * 85 // 100
                if scaled >= last[0] + 5 or percent == 100:  # a commit every 5 % at most
                    last[0] = scaled
                    _set_progress(export_id, scaled)

            with tempfile.TemporaryFile(prefix="dossier-export-") as tmp:
                write_archive(snapshot, pdf, storage, tmp, progress=progress, draft=draft)
                tmp.seek(0)
                blob = storage.put_stream(tmp, max_size=MAX_EXPORT_SIZE, filename="dossier.zip")
        with unit_of_work.job():
            export = db.session.get_one(DossierExport, export_id)
            export.storage_key, export.sha256, export.size = blob.key, blob.sha256, blob.size
            export.status = ExportStatus.DONE
            export.progress = 100
            export.finished_at = utcnow()
            record_event("dossier.export_done", actor=None, subject_type="dossier", subject_id=export.dossier_id,
                         data={"export": export.id, "kind": kind.value, "version": export.version_id,
                               "sha256": blob.sha256, "size": blob.size, "files": len(entries)})
        return ExportStatus.DONE.value
    except Exception as exc:  # noqa: BLE001 — every failure is recorded on the export
        db.session.rollback()
        message = _failure_message(exc)
        if not isinstance(exc, DomainError):
            log.exception("dossier export %s failed", export_id)
        with unit_of_work.job():
            export = db.session.get_one(DossierExport, export_id)
            export.status = ExportStatus.FAILED
            export.error = message[:2000]
            export.finished_at = utcnow()
            record_event("dossier.export_failed", actor=None, subject_type="dossier",
                         subject_id=export.dossier_id,
                         data={"export": export.id, "kind": kind.value, "error": message[:500]})
        return ExportStatus.FAILED.value


def enqueue_export(dossier, kind, version, actor):
    """Create the export row (queued) and audit the request, in the caller's transaction.

    Then ``dispatch_after_commit(export.id)`` starts it once the caller's unit of work commits, with
    ``dispatch_export``: on RQ when ``REDIS_URL`` is set, else built right there.
    """

    kind = ExportKind(kind)
    if version is not None and version.dossier_id != dossier.id:
        raise DomainError("Cette version n'appartient pas à ce dossier.")
    export = DossierExport(dossier_id=dossier.id, version_id=version.id if version is not None else None,
                           requested_by_id=actor.id if actor is not None else None, kind=kind,
                           status=ExportStatus.QUEUED, progress=0)
    db.session.add(export)
    db.session.flush()
    record_event("dossier.export_request", actor=actor, subject_type="dossier", subject_id=dossier.id,
                 data={"export": export.id, "kind": kind.value,
                       "version": version.number if version is not None else None})
    return export


def dispatch_after_commit(export_id: int) -> None:
    """Start the export once the current unit of work commits (nothing starts if it rolls back); it
    runs after that commit, in transactions of its own (``run_export``'s units of work)."""
    unit_of_work.after_commit(lambda: dispatch_export(export_id), uses_database=True)


def dispatch_export(export_id: int) -> str:
    """Start a committed export: on the RQ queue when Redis is configured (returns "queued"), else
    inline, now (returns the final status). A Redis that cannot be reached fails the export clearly."""

    if current_app.config.get("REDIS_URL"):

        try:
            jobs.enqueue(work_export, export_id, description=f"dossier export {export_id}")
        except Exception as exc:  # noqa: BLE001 — redis.ConnectionError and the like
            log.exception("could not queue dossier export %s", export_id)
            _mark_failed(export_id, f"La file des tâches (Redis) est injoignable : {exc}")
            return "failed"
        return "queued"
    return run_export(export_id)


run_pending_inline = dispatch_export


def _mark_failed(export_id: int, message: str) -> None:
    db.session.rollback()
    with unit_of_work.job():
        export = db.session.get(DossierExport, export_id)
        if export is not None:
            export.status, export.error, export.finished_at = ExportStatus.FAILED, message[:2000], utcnow()


def iter_export(export) -> Iterator[bytes]:
    """The stored bytes of a finished export, for a download view."""

    if not export.storage_key:
        raise DomainError("Cet export n'est pas prêt.")
    return get_storage().iter_chunks(export.storage_key)


def work_export(export_id: int) -> str:
    """The RQ job's entry point: build the export in an application context (see :func:`run_export`)."""
    return jobs.in_app_context(run_export, export_id)
