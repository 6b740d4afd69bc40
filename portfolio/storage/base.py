"""The evidence store's contract: one protocol, its value types and its errors.

Blobs are content-addressed: the key of a stored file is derived from the SHA-256 of its
bytes (``blobs/<sha[:2]>/<sha>``), so identical uploads are stored once and a key never
comes from a user-supplied filename.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, Self, runtime_checkable
from urllib.parse import quote

from portfolio.formatting import ascii_fold
from portfolio.storage.sniff import SNIFF_SIZE, sniff_media_type

MiB = 1024 * 1024
BLOB_PREFIX = "blobs/"
TMP_PREFIX = "tmp/"
#: Large uploads completed under their own key (S3 multipart): see ``_S3Writer._send`` in ``storage/s3.py``.
MULTIPART_PREFIX = f"{BLOB_PREFIX}m/"

# Segments start with an alphanumeric, so "." / ".." / hidden names can never form a key.
_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


class StorageError(Exception):
    """Base class of every evidence-store error."""


class StorageUnavailable(StorageError):
    """The store cannot be used right now: server down, bucket missing, credentials refused..."""


class BlobTooLarge(StorageError):
    """The stream went past ``max_size``; nothing was kept."""

    def __init__(self, limit: int, size_read: int) -> None:
        super().__init__(f"file too large: more than {limit} bytes (read {size_read} before stopping)")
        self.limit = limit
        self.size_read = size_read


class EmptyBlob(StorageError):
    """The stream had no byte at all."""

    def __init__(self) -> None:
        super().__init__("empty file: nothing to store")


class BlobNotFound(StorageError):
    """No object under that key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no stored object under key {key!r}")
        self.key = key


@dataclass(frozen=True, slots=True)
class StoredBlob:
    sha256: str
    size: int
    key: str
    media_type: str
    created: bool  # False when identical content was already stored (deduplicated)


class PendingBlob:
    """A blob whose bytes have all been received, which the store may still be making: on S3, the last
    parts and ``CompleteMultipartUpload`` run while the request records its rows (about 0.1-0.2 s per
    large file, measured). ``blob`` is known at once (its SHA-256, size, key, type); ``result()`` returns
    it once it is stored, or raises the store's error, after which nothing of the upload is left."""

    def __init__(self, blob: StoredBlob, stored: Future[None] | None = None) -> None:
        self.blob = blob
        self._stored = stored

    def result(self) -> StoredBlob:
        if self._stored is not None:
            self._stored.result()
        return self.blob


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime  # timezone-aware, UTC


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


@runtime_checkable
class Storage(Protocol):
    """What the application may ask of an evidence store, whatever the backend."""

    @property
    def description(self) -> str:
        """Where the blobs live, e.g. ``s3://bucket/prefix`` or ``file:///srv/evidence``; no secret."""
        ...

    def put_stream(self, stream: Readable, *, max_size: int | None = None, filename: str | None = None) -> StoredBlob:
        """Store a stream under its SHA-256, reading it in chunks; ``filename`` only helps sniffing."""
        ...

    def begin_upload(self, *, max_size: int | None = None, filename: str | None = None) -> BlobWriter:
        """A writer to push an upload's bytes into as they arrive; ``finish()`` gives the blob."""
        ...

    def adopt(self, key: str, *, max_size: int | None = None, filename: str | None = None) -> StoredBlob:
        """Turn an object uploaded under ``key`` (presigned POST) into a blob, then remove ``key``."""
        ...

    def open(self, key: str) -> BlobReader:
        """Open a stored object for reading (a context manager, iterable in chunks)."""
        ...

    def iter_chunks(self, key: str, chunk_size: int = MiB) -> Iterator[bytes]:
        """Yield the object's bytes in chunks of at most ``chunk_size``."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""
        ...

    def iter_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every stored object whose key starts with ``prefix``, temporary leftovers included."""
        ...

    def presigned_get_url(
        self, key: str, *, filename: str, content_type: str, inline: bool, expires: int = 60
    ) -> str | None:
        """A short-lived direct download URL, or None when the backend has none (local disk)."""
        ...

    def presigned_post(self, *, key: str, max_size: int, content_type: str, expires: int = 600) -> dict | None:
        """Form fields for a browser upload straight to the store, or None when unsupported."""
        ...

    def abort_stale_uploads(self, older_than: timedelta) -> int:
        """Abort unfinished multipart uploads started before now - ``older_than``; return how many."""
        ...

    def check(self) -> None:
        """Raise StorageUnavailable, in plain words, unless the store is usable."""
        ...


class BlobReader:
    """A read-only stored object: ``read(n)``, iteration in chunks, ``close()``, ``with``."""

    def __init__(
        self,
        read: Callable[[int], bytes],
        close: Callable[[], None],
        *,
        size: int,
        chunk_size: int = MiB,
    ) -> None:
        self._read = read
        self._close = close
        self.size = size
        self.chunk_size = chunk_size
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        if self.closed:
            raise ValueError("read from a closed blob")
        return self._read(n)

    def readable(self) -> bool:
        return True

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(self.chunk_size):
            yield chunk

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Intake:
    """Reads an upload stream, hashing, counting and keeping its first bytes for sniffing.

    ``read(n)`` never returns more than asked and never reads past ``max_size + 1`` bytes, so
    an oversized upload is refused after one byte too many, not one chunk too many.
    """

    def __init__(self, stream: Readable, max_size: int | None) -> None:
        if max_size is not None and max_size < 1:
            raise ValueError("max_size must be a positive number of bytes")
        self._stream = stream
        self.max_size = max_size
        self.size = 0
        self._sha = hashlib.sha256()
        self._head = bytearray()

    def read(self, n: int) -> bytes:
        if self.max_size is not None:
            n = min(n, self.max_size + 1 - self.size)
        piece = self._stream.read(n)
        if piece is None:  # a non-blocking raw stream with nothing ready: not supported
            raise StorageError("the upload stream returned no data (non-blocking stream?)")
        if not piece:
            return b""
        self.size += len(piece)
        if self.max_size is not None and self.size > self.max_size:
            raise BlobTooLarge(self.max_size, self.size)
        self._sha.update(piece)
        if len(self._head) < SNIFF_SIZE:
            self._head += piece[: SNIFF_SIZE - len(self._head)]
        return piece

    def read_full(self, n: int, piece_size: int = MiB) -> bytearray:
        """Read exactly ``n`` bytes, or fewer at the end of the stream."""
        block = bytearray()
        while len(block) < n:
            piece = self.read(min(piece_size, n - len(block)))
            if not piece:
                break
            block += piece
        return block

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def media_type(self, filename: str | None = None) -> str:
        return sniff_media_type(bytes(self._head), filename)


class BlobWriter:
    """The writing end of an upload whose bytes are pushed in (``write``), not pulled from a stream.

    It counts, hashes (SHA-256) and keeps the first bytes for sniffing; backends subclass it and
    implement ``_accept`` (take these bytes), ``_complete`` (make the blob; or ``_complete_later``,
    which may leave the last step under way) and ``_discard`` (leave nothing). ``write`` raises
    ``BlobTooLarge`` as soon as ``max_size`` is passed, after discarding what was written; ``abort``
    discards an unfinished upload (idempotent).
    """

    def __init__(self, max_size: int | None, filename: str | None) -> None:
        if max_size is not None and max_size < 1:
            raise ValueError("max_size must be a positive number of bytes")
        self.max_size = max_size
        self.filename = filename
        self.size = 0
        self.done = False
        self._head = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.done:
            raise StorageError("write to a finished or aborted upload")
        n = len(data)
        if not n:
            return
        if self.max_size is not None and self.size + n > self.max_size:
            self.size += n
            self.abort()
            raise BlobTooLarge(self.max_size, self.size)
        self.size += n
        if len(self._head) < SNIFF_SIZE:
            self._head += data[: SNIFF_SIZE - len(self._head)]
        try:
            self._accept(data)
        except BaseException:
            self.abort()
            raise

    def finish(self) -> StoredBlob:
        """Store what was written; an empty upload raises ``EmptyBlob`` and leaves nothing."""
        return self.finish_later().result()

    def finish_later(self) -> PendingBlob:
        """Like ``finish``, but the store's last step may still be under way (see ``PendingBlob``): the
        caller records the blob meanwhile and calls ``result()`` before it commits anything."""
        if self.done:
            raise StorageError("finish of a finished or aborted upload")
        if self.size == 0:
            self.abort()
            raise EmptyBlob()
        try:
            pending = self._complete_later(sniff_media_type(bytes(self._head), self.filename))
        except BaseException:
            self.abort()
            raise
        self.done = True
        return pending

    def abort(self) -> None:
        if not self.done:
            self.done = True
            self._discard()

    def _accept(self, data: bytes | bytearray | memoryview) -> None:
        raise NotImplementedError

    def _complete(self, media_type: str) -> StoredBlob:
        raise NotImplementedError

    def _complete_later(self, media_type: str) -> PendingBlob:
        return PendingBlob(self._complete(media_type))

    def _discard(self) -> None:
        raise NotImplementedError


def copy_stream(stream: Readable, writer: BlobWriter, read_size: int) -> StoredBlob:
    """Pull a stream into a writer; never asks the stream for more than ``max_size + 1`` bytes."""
    try:
        while True:
            n = read_size
            if writer.max_size is not None:
                n = max(1, min(n, writer.max_size + 1 - writer.size))
            piece = stream.read(n)
            if piece is None:  # a non-blocking raw stream with nothing ready: not supported
                raise StorageError("the upload stream returned no data (non-blocking stream?)")
            if not piece:
                break
            writer.write(piece)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


def blob_key(sha256: str) -> str:
    """The content-addressed key of a blob."""
    if not _SHA256_RE.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"{BLOB_PREFIX}{sha256[:2]}/{sha256}"


def check_key(key: str) -> str:
    """Refuse keys that could escape the store (``..``, absolute paths, odd characters)."""
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValueError(f"invalid storage key: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key-like string (a trailing slash is allowed)."""
    if prefix and not _KEY_RE.fullmatch(prefix.removesuffix("/")):
        raise ValueError(f"invalid storage prefix: {prefix!r}")
    return prefix


def content_disposition(filename: str, *, inline: bool) -> str:
    """A Content-Disposition value per RFC 6266, with an RFC 5987 ``filename*`` when not ASCII."""
    kind = "inline" if inline else "attachment"
    # Only the last path component, without control characters.
    name = re.split(r"[/\\]", filename)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip() or "download"
    fallback = re.sub(r'["\\%]', "_", ascii_fold(name)).strip()
    if not fallback or fallback.startswith("."):  # nothing left of the name but its extension
        fallback = f"download{fallback}"
    if fallback == name:
        return f'{kind}; filename="{name}"'
    encoded = quote(name, safe="!#$&+-.^_`|~")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
