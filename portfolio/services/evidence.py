"""Evidence: create, edit, delete, attach files, tag against competencies.

Write order for files: the object is stored first (streamed, hashed, deduplicated by SHA-256), the
rows second, in the caller's transaction. If the transaction never commits, the object is an orphan
that ``flask storage sweep`` removes after a grace period; a row never points at a missing object.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import selectinload

from portfolio.extensions import db
from portfolio.models import (
    Blob,
    Block,
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
    User,
)
from portfolio.services.audit import record_event
from portfolio.services.errors import Conflict, DomainError, NotFound
from portfolio.storage import BlobNotFound, BlobTooLarge, EmptyBlob, StorageError, StorageUnavailable, get_storage

log = logging.getLogger("portfolio")

MAX_FILENAME = 255
MAX_TITLE = 200
MAX_JUSTIFICATION = 2000


class EvidenceLocked(DomainError):
    code = "evidence_locked"


class LimitExceeded(DomainError):
    code = "limit_exceeded"


@dataclass
class Upload:
    """A file as received: its original name (display only) and a readable stream."""

    filename: str
    stream: BinaryIO


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


def human_size(n: int) -> str:
    for unit, size in (("Gio", 1 << 30), ("Mio", 1 << 20), ("Kio", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}".replace(".", ",")
    return f"{n} o"


def clean_filename(name: str) -> str:
    """Keep the name for display: no folders, no control or bidi-override characters, bounded length."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    bidi = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
            "\u200e", "\u200f"}
    name = "".join(ch for ch in name if ch.isprintable() and ch not in bidi).strip().strip(".")
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot else ""
        name = (stem if dot else name)[: MAX_FILENAME - len(ext) - 1] + (f".{ext}" if ext else "")
    return name or "fichier"


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
    from portfolio.models import VaeEnrolment

    ids = set(db.session.scalars(
        select(Cohort.certification_id).join(CohortMembership)
        .where(CohortMembership.user_id == user.id, CohortMembership.role == MemberRole.LEARNER)
    ))
    ids.update(db.session.scalars(select(VaeEnrolment.certification_id).where(VaeEnrolment.user_id == user.id)))
    return ids


def evidence_query(owner: User, *, block: str | None = None, competency: str | None = None,
                   kind: str | None = None, q: str | None = None) -> Select[tuple[Evidence]]:
    query = (select(Evidence).where(Evidence.owner_id == owner.id)
             .options(selectinload(Evidence.files), selectinload(Evidence.claims))
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
    return db.session.scalar(
        select(func.coalesce(func.sum(Blob.size), 0)).select_from(EvidenceFile)
        .join(Blob).join(Evidence).where(Evidence.owner_id == owner.id)
    ) or 0


# --- writes ----------------------------------------------------------------------------------------

def _require_draft(evidence: Evidence) -> None:
    if evidence.status != EvidenceStatus.DRAFT:
        raise EvidenceLocked(_("Cette preuve a été soumise : elle ne peut plus être modifiée."))


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
                 data={"title": title, "kind": kind_value.value, "files": len(uploads)})
    return evidence


def _limits(owner: User) -> tuple[int, int, int]:
    """(per-file limit, quota, bytes left in the quota) for this owner."""
    config = current_app.config
    quota = config["MAX_BYTES_PER_USER"]
    return config["MAX_FILE_SIZE"], quota, quota - used_bytes(owner)


def _refuse_size(filename: str, size: int, per_file: int, quota: int, remaining: int) -> LimitExceeded:
    if size > per_file:
        return LimitExceeded(_(
            "Le fichier « %(name)s » pèse %(size)s : la limite est de %(limit)s par fichier "
            "(%(over)s de trop).", name=filename, size=human_size(size), limit=human_size(per_file),
            over=human_size(size - per_file)), field="files")
    return LimitExceeded(_(
        "Votre espace est presque plein : « %(name)s » (%(size)s) dépasse les %(left)s qui restent "
        "sur %(quota)s (%(over)s de trop).", name=filename, size=human_size(size),
        left=human_size(max(remaining, 0)), quota=human_size(quota),
        over=human_size(size - max(remaining, 0))), field="files")


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
        raise _refuse_size(filename, size, per_file, quota, remaining)
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


def _adopt_staged(upload: StagedUpload, owner: User, limit: int):  # type: ignore[no-untyped-def]
    """Read a staged object back, check it, and move it to its content-addressed key."""
    filename = clean_filename(upload.filename)
    if not upload.key.startswith(f"{INCOMING_PREFIX}/{owner.id}/") or ".." in upload.key:
        raise DomainError(_("Envoi direct inconnu : %(key)s", key=upload.key), field="files")
    storage = get_storage()
    try:
        stored = storage.adopt(upload.key, max_size=limit, filename=filename)
    except BlobNotFound:
        raise DomainError(_("Le fichier envoyé directement est introuvable (l'envoi a peut-être expiré) : "
                            "« %(name)s ».", name=filename), field="files") from None
    mismatch = ((upload.size is not None and upload.size != stored.size)
                or (upload.sha256 is not None and upload.sha256.lower() != stored.sha256))
    if mismatch:
        if stored.created:
            storage.delete(stored.key)
        raise DomainError(_("Le fichier « %(name)s » reçu ne correspond pas à celui annoncé (taille ou "
                            "SHA-256) : il a été supprimé, envoyez-le de nouveau.", name=filename), field="files")
    return stored


def add_files(evidence: Evidence, uploads: Sequence[Upload | StagedUpload], *, actor: User) -> list[EvidenceFile]:
    """Stream each upload to storage (within the configured limits), then add its rows."""
    if not uploads:
        return []
    _require_draft(evidence)
    max_files = current_app.config["MAX_FILES_PER_EVIDENCE"]
    if len(evidence.files) + len(uploads) > max_files:
        raise LimitExceeded(_("Une preuve peut contenir au plus %(max)d fichiers (%(extra)d de trop).",
                              max=max_files, extra=len(evidence.files) + len(uploads) - max_files), field="files")
    storage = get_storage()
    per_file, quota, remaining = _limits(evidence.owner)
    added = []
    for upload in uploads:
        filename = clean_filename(upload.filename)
        limit = min(per_file, max(remaining, 0))
        try:
            if isinstance(upload, StagedUpload):
                stored = _adopt_staged(upload, evidence.owner, limit)
            elif hasattr(upload.stream, "finish_upload"):  # streamed to the store while it arrived
                stored = upload.stream.finish_upload()
                if stored.size > limit:
                    raise BlobTooLarge(limit, stored.size)
            else:
                stored = storage.put_stream(upload.stream, max_size=limit, filename=filename)
        except EmptyBlob:
            raise DomainError(_("Le fichier « %(name)s » est vide.", name=filename), field="files") from None
        except BlobTooLarge as exc:
            streamed = isinstance(upload, StagedUpload) or hasattr(upload.stream, "finish_upload")
            size = exc.size_read + (0 if streamed else _drain(upload.stream))
            raise _refuse_size(filename, size, per_file, quota, remaining) from None
        except StorageUnavailable:
            raise DomainError(_("Le stockage des preuves est indisponible : le fichier n'a pas été enregistré. "
                                "Réessayez dans quelques minutes."), field="files") from None
        remaining -= stored.size
        blob = db.session.scalar(select(Blob).where(Blob.sha256 == stored.sha256))
        if blob is None:
            blob = Blob(sha256=stored.sha256, size=stored.size, media_type=stored.media_type,
                        storage_key=stored.key)
            db.session.add(blob)
        file = EvidenceFile(evidence=evidence, blob=blob, filename=filename)
        db.session.add(file)
        added.append(file)
    db.session.flush()
    for file in added:
        record_event("evidence.file_add", actor=actor, subject_type="evidence", subject_id=evidence.id,
                     data={"file": file.id, "sha256": file.blob.sha256, "size": file.blob.size})
    return added


def _drain(stream: BinaryIO, chunk: int = 1 << 20) -> int:
    """Read what is left of a refused upload, to tell the person its real size."""
    total = 0
    while data := stream.read(chunk):
        total += len(data)
    return total


def update_evidence(evidence: Evidence, *, actor: User, title: str, kind: str, context: str,
                    occurred_on: date, description: str, url: str | None) -> None:
    _require_draft(evidence)
    title, kind_value, context_value, url = _check_fields(title, kind, context, url, bool(evidence.files))
    if not evidence.files and not url:
        raise DomainError(_("Ajoutez au moins un fichier ou un lien."), field="url")
    evidence.title, evidence.kind, evidence.context = title, kind_value, context_value
    evidence.occurred_on, evidence.description, evidence.url = occurred_on, description or "", url
    db.session.flush()
    record_event("evidence.update", actor=actor, subject_type="evidence", subject_id=evidence.id)


def _release_blobs(blob_ids: Iterable[int]) -> list[str]:
    """Delete the blob rows nothing refers to any more; return their keys (to delete after commit)."""
    keys = []
    for blob in db.session.scalars(select(Blob).where(Blob.id.in_(list(blob_ids)))):
        if not db.session.scalar(select(exists().where(EvidenceFile.blob_id == blob.id))):
            keys.append(blob.storage_key)
            db.session.delete(blob)
    db.session.flush()
    return keys


def delete_released_objects(keys: Iterable[str]) -> None:
    """After the commit: remove the objects no row refers to any more (the sweep catches failures)."""
    storage = get_storage()
    for key in keys:
        try:
            storage.delete(key)
        except StorageError:
            log.warning("could not delete %s after commit; left for the sweep", key)


def remove_file(evidence: Evidence, file: EvidenceFile, *, actor: User) -> list[str]:
    _require_draft(evidence)
    if file.evidence_id != evidence.id:
        raise NotFound(_("Fichier introuvable."))
    if len(evidence.files) == 1 and not evidence.url:
        raise DomainError(_("Une preuve garde au moins un fichier ou un lien."), field="files")
    blob_id = file.blob_id
    evidence.files.remove(file)
    db.session.flush()
    record_event("evidence.file_remove", actor=actor, subject_type="evidence", subject_id=evidence.id,
                 data={"file": file.id, "filename": file.filename})
    return _release_blobs([blob_id])


def delete_evidence(evidence: Evidence, *, actor: User) -> list[str]:
    """Delete a draft and its rows; return the storage keys no longer referenced (delete them after commit)."""
    _require_draft(evidence)
    blob_ids = [f.blob_id for f in evidence.files]
    record_event("evidence.delete", actor=actor, subject_type="evidence", subject_id=evidence.id,
                 data={"title": evidence.title})
    db.session.delete(evidence)
    db.session.flush()
    return _release_blobs(blob_ids)


def tag_evidence(evidence: Evidence, competency_code: str, justification: str, *, actor: User) -> Claim:
    """Tag against a competency of the owner's own certification, with a justification."""
    _require_draft(evidence)
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
    _require_draft(evidence)
    claim = next((c for c in evidence.claims if c.competency.code == (competency_code or "").upper()), None)
    if claim is None:
        raise NotFound(_("Cette preuve n'est pas rattachée à %(code)s.", code=competency_code))
    evidence.claims.remove(claim)
    db.session.flush()
    record_event("evidence.untag", actor=actor, subject_type="evidence", subject_id=evidence.id,
                 data={"competency": claim.competency.code})


def claims_by_competency(owner: User, block: Block) -> dict[int, list[Claim]]:
    """For a block page: each competency's claims by this learner, in one query."""
    claims = db.session.scalars(
        select(Claim).join(Evidence).join(Competency)
        .where(Evidence.owner_id == owner.id, Competency.block_id == block.id)
        .options(selectinload(Claim.evidence)).order_by(Claim.id)
    ).all()
    result: dict[int, list[Claim]] = {}
    for claim in claims:
        result.setdefault(claim.competency_id, []).append(claim)
    return result
