"""Multipart file parts streamed straight into the evidence store while the request is parsed.

Werkzeug's parser normally spools each file part to a temporary file, which the view then reads
again to send it to the store: every byte is written to and read from local disk once more. Where
a view opts in (``stream_files_to``), each file part is instead handed, chunk by chunk, to a thread
that runs ``Storage.put_stream`` on it: the part is hashed and sent (multipart, on S3) while it is
still arriving, and memory stays bounded by a small queue. The part's ``stream`` then carries the
stored blob (``finish_upload()``), or the storage error, as if ``put_stream`` had been called on it.
"""

from __future__ import annotations

import queue
import threading
from typing import IO, Any

from flask import Request, g

from portfolio.storage import BlobTooLarge, Storage, StoredBlob

CHUNKS_IN_FLIGHT = 16  # werkzeug writes ~64 KiB at a time: a few MiB of buffer at most


class _QueueReader:
    """The reading end: what ``put_stream`` consumes."""

    def __init__(self, chunks: queue.Queue) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._done = False

    def read(self, n: int = -1) -> bytes:
        while not self._done and (n < 0 or len(self._buffer) < n):
            chunk = self._chunks.get()
            if chunk is None:
                self._done = True
            else:
                self._buffer += chunk
        if n < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data


class StoreSink:
    """The writing end, handed to werkzeug as the part's file: bytes go to the store as they come."""

    def __init__(self, storage: Storage, max_size: int | None, filename: str | None) -> None:
        self._chunks: queue.Queue = queue.Queue(maxsize=CHUNKS_IN_FLIGHT)
        self._result: StoredBlob | None = None
        self._error: BaseException | None = None
        self.written = 0
        self._thread = threading.Thread(target=self._run, args=(storage, max_size, filename),
                                        name="upload-sink", daemon=True)
        self._thread.start()

    def _run(self, storage: Storage, max_size: int | None, filename: str | None) -> None:
        try:
            self._result = storage.put_stream(_QueueReader(self._chunks), max_size=max_size, filename=filename)
        except BaseException as exc:  # handed over to the request thread by finish_upload()
            self._error = exc

    def write(self, data: bytes) -> int:
        self.written += len(data)
        # Once the store has stopped reading (a limit, an error), the rest is only counted.
        while self._thread.is_alive():
            try:
                self._chunks.put(bytes(data), timeout=0.5)
                break
            except queue.Full:
                continue
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:  # werkzeug rewinds the file after writing it
        return 0

    def finish_upload(self) -> StoredBlob:
        """Wait for the store; return the blob, or raise what ``put_stream`` raised."""
        while self._thread.is_alive():
            try:
                self._chunks.put(None, timeout=0.5)
                break
            except queue.Full:
                continue
        self._thread.join()
        if isinstance(self._error, BlobTooLarge):
            raise BlobTooLarge(self._error.limit, self.written) from self._error
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def read(self, n: int = -1) -> bytes:  # the bytes are in the store, not here
        raise OSError("this upload was streamed to the evidence store")

    def close(self) -> None:
        if self._thread.is_alive():
            self.finish_upload_quietly()

    def finish_upload_quietly(self) -> None:
        try:
            self.finish_upload()
        except BaseException:  # noqa: BLE001 — a part nobody asked for: its object is swept later
            return


class StreamingRequest(Request):
    """A request whose file parts go straight to the store when the view asked for it."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        target: tuple[Storage, int | None] | None = g.get("upload_store")
        if target is None or not filename:
            return super()._get_file_stream(total_content_length, content_type, filename, content_length)
        storage, max_size = target
        sink: Any = StoreSink(storage, max_size, filename)
        return sink


def stream_files_to(storage: Storage, max_size: int | None) -> None:
    """Call before touching ``request.form``/``request.files``: file parts then stream to ``storage``."""
    g.upload_store = (storage, max_size)
