"""The audit trail is tamper-evident: concurrent writers never fork it, an edited event is found even when
every hash is recomputed, removing the newest events is found through the checkpoint outside the table,
and ``audit verify`` says what it found."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading

import pytest
from sqlalchemy import select, text, update

from portfolio.extensions import db
from portfolio.models import AuditEvent, AuditHead
from portfolio.services import audit
from tests.conftest import make_config, new_app


def _events() -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def _write(n: int, action: str = "test.event") -> None:
    for i in range(n):
        audit.record_event(action, actor=None, subject_type="test", subject_id=i, data={"i": i})
        db.session.commit()


def _problems() -> list[str]:
    return [p.reason for p in audit.verify_chain()]


def test_a_fresh_chain_verifies_and_checkpoints_its_head(app, runner):
    base = len(_events())  # the framework import of the test set-up is audited
    _write(5)
    events = _events()
    assert [e.seq for e in events] == list(range(1, base + 6))
    assert all(e.key_id == audit.key_fingerprint(audit.audit_key()) for e in events)
    head = db.session.get(AuditHead, 1)
    assert (head.seq, head.hash) == (base + 5, events[-1].hash)
    checkpoint = audit.read_checkpoint()
    assert (checkpoint["seq"], checkpoint["hash"]) == (base + 5, events[-1].hash)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert f"{base + 5} événements, jusqu'au n° {base + 5}" in result.output


def test_an_event_edited_with_every_hash_recomputed_is_found(app, runner):
    """The attacker writes to the database and knows the algorithm, not the key: they edit event 3 and
    recompute the chain from there with plain SHA-256, and with HMAC under a key of their own."""
    _write(6)
    events = _events()
    for forge_key in (None, b"a key the attacker chose"):
        prev = events[1].hash
        for event in events[2:]:
            if event is events[2]:
                event.data = {"i": 999}
            event.prev_hash = prev
            payload = audit._payload(event, prev)
            event.hash = (hashlib.sha256(payload).hexdigest() if forge_key is None
                          else hmac.new(forge_key, payload, hashlib.sha256).hexdigest())
            prev = event.hash
        db.session.execute(update(AuditHead).values(hash=prev))
        db.session.commit()
        problems = list(audit.verify_chain())
        assert problems, forge_key
        assert problems[0].event_id == events[2].id and "HMAC incorrect" in problems[0].reason
        # The checkpoint outside the database no longer matches the head either.
        assert any("réécrite" in p.reason for p in problems)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"Événement {events[2].id} (n° {events[2].seq}) : contenu modifié après écriture" in result.output
    assert f"le premier à l’événement {events[2].id}" in result.output


def test_downgrading_events_to_unkeyed_digests_is_found(app):
    _write(4)
    events = _events()
    prev = audit.GENESIS
    for event in events:
        event.key_id = None
        event.prev_hash = prev
        event.hash = hashlib.sha256(audit._payload(event, prev)).hexdigest()
        prev = event.hash
    db.session.execute(update(AuditHead).values(hash=prev))
    db.session.commit()
    assert any("réécrite" in reason for reason in _problems())


def test_an_event_inserted_in_the_middle_is_found(app):
    _write(4)
    events = _events()
    db.session.execute(update(AuditEvent).where(AuditEvent.seq >= 3).values(seq=AuditEvent.seq + 10))
    db.session.add(AuditEvent(seq=3, created_at=events[2].created_at, actor_id=None, action="forged",
                              subject_type="test", subject_id="x", data={}, key_id=events[2].key_id,
                              prev_hash=events[1].hash, hash="f" * 64))
    db.session.commit()
    problems = list(audit.verify_chain())
    assert problems and problems[0].seq == 3 and "HMAC incorrect" in problems[0].reason


def test_removing_the_newest_events_is_found_through_the_checkpoint(app, runner):
    _write(7)
    events = _events()
    assert len(events) == 8
    # The attacker deletes the last three events and moves the head row back to make it consistent.
    db.session.execute(AuditEvent.__table__.delete().where(AuditEvent.seq > 5))
    db.session.execute(update(AuditHead).values(seq=5, hash=events[4].hash))
    db.session.commit()
    problems = list(audit.verify_chain())
    assert [p.reason for p in problems if "supprimés" in p.reason] == [
        problems[0].reason]
    assert "n° 6 à 8 ont été supprimés" in problems[0].reason
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "les événements n° 6 à 8 ont été supprimés" in result.output


def test_removing_the_newest_events_without_fixing_the_head_is_found_in_the_database_too(app, tmp_path):
    _write(4)
    assert len(_events()) == 5
    db.session.execute(AuditEvent.__table__.delete().where(AuditEvent.seq == 5))
    db.session.commit()
    reasons = _problems()
    assert any("la tête de chaîne atteste le n° 5, la table s'arrête au n° 4" in r for r in reasons)


def test_a_forged_checkpoint_is_refused(app):
    _write(3)
    path = audit.checkpoint_path()
    data = json.loads(path.read_text())
    data["seq"] = 2
    path.write_text(json.dumps(data))
    assert any("signé avec une autre clé" in r or "modifié" in r for r in _problems())


def test_another_key_is_named_as_a_key_mismatch(app, database_url, tmp_path, runner):
    _write(3)
    other = new_app(make_config(database_url, tmp_path, AUDIT_KEY="another key " * 4,
                                AUDIT_CHECKPOINT_PATH=app.config["AUDIT_CHECKPOINT_PATH"]))
    with other.app_context():
        result = other.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "signé avec une autre clé" in result.output and "a changé" in result.output
    # The app's own key still verifies everything.
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


def test_the_key_defaults_to_one_derived_from_the_secret_and_never_to_the_secret(app, database_url, tmp_path):
    config = make_config(database_url, tmp_path)
    config.pop("AUDIT_KEY")
    other = new_app(config)
    with other.app_context():
        key = audit.audit_key()
        assert key != other.config["SECRET_KEY"].encode() and len(key) == 32
        assert audit.audit_key() == key  # stable


@pytest.mark.parametrize("writers", [64])
def test_concurrent_writers_never_fork_the_chain(app, database_url, tmp_path, writers):
    """64 threads, each with its own connection and transaction, read something first (as a request
    loading the signed-in user does) and then append: the chain stays one line on SQLite and PostgreSQL."""
    options = {"pool_size": 16, "max_overflow": 16, "pool_timeout": 60}
    if database_url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 60}
    parallel = new_app(make_config(database_url, tmp_path, SQLALCHEMY_ENGINE_OPTIONS=options,
                                   AUDIT_CHECKPOINT_PATH=app.config["AUDIT_CHECKPOINT_PATH"]))
    before = len(_events())
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            with parallel.app_context():
                start.wait()
                db.session.execute(text("SELECT count(*) FROM audit_events")).scalar()
                audit.record_event("download", actor=None, subject_type="blob", subject_id=i, data={"n": i})
                db.session.execute(text("SELECT 1"))
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    events = _events()
    assert [e.seq for e in events] == list(range(1, before + writers + 1))
    assert sorted(int(e.subject_id) for e in events if e.action == "download") == list(range(writers))
    assert len({e.prev_hash for e in events}) == len(events)  # no two events share a predecessor
    assert list(audit.verify_chain()) == []
    assert audit.read_checkpoint()["seq"] == before + writers
