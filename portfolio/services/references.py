"""What still refers to a stored object, and which evidence was sent: the one answer to "may this
go?" for every place that releases objects (evidence files, the after-commit deletion, the sweep).

A stored object (content-addressed: the same bytes have one key) may be named by a blob row (and
through it by evidence files, including logbook PDFs filed as evidence), by a dossier export, by a
personal-data archive, and by the frozen snapshot of a dossier version sent to a jury. It is deleted
only when none of them does.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Text, cast, select

from portfolio.extensions import db
from portfolio.models import Blob, Dossier, DossierExport, DossierVersion, EvidenceFile, PendingFile
from portfolio.models.privacy import PersonalDataExport

#: Beyond this many keys, the snapshots are read once rather than searched once per key.
_SEARCH_LIMIT = 20


def snapshot_keys(snapshot: dict) -> set[str]:
    return {str(f["storage_key"]) for b in snapshot.get("blocks", []) for c in b.get("competencies", [])
            for e in c.get("evidence", []) for f in e.get("files", []) if f.get("storage_key")}


def snapshot_evidence_ids(snapshot: dict) -> set[int]:
    return {int(e["id"]) for b in snapshot.get("blocks", []) for c in b.get("competencies", [])
            for e in c.get("evidence", [])}


def keys_in_use(keys: Iterable[str], *, blob_rows: bool = True) -> set[str]:
    """The keys among ``keys`` that a row still names. ``blob_rows=False`` leaves out blob rows that no
    evidence file uses (the caller is about to delete them)."""
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    session = db.session
    if blob_rows:
        used = set(session.scalars(select(Blob.storage_key).where(Blob.storage_key.in_(wanted))))
    else:
        used = set(session.scalars(select(Blob.storage_key).join(EvidenceFile, EvidenceFile.blob_id == Blob.id)
                                   .where(Blob.storage_key.in_(wanted))))
    used |= set(session.scalars(select(DossierExport.storage_key).where(DossierExport.storage_key.in_(wanted))))
    used |= set(session.scalars(select(PersonalDataExport.storage_key)
                                .where(PersonalDataExport.storage_key.in_(wanted))))
    # A file sent straight to the bucket whose check has not run yet (a queue down for a day).
    used |= set(session.scalars(select(PendingFile.staged_key).where(PendingFile.staged_key.in_(wanted))))
    rest = [key for key in wanted if key not in used]
    if len(rest) > _SEARCH_LIMIT:
        for snapshot in session.scalars(select(DossierVersion.snapshot).execution_options(yield_per=100)):
            used |= snapshot_keys(snapshot) & set(rest)
    else:
        text = cast(DossierVersion.snapshot, Text)
        for key in rest:
            # The text search finds the candidates; the parsed snapshot confirms (a longer key matches too).
            candidates = session.scalars(select(DossierVersion.snapshot).where(text.contains(key, autoescape=True)))
            if any(key in snapshot_keys(s) for s in candidates):
                used.add(key)
    return used


def is_in_use(key: str) -> bool:
    return bool(keys_in_use([key]))


def sent_evidence_ids(owner_id: int) -> set[int]:
    """The evidence of this person that a dossier version sent to a jury cites (frozen from then on)."""
    ids: set[int] = set()
    query = select(DossierVersion.snapshot).join(Dossier, Dossier.id == DossierVersion.dossier_id) \
        .where(Dossier.candidate_id == owner_id)
    for snapshot in db.session.scalars(query):
        ids |= snapshot_evidence_ids(snapshot)
    return ids
