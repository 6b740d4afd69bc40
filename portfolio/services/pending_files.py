"""Files sent straight to the bucket, checked in the background before they count.

Ceph RGW up to Pacific (16.x), which the tests and benches run, ignores the ``x-amz-checksum-*``
headers and POST fields (checked: a wrong ``x-amz-checksum-sha256`` is accepted and no checksum is
stored), so the store cannot vouch for the bytes. The request that records a presigned upload only
looks the object up (its size, one HEAD: ``evidence._pend_staged``) and adds a ``PendingFile``; once
it commits, :func:`verify_pending` reads the object once, computes its SHA-256 and sniffs its type,
and either turns it into an evidence file (moved to its content-addressed key) or deletes it and tells
the owner why. It runs on the RQ queue when ``REDIS_URL`` is set, else on a thread of the process that
committed (``jobs.in_thread``), so that the response never waits for the read.

Until then the evidence shows the file as « vérification en cours » and cannot be submitted
(``evidence.ensure_verified``). A check that never ran to its end (the process stopped before its
thread did, a job lost with the queue, the store down meanwhile) is run again by
``flask --app wsgi storage recheck`` (:func:`stale`, :func:`verify_all`), for files pending longer
than ``PORTFOLIO_PENDING_RECHECK_SECONDS``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from portfolio import jobs, unit_of_work
from portfolio.extensions import db
from portfolio.models import Blob, EvidenceFile, PendingFile
from portfolio.models.base import utcnow
from portfolio.services import quota as quota_service
from portfolio.services import viewers
from portfolio.services.audit import record_event
from portfolio.services.notifications import notify
from portfolio.storage import BlobNotFound, BlobTooLarge, EmptyBlob, StorageError, get_storage
from portfolio.storage.sniff import executable_label, is_executable

log = logging.getLogger("portfolio")

VERIFIED = "verified"
REJECTED = "rejected"
GONE = "gone"
STILL_PENDING = "pending"  # the store failed: checked again later


def verify_after_commit(pending_ids: Iterable[int]) -> None:
    """Check these pending files once the current unit of work commits (nothing if it rolls back)."""
    ids = list(pending_ids)
    unit_of_work.after_commit(lambda: dispatch(ids), uses_database=True)


def dispatch(pending_ids: list[int]) -> None:
    """On the RQ queue when Redis is configured, else on a thread of this process: never on the request
    path. A queue that cannot be reached hands the check to the thread rather than leave it pending."""
    if current_app.config.get("REDIS_URL"):
        try:
            for pending_id in pending_ids:
                jobs.enqueue(work_verify, pending_id, description=f"verify pending file {pending_id}")
            return
        except Exception:  # noqa: BLE001 — redis.ConnectionError and the like
            log.exception("could not queue the check of pending files %s: checking them on a thread", pending_ids)
    jobs.in_thread(verify_all, list(pending_ids), name="verify-pending-files")


def verify_all(pending_ids: list[int]) -> Counter[str]:
    """Check each of these pending files (one unit of work each); a store that fails leaves it pending.
    How many ended each way (``verified``, ``rejected``, ``gone``, ``pending``)."""
    outcomes: Counter[str] = Counter()
    for pending_id in pending_ids:
        try:
            outcomes[verify_pending(pending_id)] += 1
        except StorageError:
            log.exception("pending file %s: the store failed, it stays pending", pending_id)
            outcomes[STILL_PENDING] += 1
    return outcomes


def stale(older_than: timedelta) -> list[PendingFile]:
    """Pending files recorded more than ``older_than`` ago, oldest first: their check should have
    ended long since (it reads the object once, seconds per GiB), so it is to be run again."""
    cutoff = utcnow() - older_than
    return list(db.session.scalars(
        select(PendingFile).where(PendingFile.created_at < cutoff).order_by(PendingFile.id)))


def work_verify(pending_id: int) -> str:
    """The RQ job's entry point."""
    return jobs.in_app_context(verify_pending, pending_id)


def verify_pending(pending_id: int) -> str:
    """Read the staged object once and keep it as an evidence file, or delete it and notify the owner.

    Returns ``verified``, ``rejected`` or ``gone`` (the row no longer exists: the evidence was deleted,
    or another run did the work). A store that cannot be reached raises: the file stays pending and
    the job can be run again.
    """
    with unit_of_work.job():
        pending = db.session.get(PendingFile, pending_id, with_for_update=True)
        if pending is None:
            return GONE
        evidence = pending.evidence
        storage = get_storage()
        limit = pending.size  # what the request looked up and charged to the quota
        try:
            stored = storage.adopt(pending.staged_key, max_size=limit, filename=pending.filename)
        except BlobNotFound:
            return _reject(pending, None, _("Le fichier « %(name)s » envoyé directement pour la preuve « %(title)s » "
                                            "a disparu du stockage avant d'être vérifié : envoyez-le de nouveau.",
                                            name=pending.filename, title=evidence.title))
        except (BlobTooLarge, EmptyBlob):  # adopt deleted the object
            return _reject(pending, None, _mismatch(pending))
        if stored.size != pending.size or (pending.sha256 is not None and pending.sha256 != stored.sha256):
            return _reject(pending, stored, _mismatch(pending))
        if is_executable(stored.media_type):
            return _reject(pending, stored, _(
                "« %(name)s », envoyé pour la preuve « %(title)s », est un programme (%(what)s), pas une preuve : "
                "il a été supprimé. Déposez le code source, ou une capture ou une vidéo de son exécution.",
                name=pending.filename, title=evidence.title, what=executable_label(stored.media_type)))
        blob = db.session.scalar(select(Blob).where(Blob.sha256 == stored.sha256))
        if blob is None:
            blob = Blob(sha256=stored.sha256, size=stored.size, media_type=stored.media_type, storage_key=stored.key)
            db.session.add(blob)
        elif blob.storage_key != stored.key and stored.created:
            delete_after_commit([stored.key])  # another key holds these bytes already
        file = EvidenceFile(evidence=evidence, blob=blob, filename=pending.filename)
        setattr(file, quota_service.COUNTED, True)  # charged when the request recorded the pending file
        db.session.add(file)
        db.session.delete(pending)
        db.session.flush()
        record_event("evidence.file_add", actor=None, subject_type="evidence", subject_id=evidence.id,
                     data={"file": file.id, "sha256": blob.sha256, "size": blob.size, "verified": "background"})
        viewers.keep_analyses([file])
        return VERIFIED


def _mismatch(pending: PendingFile) -> str:
    return _("Le fichier « %(name)s » envoyé directement pour la preuve « %(title)s » ne correspond pas à celui "
             "annoncé (taille ou SHA-256) : il a été supprimé, envoyez-le de nouveau.",
             name=pending.filename, title=pending.evidence.title)


def _reject(pending: PendingFile, stored, message: str) -> str:
    """Drop the pending file, give its bytes back to the quota, delete what it stored, tell the owner."""
    evidence = pending.evidence
    if stored is not None and stored.created and not db.session.scalar(
            select(Blob.id).where(Blob.storage_key == stored.key)):
        delete_after_commit([stored.key])
    quota_service.release(evidence.owner_id, pending.size)
    with current_app.test_request_context():
        link = url_for("evidence.detail", evidence_id=evidence.id)
    notify(evidence.owner, message, link, email_subject=_("Fichier refusé après vérification"))
    record_event("evidence.file_reject", actor=None, subject_type="evidence", subject_id=evidence.id,
                 data={"filename": pending.filename, "size": pending.size, "declared_sha256": pending.sha256,
                       "sha256": stored.sha256 if stored is not None else None})
    db.session.delete(pending)
    db.session.flush()
    return REJECTED


def delete_after_commit(keys: list[str]) -> None:
    """Delete these stored objects once the transaction has committed (a rollback keeps them)."""
    def delete() -> None:
        storage = get_storage()
        for key in keys:
            try:
                storage.delete(key)
            except StorageError:
                log.warning("could not delete %s (a rejected or duplicate upload); left for the sweep", key)

    unit_of_work.after_commit(delete)
