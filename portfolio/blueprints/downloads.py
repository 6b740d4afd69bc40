"""Files sent to the browser, written once: the headers every download carries, and a stored blob's
download (a presigned redirect on S3, streamed from local disk). Who may download, and the read
audit, stay with the view: it checks and records before it calls these."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Response, redirect
from werkzeug.wrappers import Response as BaseResponse

from portfolio.models import Blob
from portfolio.storage import content_disposition, get_storage

NO_STORE = "private, no-store"


def file_response(body: bytes | Iterable[bytes], filename: str, *, mimetype: str | None = None,
                  content_type: str | None = None, size: int | None = None, inline: bool = False,
                  csp: str | None = None, cache: str = NO_STORE) -> Response:
    """A download: Content-Disposition (``inline`` or attachment), the length when known, ``nosniff``,
    the sandbox ``csp`` of a file shown inline, and no caching by default."""
    response = Response(body, mimetype=mimetype, content_type=content_type,
                        direct_passthrough=not isinstance(body, bytes))
    if size is not None:
        response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = content_disposition(filename, inline=inline)
    response.headers["X-Content-Type-Options"] = "nosniff"
    if csp:
        response.headers["Content-Security-Policy"] = csp
    response.headers["Cache-Control"] = cache
    return response


def blob_download(blob: Blob, filename: str, *, inline: bool, csp: str | None = None,
                  mimetype: bool = True) -> BaseResponse:
    """A stored file: a presigned URL valid 60 seconds on S3, else streamed. Raises StorageError.

    ``mimetype=False`` sends the stored media type as is (no charset added to text types)."""
    storage = get_storage()
    url = storage.presigned_get_url(blob.storage_key, filename=filename, content_type=blob.media_type,
                                    inline=inline, expires=60)
    if url:
        return redirect(url, code=302)
    chunks = storage.iter_chunks(blob.storage_key)
    kind = {"mimetype": blob.media_type} if mimetype else {"content_type": blob.media_type}
    return file_response(chunks, filename, size=blob.size, inline=inline, csp=csp, **kind)
