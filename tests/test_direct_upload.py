"""Large files straight to the bucket: a presigned POST pinned to key, size and type, then the app
reads the object back and checks it before recording it."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests

from portfolio.extensions import db
from portfolio.models import Blob, Evidence

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


def test_direct_upload_is_verified_then_recorded(s3_app, world, login, client):
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


def test_the_api_offers_the_same_path(s3_app, world, client):
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
    assert response.get_json()["files"][0]["sha256"] == hashlib.sha256(content).hexdigest()


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
