"""Keeping the evidence store and the database in step: orphan sweep and integrity check."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import Blob
from portfolio.models.base import utcnow
from portfolio.services.references import keys_in_use
from portfolio.storage import BlobNotFound, ObjectInfo, Storage, StorageError


def find_orphans(storage: Storage, grace: timedelta, batch: int = 1000) -> list[ObjectInfo]:
    """Objects older than ``grace`` that no row refers to (blob, export, sent version's snapshot;
    upload temporaries included)."""
    cutoff = utcnow() - grace
    orphans: list[ObjectInfo] = []
    pending: list[ObjectInfo] = []

    def flush() -> None:
        keys = [info.key for info in pending]
        known = keys_in_use(keys)  # blobs, exports, sent versions, archives, files being checked
        orphans.extend(info for info in pending if info.key not in known)
        pending.clear()

    for info in storage.iter_objects():
        # Young objects may belong to an upload whose row is about to be committed.
        if info.last_modified > cutoff:
            continue
        pending.append(info)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return orphans


def verify_blobs(storage: Storage, batch: int = 500) -> Iterator[tuple[Blob, str | None]]:
    """Re-hash every blob; yield (blob, None) when intact, else (blob, what is wrong)."""
    last_id = 0
    while True:
        blobs = db.session.scalars(select(Blob).where(Blob.id > last_id).order_by(Blob.id).limit(batch)).all()
        if not blobs:
            return
        for blob in blobs:
            last_id = blob.id
            digest = hashlib.sha256()
            size = 0
            try:
                for chunk in storage.iter_chunks(blob.storage_key):
                    digest.update(chunk)
                    size += len(chunk)
            except BlobNotFound:
                yield blob, "absent du stockage"
                continue
            except StorageError as exc:
                yield blob, f"illisible : {exc}"
                continue
            if digest.hexdigest() != blob.sha256:
                yield blob, f"SHA-256 différent (attendu {blob.sha256}, lu {digest.hexdigest()})"
            elif size != blob.size:
                yield blob, f"taille différente (attendue {blob.size}, lue {size})"
            else:
                yield blob, None
