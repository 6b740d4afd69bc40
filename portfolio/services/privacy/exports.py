"""Right of access and portability: request an archive of one's data, build it as a background job
(RQ when Redis is configured, inline otherwise), keep it in the store for a limited time."""

from __future__ import annotations

import logging
import tempfile
from datetime import timedelta

from flask import current_app, has_app_context
from flask_babel import gettext as _
from sqlalchemy import select, update

from portfolio import unit_of_work
from portfolio.dml import rowcount
from portfolio.extensions import db
from portfolio.jobs import _worker_app, export_queue
from portfolio.models import User
from portfolio.models.base import utcnow
from portfolio.models.privacy import DataExportStatus, PersonalDataExport
from portfolio.services.audit import record_event
from portfolio.services.errors import Conflict, DomainError
from portfolio.services.privacy.archive import write_personal_archive
from portfolio.services.privacy.policy import retention_days
from portfolio.services.privacy.records import personal_records
from portfolio.storage import StorageError, get_storage

log = logging.getLogger("portfolio")
#: An archive of one's data may be large (every file one stored), but not unbounded.
MAX_ARCHIVE_SIZE = 64 * 1024**3


def latest_export(user: User) -> PersonalDataExport | None:
    return db.session.scalar(select(PersonalDataExport).where(PersonalDataExport.user_id == user.id)
                             .order_by(PersonalDataExport.id.desc()).limit(1))


def request_data_export(user: User, *, actor: User | None) -> PersonalDataExport:
    """Queue a new archive; refused while another one is being built. Dispatched after the commit."""
    running = db.session.scalar(select(PersonalDataExport.id).where(
        PersonalDataExport.user_id == user.id,
        PersonalDataExport.status.in_([DataExportStatus.QUEUED, DataExportStatus.RUNNING])))
    if running is not None:
        raise Conflict(_("Une archive de vos données est déjà en préparation."))
    export = PersonalDataExport(user_id=user.id, status=DataExportStatus.QUEUED, progress=0)
    db.session.add(export)
    db.session.flush()
    record_event("privacy.export_request", actor=actor, subject_type="user", subject_id=user.id,
                 data={"export": export.id})
    export_id = export.id
    unit_of_work.after_commit(lambda: dispatch_data_export(export_id), uses_database=True)
    return export


def dispatch_data_export(export_id: int) -> str:
    """On the RQ queue when Redis is configured (returns "queued"), else build it now."""
    if current_app.config.get("REDIS_URL"):
        try:
            export_queue().enqueue("portfolio.services.privacy.exports.work_data_export", export_id,
                                   job_timeout=3 * 3600, description=f"personal data export {export_id}")
        except Exception as exc:  # noqa: BLE001 — redis.ConnectionError and the like
            log.exception("could not queue personal data export %s", export_id)
            _finish(export_id, error=_("La file des tâches (Redis) est injoignable : %(error)s", error=str(exc)))
            return DataExportStatus.FAILED.value
        return DataExportStatus.QUEUED.value
    return run_data_export(export_id)


def work_data_export(export_id: int) -> str:
    """The RQ entry point: an application context of the worker's own."""
    if has_app_context():
        return run_data_export(export_id)
    with _worker_app().app_context():
        return run_data_export(export_id)


def _set_progress(export_id: int, percent: int) -> None:
    # Its own unit of work: the page polls the progress while the job runs.
    with unit_of_work.job():
        db.session.execute(update(PersonalDataExport).where(PersonalDataExport.id == export_id)
                           .values(progress=percent))


def _finish(export_id: int, *, error: str | None = None, blob=None) -> None:
    with unit_of_work.job():
        export = db.session.get(PersonalDataExport, export_id)
        if export is None:
            return
        now = utcnow()
        export.finished_at = now
        if error is not None:
            export.status, export.error = DataExportStatus.FAILED, error[:2000]
            record_event("privacy.export_failed", actor=None, subject_type="user", subject_id=export.user_id,
                         data={"export": export.id})
            return
        export.status, export.progress = DataExportStatus.DONE, 100
        export.storage_key, export.sha256, export.size = blob.key, blob.sha256, blob.size
        export.expires_at = now + timedelta(days=retention_days()["personal_data_exports"])
        record_event("privacy.export_done", actor=None, subject_type="user", subject_id=export.user_id,
                     data={"export": export.id, "size": blob.size, "sha256": blob.sha256})


def run_data_export(export_id: int) -> str:
    """Build one archive and keep it in the store; a failure is recorded on the export, never raised."""
    with unit_of_work.job():
        claimed = rowcount(db.session.execute(
            update(PersonalDataExport)
            .where(PersonalDataExport.id == export_id, PersonalDataExport.status == DataExportStatus.QUEUED)
            .values(status=DataExportStatus.RUNNING, progress=0)))
    if not claimed:  # already taken by another worker, or finished
        status = db.session.scalar(select(PersonalDataExport.status).where(PersonalDataExport.id == export_id))
        return status.value if status is not None else "missing"
    # The row exists: this worker has just claimed it.
    user_id = db.session.execute(select(PersonalDataExport.user_id)
                                 .where(PersonalDataExport.id == export_id)).scalar_one()
    last = [0]

    def progress(percent: int) -> None:
        if percent >= last[0] + 5:  # a short transaction every 5 % at most
            last[0] = percent
            _set_progress(export_id, min(percent, 99))

    try:
        records = personal_records(user_id)
        storage = get_storage()
        with tempfile.TemporaryFile(prefix="personal-data-") as tmp:
            write_personal_archive(records, storage, tmp, progress=progress)
            tmp.seek(0)
            blob = storage.put_stream(tmp, max_size=MAX_ARCHIVE_SIZE, filename="donnees.zip")
        db.session.rollback()  # the reads above end here; the job's writes come next
    except (DomainError, StorageError, OSError) as exc:
        db.session.rollback()
        message = exc.message if isinstance(exc, DomainError) else _(
            "Le stockage est indisponible ou a échoué : réessayez plus tard.")
        log.warning("personal data export %s failed: %s", export_id, type(exc).__name__)
        _finish(export_id, error=message)
        return DataExportStatus.FAILED.value
    _finish(export_id, blob=blob)
    return DataExportStatus.DONE.value


def export_is_available(export: PersonalDataExport) -> bool:
    return (export.status == DataExportStatus.DONE and export.storage_key is not None
            and (export.expires_at is None or export.expires_at > utcnow()))
