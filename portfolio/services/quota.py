"""Each person's storage quota, held by the database: parallel uploads cannot pass it together.

``storage_usage.used_bytes`` is what a person's evidence files weigh (one count per file, as the
quota is shown) plus the bytes reserved by their uploads in flight. Every change is a single UPDATE:

* a reservation is conditional, ``SET used = used + :n WHERE used + :n <= :quota``: of two uploads
  racing for the last bytes, the database lets one through and refuses the other;
* files added or removed by any other path (a new version copying its files, a deletion, a cascade
  through the ORM) are counted by mapper events in the same transaction as the rows.

Streamed uploads reserve on their own short transaction while the body arrives (so that the request's
transaction holds no lock during a long upload), and hand the reservation over to the request's
transaction when their files are recorded; a request that does not commit releases it
(``Reservation.release``). Other uploads (a plain stream, a staged object) are charged inside the
request's transaction with :func:`charge`.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from sqlalchemy import Connection, Table, case, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from portfolio.dml import rowcount
from portfolio.extensions import db
from portfolio.models import Blob, Evidence, EvidenceFile, StorageUsage

log = logging.getLogger("portfolio")

# A mapped class's __table__ is its Table; DeclarativeBase types it as the wider FromClause.
usage = cast(Table, StorageUsage.__table__)
#: Streamed uploads reserve at least this much at a time (fewer round trips for large files).
RESERVATION_STEP = 32 * 1024 * 1024
#: Set on an EvidenceFile whose bytes a reservation or ``charge`` already counted.
COUNTED = "_quota_counted"


def _counted_bytes(owner_id: Any) -> Any:
    return (select(func.coalesce(func.sum(Blob.size), 0)).select_from(EvidenceFile)
            .join(Blob, Blob.id == EvidenceFile.blob_id).join(Evidence, Evidence.id == EvidenceFile.evidence_id)
            .where(Evidence.owner_id == owner_id).scalar_subquery())


def ensure_row(conn: Any, user_id: int) -> None:
    """Create the person's usage row (counting their files) unless it exists; safe under races."""
    dialect = conn.dialect.name if isinstance(conn, Connection) else db.engine.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(usage).values(user_id=user_id, used_bytes=_counted_bytes(user_id))
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["user_id"]))


def _reserve_stmt(user_id: int, n: int, quota: int):
    return (update(usage).where(usage.c.user_id == user_id, usage.c.used_bytes + n <= quota)
            .values(used_bytes=usage.c.used_bytes + n))


def _release_stmt(user_id: int, n: int):
    return (update(usage).where(usage.c.user_id == user_id)
            .values(used_bytes=case((usage.c.used_bytes >= n, usage.c.used_bytes - n), else_=0)))


def used_bytes(user_id: int) -> int:
    """What the person's files weigh now, reservations in flight included."""
    value = db.session.scalar(select(usage.c.used_bytes).where(usage.c.user_id == user_id))
    if value is None:
        return db.session.scalar(select(_counted_bytes(user_id))) or 0
    return value


def charge(user_id: int, n: int, quota: int) -> bool:
    """Count ``n`` more bytes for this person inside the current transaction, if the quota allows."""
    ensure_row(db.session, user_id)
    return rowcount(db.session.execute(_reserve_stmt(user_id, n, quota))) == 1


def release(user_id: int, n: int) -> None:
    """Count ``n`` fewer bytes for this person inside the current transaction (bytes charged by
    :func:`charge` for a file that was not kept)."""
    if n > 0:
        db.session.execute(_release_stmt(user_id, n))


class Reservation:
    """Bytes reserved by one request's streamed uploads, on transactions of their own."""

    def __init__(self, user_id: int, quota: int) -> None:
        self.user_id = user_id
        self.quota = quota
        self.reserved = 0
        self.handed_over = False
        self._in_session = False

    def _run(self, stmt) -> bool:
        session = db.session()
        if self._in_session or (session.info.get("portfolio.flushed_writes") and db.engine.dialect.name == "sqlite"):
            # The request already wrote, so it holds SQLite's lock: another connection would wait for
            # it forever. Reserve in the request's transaction instead (rolled back with it).
            self._in_session = True
            ensure_row(session, self.user_id)
            return rowcount(session.execute(stmt)) == 1
        with db.engine.begin() as conn:
            ensure_row(conn, self.user_id)
            return rowcount(conn.execute(stmt)) == 1

    def cover(self, total: int) -> bool:
        """Make sure ``total`` bytes are reserved; False when the quota does not allow it."""
        if total <= self.reserved:
            return True
        need = total - self.reserved
        for amount in (max(need, RESERVATION_STEP), need) if need < RESERVATION_STEP else (need,):
            if self._run(_reserve_stmt(self.user_id, amount, self.quota)):
                self.reserved += amount
                return True
        return False

    def hand_over(self, used: int) -> None:
        """The files (``used`` bytes) are recorded in the current transaction: give back the rest there."""
        excess = self.reserved - used
        if excess > 0:
            db.session.execute(_release_stmt(self.user_id, excess))
        self.handed_over = True

    def release(self) -> None:
        """The request did not record its files: give every reserved byte back."""
        if self.reserved and not self._in_session:
            try:
                with db.engine.begin() as conn:
                    conn.execute(_release_stmt(self.user_id, self.reserved))
            except Exception:  # the bytes stay reserved: over-counted, never under
                log.exception("could not release a quota reservation of %d bytes", self.reserved)
        self.reserved = 0


# --- every other path: files added or removed through the ORM --------------------------------------

def _owner_id(conn: Connection, target: EvidenceFile, evidence_id: int | None) -> int | None:
    evidence = target.__dict__.get("evidence")
    if evidence is not None:
        owner = evidence.__dict__.get("owner")
        return evidence.owner_id or (owner.id if owner is not None else None)
    if evidence_id is None:
        return None
    return conn.execute(select(Evidence.owner_id).where(Evidence.id == evidence_id)).scalar()


def _size(conn: Connection, target: EvidenceFile) -> int:
    blob = target.__dict__.get("blob")
    if blob is not None and blob.size is not None:
        return blob.size
    return conn.execute(select(Blob.size).where(Blob.id == target.blob_id)).scalar() or 0


@event.listens_for(EvidenceFile, "before_insert")
def _count_new_file(_mapper, conn: Connection, target: EvidenceFile) -> None:
    if getattr(target, COUNTED, False):
        return
    owner_id = _owner_id(conn, target, target.evidence_id)
    if owner_id is None:
        return
    ensure_row(conn, owner_id)
    conn.execute(update(usage).where(usage.c.user_id == owner_id)
                 .values(used_bytes=usage.c.used_bytes + _size(conn, target)))


@event.listens_for(EvidenceFile, "before_delete")
def _uncount_file(_mapper, conn: Connection, target: EvidenceFile) -> None:
    owner_id = conn.execute(select(Evidence.owner_id).join(EvidenceFile, EvidenceFile.evidence_id == Evidence.id)
                            .where(EvidenceFile.id == target.id)).scalar()
    if owner_id is None:
        return
    conn.execute(_release_stmt(owner_id, _size(conn, target)))
