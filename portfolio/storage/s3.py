"""Evidence store on S3 or an S3-compatible server (Ceph RGW, MinIO, Garage, AWS...).

The client comes from boto3's standard configuration only (``AWS_*`` environment variables,
profiles, instance roles), so no secret ever sits in the storage URL.

Over 400 lines: one backend class of the Storage protocol (multipart, presigned URLs, retries).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from portfolio.storage.base import (
    MULTIPART_PREFIX,
    BlobNotFound,
    BlobReader,
    BlobTooLarge,
    BlobWriter,
    EmptyBlob,
    Intake,
    MiB,
    ObjectInfo,
    PendingBlob,
    Readable,
    StorageError,
    StorageUnavailable,
    StoredBlob,
    blob_key,
    check_key,
    check_prefix,
    content_disposition,
    copy_stream,
)
from portfolio.storage.sniff import sniff_media_type

S3Client = Any  # boto3 builds its client classes at run time

log = logging.getLogger(__name__)

#: Multipart part size (a file smaller than the first part, 8 MiB, goes up as one PutObject); ``?part_mib=N``
#: in the storage URL changes it. Parts sent while the next one fills: ``?parts=N``. Memory per upload under way: parts
#: + 1 times the part size. Measured through the app on Ceph RGW (curl -> gunicorn -> Ceph, 1 GiB, idle
#: 2-core VM, 2026-12-03, bench/upload.py and a harness beside it): 8 MiB x 4 in flight 5.4-5.6 s,
#: 16 x 4 4.8-5.1 s, 32 x 2 4.5-4.8 s, 32 x 3 4.3-4.8 s (no better, 32 MiB more); fewer, larger parts
#: cost the server (RGW and its OSD) a fifth less CPU per GiB. The first parts are smaller (part_sizes).
PART_SIZE = 32 * MiB
PART_CONCURRENCY = 2
MIN_PART_MIB, MAX_PART_MIB = 5, 512  # S3: every part but the last at least 5 MiB
RAMP_START = 8 * MiB  # the first part's size (see part_sizes)
READ_SIZE = MiB  # how much is asked of a stream at a time (an upload, an object read back to check it)
COPY_OBJECT_LIMIT = 5 * 1024 * MiB  # the largest object S3 copies in one CopyObject
COPY_PART_SIZE = 512 * MiB

Addressing = Literal["auto", "path", "virtual"]
_BUCKET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,62}")
_ACCESS_CODES = {
    "AccessDenied",
    "AllAccessDisabled",
    "ExpiredToken",
    "Forbidden",
    "InvalidAccessKeyId",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "403",
}
_MISSING_CODES = {"NoSuchKey", "NotFound", "404"}
_BUSY_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "503", "500"}


class S3Storage:
    """Blobs as objects ``<prefix>blobs/<sha[:2]>/<sha>`` in one bucket.

    The boto3 client is built on first use: creating the storage makes no network call
    (credential lookup may query an instance metadata service).
    """

    part_size = PART_SIZE
    part_concurrency = PART_CONCURRENCY
    copy_object_limit = COPY_OBJECT_LIMIT
    copy_part_size = COPY_PART_SIZE

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        addressing: Addressing | None = None,
        region: str | None = None,
        parts: int | str | None = None,
        part_mib: int | str | None = None,
    ) -> None:
        if not _BUCKET_RE.fullmatch(bucket):
            raise ValueError(f"invalid S3 bucket name: {bucket!r}")
        prefix = prefix.strip("/")
        check_prefix(prefix)
        if addressing not in (None, "auto", "path", "virtual"):
            raise ValueError(f"addressing must be auto, path or virtual, not {addressing!r}")
        if parts is not None:
            # Parts sent while the next one fills (memory: parts + 1 times the part size per upload).
            if not str(parts).isdigit() or not 1 <= int(parts) <= 32:
                raise ValueError(f"parts must be a whole number from 1 to 32, not {parts!r}")
            self.part_concurrency = int(parts)
        if part_mib is not None:
            if not str(part_mib).isdigit() or not MIN_PART_MIB <= int(part_mib) <= MAX_PART_MIB:
                raise ValueError(f"part_mib must be a whole number from {MIN_PART_MIB} to {MAX_PART_MIB}, "
                                 f"not {part_mib!r}")
            self.part_size = int(part_mib) * MiB
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.addressing = addressing
        self.region = region
        self._client: S3Client | None = None
        self._client_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Storage({self.description!r})"

    @property
    def description(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    # -- the client ---------------------------------------------------------------------------

    @property
    def client(self) -> S3Client:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> S3Client:
        # botocore reads AWS_DEFAULT_REGION but not AWS_REGION, which other SDKs use.
        session = boto3.session.Session(region_name=self.region or os.environ.get("AWS_REGION") or None)
        region = session.region_name or "us-east-1"
        client = session.client("s3", region_name=region, config=_config(self.addressing or "auto"))
        if self.addressing is None and not _is_aws(client.meta.endpoint_url):
            # A self-hosted endpoint rarely has wildcard DNS for virtual-hosted buckets.
            client = session.client("s3", region_name=region, config=_config("path"))
        return client

    @property
    def endpoint(self) -> str:
        return self.client.meta.endpoint_url

    # -- writing ------------------------------------------------------------------------------

    def put_stream(self, stream: Readable, *, max_size: int | None = None, filename: str | None = None) -> StoredBlob:
        return copy_stream(stream, self.begin_upload(max_size=max_size, filename=filename), READ_SIZE)

    def begin_upload(self, *, max_size: int | None = None, filename: str | None = None) -> BlobWriter:
        return _S3Writer(self, max_size, filename)

    def _put_small(self, data: bytearray, sha256: str, media_type: str) -> StoredBlob:
        """One PutObject straight to the final key: its SHA-256 is known before sending."""
        key = blob_key(sha256)
        created = not self.exists(key)
        if created:
            with self._errors("store a file"):
                self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data, ContentType=media_type)
        return StoredBlob(sha256, len(data), key, media_type, created)

    def _start_multipart(self, key: str, media_type: str) -> str:
        """Start a multipart upload to ``key``; its upload id."""
        with self._errors("start an upload"):
            return self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self._full(key), ContentType=media_type
            )["UploadId"]

    def _complete_multipart(self, key: str, upload_id: str, parts: list[dict]) -> None:
        with self._errors("finish an upload"):
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self._full(key), UploadId=upload_id, MultipartUpload={"Parts": parts}
            )

    def _upload_part(self, key: str, upload_id: str, number: int, body: bytearray) -> dict:
        with self._errors("upload a part"):
            etag = self.client.upload_part(
                Bucket=self.bucket, Key=self._full(key), UploadId=upload_id, PartNumber=number, Body=body
            )["ETag"]
        return {"ETag": etag, "PartNumber": number}

    def adopt(self, key: str, *, max_size: int | None = None, filename: str | None = None) -> StoredBlob:
        check_key(key)
        try:
            with self.open(key) as source:
                intake = Intake(source, max_size)
                while intake.read(READ_SIZE):
                    pass
            if intake.size == 0:
                raise EmptyBlob()
        except (BlobTooLarge, EmptyBlob):
            self.delete(key)
            raise
        media_type = intake.media_type(filename)
        blob = self._promote(key, intake.sha256, intake.size, media_type, replace_type=True)
        self.delete(key)
        return blob

    def _promote(self, source: str, sha256: str, size: int, media_type: str, *,
                 replace_type: bool = False) -> StoredBlob:
        """Server-side copy of a verified object to its content-addressed key, unless already there."""
        key = blob_key(sha256)
        created = not self.exists(key)
        if created:
            copy_source = {"Bucket": self.bucket, "Key": self._full(source)}
            with self._errors("store a file"):
                if size <= self.copy_object_limit:
                    extra: dict[str, str] = {"MetadataDirective": "COPY"}
                    if replace_type:
                        extra = {"MetadataDirective": "REPLACE", "ContentType": media_type}
                    self.client.copy_object(Bucket=self.bucket, Key=self._full(key), CopySource=copy_source, **extra)
                else:
                    self.client.copy(
                        copy_source,
                        self.bucket,
                        self._full(key),
                        ExtraArgs={"ContentType": media_type},
                        Config=TransferConfig(
                            multipart_threshold=self.copy_part_size,
                            multipart_chunksize=self.copy_part_size,
                            max_concurrency=4,
                        ),
                    )
        return StoredBlob(sha256, size, key, media_type, created)

    def _abort_upload(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._full(key), UploadId=upload_id)
        except (BotoCoreError, ClientError) as exc:
            # The sweep's abort_stale_uploads will find it; the original error matters more.
            log.warning("could not abort multipart upload %s of %s: %s", upload_id, key, exc)

    def delete(self, key: str) -> None:
        with self._errors("delete a file", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._full(key))

    def abort_stale_uploads(self, older_than: timedelta) -> int:
        cutoff = datetime.now(UTC) - older_than
        aborted = 0
        with self._errors("list unfinished uploads"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < cutoff:
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        aborted += 1
        return aborted

    # -- reading ------------------------------------------------------------------------------

    def open(self, key: str) -> BlobReader:
        with self._errors("read a file", key):
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
        body = response["Body"]

        def read(n: int = -1) -> bytes:
            with self._errors("read a file", key):
                return body.read(None if n is None or n < 0 else n)

        return BlobReader(read, body.close, size=response["ContentLength"])

    def iter_chunks(self, key: str, chunk_size: int = MiB) -> Iterator[bytes]:
        with self.open(key) as blob:
            while chunk := blob.read(chunk_size):
                yield chunk

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobNotFound:
            return False
        return True

    def size(self, key: str) -> int:
        with self._errors("look up a file", key):
            return self.client.head_object(Bucket=self.bucket, Key=self._full(key))["ContentLength"]

    def iter_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        with self._errors("list files"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"].removeprefix(self.prefix)
                    yield ObjectInfo(key, item["Size"], item["LastModified"].astimezone(UTC))

    def presigned_get_url(
        self, key: str, *, filename: str, content_type: str, inline: bool, expires: int = 60
    ) -> str | None:
        params = {
            "Bucket": self.bucket,
            "Key": self._full(key),
            # The server answers with these headers whatever the stored object says.
            "ResponseContentDisposition": content_disposition(filename, inline=inline),
            "ResponseContentType": content_type,
        }
        with self._errors("sign a download link", key):
            return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)

    def presigned_post(self, *, key: str, max_size: int, content_type: str, expires: int = 600) -> dict | None:
        if max_size < 1:
            raise ValueError("max_size must be a positive number of bytes")
        # boto3 adds the exact-key and bucket conditions itself.
        conditions = [{"Content-Type": content_type}, ["content-length-range", 1, max_size]]
        with self._errors("sign an upload form", key):
            return self.client.generate_presigned_post(
                Bucket=self.bucket,
                Key=self._full(key),
                Fields={"Content-Type": content_type},
                Conditions=conditions,
                ExpiresIn=expires,
            )

    def check(self) -> None:
        with self._errors("reach the bucket"):
            self.client.head_bucket(Bucket=self.bucket)

    # -- helpers ------------------------------------------------------------------------------

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    @contextlib.contextmanager
    def _errors(self, action: str, key: str | None = None) -> Iterator[None]:
        """Turn botocore's exceptions into the store's, with a message a person can act on."""
        try:
            yield
        except ClientError as exc:
            raise self._client_error(exc, action, key) from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise StorageUnavailable(
                f"no usable S3 credentials for {self.description}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
            ) from exc
        except (BotoConnectionError, HTTPClientError) as exc:
            raise StorageUnavailable(f"cannot reach the S3 server at {self._endpoint_text()}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"could not {action} on {self.description}: {exc}") from exc

    def _client_error(self, exc: ClientError, action: str, key: str | None) -> StorageError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        where = f"{self._endpoint_text()}"
        if code == "NoSuchBucket" or (code in _MISSING_CODES and key is None):
            return StorageUnavailable(f"the bucket {self.bucket!r} does not exist on the S3 server at {where}")
        if code in _MISSING_CODES and key is not None:
            return BlobNotFound(key)
        if code in _ACCESS_CODES:
            return StorageUnavailable(
                f"the S3 server at {where} refused access to bucket {self.bucket!r} ({code}): "
                "check the credentials and the bucket's permissions"
            )
        if code in _BUSY_CODES or status >= 500:
            return StorageUnavailable(f"the S3 server at {where} is failing ({code or status}): try again later")
        message = error.get("Message") or code
        return StorageError(f"could not {action} on {self.description}: {message} ({code})")

    def _endpoint_text(self) -> str:
        client = self._client
        return client.meta.endpoint_url if client is not None else "(not connected)"


class _BufferPool:
    """Part buffers kept for the next parts: memory a process touches for the first time costs its page
    faults (measured on the 2-core VM: 18 ms per 32 MiB, as much as hashing it), memory reused does
    not. Buffers are kept by size, up to ``cap`` bytes idle in all."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._idle: dict[int, list[bytearray]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bytearray:
        """A buffer of ``size`` bytes kept from an earlier part, else an empty one that grows as it
        fills (``bytearray(size)`` would first write zeros over memory about to be overwritten)."""
        with self._lock:
            kept = self._idle.get(size)
            if kept:
                self._bytes -= size
                return kept.pop()
        return bytearray()

    def give_back(self, buffer: bytearray) -> None:
        size = len(buffer)
        with self._lock:
            if size and self._bytes + size <= self._cap:
                self._idle.setdefault(size, []).append(buffer)
                self._bytes += size


# Within an upload a buffer given back is taken again at once. Idle, a worker keeps what one upload
# of the default shape needs to start again without page faults (8 + 16 + 2 x 32 MiB), not every
# part's memory.
_buffers = _BufferPool(cap=96 * MiB)


def part_sizes(part_size: int) -> Iterator[int]:
    """Sizes of an upload's parts: the first ones smaller (8, then 16 MiB), so that sending starts
    after 8 MiB rather than a whole part, then ``part_size`` (S3 allows parts of different sizes, every
    one but the last at least 5 MiB)."""
    size = min(part_size, RAMP_START)
    while size < part_size:
        yield size
        size *= 2
    while True:
        yield part_size


class _S3Writer(BlobWriter):
    """Bytes are gathered into parts; each full part is hashed (one thread, in order: the file's
    SHA-256) and sent at once while the next one fills; when ``part_concurrency`` parts are being sent
    and another is full, receiving waits for the oldest. A file smaller than the first part goes up
    as one PutObject to its content-addressed key; a larger one as a multipart upload completed under
    a key of its own (``blobs/m/<uuid>``), with no server-side copy; ``finish_later`` hands the blob
    back once every part is hashed, while the last parts and the completion run on the hash thread
    (the request records the file meanwhile). Memory: at most ``part_concurrency + 1`` parts,
    whatever the file's size."""

    def __init__(self, storage: S3Storage, max_size: int | None, filename: str | None) -> None:
        super().__init__(max_size, filename)
        self._s3 = storage
        self._sizes = part_sizes(storage.part_size)
        self._target = next(self._sizes)
        self._buffer = _buffers.take(self._target)
        self._fill = 0
        self._sha = hashlib.sha256()
        self._key: str | None = None
        self._started: Future[str] | None = None  # CreateMultipartUpload: its upload id
        self._number = 0
        self._parts: list[dict] = []
        self._sending: deque[tuple[bytearray, bool, Future, Future]] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self._hasher: ThreadPoolExecutor | None = None

    def _accept(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B") if not isinstance(data, bytes | bytearray) else memoryview(data)
        while view:
            take = min(len(view), self._target - self._fill)
            end = self._fill + take
            if end <= len(self._buffer):
                self._buffer[self._fill:end] = view[:take]
            else:  # a new buffer grows as it fills
                self._buffer[self._fill:] = view[:take]
            self._fill = end
            view = view[take:]
            if self._fill == self._target:
                self._send(self._buffer)
                self._target = next(self._sizes)
                self._buffer = _buffers.take(self._target)
                self._fill = 0

    def _send(self, part: bytearray, *, last: bool = False) -> None:
        concurrency = self._s3.part_concurrency
        if self._started is None:
            # Completed under its own final key: its SHA-256 is known only at the end, and a CopyObject
            # to ``blobs/<sha>`` would cost the server another pass over the object (0.5 s per GiB on Ceph).
            self._key = f"{MULTIPART_PREFIX}{uuid.uuid4().hex}"
            # One thread more than the parts sent while receiving: a part that fills while they are
            # under way goes out at once instead of waiting for a thread.
            self._pool = ThreadPoolExecutor(max_workers=concurrency + 1, thread_name_prefix="s3-part")
            self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-hash")
            # Started on a part thread: receiving goes on meanwhile (a round trip, 10-15 ms on RGW),
            # and the first part waits for its upload id there.
            self._started = self._pool.submit(self._s3._start_multipart, self._key,
                                              sniff_media_type(bytes(self._head), self.filename))
        assert self._pool is not None and self._hasher is not None
        self._number += 1
        # hashlib releases the GIL on large buffers: hashing overlaps with receiving and sending.
        hashed = self._hasher.submit(self._sha.update, part)
        sent = self._pool.submit(self._upload_part, self._number, part)
        self._sending.append((part, not last, hashed, sent))
        while len(self._sending) > concurrency:
            self._collect()

    def _upload_part(self, number: int, part: bytearray) -> dict:
        assert self._started is not None and self._key is not None
        return self._s3._upload_part(self._key, self._started.result(), number, part)

    def _abort(self) -> None:
        """Abort the multipart upload, if it was started (its parts are deleted)."""
        if self._started is None or self._key is None:
            return
        try:
            upload_id = self._started.result()
        except BaseException:  # noqa: BLE001 (never started, or cancelled before it ran: nothing to abort)
            return
        self._s3._abort_upload(self._key, upload_id)

    def _collect(self) -> None:
        """Wait for the oldest part (hashed and sent), and give its buffer back to the pool."""
        part, reusable, hashed, sent = self._sending.popleft()
        hashed.result()
        self._parts.append(sent.result())
        if reusable:  # not the last part, shrunk to its length
            _buffers.give_back(part)

    def _complete_later(self, media_type: str) -> PendingBlob:
        if self._started is None:
            data = self._buffer
            if len(data) != self._fill:  # a kept buffer, larger than the file: copied, kept for later
                data = bytearray(memoryview(self._buffer)[:self._fill])
                _buffers.give_back(self._buffer)
            self._sha.update(data)
            return PendingBlob(self._s3._put_small(data, self._sha.hexdigest(), media_type))
        if self._fill:
            del self._buffer[self._fill:]  # shrinks in place: no copy
            self._send(self._buffer, last=True)
        else:
            _buffers.give_back(self._buffer)
        assert self._key is not None and self._hasher is not None
        for _part, _reusable, hashed, _sent in self._sending:  # in order, one thread: the last is the file's end
            hashed.result()
        # Always a new object: the database (``blobs.sha256`` is unique) finds identical content
        # stored before and deletes this copy after its commit (services.evidence).
        blob = StoredBlob(self._sha.hexdigest(), self.size, self._key, media_type, True)
        # The last parts and CompleteMultipartUpload go on while the request records the file's rows.
        stored = self._hasher.submit(self._finish_parts)
        hasher = self._hasher
        stored.add_done_callback(lambda _done: hasher.shutdown(wait=False))
        return PendingBlob(blob, stored)

    def _finish_parts(self) -> None:
        """On the hash thread, once every part is hashed: wait for the parts, then complete the upload;
        on any error leave no parts behind."""
        assert self._pool is not None and self._key is not None and self._started is not None
        try:
            while self._sending:
                self._collect()
            self._pool.shutdown(wait=True)
            self._s3._complete_multipart(self._key, self._started.result(), self._parts)
        except BaseException:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._sending.clear()  # buffers a cancelled part may still hold are not reused
            self._abort()
            raise

    def _shutdown(self) -> None:
        for pool in (self._pool, self._hasher):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _discard(self) -> None:
        # Whatever failed (the stream, a limit, the server): wait for the parts being sent, then
        # leave no parts behind.
        self._shutdown()
        self._sending.clear()  # buffers a cancelled part may still hold are not reused
        self._buffer = bytearray()
        self._abort()


def _config(addressing: Addressing) -> Config:
    options: dict[str, Any] = {
        "retries": {"max_attempts": 2, "mode": "standard"},
        "connect_timeout": 5,
        "read_timeout": 60,
        "signature_version": "s3v4",
        "s3": {"addressing_style": addressing},
        # Newer botocore adds CRC32 checksums to every upload, which several S3-compatible
        # servers reject; ask for checksums only where the API requires them.
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
    }
    try:
        return Config(**options)
    except TypeError:  # botocore < 1.36 knows neither option, and sends no such checksum
        del options["request_checksum_calculation"], options["response_checksum_validation"]
        return Config(**options)


def _is_aws(endpoint_url: str) -> bool:
    host = urlsplit(endpoint_url).hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))
