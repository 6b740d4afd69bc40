"""The audit trail: append events to a keyed chain, keep a checkpoint of its head, verify both.

* **Keyed.** Each event's ``hash`` is an HMAC-SHA256, under a key that is not in the database
  (``PORTFOLIO_AUDIT_KEY``, or derived from the secret key with a label of its own), of its content, its
  position and its predecessor's MAC. Whoever can write to the database but does not hold the key cannot
  edit an event and recompute the chain.
* **Never forked.** Appending first updates the one-row ``audit_head`` table: on PostgreSQL that takes the
  row's lock, on SQLite the database's write lock, until the transaction ends; the head is then read
  under that lock, so two writers never chain onto the same predecessor. ``seq`` is unique besides: a
  fork could not even be stored.
* **Truncation shows.** After each commit that appended events, the head (position and MAC, signed) is
  written to a checkpoint file outside the database (``PORTFOLIO_AUDIT_CHECKPOINT_PATH``, in the instance
  folder by default) and to the log. Removing the newest events, and the head row with them, leaves the
  checkpoint pointing past the end of the table.

``flask --app wsgi audit verify`` reports, precisely, what does not hold (:func:`verify_report`).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event as sa_event
from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from portfolio import unit_of_work
from portfolio.dml import rowcount
from portfolio.extensions import db
from portfolio.models import AuditEvent, AuditHead, User
from portfolio.models.audit import GENESIS
from portfolio.models.base import utcnow

log = logging.getLogger("portfolio.audit")

KEY_LABEL = b"portfolio.audit-chain.v1"
_APPENDED = "portfolio.audit_appended"

__all__ = ["GENESIS", "AuditEvent", "ChainProblem", "ChainReport", "record_event", "record_read", "verify_chain",
           "verify_report"]


# --- the key ---------------------------------------------------------------------------------------

def audit_key(app: Flask | None = None) -> bytes:
    """The chain's key: ``AUDIT_KEY`` when set, else derived from ``SECRET_KEY`` (distinct label)."""
    config = (app or current_app).config
    explicit = config.get("AUDIT_KEY")
    if explicit:
        return str(explicit).encode()
    return hmac.new(str(config["SECRET_KEY"]).encode(), KEY_LABEL, hashlib.sha256).digest()


def key_fingerprint(key: bytes) -> str:
    """Names a key without revealing it (stored with each event, shown by ``audit verify``)."""
    return hmac.new(key, b"portfolio.audit-key-id", hashlib.sha256).hexdigest()[:16]


def _payload(event: AuditEvent, prev_hash: str) -> bytes:
    content: dict[str, Any] = {
        "prev": prev_hash,
        "at": event.created_at.isoformat(timespec="microseconds"),
        "actor": event.actor_id,
        "action": event.action,
        "subject": [event.subject_type, event.subject_id],
        "data": event.data,
    }
    if event.key_id is not None:  # events written before the chain was keyed did not cover these
        content["seq"] = event.seq
        content["key"] = event.key_id
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _mac(key: bytes, event: AuditEvent, prev_hash: str) -> str:
    if event.key_id is None:
        return hashlib.sha256(_payload(event, prev_hash)).hexdigest()
    return hmac.new(key, _payload(event, prev_hash), hashlib.sha256).hexdigest()


# --- appending -------------------------------------------------------------------------------------

def _claim_head(session: Session) -> tuple[int, str]:
    """Take the head's lock and return (the new event's position, its predecessor's MAC)."""
    claim = update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1)
    if rowcount(session.execute(claim)) == 0:
        # No head row yet (a new database): start it from the last event, if any. Two first writers
        # may race here: the insert ignores a conflict, and the claim below then waits for the lock.
        last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc())
                               .limit(1)).first()
        values = {"id": 1, "seq": last.seq if last else 0, "hash": last.hash if last else GENESIS}
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            session.execute(pg_insert(AuditHead).values(**values).on_conflict_do_nothing())
        elif dialect == "sqlite":
            session.execute(sqlite_insert(AuditHead).values(**values).on_conflict_do_nothing())
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            session.execute(insert(AuditHead).values(**values))
        session.execute(claim)
    seq, prev_hash = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    return seq, prev_hash


def record_event(
    action: str, *, actor: User | None, subject_type: str, subject_id: Any = None, data: dict | None = None
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction (which then holds the head's lock
    until it commits or rolls back: keep audited transactions short)."""
    session = db.session()
    # current_app is a LocalProxy, which Flask types as the Flask app it stands for.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    key = audit_key(app)
    seq, prev_hash = _claim_head(session)
    event = AuditEvent(
        seq=seq,
        created_at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        data=data or {},
        key_id=key_fingerprint(key),
        prev_hash=prev_hash,
    )
    event.hash = _mac(key, event, prev_hash)
    session.add(event)
    moved = session.execute(update(AuditHead).where(AuditHead.id == 1, AuditHead.seq == seq)
                            .values(hash=event.hash))
    if rowcount(moved) != 1:  # cannot happen while the lock holds; refuse rather than fork
        raise RuntimeError("audit head moved under its lock")
    session.flush()
    session.info[_APPENDED] = (app, seq, event.hash)
    return event


def record_read(
    action: str, *, actor: User | None, subject_type: str, subject_id: Any = None, data: dict | None = None
) -> AuditEvent:
    """Append the audit event of a read (a download, an export): the one write a GET may make."""
    with unit_of_work.read_audit():
        return record_event(action, actor=actor, subject_type=subject_type, subject_id=subject_id, data=data)


# --- the checkpoint outside the database ------------------------------------------------------------

def checkpoint_path(app: Flask | None = None) -> Path:
    app = app or current_app
    return Path(app.config.get("AUDIT_CHECKPOINT_PATH") or Path(app.instance_path) / "audit-checkpoint.json")


def _checkpoint_mac(key: bytes, seq: int, head_hash: str) -> str:
    return hmac.new(key, f"portfolio.audit-checkpoint|{seq}|{head_hash}".encode(), hashlib.sha256).hexdigest()


def read_checkpoint(app: Flask | None = None) -> dict | None:
    try:
        data = json.loads(checkpoint_path(app).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"unreadable": True}
    return data if isinstance(data, dict) else {"unreadable": True}


def write_checkpoint(app: Flask, seq: int, head_hash: str) -> None:
    """Record the head in the checkpoint file, only ever forwards (several workers write it)."""
    path = checkpoint_path(app)
    key = audit_key(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = read_checkpoint(app)
        if current and not current.get("unreadable") and isinstance(current.get("seq"), int) \
                and current["seq"] >= seq and hmac.compare_digest(
                    str(current.get("mac", "")), _checkpoint_mac(key, current["seq"], str(current.get("hash")))):
            return
        record = {"seq": seq, "hash": head_hash, "key_id": key_fingerprint(key),
                  "written_at": utcnow().isoformat(timespec="seconds"), "mac": _checkpoint_mac(key, seq, head_hash)}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w") as out:
            json.dump(record, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)


@sa_event.listens_for(Session, "after_commit")
def _checkpoint_after_commit(session: Session) -> None:
    appended = session.info.pop(_APPENDED, None)
    if appended is None:
        return
    app, seq, head_hash = appended
    try:
        log.info("audit head seq=%d hash=%s", seq, head_hash)
        write_checkpoint(app, seq, head_hash)
    except Exception:  # the commit happened; a checkpoint that could not be written is reported
        log.exception("could not write the audit checkpoint")


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction) -> None:
    # Any rollback, a savepoint's too, may have undone the append: checkpoint nothing for this
    # transaction (the next writer moves the checkpoint on).
    session.info.pop(_APPENDED, None)


# --- verifying -------------------------------------------------------------------------------------

@dataclass
class ChainProblem:
    event_id: int | None
    reason: str
    seq: int | None = None


@dataclass
class ChainReport:
    events: int = 0
    last_seq: int = 0
    unkeyed: int = 0
    key_id: str = ""
    problems: list[ChainProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _iter_events(batch: int) -> Iterator[AuditEvent]:
    last_seq = -1
    while True:
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.seq > last_seq).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not events:
            return
        yield from events
        last_seq = events[-1].seq
        db.session.expunge_all()


def verify_report(batch: int = 1000) -> ChainReport:
    """Walk the chain in order and say what does not hold: the first altered event, missing or inserted
    ones, events signed with another key, a head row or a checkpoint beyond the table's end."""
    key = audit_key()
    report = ChainReport(key_id=key_fingerprint(key))
    expected_seq, expected_prev, keyed_seen = 1, GENESIS, False
    foreign_keys: dict[str, int] = {}
    last: AuditEvent | None = None
    for event in _iter_events(batch):
        report.events += 1
        if event.seq != expected_seq:
            report.problems.append(ChainProblem(event.id, (
                f"événements n° {expected_seq} à {event.seq - 1} manquants avant celui-ci (supprimés)"
                if event.seq > expected_seq + 1 else f"événement n° {expected_seq} manquant avant celui-ci (supprimé)"),
                event.seq))
        elif event.prev_hash != expected_prev:
            report.problems.append(ChainProblem(event.id, (
                "chaînage rompu : son prédécesseur a été modifié, remplacé ou inséré après coup"), event.seq))
        if event.key_id is None:
            report.unkeyed += 1
            if keyed_seen:
                report.problems.append(ChainProblem(event.id, (
                    "événement non signé après des événements signés : forgé ou rétrogradé"), event.seq))
            elif not hmac.compare_digest(_mac(key, event, event.prev_hash), event.hash):
                report.problems.append(ChainProblem(event.id, "contenu modifié (empreinte SHA-256 incorrecte)",
                                                    event.seq))
        else:
            keyed_seen = True
            if event.key_id != report.key_id:
                foreign_keys[event.key_id] = foreign_keys.get(event.key_id, 0) + 1
                if foreign_keys[event.key_id] == 1:
                    report.problems.append(ChainProblem(event.id, (
                        f"signé avec une autre clé (empreinte {event.key_id}, clé actuelle {report.key_id}) : "
                        "PORTFOLIO_AUDIT_KEY ou PORTFOLIO_SECRET_KEY a changé, ou l'événement est forgé"), event.seq))
            elif not hmac.compare_digest(_mac(key, event, event.prev_hash), event.hash):
                report.problems.append(ChainProblem(event.id, (
                    "contenu modifié après écriture (HMAC incorrect) : l'événement a été édité"), event.seq))
        expected_prev, expected_seq = event.hash, event.seq + 1
        last = event
    for key_id, count in foreign_keys.items():
        if count > 1:
            report.notes.append(f"{count} événements signés avec la clé {key_id} (autre que la clé actuelle).")
    report.last_seq = last.seq if last else 0
    last_hash = last.hash if last else GENESIS
    if report.unkeyed and not report.problems:
        before = "événement antérieur" if report.unkeyed < 2 else "événements antérieurs"
        report.notes.append(f"{report.unkeyed} {before} à la signature (SHA-256 seul), ancrés par "
                            "les événements signés qui les suivent.")

    head = db.session.scalar(select(AuditHead).where(AuditHead.id == 1))
    if head is None:
        if report.events:
            report.problems.append(ChainProblem(None, "la tête de chaîne (table audit_head) a disparu"))
    elif head.seq > report.last_seq:
        report.problems.append(ChainProblem(None, (
            f"les derniers événements ont été supprimés : la tête de chaîne atteste le n° {head.seq}, "
            f"la table s'arrête au n° {report.last_seq}"), head.seq))
    elif head.seq < report.last_seq or not hmac.compare_digest(head.hash, last_hash):
        report.problems.append(ChainProblem(None, (
            f"la tête de chaîne (n° {head.seq}) ne correspond pas au dernier événement (n° {report.last_seq})"),
            head.seq))

    checkpoint = read_checkpoint()
    if checkpoint is None:
        if report.events:
            report.notes.append(f"Pas de point de contrôle ({checkpoint_path()}) : la suppression des derniers "
                                "événements ne peut pas être exclue.")
    elif checkpoint.get("unreadable") or not isinstance(checkpoint.get("seq"), int):
        report.problems.append(ChainProblem(None, f"point de contrôle illisible : {checkpoint_path()}"))
    elif not hmac.compare_digest(str(checkpoint.get("mac", "")),
                                 _checkpoint_mac(key, checkpoint["seq"], str(checkpoint.get("hash")))):
        report.problems.append(ChainProblem(None, (
            f"point de contrôle {checkpoint_path()} signé avec une autre clé (empreinte "
            f"{checkpoint.get('key_id')}, clé actuelle {report.key_id}) ou modifié")))
    else:
        cp_seq, cp_hash = checkpoint["seq"], checkpoint["hash"]
        if cp_seq > report.last_seq:
            report.problems.append(ChainProblem(None, (
                f"les événements n° {report.last_seq + 1} à {cp_seq} ont été supprimés : le point de contrôle du "
                f"{checkpoint.get('written_at')} atteste une chaîne jusqu'au n° {cp_seq}"), cp_seq))
        elif cp_seq > 0:
            at = db.session.scalar(select(AuditEvent).where(AuditEvent.seq == cp_seq))
            if at is None or not hmac.compare_digest(at.hash, cp_hash):
                report.problems.append(ChainProblem(at.id if at else None, (
                    f"l'événement n° {cp_seq} n'est plus celui qu'atteste le point de contrôle du "
                    f"{checkpoint.get('written_at')} : la chaîne a été réécrite"), cp_seq))
    return report


def verify_chain(batch: int = 1000) -> Iterator[ChainProblem]:
    """Every problem :func:`verify_report` finds."""
    yield from verify_report(batch).problems
