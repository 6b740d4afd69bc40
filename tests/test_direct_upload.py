"""Large files straight to the bucket: a presigned POST pinned to key, size and type; the request that
records it looks the object's size up, and the bytes are read back and checked (SHA-256) after the
commit, by a job (on a thread of the process without Redis), the file shown « vérification en cours »
until then."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
import requests

from portfolio import unit_of_work
from portfolio.extensions import db
from portfolio.jobs import wait_for_threads
from portfolio.models import Blob, Evidence, EvidenceStatus, Notification, PendingFile
from portfolio.services import pending_files
from portfolio.services.quota import used_bytes

STORAGE_KEY = "portfolio.storage"


@pytest.fixture
def s3_app(app, request):  # type: ignore[no-untyped-def]
    """The app on an S3 store: moto by default, Ceph for tests that need enforcement."""
    fixture = "s3_enforcing" if request.node.get_closest_marker("s3_enforcing") else "s3_store"
    storage = request.getfixturevalue(fixture)
    previous = app.extensions[STORAGE_KEY]
    app.extensions[STORAGE_KEY] = storage
    app.extensions.pop("portfolio.direct_upload", None)
    yield storage
    app.extensions[STORAGE_KEY] = previous
    app.extensions.pop("portfolio.direct_upload", None)


@pytest.fixture
def s3_store(request, monkeypatch, tmp_path, moto_server):  # type: ignore[no-untyped-def]
    from tests.storage_fixtures import _s3_storage

    return _s3_storage(request, monkeypatch, tmp_path, moto_server)


def stage(client, name: str, size: int):  # type: ignore[no-untyped-def]
    return client.post("/evidence/uploads", data=json.dumps({"filename": name, "size": size}),
                       content_type="application/json")


def send_to_bucket(signed: dict, content: bytes) -> requests.Response:
    return requests.post(signed["url"], data=signed["fields"], files={"file": ("x", content)}, timeout=30)


def create_with(client, staged: list[tuple[str, str, int]], **extra):  # type: ignore[no-untyped-def]
    data = {"title": "Gros fichier", "kind": "document", "context": "project", "occurred_on": "2026-05-01",
            "staged": [k for k, _, _ in staged], "staged_filename": [n for _, n, _ in staged],
            "staged_size": [str(s) for _, _, s in staged]}
    data.update(extra)
    return client.post("/evidence/new", data=data, content_type="multipart/form-data")


def test_local_store_has_no_direct_path(app, world, login, client):
    login(world.learner)
    response = stage(client, "a.bin", 10)
    assert response.status_code == 409
    assert "envoyez le fichier par l'application" in response.get_json()["error"]["message"]
    assert "connect-src 'self';" in client.get("/evidence/new").headers["Content-Security-Policy"]


def test_direct_upload_is_verified_then_recorded(app, s3_app, world, login, client):
    login(world.learner)
    page = client.get("/evidence/new")
    assert "data-stage-url" in page.get_data(as_text=True)
    bucket_origin = s3_app.client.meta.endpoint_url.rstrip("/")
    assert f"connect-src 'self' {bucket_origin};" in page.headers["Content-Security-Policy"]

    content = b"%PDF-1.7\n" + bytes(range(256)) * 2000
    response = stage(client, "mémoire.pdf", len(content))
    assert response.status_code == 201
    signed = response.get_json()
    assert signed["key"].startswith(f"incoming/{world.learner.id}/")
    assert send_to_bucket(signed, content).status_code in (200, 201, 204)
    response = create_with(client, [(signed["key"], "mémoire.pdf", len(content))])
    assert response.status_code == 302, response.get_data(as_text=True)
    wait_for_threads(app)
    evidence = db.session.scalar(db.select(Evidence))
    blob = evidence.files[0].blob
    assert evidence.files[0].filename == "mémoire.pdf"
    assert blob.sha256 == hashlib.sha256(content).hexdigest() and blob.size == len(content)
    assert blob.media_type == "application/pdf"
    assert not s3_app.exists(signed["key"])  # moved to its content address
    assert s3_app.exists(blob.storage_key)


def test_a_mismatching_object_is_deleted_and_not_recorded(s3_app, world, login, client):
    login(world.learner)
    content = b"the real bytes" * 100
    signed = stage(client, "a.bin", len(content)).get_json()
    send_to_bucket(signed, content)
    response = create_with(client, [(signed["key"], "a.bin", len(content) + 1)])
    assert response.status_code == 422
    assert "ne correspond pas à celui annoncé" in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(Evidence)) == 0
    assert db.session.scalar(db.select(db.func.count()).select_from(Blob)) == 0
    assert {o.key for o in s3_app.iter_objects()} == set()


def test_another_learners_staged_key_is_refused(s3_app, world, login, client):
    login(world.other_learner)
    content = b"not yours"
    signed = stage(client, "a.bin", len(content)).get_json()
    send_to_bucket(signed, content)
    client.post("/logout")
    login(world.learner)
    response = create_with(client, [(signed["key"], "a.bin", len(content))])
    assert response.status_code == 422 and "Envoi direct inconnu" in response.get_data(as_text=True)
    assert s3_app.exists(signed["key"])  # untouched; the sweep removes it later


def test_a_file_over_the_limit_is_refused_before_signing(app, s3_app, world, login, client):
    app.config["MAX_FILE_SIZE"] = 1000
    try:
        login(world.learner)
        response = stage(client, "big.bin", 5000)
    finally:
        app.config["MAX_FILE_SIZE"] = 200 * 1024 * 1024
    assert response.status_code == 413
    assert "la limite est de 1000 o par fichier" in response.get_json()["error"]["message"]


def test_the_api_offers_the_same_path(app, s3_app, world, client):
    from portfolio.services.tokens import create_token

    _, raw = create_token(world.learner, "ci")
    db.session.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    content = b"report" * 1000
    response = client.post("/api/v1/uploads", json={"filename": "r.xml", "size": len(content)}, headers=headers)
    assert response.status_code == 201
    signed = response.get_json()
    send_to_bucket(signed, content)
    response = client.post("/api/v1/evidence", headers=headers, content_type="multipart/form-data",
                           data={"title": "CI", "kind": "test_report", "staged": signed["key"],
                                 "staged_filename": "r.xml",
                                 "staged_sha256": hashlib.sha256(content).hexdigest()})
    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.get_json()
    # The answer is written before the commit: the file is still being checked then ...
    assert created["files"] == [] and created["sha256"] is None
    assert [(p["filename"], p["size"], p["status"]) for p in created["pending_files"]] == [
        ("r.xml", len(content), "verifying")]
    assert created["pending_files"][0]["sha256"] == hashlib.sha256(content).hexdigest()
    # ... and checked right after it (no Redis here: on a thread of the same process).
    wait_for_threads(app)
    after = client.get(f"/api/v1/evidence/{created['id']}", headers=headers).get_json()
    assert after["pending_files"] == []
    assert after["files"][0]["sha256"] == hashlib.sha256(content).hexdigest()


@pytest.mark.s3_enforcing
def test_the_bucket_itself_refuses_a_file_over_the_policy(app, s3_app, world, login, client):
    """Proved on Ceph RGW (moto does not enforce POST policies)."""
    login(world.learner)
    app.config["MAX_FILE_SIZE"] = 1000
    try:
        signed = stage(client, "b.bin", 100).get_json()
    finally:
        app.config["MAX_FILE_SIZE"] = 200 * 1024 * 1024
    assert signed["max_size"] == 1000
    response = send_to_bucket(signed, b"x" * 5000)
    assert 400 <= response.status_code < 500
    assert not s3_app.exists(signed["key"])
    # A key other than the one signed is refused as well.
    tampered = dict(signed, fields=dict(signed["fields"], key=signed["fields"]["key"] + "x"))
    assert send_to_bucket(tampered, b"small").status_code == 403
    assert send_to_bucket(signed, b"within the policy").status_code in (200, 201, 204)


def _held_back(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """Keep the after-commit check from running, as when it waits on the queue; return the ids."""
    queued: list[int] = []
    monkeypatch.setattr(pending_files, "dispatch", queued.extend)
    return queued


@pytest.mark.s3_enforcing
def test_a_direct_upload_waits_for_its_check_then_counts(s3_app, world, login, client, monkeypatch):
    """On Ceph RGW, which ignores x-amz-checksum-sha256: the app checks the bytes itself, once, after
    the request; until then the file is « vérification en cours » and the evidence cannot be submitted."""
    queued = _held_back(monkeypatch)
    login(world.learner)
    content = b"%PDF-1.7\n" + bytes(range(256)) * 4000
    signed = stage(client, "rapport.pdf", len(content)).get_json()
    assert send_to_bucket(signed, content).status_code in (200, 201, 204)
    response = create_with(client, [(signed["key"], "rapport.pdf", len(content))])
    assert response.status_code == 302, response.get_data(as_text=True)
    evidence = db.session.scalar(db.select(Evidence))
    pending = db.session.scalar(db.select(PendingFile))
    assert queued == [pending.id] and evidence.files == []
    assert (pending.filename, pending.size, pending.sha256) == ("rapport.pdf", len(content), None)
    assert used_bytes(world.learner.id) == len(content)  # charged from the start
    assert s3_app.exists(signed["key"])  # not read on the request path: still where the browser put it

    client.post(f"/evidence/{evidence.id}/tags",
                data={"competency": "RNCP28754BC01-C03", "justification": "Le rapport du projet"})
    page = client.get(f"/evidence/{evidence.id}").get_data(as_text=True)
    assert "vérification en cours" in page and "rapport.pdf" in page
    assert 'id="submit-evidence" disabled' in page
    refused = client.post(f"/evidence/{evidence.id}/submit")
    db.session.expire_all()
    assert db.session.get(Evidence, evidence.id).status == EvidenceStatus.DRAFT
    assert refused.status_code in (302, 409)

    assert pending_files.verify_pending(pending.id) == pending_files.VERIFIED
    unit_of_work.run_deferred()
    db.session.expire_all()
    evidence = db.session.get(Evidence, evidence.id)
    assert evidence.pending_files == [] and [f.filename for f in evidence.files] == ["rapport.pdf"]
    blob = evidence.files[0].blob
    assert (blob.sha256, blob.size, blob.media_type) == (hashlib.sha256(content).hexdigest(), len(content),
                                                         "application/pdf")
    assert not s3_app.exists(signed["key"]) and s3_app.exists(blob.storage_key)
    assert used_bytes(world.learner.id) == len(content)  # counted once
    assert pending_files.verify_pending(pending.id) == pending_files.GONE  # a second run does nothing
    page = client.get(f"/evidence/{evidence.id}").get_data(as_text=True)
    assert "vérification en cours" not in page
    assert client.post(f"/evidence/{evidence.id}/submit").status_code == 302
    db.session.expire_all()
    assert db.session.get(Evidence, evidence.id).status == EvidenceStatus.SUBMITTED


@pytest.mark.s3_enforcing
def test_a_direct_upload_whose_sha256_does_not_match_is_deleted_and_its_owner_told(app, s3_app, world,
                                                                                    client):
    """On Ceph RGW: the bytes in the bucket are not those announced (SHA-256): after the request the
    file is gone from the evidence and the store, its bytes back in the quota, and the owner notified."""
    from portfolio.services.tokens import create_token

    _, raw = create_token(world.learner, "ci")
    db.session.commit()
    headers = {"Authorization": f"Bearer {raw}"}
    content = b"what reached the bucket" * 500
    signed = client.post("/api/v1/uploads", json={"filename": "journal.txt", "size": len(content)},
                         headers=headers).get_json()
    assert send_to_bucket(signed, content).status_code in (200, 201, 204)
    announced = hashlib.sha256(b"what the client meant to send").hexdigest()
    response = client.post("/api/v1/evidence", headers=headers, content_type="multipart/form-data",
                           data={"title": "Journal", "kind": "logbook", "staged": signed["key"],
                                 "staged_filename": "journal.txt", "staged_sha256": announced})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["pending_files"][0]["sha256"] == announced

    wait_for_threads(app)
    db.session.expire_all()
    evidence = db.session.scalar(db.select(Evidence))
    assert evidence.files == [] and evidence.pending_files == []
    assert db.session.scalar(db.select(db.func.count()).select_from(Blob)) == 0
    assert {o.key for o in s3_app.iter_objects()} == set()  # neither the staged object nor a copy
    assert used_bytes(world.learner.id) == 0
    notice = db.session.scalar(db.select(Notification).where(Notification.user_id == world.learner.id))
    assert notice is not None and notice.link == f"/evidence/{evidence.id}"
    assert notice.message == ("Le fichier « journal.txt » envoyé directement pour la preuve « Journal » ne "
                              "correspond pas à celui annoncé (taille ou SHA-256) : il a été supprimé, "
                              "envoyez-le de nouveau.")


def test_deleting_evidence_whose_file_is_being_checked_gives_its_bytes_back(s3_app, world, login, client,
                                                                            monkeypatch):
    queued = _held_back(monkeypatch)
    login(world.learner)
    content = b"still being checked" * 100
    signed = stage(client, "a.bin", len(content)).get_json()
    send_to_bucket(signed, content)
    assert create_with(client, [(signed["key"], "a.bin", len(content))]).status_code == 302
    evidence = db.session.scalar(db.select(Evidence))
    assert used_bytes(world.learner.id) == len(content)
    assert client.post(f"/evidence/{evidence.id}/delete").status_code == 302
    assert db.session.scalar(db.select(db.func.count()).select_from(PendingFile)) == 0
    assert used_bytes(world.learner.id) == 0
    assert not s3_app.exists(signed["key"])
    assert pending_files.verify_pending(queued[0]) == pending_files.GONE


def test_the_check_runs_on_the_queue_when_redis_is_set(app, s3_app, world, login, client, monkeypatch):
    import os

    import redis
    from rq import Queue, SimpleWorker

    from portfolio.jobs import QUEUE_NAME

    url = os.environ.get("PORTFOLIO_REDIS_URL_PENDING") or "redis://127.0.0.1:6379/14"
    connection = redis.Redis.from_url(url)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("PORTFOLIO_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis unreachable at {url}: {exc}")
        pytest.skip(f"Redis unreachable at {url} (set PORTFOLIO_REQUIRE_REDIS=1 to fail instead)")
    queue = Queue(QUEUE_NAME, connection=connection)
    queue.empty()
    monkeypatch.setitem(app.config, "REDIS_URL", url)
    login(world.learner)
    content = b"checked by the worker" * 300
    signed = stage(client, "w.txt", len(content)).get_json()
    send_to_bucket(signed, content)
    assert create_with(client, [(signed["key"], "w.txt", len(content))],
                       staged_sha256=hashlib.sha256(content).hexdigest()).status_code == 302
    evidence = db.session.scalar(db.select(Evidence))
    assert queue.count == 1 and len(evidence.pending_files) == 1 and evidence.files == []
    assert "vérification en cours" in client.get(f"/evidence/{evidence.id}").get_data(as_text=True)
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert queue.count == 0
    db.session.expire_all()
    evidence = db.session.get(Evidence, evidence.id)
    assert evidence.pending_files == [] and [f.filename for f in evidence.files] == ["w.txt"]
    assert evidence.files[0].blob.sha256 == hashlib.sha256(content).hexdigest()


def test_an_unreachable_queue_still_checks_the_file(app, s3_app, world, login, client, monkeypatch):
    login(world.learner)  # before: signing in counts attempts in Redis when it is configured
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    content = b"no queue today" * 300
    signed = stage(client, "q.txt", len(content)).get_json()
    send_to_bucket(signed, content)
    assert create_with(client, [(signed["key"], "q.txt", len(content))]).status_code == 302
    wait_for_threads(app)
    db.session.expire_all()
    evidence = db.session.scalar(db.select(Evidence))
    assert evidence.pending_files == [] and [f.filename for f in evidence.files] == ["q.txt"]


def test_without_redis_the_response_does_not_wait_for_the_check(app, s3_app, world, login, client, monkeypatch):
    """The check reads the whole object: it runs on a thread after the commit, and the request that
    recorded the file answers while it is still running."""
    started, release = threading.Event(), threading.Event()
    verify = pending_files.verify_pending

    def held(pending_id: int) -> str:
        started.set()
        assert release.wait(30)
        return verify(pending_id)

    monkeypatch.setattr(pending_files, "verify_pending", held)
    login(world.learner)
    content = b"%PDF-1.7\n" + b"checked later" * 500
    signed = stage(client, "plus-tard.pdf", len(content)).get_json()
    send_to_bucket(signed, content)
    try:
        response = create_with(client, [(signed["key"], "plus-tard.pdf", len(content))])
        assert response.status_code == 302, response.get_data(as_text=True)
        assert started.wait(10)  # the check had begun, and the answer did not wait for it
        evidence = db.session.scalar(db.select(Evidence))
        assert evidence.files == [] and [p.filename for p in evidence.pending_files] == ["plus-tard.pdf"]
        assert "vérification en cours" in client.get(f"/evidence/{evidence.id}").get_data(as_text=True)
    finally:
        release.set()
    wait_for_threads(app)
    db.session.expire_all()
    evidence = db.session.get(Evidence, evidence.id)
    assert evidence.pending_files == [] and [f.filename for f in evidence.files] == ["plus-tard.pdf"]


def test_the_api_list_reads_pending_files_in_one_query_for_all(app, world, client):
    from sqlalchemy import event

    from portfolio.services.tokens import create_token

    _, raw = create_token(world.learner, "ci")
    db.session.commit()
    headers = {"Authorization": f"Bearer {raw}"}

    def count_list() -> int:
        statements: list[str] = []

        def seen(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            response = client.get("/api/v1/evidence", headers=headers)
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
        assert response.status_code == 200
        assert all(e["pending_files"] == [] for e in response.get_json()["evidence"])
        return len(statements)

    def add(n: int) -> None:
        for i in range(n):
            assert client.post("/api/v1/evidence", headers=headers, content_type="multipart/form-data",
                               data={"title": f"Lien {i}", "kind": "link",
                                     "url": f"https://example.org/{i}"}).status_code == 201

    add(2)
    few = count_list()
    add(4)
    assert count_list() == few


def test_the_sweep_keeps_a_file_whose_check_has_not_run(s3_app, world, login, client, monkeypatch):
    from datetime import timedelta

    from portfolio.services.storage_maintenance import find_orphans

    _held_back(monkeypatch)
    login(world.learner)
    content = b"waiting for the worker" * 100
    signed = stage(client, "late.txt", len(content)).get_json()
    send_to_bucket(signed, content)
    assert create_with(client, [(signed["key"], "late.txt", len(content))]).status_code == 302
    # With no grace at all, every object is old enough: the pending file's is still kept.
    assert signed["key"] not in {o.key for o in find_orphans(s3_app, timedelta(seconds=-60))}


def _pend(client, name: str, content: bytes, **extra) -> PendingFile:  # type: ignore[no-untyped-def]
    """A file sent to the bucket and recorded as pending; its check held back (see _held_back)."""
    signed = stage(client, name, len(content)).get_json()
    assert send_to_bucket(signed, content).status_code in (200, 201, 204)
    assert create_with(client, [(signed["key"], name, len(content))], title=name, **extra).status_code == 302
    return db.session.scalar(db.select(PendingFile).where(PendingFile.staged_key == signed["key"]))


def _age(pending: PendingFile, seconds: int) -> None:
    from datetime import timedelta

    from portfolio.models.base import utcnow

    db.session.execute(db.update(PendingFile).where(PendingFile.id == pending.id)
                       .values(created_at=utcnow() - timedelta(seconds=seconds)))
    db.session.commit()


def test_recheck_runs_again_the_checks_that_never_ended(app, s3_app, world, login, client, runner, monkeypatch):
    """The process stopped before its thread checked the files (held back here): `storage recheck`
    checks those pending longer than PORTFOLIO_PENDING_RECHECK_SECONDS, and only those, each way."""
    _held_back(monkeypatch)
    login(world.learner)
    good = b"%PDF-1.7\n" + b"le rapport de stage " * 2000
    stuck = _pend(client, "stage.pdf", good)
    wrong = _pend(client, "journal.txt", b"what reached the bucket" * 500,
                  staged_sha256=hashlib.sha256(b"what the client meant to send").hexdigest())
    young = _pend(client, "recent.txt", b"sent a minute ago" * 300)
    ids = {"stuck": stuck.id, "wrong": wrong.id, "young": young.id}
    _age(stuck, 3600)
    _age(wrong, 601)
    _age(young, 60)
    assert app.config["PENDING_RECHECK_SECONDS"] == 600

    listed = runner.invoke(args=["storage", "recheck", "--dry-run"])
    assert listed.exit_code == 0, listed.output
    assert "« stage.pdf »" in listed.output and "« journal.txt »" in listed.output
    assert "recent.txt" not in listed.output and "2 fichiers en attente (simulation)" in listed.output
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count()).select_from(PendingFile)) == 3  # nothing checked

    result = runner.invoke(args=["storage", "recheck"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == ("2 fichiers en attente vérifiés : 1 accepté, 1 refusé, "
                                     "0 toujours en attente.")
    db.session.expire_all()
    assert db.session.get(PendingFile, ids["stuck"]) is None and db.session.get(PendingFile, ids["wrong"]) is None
    assert db.session.get(PendingFile, ids["young"]) is not None  # its own check may still be under way
    kept = db.session.scalar(db.select(Evidence).where(Evidence.title == "stage.pdf"))
    assert [f.filename for f in kept.files] == ["stage.pdf"]
    assert kept.files[0].blob.sha256 == hashlib.sha256(good).hexdigest()
    refused = db.session.scalar(db.select(Evidence).where(Evidence.title == "journal.txt"))
    assert refused.files == [] and refused.pending_files == []
    notice = db.session.scalar(db.select(Notification).where(Notification.user_id == world.learner.id))
    assert notice is not None and "journal.txt" in notice.message and "ne correspond pas" in notice.message

    again = runner.invoke(args=["storage", "recheck", "--older-than", "0"])
    assert again.exit_code == 0 and again.output.startswith("1 fichier en attente vérifié : 1 accepté")
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count()).select_from(PendingFile)) == 0


def test_recheck_leaves_a_file_pending_when_the_store_fails(app, s3_app, world, login, client, runner,
                                                             monkeypatch):
    from portfolio.storage import StorageError

    _held_back(monkeypatch)
    login(world.learner)
    pending = _pend(client, "stage.txt", b"waiting for the store" * 400)
    pending_id = pending.id
    _age(pending, 3600)

    def down(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise StorageError("le stockage ne répond pas")

    monkeypatch.setattr(type(s3_app), "adopt", down)
    result = runner.invoke(args=["storage", "recheck"])
    assert result.exit_code == 1
    assert "0 accepté, 0 refusé, 1 toujours en attente" in result.output
    assert "stockage indisponible pour 1 fichier" in result.output
    db.session.expire_all()
    still = db.session.get(PendingFile, pending_id)
    assert still is not None and still.evidence.files == []
    assert used_bytes(world.learner.id) == still.size  # still charged, nothing lost
    assert s3_app.exists(still.staged_key)
