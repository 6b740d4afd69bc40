"""Evidence: create, edit, delete, attach files, tag against competencies.

Write order for files: the object is stored first (streamed, hashed, deduplicated by SHA-256), the
rows second, in the caller's transaction. If the transaction never commits, the object is an orphan
that ``flask storage sweep`` removes after a grace period; a row never points at a missing object.

Over 400 lines: the evidence aggregate: its files, tags and versions change under one lock order.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import IO
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import selectinload

from portfolio import unit_of_work
from portfolio.extensions import db
from portfolio.models import (
    Blob,
    Block,
    Certification,
    Claim,
    Cohort,
    CohortMembership,
    Competency,
    Evidence,
    EvidenceContext,
    EvidenceFile,
    EvidenceKind,
    EvidenceStatus,
    MemberRole,
    PendingFile,
    User,
    VaeEnrolment,
)
from portfolio.services import pending_files, viewers
from portfolio.services import quota as quota_service
from portfolio.services.audit import record_event
from portfolio.services.errors import Conflict, DomainError, NotFound
from portfolio.services.file_rules import LimitExceeded, clean_filename, size_refusal
from portfolio.services.locks import lock
from portfolio.services.references import keys_in_use, sent_evidence_ids
from portfolio.storage import BlobNotFound, BlobTooLarge, EmptyBlob, StorageError, StorageUnavailable, get_storage
from portfolio.storage.sniff import executable_label, is_executable
from portfolio.upload_batch import StoredFile

log = logging.getLogger("portfolio")

MAX_TITLE = 200
MAX_JUSTIFICATION = 2000


class EvidenceLocked(DomainError):
    code = "evidence_locked"


@dataclass
class Upload:
    """A file as received: its original name (display only) and a readable stream."""

    filename: str
    stream: IO[bytes]


@dataclass
class StagedUpload:
    """A file the client sent straight to the bucket with a presigned POST (see ``stage_upload``).

    ``size`` and ``sha256``, when the client declares them, must match what the app reads back.
    """

    key: str
    filename: str
    size: int | None = None
    sha256: str | None = None


class DirectUploadUnavailable(DomainError):
    code = "direct_upload_unavailable"


INCOMING_PREFIX = "incoming"
#: The policy pins this type; the real type is sniffed when the app reads the object back.
STAGED_CONTENT_TYPE = "application/octet-stream"


def check_url(url: str | None) -> str | None:
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000:
        raise DomainError(_("Le lien doit être une adresse http(s) complète."), field="url")
    return url


# --- queries ---------------------------------------------------------------------------------------

def learner_certification_ids(user: User) -> set[int]:
    """The certifications a person's evidence is tagged against: their cohorts', and a VAE candidate's."""
    ids = set(db.session.scalars(
        select(Cohort.certification_id).join(CohortMembership)
        .where(CohortMembership.user_id == user.id, CohortMembership.role == MemberRole.LEARNER)
    ))
    ids.update(db.session.scalars(select(VaeEnrolment.certification_id).where(VaeEnrolment.user_id == user.id)))
    return ids


def evidence_query(owner: User, *, block: str | None = None, competency: str | None = None,
                   kind: str | None = None, q: str | None = None) -> Select[Evidence]:
    query = (select(Evidence).where(Evidence.owner_id == owner.id)
             .options(selectinload(Evidence.files).selectinload(EvidenceFile.blob),
                      selectinload(Evidence.claims).selectinload(Claim.competency))
             .order_by(Evidence.occurred_on.desc(), Evidence.id.desc()))
    if kind:
        query = query.where(Evidence.kind == kind)
    if q:
        escaped = q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(Evidence.title).like(f"%{escaped}%", escape="\\"))
    if competency:
        query = query.where(exists().where(Claim.evidence_id == Evidence.id, Claim.competency_id == Competency.id,
                                           Competency.code == competency.upper()))
    if block:
        query = query.where(exists().where(Claim.evidence_id == Evidence.id, Claim.competency_id == Competency.id,
                                           Competency.block_id == Block.id, Block.code == block.upper()))
    return query


def used_bytes(owner: User) -> int:
    """What the owner's files weigh (one count per file), uploads in flight included."""
    return quota_service.used_bytes(owner.id)


# --- writes ----------------------------------------------------------------------------------------

def is_draft(evidence: Evidence) -> bool:
    """Still a draft: its owner may change it (``ensure_mutable`` is the rule when it does)."""
    return evidence.status == EvidenceStatus.DRAFT


def _require_draft(evidence: Evidence) -> None:
    if not is_draft(evidence):
        raise EvidenceLocked(_("Cette preuve a été soumise : elle ne peut plus être modifiée."))


def ensure_mutable(evidence: Evidence, *, lock_rows: bool = True) -> None:
    """The one rule for changing or deleting a piece of evidence (its fields, its files, itself), for the
    pages and the API alike: what was sent is frozen. A submitted or assessed version is (a correction
    is a new version); so is evidence a dossier version sent to a jury cites, whatever its status —
    the jury reads, downloads and exports exactly what it was sent.

    Decided under the owner's and the evidence's row locks (taken in that order, as sending a dossier,
    submitting and assessing do), on values read after them. ``lock_rows=False`` for uploads, which
    must not hold SQLite's one write lock while files stream."""
    if lock_rows:
        lock(evidence.owner)
        lock(evidence)
    _require_draft(evidence)
    if evidence.id is not None and evidence.id in sent_evidence_ids(evidence.owner_id):
        raise EvidenceLocked(_("Cette preuve fait partie d'un dossier envoyé au jury : elle ne peut plus être "
                               "modifiée ni supprimée. Créez une nouvelle preuve pour la suite."))


def _check_fields(title: str, kind: str, context: str, url: str | None, has_files: bool) -> tuple:
    title = (title or "").strip()
    if not title:
        raise DomainError(_("Le titre est obligatoire."), field="title")
    if len(title) > MAX_TITLE:
        raise DomainError(_("Le titre ne doit pas dépasser %(n)d caractères.", n=MAX_TITLE), field="title")
    try:
        kind_value = EvidenceKind(kind)
    except ValueError:
        raise DomainError(_("Type de preuve inconnu : %(kind)s", kind=kind), field="kind") from None
    try:
        context_value = EvidenceContext(context)
    except ValueError:
        raise DomainError(_("Contexte inconnu : %(context)s", context=context), field="context") from None
    url = check_url(url)
    if kind_value == EvidenceKind.LINK and not url:
        raise DomainError(_("Une preuve de type lien demande une adresse http(s)."), field="url")
    return title, kind_value, context_value, url


def create_evidence(owner: User, *, title: str, kind: str, context: str, occurred_on: date,
                    description: str = "", url: str | None = None,
                    uploads: Sequence[Upload | StagedUpload] = ()) -> Evidence:
    """Record a piece of evidence with its files (stored first) or its link."""
    title, kind_value, context_value, url = _check_fields(title, kind, context, url, bool(uploads))
    if not uploads and not url:
        raise DomainError(_("Ajoutez au moins un fichier ou un lien."), field="files")
    evidence = Evidence(owner=owner, title=title, kind=kind_value, context=context_value, occurred_on=occurred_on,
                        description=description or "", url=url, status=EvidenceStatus.DRAFT)
    db.session.add(evidence)
    db.session.flush()
    add_files(evidence, uploads, actor=owner)
    record_event("evidence.create", actor=owner, subject_type="evidence", subject_id=evidence.id,
                 data={"kind": kind_value.value, "files": len(uploads)})
    return evidence


def _limits(owner: User) -> tuple[int, int, int]:
    """(per-file limit, quota, bytes left in the quota) for this owner."""
    config = current_app.config
    quota = config["MAX_BYTES_PER_USER"]
    return config["MAX_FILE_SIZE"], quota, quota - used_bytes(owner)


def upload_limit(owner: User) -> int:
    """The most one file may weigh now for this owner (the per-file limit or what is left of the quota)."""
    per_file, _quota, remaining = _limits(owner)
    return max(min(per_file, remaining), 0)


def stage_upload(owner: User, *, filename: str, size: int) -> dict:
    """A presigned POST so the browser sends a large file straight to the bucket.

    The policy pins the key (under ``incoming/<owner id>/``), the size range (1 byte up to what the
    limits allow) and the content type; the bucket itself refuses anything else. The file becomes
    evidence only when ``add_files`` reads it back and checks it.
    """
    filename = clean_filename(filename)
    per_file, quota, remaining = _limits(owner)
    if size < 1:
        raise DomainError(_("Le fichier « %(name)s » est vide.", name=filename), field="files")
    if size > min(per_file, remaining):
        raise size_refusal(filename, size, per_file, quota, remaining)
    key = f"{INCOMING_PREFIX}/{owner.id}/{uuid.uuid4().hex}"
    try:
        form = get_storage().presigned_post(key=key, max_size=min(per_file, remaining),
                                            content_type=STAGED_CONTENT_TYPE, expires=900)
    except StorageUnavailable:
        raise DomainError(_("Le stockage des preuves est indisponible. Réessayez dans quelques minutes."),
                          field="files") from None
    if form is None:
        raise DirectUploadUnavailable(_("L'envoi direct n'existe pas avec ce stockage : envoyez le fichier "
                                        "par l'application."))
    return {"key": key, "url": form["url"], "fields": form["fields"], "max_size": min(per_file, remaining),
            "expires_in": 900}


SHA256_RE = re.compile(r"[0-9a-f]{64}")


def _pend_staged(evidence: Evidence, upload: StagedUpload, limit: int, per_file: int, quota: int,
                 remaining: int) -> PendingFile:
    """Record a staged object as a pending file, from its size alone (one HEAD): the bytes are read
    and checked by a background job (``pending_files.verify_pending``), not on the request path."""
    owner = evidence.owner
    filename = clean_filename(upload.filename)
    # Exactly the key ``presign_upload`` made for this person, nothing else reaches the store: a
    # malformed key (control characters, another prefix, a path) is a refusal (422), never an error.
    key = upload.key if isinstance(upload.key, str) else ""
    if not re.fullmatch(rf"{re.escape(INCOMING_PREFIX)}/{owner.id}/[0-9a-f]{{32}}", key):
        raise DomainError(_("Envoi direct inconnu : %(key)s", key=key[:80].encode("unicode_escape").decode()),
                          field="files")
    declared_sha = upload.sha256.lower() if upload.sha256 else None
    if declared_sha is not None and not SHA256_RE.fullmatch(declared_sha):
        raise DomainError(_("Le SHA-256 annoncé pour « %(name)s » n'est pas une empreinte SHA-256 (64 chiffres "
                            "hexadécimaux).", name=filename), field="files")
    if db.session.scalar(select(exists().where(PendingFile.staged_key == key))):
        raise DomainError(_("Ce fichier envoyé directement est déjà enregistré : « %(name)s ».", name=filename),
                          field="files")
    storage = get_storage()
    try:
        size = storage.size(key)
    except BlobNotFound:
        raise DomainError(_("Le fichier envoyé directement est introuvable (l'envoi a peut-être expiré) : "
                            "« %(name)s ».", name=filename), field="files") from None
    if upload.size is not None and upload.size != size:
        storage.delete(key)
        raise DomainError(_("Le fichier « %(name)s » reçu ne correspond pas à celui annoncé (taille ou "
                            "SHA-256) : il a été supprimé, envoyez-le de nouveau.", name=filename), field="files")
    if size == 0:
        storage.delete(key)
        raise DomainError(_("Le fichier « %(name)s » est vide.", name=filename), field="files")
    if size > limit or not quota_service.charge(owner.id, size, quota):
        storage.delete(key)
        raise size_refusal(filename, size, per_file, quota, remaining)
    pending = PendingFile(evidence=evidence, staged_key=key, filename=filename, size=size, sha256=declared_sha)
    db.session.add(pending)
    return pending


def ensure_verified(evidence: Evidence) -> None:
    """A piece of evidence whose directly sent files are still being checked cannot be submitted."""
    if evidence.pending_files:
        raise Conflict(_("Les fichiers envoyés directement sont en cours de vérification : soumettez la preuve "
                         "une fois la vérification terminée (quelques instants pour un gros fichier)."))


def add_files(evidence: Evidence, uploads: Sequence[Upload | StagedUpload], *, actor: User) -> list[EvidenceFile]:
    """Store each upload (within the configured limits), then add its rows.

    Streamed uploads (``portfolio.uploads``) are in the store already, their bytes reserved in the
    owner's quota as they arrived; the others are stored here and charged to the quota by a
    conditional UPDATE in this transaction. On any refusal, what this call stored is deleted.
    """
    if not uploads:
        return []
    ensure_mutable(evidence, lock_rows=False)
    max_files = current_app.config["MAX_FILES_PER_EVIDENCE"]
    if len(evidence.files) + len(uploads) > max_files:
        raise LimitExceeded(_("Une preuve peut contenir au plus %(max)d fichiers (%(extra)d de trop).",
                              max=max_files, extra=len(evidence.files) + len(uploads) - max_files), field="files")
    storage = get_storage()
    per_file, quota, remaining = _limits(evidence.owner)
    added = []
    pending: list[PendingFile] = []
    created: list[str] = []  # objects this call stored itself, deleted if it fails
    duplicates: list[str] = []  # objects holding bytes another blob row has already, deleted in any case
    streamed_bytes = 0
    batch = None
    confirms: list[tuple[str, Callable[[], None]]] = []  # streamed files the store may still be making
    try:
        for upload in uploads:
            filename = clean_filename(upload.filename)
            limit = min(per_file, max(remaining, 0))
            if isinstance(upload, StagedUpload):
                try:
                    pending.append(_pend_staged(evidence, upload, limit, per_file, quota, remaining))
                except StorageUnavailable:
                    raise DomainError(_("Le stockage des preuves est indisponible : le fichier n'a pas été "
                                        "enregistré. Réessayez dans quelques minutes."), field="files") from None
                remaining -= pending[-1].size
                continue
            streamed = isinstance(upload.stream, StoredFile)
            try:
                if isinstance(upload.stream, StoredFile):  # streamed: stored while it arrived, its bytes reserved
                    stored = upload.stream.finish_upload()
                    if stored.size > per_file:
                        raise BlobTooLarge(per_file, stored.size)
                else:
                    stored = storage.put_stream(upload.stream, max_size=limit, filename=filename)
            except EmptyBlob:
                raise DomainError(_("Le fichier « %(name)s » est vide.", name=filename), field="files") from None
            except BlobTooLarge as exc:
                size = exc.size_read + (0 if streamed else _drain(upload.stream))
                raise size_refusal(filename, size, per_file, quota, remaining) from None
            except StorageUnavailable:
                raise DomainError(_("Le stockage des preuves est indisponible : le fichier n'a pas été "
                                    "enregistré. Réessayez dans quelques minutes."), field="files") from None
            if isinstance(upload.stream, StoredFile):  # streamed
                streamed_bytes += stored.size
                batch = upload.stream.batch  # the request's
                confirms.append((filename, upload.stream.confirm))
            else:
                if stored.created:
                    created.append(stored.key)
                if not quota_service.charge(evidence.owner.id, stored.size, quota):
                    raise size_refusal(filename, stored.size, per_file, quota, remaining)
            remaining -= stored.size
            blob = db.session.scalar(select(Blob).where(Blob.sha256 == stored.sha256))
            if is_executable(stored.media_type):  # what this call stored is deleted below
                raise DomainError(_("« %(name)s » est un programme (%(what)s), pas une preuve : les exécutables ne "
                                    "sont pas acceptés, quel que soit le type choisi. Déposez le code source, ou une "
                                    "capture ou une vidéo de son exécution.", name=filename,
                                    what=executable_label(stored.media_type)), field="files")
            if blob is None:
                blob = Blob(sha256=stored.sha256, size=stored.size, media_type=stored.media_type,
                            storage_key=stored.key)
                db.session.add(blob)
            elif blob.storage_key != stored.key and stored.created:
                # Another key holds these bytes already (e.g. a large upload, stored under a key of its
                # own): this copy goes if the call fails, and after the commit if it succeeds.
                created.append(stored.key)
                duplicates.append(stored.key)
            file = EvidenceFile(evidence=evidence, blob=blob, filename=filename)
            setattr(file, quota_service.COUNTED, True)
            db.session.add(file)
            added.append(file)
        if batch is not None:
            batch.hand_over(streamed_bytes)
        db.session.flush()
        # The store finished making these blobs while their rows were written; nothing commits before.
        for filename, confirm in confirms:
            try:
                confirm()
            except StorageUnavailable:
                raise DomainError(_("Le stockage des preuves est indisponible : le fichier « %(name)s » n'a pas "
                                    "été enregistré. Réessayez dans quelques minutes.", name=filename),
                                  field="files") from None
    except BaseException:
        for key in created:
            try:
                storage.delete(key)
            except StorageError:
                log.warning("could not delete %s of a refused upload; left for the sweep", key)
        raise
    for file in added:
        record_event("evidence.file_add", actor=actor, subject_type="evidence", subject_id=evidence.id,
                     data={"file": file.id, "sha256": file.blob.sha256, "size": file.blob.size})
    viewers.keep_analyses(added)
    if duplicates:
        pending_files.delete_after_commit(duplicates)
    if pending:
        pending_files.verify_after_commit([p.id for p in pending])
    return added


def _drain(stream: IO[bytes], chunk: int = 1 << 20) -> int:
    """Read what is left of a refused upload, to tell the person its real size."""
    total = 0
    while data := stream.read(chunk):
        total += len(data)
    return total


def update_evidence(evidence: Evidence, *, actor: User, title: str, kind: str, context: str,
                    occurred_on: date, description: str, url: str | None) -> None:
    ensure_mutable(evidence)
    title, kind_value, context_value, url = _check_fields(title, kind, context, url, bool(evidence.files))
    if not evidence.files and not evidence.pending_files and not url:
        raise DomainError(_("Ajoutez au moins un fichier ou un lien."), field="url")
    evidence.title, evidence.kind, evidence.context = title, kind_value, context_value
    evidence.occurred_on, evidence.description, evidence.url = occurred_on, description or "", url
    db.session.flush()
    record_event("evidence.update", actor=actor, subject_type="evidence", subject_id=evidence.id)


def _release_blobs(blob_ids: Iterable[int]) -> list[str]:
    """Delete the blob rows nothing refers to any more; their stored objects go once the transaction
    commits (``delete_released_objects``, after commit). Return the keys."""
    keys = []
    blobs = [blob for blob in db.session.scalars(select(Blob).where(Blob.id.in_(list(blob_ids))))
             if not db.session.scalar(select(exists().where(EvidenceFile.blob_id == blob.id)))]
    # The same bytes may be a dossier export or a file of a version sent to a jury: those keep the object
    # (and its blob row, which storage verify re-reads).
    kept = keys_in_use([blob.storage_key for blob in blobs], blob_rows=False)
    for blob in blobs:
        if blob.storage_key not in kept:
            keys.append(blob.storage_key)
            db.session.delete(blob)
    db.session.flush()
    if keys:
        unit_of_work.after_commit(lambda: delete_released_objects(keys), uses_database=True)
    return keys


def delete_released_objects(keys: Iterable[str]) -> None:
    """After the commit: remove the objects no row refers to any more (the sweep catches failures)."""
    keys = list(keys)
    # Asked again now: since the commit, an upload of the same bytes may have made the key live again.
    live = keys_in_use(keys)
    storage = get_storage()
    for key in keys:
        if key in live:
            continue
        try:
            storage.delete(key)
        except StorageError:
            log.warning("could not delete %s after commit; left for the sweep", key)


def remove_file(evidence: Evidence, file: EvidenceFile, *, actor: User) -> list[str]:
    ensure_mutable(evidence)
    if file.evidence_id != evidence.id:
        raise NotFound(_("Fichier introuvable."))
    if len(evidence.files) == 1 and not evidence.url:
        raise DomainError(_("Une preuve garde au moins un fichier ou un lien."), field="files")
    blob_id = file.blob_id
    evidence.files.remove(file)
    db.session.flush()
    record_event("evidence.file_remove", actor=actor, subject_type="evidence", subject_id=evidence.id,
                 data={"file": file.id})
    return _release_blobs([blob_id])


def delete_evidence(evidence: Evidence, *, actor: User) -> list[str]:
    """Delete a draft and its rows; return the storage keys no longer referenced (delete them after commit)."""
    ensure_mutable(evidence)
    blob_ids = [f.blob_id for f in evidence.files]
    staged = [p.staged_key for p in evidence.pending_files]
    if staged:  # files still being checked: their bytes were charged, their objects are still staged
        quota_service.release(evidence.owner_id, sum(p.size for p in evidence.pending_files))
        unit_of_work.after_commit(lambda: delete_released_objects(staged), uses_database=True)
    record_event("evidence.delete", actor=actor, subject_type="evidence", subject_id=evidence.id,
                 data={"owner": evidence.owner_id})
    db.session.delete(evidence)
    db.session.flush()
    return _release_blobs(blob_ids)


def tag_evidence(evidence: Evidence, competency_code: str, justification: str, *, actor: User) -> Claim:
    """Tag against a competency of the owner's own certification, with a justification (a draft that no
    dossier version sent to a jury cites: :func:`ensure_mutable`)."""
    ensure_mutable(evidence)
    justification = (justification or "").strip()
    if not justification:
        raise DomainError(_("Expliquez en quelques mots en quoi cette preuve montre la compétence."),
                          field="justification")
    if len(justification) > MAX_JUSTIFICATION:
        raise DomainError(_("La justification ne doit pas dépasser %(n)d caractères.", n=MAX_JUSTIFICATION),
                          field="justification")
    cert_ids = learner_certification_ids(evidence.owner)
    competency = db.session.scalar(
        select(Competency).join(Block).where(Competency.code == (competency_code or "").strip().upper(),
                                             Block.certification_id.in_(cert_ids))
    )
    if competency is None:
        raise DomainError(_("Compétence inconnue dans votre certification : %(code)s", code=competency_code),
                          field="competency")
    if any(c.competency_id == competency.id for c in evidence.claims):
        raise Conflict(_("Cette preuve est déjà rattachée à %(code)s.", code=competency.code), field="competency")
    claim = Claim(evidence=evidence, competency=competency, justification=justification)
    db.session.add(claim)
    db.session.flush()
    record_event("evidence.tag", actor=actor, subject_type="evidence", subject_id=evidence.id,
                 data={"competency": competency.code})
    return claim


def untag_evidence(evidence: Evidence, competency_code: str, *, actor: User) -> None:
    """Remove a tag, under the same rule as tagging (:func:`ensure_mutable`)."""
    ensure_mutable(evidence)
    claim = next((c for c in evidence.claims if c.competency.code == (competency_code or "").upper()), None)
    if claim is None:
        raise NotFound(_("Cette preuve n'est pas rattachée à %(code)s.", code=competency_code))
    evidence.claims.remove(claim)
    db.session.flush()
    record_event("evidence.untag", actor=actor, subject_type="evidence", subject_id=evidence.id,
                 data={"competency": claim.competency.code})


def claims_by_competency(owner: User, scope: Block | Certification) -> dict[int, list[Claim]]:
    """The one way to read a person's tags per competency, in one query: for a block page, a progress
    page or a VAE dossier (``scope`` a block or a whole certification). Each list is in tagging order."""
    query = (select(Claim).join(Evidence).join(Competency).where(Evidence.owner_id == owner.id)
             .options(selectinload(Claim.evidence).selectinload(Evidence.files)).order_by(Claim.id))
    if isinstance(scope, Block):
        query = query.where(Competency.block_id == scope.id)
    else:
        query = query.join(Block, Competency.block_id == Block.id).where(Block.certification_id == scope.id)
    result: dict[int, list[Claim]] = {}
    for claim in db.session.scalars(query):
        result.setdefault(claim.competency_id, []).append(claim)
    return result
