"""Which stored objects a set of rows uses, and deleting those that no row of any kind needs any more.

A stored object may be shared: blobs are addressed by their content, so two people who stored the same
bytes share one object, and a dossier version's snapshot or an export names objects too. An object is
deleted only when no evidence file, dossier export, personal-data archive or dossier snapshot refers to
it; the deletion itself happens after the commit (the sweep catches a failure).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Text, cast, delete, exists, select

from portfolio import unit_of_work
from portfolio.extensions import db
from portfolio.models import Blob, DossierExport, DossierVersion, EvidenceFile
from portfolio.models.privacy import PersonalDataExport
from portfolio.services.privacy.records import _chunks
from portfolio.storage import StorageError, get_storage

log = logging.getLogger("portfolio")


def storage_keys_of(rows: dict[str, set[Any]]) -> set[str]:
    """The storage keys the given rows (primary keys per table) refer to."""
    keys: set[str] = set()
    for batch in _chunks(sorted(rows.get("evidence_files", ()))):
        keys.update(db.session.scalars(select(Blob.storage_key).join(EvidenceFile, EvidenceFile.blob_id == Blob.id)
                                       .where(EvidenceFile.id.in_(batch))))
    for model, table in ((DossierExport, "dossier_exports"), (PersonalDataExport, "personal_data_exports")):
        for batch in _chunks(sorted(rows.get(table, ()))):
            keys.update(k for k in db.session.scalars(select(model.storage_key).where(model.id.in_(batch))) if k)
    return keys


def is_referenced(key: str) -> bool:
    """Whether any row still needs the object (see module doc)."""
    checks = [
        exists().where(EvidenceFile.blob_id == Blob.id, Blob.storage_key == key),
        exists().where(DossierExport.storage_key == key),
        exists().where(PersonalDataExport.storage_key == key),
        exists().where(cast(DossierVersion.snapshot, Text).contains(key)),
    ]
    return any(db.session.scalar(select(check)) for check in checks)


def release_unreferenced_keys(keys: Iterable[str]) -> list[str]:
    """Forget the blob rows of objects nothing needs, and delete the objects after the commit."""
    db.session.flush()
    released = sorted(k for k in set(keys) if not is_referenced(k))
    for batch in _chunks(released):
        db.session.execute(delete(Blob).where(Blob.storage_key.in_(batch)))
    if released:
        unit_of_work.after_commit(lambda: delete_objects(released))
    return released


def delete_objects(keys: Iterable[str]) -> None:
    storage = get_storage()
    for key in keys:
        try:
            storage.delete(key)
        except StorageError:
            log.warning("could not delete a released object after commit; left for the sweep")
