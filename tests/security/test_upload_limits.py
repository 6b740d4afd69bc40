"""Limits are limits: per file, per evidence and per person, on every part of the request, while it
streams; a refused request stores nothing; the body has a hard maximum; parallel uploads cannot pass
the quota together (threads against a live server, on SQLite and on PostgreSQL)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from flask import Request
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portfolio.extensions import db
from portfolio.models import Blob, Evidence, EvidenceFile
from portfolio.services import evidence as evidence_service
from portfolio.services.tokens import create_token
from tests.conftest import make_config, new_app
from tests.factories import usage

KiB = 1024


@pytest.fixture
def no_spooling(monkeypatch):  # type: ignore[no-untyped-def]
    """Werkzeug's own multipart parser (a temporary file per file part) must not run for uploads."""

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a file part was spooled instead of streamed to the store")

    monkeypatch.setattr(Request, "_get_file_stream", refuse)


@pytest.fixture
def served(app, database_url, tmp_path) -> Iterator:  # type: ignore[no-untyped-def]
    """A second app on the same database and store, served over HTTP by a threaded server."""
    application = new_app(make_config(database_url, tmp_path, WTF_CSRF_ENABLED=True,
                                      STORAGE_URL=app.config["STORAGE_URL"]))
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="upload-server", daemon=True)
    thread.start()
    application.base_url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield application
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with application.app_context():
            db.engine.dispose()


def token(user) -> dict[str, str]:  # type: ignore[no-untyped-def]
    _, raw = create_token(user, "limits")
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def stored_objects(app) -> set[str]:  # type: ignore[no-untyped-def]
    from portfolio.storage import get_storage

    with app.app_context():
        return {o.key for o in get_storage().iter_objects()}


def files_weight(user_id: int) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(Blob.size), 0)).select_from(EvidenceFile)
                             .join(Blob).join(Evidence).where(Evidence.owner_id == user_id)) or 0


def api_post(client, headers, parts, **fields):  # type: ignore[no-untyped-def]
    data = {"title": "Rapport", "kind": "document", **fields}
    for name, filename, content in parts:
        data.setdefault(name, []).append((io.BytesIO(content), filename))
    response = client.post("/api/v1/evidence", headers=headers, data=data, content_type="multipart/form-data")
    response.close()
    response.request.input_stream.close()  # the test client spools a large body to a temporary file
    return response


@pytest.mark.parametrize("rounds", [6])
def test_parallel_uploads_never_pass_the_quota(app, world, served, monkeypatch, rounds):  # type: ignore[no-untyped-def]
    quota, size, parallel = 100 * KiB, 30 * KiB, 8  # room for three files, never four
    monkeypatch.setitem(served.config, "MAX_BYTES_PER_USER", quota)
    headers = token(world.learner)
    url = f"{served.base_url}/api/v1/evidence"

    def send(i: int) -> requests.Response:
        content = os.urandom(size)  # distinct bytes: nothing is deduplicated
        return requests.post(url, headers=headers, timeout=60, data={"title": f"Envoi {i}", "kind": "document"},
                             files={"file": (f"f{i}.bin", content)})

    accepted_total = 0
    before = stored_objects(app)  # other tests of the run share the store: judge only what this one adds
    for round_number in range(rounds):
        with ThreadPoolExecutor(parallel) as pool:
            responses = list(pool.map(send, range(parallel)))
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {201, 413}, [r.text for r in responses]
        accepted = [r for r in responses if r.status_code == 201]
        for refused in (r for r in responses if r.status_code == 413):
            assert "Votre espace est presque plein" in refused.json()["error"]["message"]
        accepted_total += len(accepted)
        weight = files_weight(world.learner.id)
        assert weight <= quota, f"round {round_number}: {weight} bytes stored for a {quota}-byte quota"
        assert len(accepted) == (3 if round_number == 0 else 0) or weight + size > quota
        assert usage(world.learner.id) == weight  # reservations released, nothing in flight
        keys = set(db.session.scalars(select(Blob.storage_key)))
        added = {k for k in stored_objects(app) - before if not k.startswith("tmp/")}
        assert added <= keys and len(added) == accepted_total  # no orphan: every new object is a file
    assert accepted_total == 3


def test_quota_follows_deletions_and_new_versions(app, world, client, login):  # type: ignore[no-untyped-def]
    headers = token(world.learner)
    response = api_post(client, headers, [("file", "a.bin", b"a" * 3000), ("file", "b.bin", b"b" * 2000)])
    assert response.status_code == 201, response.get_data(as_text=True)
    assert usage(world.learner.id) == 5000 == files_weight(world.learner.id)
    evidence_id = response.get_json()["id"]
    file_id = response.get_json()["files"][0]["id"]
    login(world.learner)
    assert client.post(f"/evidence/{evidence_id}/files/{file_id}/delete").status_code == 302
    assert usage(world.learner.id) == 2000 == files_weight(world.learner.id)
    assert client.delete(f"/api/v1/evidence/{evidence_id}", headers=headers).status_code == 204
    assert usage(world.learner.id) == 0 == files_weight(world.learner.id)


def test_an_unexpected_file_part_is_refused_and_nothing_stored(app, world, client, no_spooling):  # type: ignore[no-untyped-def]
    before = stored_objects(app)
    headers = token(world.learner)
    response = api_post(client, headers, [("file", "ok.txt", b"hello"), ("cache", "hidden.bin", b"x" * 50_000)])
    assert response.status_code == 422
    assert "Partie de fichier inattendue « cache »" in response.get_json()["error"]["message"]
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0
    assert stored_objects(app) == before
    assert usage(world.learner.id) == 0


def test_extra_file_parts_are_refused_while_streaming(app, world, client, monkeypatch, no_spooling):  # type: ignore[no-untyped-def]
    monkeypatch.setitem(app.config, "MAX_FILES_PER_EVIDENCE", 3)
    before = stored_objects(app)
    headers = token(world.learner)
    parts = [("file", f"f{i}.txt", f"contenu {i}".encode()) for i in range(5)]
    response = api_post(client, headers, parts)
    assert response.status_code == 413
    assert "au plus 3 fichiers" in response.get_json()["error"]["message"]
    assert stored_objects(app) == before
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0


def test_quota_is_enforced_while_streaming_with_its_numbers(app, world, client, monkeypatch, no_spooling):  # type: ignore[no-untyped-def]
    monkeypatch.setitem(app.config, "MAX_BYTES_PER_USER", 10 * KiB)
    before = stored_objects(app)
    headers = token(world.learner)
    response = api_post(client, headers, [("file", "a.bin", b"a" * 6 * KiB), ("file", "b.bin", b"b" * 6 * KiB)])
    assert response.status_code == 413
    message = response.get_json()["error"]["message"]
    assert "« b.bin » (6,0 Kio) dépasse les 4,0 Kio qui restent sur 10,0 Kio (2,0 Kio de trop)" in message
    assert stored_objects(app) == before  # a.bin was stored while streaming, then deleted
    assert usage(world.learner.id) == 0


def test_a_refusal_after_streaming_stores_nothing(app, world, client, login, no_spooling):  # type: ignore[no-untyped-def]
    """The files arrived and were stored, then the form was refused (no title): nothing stays."""
    before = stored_objects(app)
    login(world.learner)
    data = {"title": "", "kind": "document", "context": "project", "occurred_on": "2026-05-01",
            "files": [(io.BytesIO(os.urandom(20_000)), "a.bin")]}
    response = client.post("/evidence/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    assert stored_objects(app) == before
    assert usage(world.learner.id) == 0


def test_the_body_has_a_hard_maximum_even_when_chunked(app, world, served, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setitem(served.config, "MAX_UPLOAD_REQUEST_SIZE", 256 * KiB)
    before = stored_objects(app)
    headers = token(world.learner)
    boundary = "b0undary"

    def body() -> Iterator[bytes]:  # a generator: requests sends it chunked, without Content-Length
        yield (f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nGros\r\n'
               f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\ndocument\r\n'
               f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n').encode()
        for _ in range(64):  # 4 MiB, far past the maximum
            yield os.urandom(64 * KiB)
        yield f"\r\n--{boundary}--\r\n".encode()

    try:
        response = requests.post(f"{served.base_url}/api/v1/evidence", data=body(), timeout=60,
                                 headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    except requests.ConnectionError:  # the server may close the connection while the client still sends
        response = None
    if response is not None:
        assert response.status_code == 413
        assert "taille maximale de 256,0 Kio" in response.text
    assert stored_objects(app) == before
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0


def test_plain_fields_are_bounded_too(app, world, client):  # type: ignore[no-untyped-def]
    headers = token(world.learner)
    fields = {f"x{i}": "y" * 200_000 for i in range(8)}  # 1.6 MB of fields nobody asked for
    response = api_post(client, headers, [("file", "a.txt", b"hello")], **fields)
    assert response.status_code == 413
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0


def test_html_form_uploads_stream_and_check_csrf_before_storing(app, world, served, no_spooling):  # type: ignore[no-untyped-def]
    before = stored_objects(app)
    session = requests.Session()
    page = session.get(f"{served.base_url}/login", timeout=30)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    assert csrf, "no CSRF token on the login page"
    from tests.conftest import TEST_PASSWORD

    signed_in = session.post(f"{served.base_url}/login", timeout=30, allow_redirects=False,
                             data={"csrf_token": csrf[1], "email": world.learner.email, "password": TEST_PASSWORD})
    assert signed_in.status_code == 302
    form_page = session.get(f"{served.base_url}/evidence/new", timeout=30).text
    token_value = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form_page)[1]
    fields = {"title": "Rapport", "kind": "document", "context": "project", "occurred_on": "2026-05-01"}
    content = os.urandom(300 * KiB)

    forged = session.post(f"{served.base_url}/evidence/new", timeout=30, allow_redirects=False,
                          data=fields, files={"files": ("a.bin", content)})
    assert forged.status_code == 400
    assert stored_objects(app) == before  # refused before the first file byte was stored

    # The token as the first field, as the page sends it: the file streams into the store.
    ok = session.post(f"{served.base_url}/evidence/new", timeout=30, allow_redirects=False,
                      data={"csrf_token": token_value, **fields}, files={"files": ("a.bin", content)})
    assert ok.status_code == 302, ok.text[:2000]
    blob = db.session.scalar(select(Blob))
    assert blob.sha256 == hashlib.sha256(content).hexdigest()
    assert stored_objects(app) == before | {blob.storage_key}


def test_size_refusal_names_the_limit() -> None:
    from portfolio import create_app

    app = create_app({"ENV": "testing", "SECRET_KEY": "x" * 40, "STORAGE_URL": "file:///tmp/unused-store",
                      "DATABASE_URL": "sqlite://"})
    with app.test_request_context():
        message = evidence_service.size_refusal("a.bin", 3 * KiB, KiB, 10 * KiB, 10 * KiB).message
    assert "la limite est de 1,0 Kio par fichier (2,0 Kio de trop)" in message
