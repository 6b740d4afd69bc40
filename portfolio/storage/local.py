"""Evidence store on local disk: ``<root>/blobs/<sha[:2]>/<sha>``, uploads staged in ``<root>/tmp/``."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from portfolio.storage.base import (
    TMP_PREFIX,
    BlobNotFound,
    BlobReader,
    BlobTooLarge,
    BlobWriter,
    EmptyBlob,
    MiB,
    ObjectInfo,
    Readable,
    StorageUnavailable,
    StoredBlob,
    blob_key,
    check_key,
    check_prefix,
    copy_stream,
)

CHUNK_SIZE = MiB


class LocalStorage:
    """Blobs as files under one directory, created on first use.

    The staging directory sits inside the root so that the final ``os.replace`` stays on one
    filesystem and is atomic: a blob path either holds the complete file or does not exist.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        root = Path(root)
        if not root.is_absolute():
            raise ValueError(f"local storage needs an absolute path, not {str(root)!r}")
        self.root = root

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    @property
    def description(self) -> str:
        return self.root.as_uri()

    # -- writing ------------------------------------------------------------------------------

    def put_stream(self, stream: Readable, *, max_size: int | None = None, filename: str | None = None) -> StoredBlob:
        # Only the disk's errors are wrapped; the stream's own belong to the caller.
        return copy_stream(stream, self.begin_upload(max_size=max_size, filename=filename), CHUNK_SIZE)

    def begin_upload(self, *, max_size: int | None = None, filename: str | None = None) -> BlobWriter:
        return _LocalWriter(self, max_size, filename)

    def adopt(self, key: str, *, max_size: int | None = None, filename: str | None = None) -> StoredBlob:
        try:
            with self.open(key) as source:
                blob = self.put_stream(source, max_size=max_size, filename=filename)
        except (BlobTooLarge, EmptyBlob):
            self.delete(key)
            raise
        self.delete(key)
        return blob

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A full, read-only or missing disk makes the store unavailable, said in plain words."""
        try:
            yield
        except OSError as exc:
            raise StorageUnavailable(
                f"cannot write to the storage directory {self.root}: {exc.strerror or exc}"
            ) from exc

    def _staging_file(self) -> Path:
        tmp_dir = self.root / TMP_PREFIX
        with self._writing():
            tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
            os.close(fd)
        return Path(name)

    def _commit(self, tmp_path: Path, sha256: str, size: int, media_type: str) -> StoredBlob:
        key = blob_key(sha256)
        final = self.root / key
        created = not final.exists()
        if created:
            with self._writing():
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_path, final)
                _fsync_dir(final.parent)
        return StoredBlob(sha256=sha256, size=size, key=key, media_type=media_type, created=created)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def abort_stale_uploads(self, older_than: timedelta) -> int:
        # Local uploads leave no hidden state: staging leftovers are listed by iter_objects("tmp/").
        return 0

    # -- reading ------------------------------------------------------------------------------

    def open(self, key: str) -> BlobReader:
        path = self._path(key)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the BlobReader
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise BlobNotFound(key) from exc
        return BlobReader(handle.read, handle.close, size=os.fstat(handle.fileno()).st_size)

    def iter_chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        with self.open(key) as blob:
            while chunk := blob.read(chunk_size):
                yield chunk

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        return path.stat().st_size

    def iter_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        # Walk only the folder the prefix points into: listing tmp/ must not visit every blob.
        start = self.root / prefix.rpartition("/")[0]
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath, name)
                key = path.relative_to(self.root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:  # removed while we walked
                    continue
                yield ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def presigned_get_url(
        self, key: str, *, filename: str, content_type: str, inline: bool, expires: int = 60
    ) -> str | None:
        return None  # the application streams local files itself

    def presigned_post(self, *, key: str, max_size: int, content_type: str, expires: int = 600) -> dict | None:
        return None

    def check(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise StorageUnavailable(f"the storage path {self.root} exists but is not a directory")
        probe = self._staging_file()  # creates the directories when missing
        probe.unlink()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)


class _LocalWriter(BlobWriter):
    """Bytes go to a staging file under ``tmp/``, renamed to the blob's path once complete."""

    def __init__(self, storage: LocalStorage, max_size: int | None, filename: str | None) -> None:
        super().__init__(max_size, filename)
        self._storage = storage
        self._sha = hashlib.sha256()
        self._path = storage._staging_file()
        self._out = open(self._path, "wb")  # noqa: SIM115 - closed by _complete or _discard

    def _accept(self, data: bytes | bytearray | memoryview) -> None:
        self._sha.update(data)
        with self._storage._writing():
            self._out.write(data)

    def _complete(self, media_type: str) -> StoredBlob:
        try:
            with self._storage._writing():
                self._out.flush()
                os.fsync(self._out.fileno())
                self._out.close()
            return self._storage._commit(self._path, self._sha.hexdigest(), self.size, media_type)
        finally:
            # Still there after a deduplicated upload.
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()

    def _discard(self) -> None:
        self._out.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()


def _fsync_dir(path: Path) -> None:
    """Make a rename durable: the directory entry must reach the disk too."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
