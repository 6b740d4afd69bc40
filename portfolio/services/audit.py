"""The audit trail: append events to a hash chain and verify it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text

from portfolio.extensions import db
from portfolio.models import AuditEvent, User
from portfolio.models.base import utcnow

GENESIS = "0" * 64


def _digest(prev_hash: str, event: AuditEvent) -> str:
    payload = json.dumps(
        {
            "prev": prev_hash,
            "at": event.created_at.isoformat(timespec="microseconds"),
            "actor": event.actor_id,
            "action": event.action,
            "subject": [event.subject_type, event.subject_id],
            "data": event.data,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def record_event(
    action: str, *, actor: User | None, subject_type: str, subject_id: Any = None, data: dict | None = None
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction."""
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        # Serialise writers so two transactions never chain onto the same predecessor.
        session.execute(text("SELECT pg_advisory_xact_lock(727274)"))
    last = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    prev_hash = last or GENESIS
    event = AuditEvent(
        created_at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        data=data or {},
        prev_hash=prev_hash,
    )
    event.hash = _digest(prev_hash, event)
    session.add(event)
    session.flush()
    return event


@dataclass
class ChainProblem:
    event_id: int
    reason: str


def verify_chain(batch: int = 1000) -> Iterator[ChainProblem]:
    """Yield every break in the chain: an edited event, or a missing one between two others."""
    expected_prev = GENESIS
    last_id = 0
    while True:
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).all()
        if not events:
            return
        for event in events:
            if event.prev_hash != expected_prev:
                yield ChainProblem(event.id, "previous event deleted or altered (chain broken)")
            if _digest(event.prev_hash, event) != event.hash:
                yield ChainProblem(event.id, "event content altered (hash mismatch)")
            expected_prev = event.hash
            last_id = event.id
        db.session.expunge_all()
