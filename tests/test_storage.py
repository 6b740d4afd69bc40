"""The evidence store: every behaviour on every backend (local disk, moto S3, Ceph RGW when enabled)."""

from __future__ import annotations

import hashlib
import io
import itertools
import random
import time
import tracemalloc
import urllib.error
import urllib.request
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask

from portfolio.storage import (
    BlobNotFound,
    BlobTooLarge,
    EmptyBlob,
    LocalStorage,
    S3Storage,
    Storage,
    StorageUnavailable,
    StoredBlob,
    blob_key,
    content_disposition,
    create_storage,
    get_storage,
    init_app,
    sniff_media_type,
)
from portfolio.storage.s3 import PART_SIZE, _BufferPool, part_sizes

MiB = 1024 * 1024


# -- helpers ----------------------------------------------------------------------------------


class GeneratedStream(io.RawIOBase):
    """``size`` pseudo-random bytes made piece by piece, never held whole; may fail part-way."""

    PIECE = 256 * 1024

    def __init__(self, size: int, *, seed: int = 0, fail_after: int | None = None) -> None:
        self._pieces = generate(size, seed)
        self._fail_after = fail_after
        self._current = memoryview(b"")
        self.produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        if self._fail_after is not None and self.produced >= self._fail_after:
            raise OSError("the client went away mid-upload")
        if not self._current:
            self._current = memoryview(next(self._pieces, b""))
        n = min(len(buffer), len(self._current))
        buffer[:n] = self._current[:n]
        self._current = self._current[n:]
        self.produced += n
        return n


def generate(size: int, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    for start in range(0, size, GeneratedStream.PIECE):
        yield rng.randbytes(min(GeneratedStream.PIECE, size - start))


def generated_sha256(size: int, seed: int = 0) -> str:
    digest = hashlib.sha256()
    for piece in generate(size, seed):
        digest.update(piece)
    return digest.hexdigest()


def is_s3(storage: Storage) -> bool:
    return isinstance(storage, S3Storage)


def keys(storage: Storage, prefix: str = "") -> list[str]:
    return sorted(info.key for info in storage.iter_objects(prefix))


def multipart_uploads(storage: Storage) -> list[dict]:
    if not isinstance(storage, S3Storage):
        return []
    return storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])


def assert_nothing_left(storage: Storage) -> None:
    """No object, no staging leftover, no unfinished multipart upload."""
    assert keys(storage) == []
    assert multipart_uploads(storage) == []
    if isinstance(storage, LocalStorage):
        assert not any(p.is_file() for p in storage.root.rglob("*"))


def plant(storage: Storage, key: str, data: bytes) -> None:
    """Put raw bytes under a key, bypassing put_stream (as a crash or a browser upload would)."""
    if isinstance(storage, S3Storage):
        storage.client.put_object(Bucket=storage.bucket, Key=storage.prefix + key, Body=data)
    else:
        assert isinstance(storage, LocalStorage)
        path = storage.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def count_calls(storage: S3Storage, operation: str) -> list[int]:
    """A live counter of one S3 operation, through botocore's event hooks."""
    calls = [0]

    def count(**_: object) -> None:
        calls[0] += 1

    storage.client.meta.events.register(f"before-call.s3.{operation}", count)
    return calls


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def http(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """(status, headers, body) of one HTTP request; error statuses are returned, not raised."""
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with _opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


def post_form(post: dict, payload: bytes, *, filename: str = "upload.bin", fields: dict | None = None):  # type: ignore[no-untyped-def]
    """Send a presigned POST as a browser would: multipart/form-data, the file last."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in {**post["fields"], **(fields or {})}.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return http(
        post["url"],
        data=b"".join(parts),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


# -- storing and reading ----------------------------------------------------------------------


def test_put_then_read_back(storage: Storage) -> None:
    data = b"Compte rendu de stage, semaine 3\n" * 2000
    blob = storage.put_stream(io.BytesIO(data), max_size=len(data))

    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.size == len(data)
    assert blob.key == blob_key(blob.sha256) == f"blobs/{blob.sha256[:2]}/{blob.sha256}"
    assert blob.media_type == "text/plain"
    assert blob.created
    assert storage.exists(blob.key)
    assert storage.size(blob.key) == len(data)
    with storage.open(blob.key) as reader:
        assert reader.size == len(data)
        assert reader.read(10) == data[:10]
        assert reader.read() == data[10:]
    assert reader.closed
    with storage.open(blob.key) as reader:
        assert b"".join(reader) == data
    chunks = list(storage.iter_chunks(blob.key, 4096))
    assert b"".join(chunks) == data
    assert max(map(len, chunks)) <= 4096
    assert keys(storage) == [blob.key]


def test_identical_content_is_stored_once(storage: Storage) -> None:
    data = b"%PDF-1.7\n" + bytes(range(256)) * 40
    first = storage.put_stream(io.BytesIO(data))
    again = storage.put_stream(io.BytesIO(data))

    assert first.created and not again.created
    assert again == StoredBlob(first.sha256, first.size, first.key, "application/pdf", False)
    assert keys(storage) == [first.key]


def test_a_multipart_upload_completes_under_its_own_key(storage: Storage) -> None:
    size = PART_SIZE + 1  # two parts on S3
    first = storage.put_stream(GeneratedStream(size, seed=7))
    again = storage.put_stream(GeneratedStream(size, seed=7))

    assert first.sha256 == again.sha256 == generated_sha256(size, seed=7)
    assert multipart_uploads(storage) == []
    if isinstance(storage, S3Storage):
        # No server-side copy to blobs/<sha> once the SHA-256 is known: each upload keeps its key, and
        # the database (blobs.sha256 is unique) deletes a second copy (tests/test_uploads.py).
        assert first.created and again.created
        assert first.key.startswith("blobs/m/") and again.key.startswith("blobs/m/") and first.key != again.key
        assert keys(storage) == sorted([first.key, again.key])
        with storage.open(first.key) as reader:
            assert hashlib.sha256(b"".join(reader)).hexdigest() == first.sha256
        head = storage.client.head_object(Bucket=storage.bucket, Key=storage.prefix + first.key)
        assert head["ContentLength"] == size
    else:
        assert first.created and not again.created
        assert keys(storage) == [first.key]


def test_empty_stream_is_refused(storage: Storage) -> None:
    with pytest.raises(EmptyBlob):
        storage.put_stream(io.BytesIO(b""))
    assert_nothing_left(storage)


@pytest.mark.parametrize(
    ("size", "limit"),
    [(5000, 1000), (3 * PART_SIZE, PART_SIZE + MiB)],
    ids=["small", "multipart"],
)
def test_oversized_stream_is_refused_leaving_nothing(storage: Storage, size: int, limit: int) -> None:
    stream = GeneratedStream(size)
    with pytest.raises(BlobTooLarge) as refused:
        storage.put_stream(stream, max_size=limit)

    assert refused.value.limit == limit
    assert refused.value.size_read == limit + 1  # stopped one byte past the limit, not a chunk past
    assert stream.produced == limit + 1
    assert_nothing_left(storage)


def test_exactly_max_size_is_accepted(storage: Storage) -> None:
    blob = storage.put_stream(io.BytesIO(b"x" * 1000), max_size=1000)
    assert blob.size == 1000


def test_large_stream_goes_multipart_in_bounded_memory(storage: Storage) -> None:
    # Large enough that holding it whole would exceed the bound below by far.
    size = 96 * MiB
    if isinstance(storage, S3Storage):
        # What is checked is that memory follows the parts in flight, not the file's size.
        storage.part_concurrency = 3
        storage.part_size = 8 * MiB
        storage.check()  # builds the client (and loads its API model) before measuring
        parts, puts = count_calls(storage, "UploadPart"), count_calls(storage, "PutObject")
    tracemalloc.start()
    try:
        blob = storage.put_stream(GeneratedStream(size), max_size=size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert blob.sha256 == generated_sha256(size)
    assert blob.size == storage.size(blob.key) == size
    assert blob.media_type == "application/octet-stream"
    if isinstance(storage, S3Storage):
        assert (parts[0], puts[0]) == (size // storage.part_size, 0)
        # The parts in flight plus the one being read: bounded, whatever the file's size. A new buffer
        # grows as it fills and CPython reserves up to an eighth more than it holds (address space:
        # pages never written are not resident), which tracemalloc counts.
        bound = (storage.part_concurrency + 1) * storage.part_size * 9 // 8 + 4 * MiB
        assert peak < bound < size / 2, f"peak {peak / MiB:.1f} MiB for a {size // MiB} MiB upload"
    else:
        assert peak < 4 * MiB, f"peak {peak / MiB:.1f} MiB for a {size // MiB} MiB upload"
    assert keys(storage) == [blob.key]
    assert multipart_uploads(storage) == []
    digest = hashlib.sha256()
    for chunk in storage.iter_chunks(blob.key, MiB):
        digest.update(chunk)
    assert digest.hexdigest() == blob.sha256


def test_first_parts_are_smaller_so_that_sending_starts_early(storage: Storage) -> None:
    if not isinstance(storage, S3Storage):
        pytest.skip("parts are an S3 matter")
    storage.part_size = 20 * MiB
    sizes: list[int] = []

    def record(params: dict, **_: object) -> None:
        sizes.append(len(params["Body"]))

    storage.client.meta.events.register("before-parameter-build.s3.UploadPart", record)
    size = 8 * MiB + 16 * MiB + 2 * 20 * MiB + 12345
    blob = storage.put_stream(GeneratedStream(size), max_size=size)

    assert blob.sha256 == generated_sha256(size) and storage.size(blob.key) == size
    # 8 MiB, then 16, then the part size; the last one what is left.
    assert sorted(sizes) == sorted([8 * MiB, 16 * MiB, 20 * MiB, 20 * MiB, 12345])
    assert list(itertools.islice(part_sizes(32 * MiB), 4)) == [8 * MiB, 16 * MiB, 32 * MiB, 32 * MiB]
    assert list(itertools.islice(part_sizes(5 * MiB), 2)) == [5 * MiB, 5 * MiB]


def test_part_buffers_are_kept_by_size_within_a_bound() -> None:
    pool = _BufferPool(cap=40)
    assert pool.take(16) == bytearray()  # nothing kept yet: an empty buffer that grows as it fills
    first, second = bytearray(16), bytearray(16)
    pool.give_back(first)
    pool.give_back(second)
    pool.give_back(bytearray(16))  # over the bound: dropped
    pool.give_back(bytearray(8))
    pool.give_back(bytearray())  # nothing to keep
    assert pool.take(8) == bytearray(8)
    assert {id(pool.take(16)), id(pool.take(16))} == {id(first), id(second)}
    assert pool.take(16) == bytearray()


def test_failure_mid_stream_leaves_nothing(storage: Storage) -> None:
    part = storage.part_size if isinstance(storage, S3Storage) else 8 * MiB
    # Halfway through the second part: the first is already sent as part of a multipart upload.
    stream = GeneratedStream(3 * part, fail_after=part + part // 2)
    if isinstance(storage, S3Storage):
        aborts = count_calls(storage, "AbortMultipartUpload")
    with pytest.raises(OSError, match="went away"):
        storage.put_stream(stream)

    assert stream.produced == part + part // 2
    if isinstance(storage, S3Storage):
        assert aborts[0] == 1
    assert_nothing_left(storage)


def test_a_refused_multipart_start_fails_the_upload_and_sends_no_part(storage: Storage, monkeypatch) -> None:
    """CreateMultipartUpload runs beside the receiving: when it fails, the parts waiting for its upload id
    are not sent, the upload fails with the store's error, and nothing is left."""
    if not isinstance(storage, S3Storage):
        pytest.skip("parts are an S3 matter")
    storage.part_size = 8 * MiB

    def refuse(key: str, media_type: str) -> str:
        time.sleep(0.2)  # the first parts are queued behind it meanwhile
        raise StorageUnavailable("the S3 server is failing (SlowDown): try again later")

    monkeypatch.setattr(storage, "_start_multipart", refuse)
    parts = count_calls(storage, "UploadPart")
    stream = GeneratedStream(5 * 8 * MiB)
    with pytest.raises(StorageUnavailable, match="SlowDown"):
        storage.put_stream(stream)
    assert parts[0] == 0
    assert_nothing_left(storage)


def test_copy_beyond_the_copy_object_limit_uses_multipart_copy(storage: Storage) -> None:
    if not isinstance(storage, S3Storage):
        pytest.skip("server-side copy is an S3 matter")
    storage.copy_object_limit = MiB  # pretend the 5 GiB CopyObject limit is small
    storage.copy_part_size = 5 * MiB
    part_copies = count_calls(storage, "UploadPartCopy")
    size = PART_SIZE + 3 * MiB
    stream = GeneratedStream(size, seed=3)
    plant(storage, "incoming/large", b"".join(iter(lambda: stream.read(MiB), b"")))
    blob = storage.adopt("incoming/large")  # a direct upload, copied to its content-addressed key

    assert part_copies[0] >= 2
    assert blob.key == blob_key(blob.sha256)
    assert blob.sha256 == generated_sha256(size, seed=3)
    assert hashlib.sha256(b"".join(storage.iter_chunks(blob.key, MiB))).hexdigest() == blob.sha256
    assert keys(storage) == [blob.key]


def test_media_type_is_sniffed_not_taken_from_the_name(storage: Storage) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    assert storage.put_stream(io.BytesIO(png), filename="report.pdf").media_type == "image/png"
    html = b"<!doctype html><script>alert(1)</script>"
    assert storage.put_stream(io.BytesIO(html), filename="notes.txt").media_type == "text/html"


# -- listing, deleting, missing keys ----------------------------------------------------------


def test_iter_objects_sees_blobs_and_leftovers(storage: Storage) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    one = storage.put_stream(io.BytesIO(b"one"))
    two = storage.put_stream(io.BytesIO(b"two, longer"))
    plant(storage, "tmp/leftover-from-a-crash", b"partial")

    listed = {info.key: info for info in storage.iter_objects()}
    assert sorted(listed) == sorted([one.key, two.key, "tmp/leftover-from-a-crash"])
    assert listed[two.key].size == 11
    for info in listed.values():
        assert info.last_modified.tzinfo is not None
        assert info.last_modified.utcoffset() == timedelta(0)
        assert before < info.last_modified < datetime.now(UTC) + timedelta(minutes=5)
    assert keys(storage, "tmp/") == ["tmp/leftover-from-a-crash"]
    assert keys(storage, "blobs/") == sorted([one.key, two.key])
    assert keys(storage, one.key[:9]) == [one.key]


def test_s3_keys_live_under_the_prefix(storage: Storage) -> None:
    if not isinstance(storage, S3Storage):
        pytest.skip("prefixes are an S3 matter")
    blob = storage.put_stream(io.BytesIO(b"prefixed"))
    storage.client.put_object(Bucket=storage.bucket, Key="elsewhere/not-ours", Body=b"x")

    raw = storage.client.list_objects_v2(Bucket=storage.bucket)["Contents"]
    assert sorted(item["Key"] for item in raw) == sorted(["elsewhere/not-ours", f"evidence/{blob.key}"])
    assert keys(storage) == [blob.key]
    assert storage.description == f"s3://{storage.bucket}/evidence"


def test_delete_is_idempotent(storage: Storage) -> None:
    blob = storage.put_stream(io.BytesIO(b"to be removed"))
    storage.delete(blob.key)
    storage.delete(blob.key)
    storage.delete(blob_key("0" * 64))
    assert not storage.exists(blob.key)
    assert keys(storage) == []


def test_missing_key(storage: Storage) -> None:
    missing = blob_key("a" * 64)
    assert not storage.exists(missing)
    with pytest.raises(BlobNotFound):
        storage.open(missing)
    with pytest.raises(BlobNotFound):
        storage.size(missing)
    with pytest.raises(BlobNotFound):
        list(storage.iter_chunks(missing, 10))


@pytest.mark.parametrize("key", ["../etc/passwd", "/etc/passwd", "blobs//x", "blobs/../x", "", ".hidden", "a\\b"])
def test_keys_that_could_escape_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.exists(key)
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.delete(key)


# -- browser-facing URLs ----------------------------------------------------------------------


def test_presigned_get_url_overrides_disposition_and_type(storage: Storage) -> None:
    data = b"<html><script>alert('stored as html')</script></html>"
    blob = storage.put_stream(io.BytesIO(data))
    assert blob.media_type == "text/html"
    url = storage.presigned_get_url(
        blob.key, filename="rapport d'étape.html", content_type="application/octet-stream", inline=False
    )
    if not is_s3(storage):
        assert url is None  # the application streams local files itself
        return

    status, headers, body = http(url)
    assert status == 200
    assert body == data
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"] == (
        "attachment; filename=\"rapport d'etape.html\"; filename*=UTF-8''rapport%20d%27%C3%A9tape.html"
    )

    status, headers, _ = http(
        storage.presigned_get_url(blob.key, filename="capture.png", content_type="image/png", inline=True)
    )
    assert status == 200
    assert (headers["Content-Type"], headers["Content-Disposition"]) == (
        "image/png",
        'inline; filename="capture.png"',
    )


def test_presigned_post_upload_then_adopt(storage: Storage) -> None:
    key = f"incoming/{uuid.uuid4().hex}"
    post = storage.presigned_post(key=key, max_size=1000, content_type="application/pdf")
    if not is_s3(storage):
        assert post is None
        return

    assert post["fields"]["key"] == f"evidence/{key}"
    assert post["fields"]["Content-Type"] == "application/pdf"
    payload = b"\x89PNG\r\n\x1a\n" + bytes(200)  # a PNG sent as "application/pdf"
    status, _, body = post_form(post, payload)
    assert status in (200, 201, 204), body
    assert storage.exists(key)

    blob = storage.adopt(key, max_size=1000)
    assert (blob.size, blob.media_type, blob.created) == (len(payload), "image/png", True)
    assert blob.sha256 == hashlib.sha256(payload).hexdigest()
    assert keys(storage) == [blob.key]  # the incoming object is gone
    head = storage.client.head_object(Bucket=storage.bucket, Key=storage.prefix + blob.key)
    assert head["ContentType"] == "image/png"


def test_adopt_verifies_and_deduplicates(storage: Storage) -> None:
    existing = storage.put_stream(io.BytesIO(b"same bytes"))
    plant(storage, "incoming/a", b"same bytes")
    assert keys(storage, "incoming/") == ["incoming/a"]
    blob = storage.adopt("incoming/a")
    assert (blob.key, blob.created) == (existing.key, False)
    assert keys(storage) == [existing.key]

    plant(storage, "incoming/b", b"y" * 2000)
    with pytest.raises(BlobTooLarge):
        storage.adopt("incoming/b", max_size=1000)
    assert keys(storage) == [existing.key]  # a refused upload is removed
    with pytest.raises(BlobNotFound):
        storage.adopt("incoming/never-uploaded")


def test_abort_stale_uploads(storage: Storage) -> None:
    if not isinstance(storage, S3Storage):
        assert storage.abort_stale_uploads(timedelta(0)) == 0
        return
    client, bucket = storage.client, storage.bucket
    client.create_multipart_upload(Bucket=bucket, Key=storage.prefix + "tmp/abandoned")
    client.create_multipart_upload(Bucket=bucket, Key="another-app/upload")  # outside our prefix
    started = next(u["Initiated"] for u in multipart_uploads(storage) if u["Key"].startswith(storage.prefix))
    age = datetime.now(UTC) - started  # moto reports a fixed date in 2010; real servers the real one
    assert storage.abort_stale_uploads(age + timedelta(hours=1)) == 0
    if age < timedelta(seconds=2):
        time.sleep(1.1)  # S3 reports the start time to the second
    assert storage.abort_stale_uploads(timedelta(0)) == 1
    assert [u["Key"] for u in multipart_uploads(storage)] == ["another-app/upload"]


# -- availability -----------------------------------------------------------------------------


def test_check_passes_on_a_working_store(storage: Storage) -> None:
    storage.check()
    assert storage.description.startswith(("s3://", "file:///"))


def test_s3_server_down_then_back(restartable_s3) -> None:  # type: ignore[no-untyped-def]
    storage = restartable_s3.storage
    kept = storage.put_stream(io.BytesIO(b"stored before the outage"))
    restartable_s3.server.stop()

    with pytest.raises(StorageUnavailable, match="cannot reach the S3 server at http://127.0.0.1:"):
        storage.check()
    with pytest.raises(StorageUnavailable, match="cannot reach"):
        storage.put_stream(io.BytesIO(b"during the outage"))
    with pytest.raises(StorageUnavailable, match="cannot reach"):
        storage.put_stream(GeneratedStream(PART_SIZE + 1))
    with pytest.raises(StorageUnavailable):
        storage.exists(kept.key)

    restartable_s3.server.start()
    storage.check()
    assert b"".join(storage.iter_chunks(kept.key, 1024)) == b"stored before the outage"
    assert storage.put_stream(io.BytesIO(b"after the outage")).created


def test_s3_missing_bucket_is_unavailable(moto_server, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.storage_fixtures import apply_s3_env

    apply_s3_env(monkeypatch, moto_server.env, tmp_path)
    storage = create_storage("s3://no-such-bucket-here")
    with pytest.raises(StorageUnavailable, match="bucket 'no-such-bucket-here' does not exist"):
        storage.check()
    with pytest.raises(StorageUnavailable, match="does not exist"):
        storage.put_stream(io.BytesIO(b"nowhere to go"))


def test_s3_without_credentials_is_unavailable(moto_server, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.storage_fixtures import apply_s3_env

    apply_s3_env(monkeypatch, moto_server.env, tmp_path)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StorageUnavailable, match="no usable S3 credentials"):
        create_storage("s3://some-bucket").check()


def test_local_store_on_an_unusable_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    storage = create_storage(f"file://{tmp_path}/a-file/evidence")
    with pytest.raises(StorageUnavailable, match="cannot write to the storage directory"):
        storage.check()
    with pytest.raises(StorageUnavailable):
        storage.put_stream(io.BytesIO(b"nowhere to go"))
    with pytest.raises(StorageUnavailable, match="not a directory"):
        create_storage(f"file://{tmp_path}/a-file").check()


def test_local_store_creates_its_folder(tmp_path: Path) -> None:
    storage = create_storage(f"file://{tmp_path}/new/evidence")
    storage.check()
    assert (tmp_path / "new" / "evidence").is_dir()
    assert storage.description == f"file://{tmp_path}/new/evidence"


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind", "description"),
    [
        ("file:///srv/evidence", LocalStorage, "file:///srv/evidence"),
        ("file://localhost/srv/my%20evidence", LocalStorage, "file:///srv/my%20evidence"),
        ("s3://evidence-bucket", S3Storage, "s3://evidence-bucket"),
        ("s3://evidence-bucket/portfolio/prod/", S3Storage, "s3://evidence-bucket/portfolio/prod"),
        ("s3://evidence-bucket/p?addressing=virtual&region=eu-west-3", S3Storage, "s3://evidence-bucket/p"),
    ],
)
def test_create_storage_accepts(url: str, kind: type, description: str) -> None:
    storage = create_storage(url)
    assert isinstance(storage, kind)
    assert isinstance(storage, Storage)
    assert storage.description == description


def test_create_storage_reads_s3_options() -> None:
    storage = create_storage("s3://evidence-bucket/p?addressing=virtual&region=eu-west-3")
    assert isinstance(storage, S3Storage)
    assert (storage.addressing, storage.region, storage.prefix) == ("virtual", "eu-west-3", "p/")
    assert storage._client is None  # no client, hence no network call, before first use
    assert (storage.part_concurrency, storage.part_size) == (2, 32 * MiB)
    tuned = create_storage("s3://evidence-bucket?parts=4&part_mib=16")
    assert (tuned.part_concurrency, tuned.part_size) == (4, 16 * MiB)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("evidence", "unsupported storage URL"),
        ("/srv/evidence", "unsupported storage URL"),
        ("file://srv/evidence", "must name an absolute path"),
        ("file:evidence", "must name an absolute path"),
        ("file:///srv/evidence?x=1", "takes no query"),
        ("http://example.org/bucket", "unsupported storage URL"),
        ("s3://", "names no bucket"),
        ("s3://x", "invalid S3 bucket name"),
        ("s3://key:secret@bucket", "not in the URL"),
        ("s3://bucket?endpoint=http://x", "unknown option 'endpoint'"),
        ("s3://bucket?addressing=sideways", "addressing must be"),
        ("s3://bucket?parts=0", "parts must be a whole number from 1 to 32"),
        ("s3://bucket?parts=many", "parts must be a whole number from 1 to 32"),
        ("s3://bucket?part_mib=4", "part_mib must be a whole number from 5 to 512"),
        ("s3://bucket?part_mib=513", "part_mib must be a whole number from 5 to 512"),
        ("s3://bucket?part_mib=8M", "part_mib must be a whole number from 5 to 512"),
        ("s3://bucket/../up", "invalid storage prefix"),
    ],
)
def test_create_storage_refuses(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        create_storage(url)
    assert "\n" not in str(refused.value)


def test_init_app_and_get_storage(tmp_path: Path) -> None:
    app = Flask(__name__)
    app.config["STORAGE_URL"] = f"file://{tmp_path}/evidence"
    init_app(app)
    with app.app_context():
        assert isinstance(get_storage(), LocalStorage)
        assert get_storage() is get_storage()

    bare = Flask(__name__)
    with bare.app_context(), pytest.raises(RuntimeError, match="init_app"):
        get_storage()
    with pytest.raises(ValueError, match="STORAGE_URL"):
        init_app(bare)

    remote = Flask(__name__)
    remote.config["STORAGE_URL"] = "s3://evidence-bucket/portfolio"
    init_app(remote)  # no server anywhere, and no error: nothing is contacted at start-up
    assert remote.extensions["portfolio.storage"]._client is None


# -- sniffing and headers ---------------------------------------------------------------------


def _zip(*names: str, mimetype: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if mimetype:
            archive.writestr(zipfile.ZipInfo("mimetype"), mimetype, compress_type=zipfile.ZIP_STORED)
        for name in names:
            archive.writestr(name, "<x/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("head", "filename", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(24), None, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", None, "image/jpeg"),
        (b"GIF89a\x01\x00\x01\x00", None, "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", None, "image/webp"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "cv.txt", "application/pdf"),
        (_zip("src/main.py"), None, "application/zip"),
        (
            _zip("[Content_Types].xml", "_rels/.rels", "word/document.xml"),
            None,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            _zip("[Content_Types].xml", "xl/workbook.xml"),
            None,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        (
            _zip("content.xml", mimetype=b"application/vnd.oasis.opendocument.text"),
            None,
            "application/vnd.oasis.opendocument.text",
        ),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", None, "application/gzip"),
        (bytes(257) + b"ustar\x0000", None, "application/x-tar"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "a.png",
            "image/svg+xml",
        ),
        (b'<?xml version="1.0"?>\n<!-- x -->\n<svg viewBox="0 0 1 1"/>', None, "image/svg+xml"),
        (b"<!DOCTYPE html>\n<html><body>hi</body></html>", "page.txt", "text/html"),
        (b"\xef\xbb\xbf  <html>", None, "text/html"),
        (b"Notes de TP\n\nvoir <script src=x></script> plus bas", None, "text/html"),
        (b"<p>Un paragraphe</p>", None, "text/html"),
        (b"GIF89a<script>alert(1)</script>", None, "image/gif"),  # polyglot: the signature wins
        (b'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite tests="3"/>', "report.html", "application/xml"),
        (b'{"tests": 3, "failures": 0}', None, "application/json"),
        (b'[{"id": 1}]', None, "application/json"),
        (b"def main():\n    return 'd\xc3\xa9j\xc3\xa0 vu'\n", "main.py", "text/plain"),
        (b"# Titre\n\nDu **Markdown** avec <b>gras</b>\n", "README.md", "text/plain"),
        (b"plain text cut in a UTF-8 character: \xc3", None, "text/plain"),
        (bytes(range(256)), None, "application/octet-stream"),
        (b"\x00\x01\x02binary", "notes.txt", "application/octet-stream"),
        (b"\xff\xfe\xfd not utf-8", None, "application/octet-stream"),
        (b"", "empty.txt", "application/octet-stream"),
    ],
)
def test_sniff_media_type(head: bytes, filename: str | None, expected: str) -> None:
    assert sniff_media_type(head, filename) == expected


@pytest.mark.parametrize(
    ("filename", "inline", "expected"),
    [
        ("report.pdf", False, 'attachment; filename="report.pdf"'),
        ("photo.png", True, 'inline; filename="photo.png"'),
        (
            "compte rendu é.pdf",
            False,
            "attachment; filename=\"compte rendu e.pdf\"; filename*=UTF-8''compte%20rendu%20%C3%A9.pdf",
        ),
        ('say "hi".txt', False, "attachment; filename=\"say _hi_.txt\"; filename*=UTF-8''say%20%22hi%22.txt"),
        ("../../etc/passwd", False, 'attachment; filename="passwd"'),
        ("C:\\Users\\me\\cv.docx", False, 'attachment; filename="cv.docx"'),
        ("line\r\nbreak.txt", False, 'attachment; filename="linebreak.txt"'),
        (
            "日本語.txt",
            False,
            "attachment; filename=\"download.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.txt",
        ),
        ("", False, 'attachment; filename="download"'),
    ],
)
def test_content_disposition(filename: str, inline: bool, expected: str) -> None:
    assert content_disposition(filename, inline=inline) == expected


# -- a server that enforces signatures and policies (Ceph RGW) ---------------------------------


@pytest.mark.s3_enforcing
def test_tampered_or_expired_download_link_is_refused(s3_enforcing: S3Storage) -> None:
    blob = s3_enforcing.put_stream(io.BytesIO(b"only for the jury"))
    url = s3_enforcing.presigned_get_url(blob.key, filename="x.txt", content_type="text/plain", inline=False)
    assert http(url)[0] == 200

    signature = url.rsplit("X-Amz-Signature=", 1)[1][:64]
    forged = url.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])
    assert http(forged)[0] == 403
    retyped = url.replace("text%2Fplain", "text%2Fhtml")
    assert retyped != url and http(retyped)[0] == 403

    short = s3_enforcing.presigned_get_url(
        blob.key, filename="x.txt", content_type="text/plain", inline=False, expires=1
    )
    time.sleep(2.5)
    assert http(short)[0] == 403


@pytest.mark.s3_enforcing
def test_presigned_post_policy_is_enforced(s3_enforcing: S3Storage) -> None:
    key = f"incoming/{uuid.uuid4().hex}"
    post = s3_enforcing.presigned_post(key=key, max_size=1000, content_type="application/pdf")

    status, _, body = post_form(post, b"%PDF-" + bytes(2000))
    assert 400 <= status < 500, body
    assert not s3_enforcing.exists(key)

    status, _, _ = post_form(post, b"%PDF-ok", fields={"key": "evidence/incoming/somewhere-else"})
    assert status == 403
    assert keys(s3_enforcing) == []

    status, _, _ = post_form(post, b"%PDF-ok", fields={"Content-Type": "text/html"})
    assert status == 403

    status, _, body = post_form(post, b"%PDF-ok")
    assert status in (200, 201, 204), body
    assert keys(s3_enforcing) == [key]


@pytest.mark.s3_enforcing
def test_refused_credentials_make_the_store_unavailable(s3_enforcing: S3Storage, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    storage = S3Storage(s3_enforcing.bucket, "evidence")
    with pytest.raises(StorageUnavailable, match="refused access"):
        storage.check()
    with pytest.raises(StorageUnavailable, match="refused access"):
        storage.put_stream(io.BytesIO(b"denied"))
