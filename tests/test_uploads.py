"""API uploads stream into the store while the body arrives: no spooled copy, same rules."""

from __future__ import annotations

import hashlib
import io
import threading
import time

import pytest
from flask import Request
from sqlalchemy import event
from sqlalchemy.orm import Session

from portfolio.extensions import db
from portfolio.models import Blob, Evidence, EvidenceFile
from portfolio.services.tokens import create_token
from portfolio.storage import S3Storage, StorageUnavailable, get_storage

STORAGE_KEY = "portfolio.storage"


@pytest.fixture
def store(app, storage):  # type: ignore[no-untyped-def]
    previous = app.extensions[STORAGE_KEY]
    app.extensions[STORAGE_KEY] = storage
    yield storage
    app.extensions[STORAGE_KEY] = previous


@pytest.fixture
def headers(app, world):  # type: ignore[no-untyped-def]
    _, raw = create_token(world.learner, "ci")
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def no_spooling(monkeypatch):  # type: ignore[no-untyped-def]
    """Werkzeug's own spooling (a temporary file per part) must not be used for API uploads."""

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a file part was spooled instead of streamed to the store")

    monkeypatch.setattr(Request, "_get_file_stream", refuse)


def post(client, headers, *files, **fields):  # type: ignore[no-untyped-def]
    data = {"title": "Rapport", "kind": "test_report", **fields,
            "file": [(io.BytesIO(content), name) for name, content in files]}
    response = client.post("/api/v1/evidence", headers=headers, data=data, content_type="multipart/form-data")
    response.close()
    # The test client spools a large body to a temporary file held by the request's environ.
    response.request.input_stream.close()
    return response


def test_files_stream_to_the_store_on_both_backends(store, world, client, headers, no_spooling):
    big = bytes(range(256)) * (40 * 1024)  # 10 MiB: multipart on S3
    response = post(client, headers, ("big.bin", big), ("small.txt", b"hello"), ("again.bin", big))
    assert response.status_code == 201, response.get_data(as_text=True)
    files = response.get_json()["files"]
    assert [f["sha256"] for f in files] == [hashlib.sha256(big).hexdigest(), hashlib.sha256(b"hello").hexdigest(),
                                            hashlib.sha256(big).hexdigest()]
    assert db.session.scalar(db.select(db.func.count()).select_from(Blob)) == 2  # stored once per content
    blob_keys = {k.key for k in store.iter_objects() if "tmp" not in k.key}
    assert blob_keys == set(db.session.scalars(db.select(Blob.storage_key)))

    # The same large file in a later request: recorded against the same blob, its second copy deleted.
    response = post(client, headers, ("copie.bin", big))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["files"][0]["sha256"] == hashlib.sha256(big).hexdigest()
    assert db.session.scalar(db.select(db.func.count()).select_from(Blob)) == 2
    assert {k.key for k in store.iter_objects()} == set(db.session.scalars(db.select(Blob.storage_key)))


def test_a_streamed_file_over_the_limit_is_refused_with_its_real_size(app, world, client, headers, no_spooling):
    before = {o.key for o in get_storage().iter_objects()}
    app.config["MAX_FILE_SIZE"] = 1024
    try:
        response = post(client, headers, ("big.bin", b"x" * 5000))
    finally:
        app.config["MAX_FILE_SIZE"] = 200 * 1024 * 1024
    assert response.status_code == 413
    message = response.get_json()["error"]["message"]
    assert "pèse 4,9 Kio : la limite est de 1,0 Kio par fichier (3,9 Kio de trop)" in message
    assert db.session.scalar(db.select(db.func.count()).select_from(Evidence)) == 0
    assert {o.key for o in get_storage().iter_objects()} == before  # nothing stored, nothing left


def test_a_streamed_upload_with_the_store_down_writes_no_row(app, world, client, headers, restartable_s3):
    previous = app.extensions[STORAGE_KEY]
    app.extensions[STORAGE_KEY] = restartable_s3.storage
    try:
        restartable_s3.server.stop()
        response = post(client, headers, ("a.txt", b"hello"))
    finally:
        app.extensions[STORAGE_KEY] = previous
    assert response.status_code == 422
    assert "stockage des preuves est indisponible" in response.get_json()["error"]["message"]
    assert db.session.scalar(db.select(db.func.count()).select_from(Evidence)) == 0


# --- a large file on S3: its upload completes while the request records it ----------------------------

BIG = bytes(range(256)) * (40 * 1024)  # 10 MiB: a multipart upload on S3 (first part 8 MiB)


@pytest.fixture
def s3_store(store):  # type: ignore[no-untyped-def]
    if not isinstance(store, S3Storage):
        pytest.skip("the upload's completion runs in the background on S3 only")
    return store


def unfinished_uploads(store: S3Storage) -> list:
    return store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])


def test_a_large_file_is_recorded_while_its_upload_completes(s3_store, world, client, headers, monkeypatch):
    """CompleteMultipartUpload runs while the view writes the rows (it waits here until they are
    flushed), and the request commits only once it is done."""
    flushed = threading.Event()
    seen: dict[str, object] = {}
    complete = S3Storage._complete_multipart

    def slow_complete(self, key, upload_id, parts):  # type: ignore[no-untyped-def]
        seen["rows_first"] = flushed.wait(timeout=10)
        complete(self, key, upload_id, parts)
        seen["completed"] = True

    def on_flush(session, context, instances):  # type: ignore[no-untyped-def]
        if any(isinstance(o, EvidenceFile) for o in session.new):
            flushed.set()

    monkeypatch.setattr(S3Storage, "_complete_multipart", slow_complete)
    event.listen(Session, "before_flush", on_flush)
    try:
        response = post(client, headers, ("gros.bin", BIG))
    finally:
        event.remove(Session, "before_flush", on_flush)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert seen == {"rows_first": True, "completed": True}
    blob = db.session.scalars(db.select(Blob)).one()
    assert blob.sha256 == hashlib.sha256(BIG).hexdigest()
    with s3_store.open(blob.storage_key) as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == blob.sha256
    assert unfinished_uploads(s3_store) == []


def test_a_failed_completion_records_nothing_and_leaves_nothing(s3_store, world, client, headers, monkeypatch):
    def failing_complete(self, key, upload_id, parts):  # type: ignore[no-untyped-def]
        raise StorageUnavailable("the S3 server is failing (503): try again later")

    monkeypatch.setattr(S3Storage, "_complete_multipart", failing_complete)
    response = post(client, headers, ("gros.bin", BIG))
    assert response.status_code == 422
    assert ("stockage des preuves est indisponible : le fichier « gros.bin » n'a pas été enregistré"
            in response.get_json()["error"]["message"])
    assert db.session.scalar(db.select(db.func.count()).select_from(Evidence)) == 0
    assert db.session.scalar(db.select(db.func.count()).select_from(Blob)) == 0
    assert list(s3_store.iter_objects()) == []
    assert unfinished_uploads(s3_store) == []  # its parts were aborted


def test_a_refused_request_waits_for_the_completion_before_deleting(s3_store, world, client, headers, monkeypatch):
    """Refused after its file was received (an unknown kind): the upload still completing is waited
    for, then deleted; deleting it first would leave the object behind for good."""
    complete = S3Storage._complete_multipart

    def slow_complete(self, key, upload_id, parts):  # type: ignore[no-untyped-def]
        time.sleep(0.5)
        complete(self, key, upload_id, parts)

    monkeypatch.setattr(S3Storage, "_complete_multipart", slow_complete)
    response = post(client, headers, ("gros.bin", BIG), kind="pas-un-type")
    assert response.status_code == 422, response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(Evidence)) == 0
    assert list(s3_store.iter_objects()) == []
    assert unfinished_uploads(s3_store) == []
