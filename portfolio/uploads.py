"""Uploads streamed into the evidence store while the request body arrives, within every limit.

A view that receives files says so with :func:`streams_uploads` (the field names that may carry files).
For such a view the request class parses ``multipart/form-data`` itself, in one pass over the body:

* plain fields are kept in memory, each within ``MAX_FORM_MEMORY_SIZE`` and all together within
  ``MAX_FORM_FIELDS_SIZE``, at most ``MAX_FORM_PARTS`` parts;
* the CSRF token is checked before the first file part (from the ``X-CSRFToken`` header, or from the
  ``csrf_token`` field, which the page sends first): nothing is stored for a forged request;
* each file part goes straight into a store writer (``Storage.begin_upload``): hashed and sent, as
  multipart on S3, while it arrives; no temporary copy on local disk;
* limits hold on every part, named or not: the per-file size, the number of files, the person's quota
  (bytes reserved in the database as they arrive, ``services.quota``), a file part under an
  unexpected name; the body itself has a hard maximum (``MAX_UPLOAD_REQUEST_SIZE``, counted while
  reading, with or without Content-Length). A refused part stops being stored at once; the rest of the
  body is read and dropped, so that the client gets the answer, which names the limit;
* a request that does not commit its files leaves nothing: when it ends, the objects it stored are
  deleted (unless a row refers to them) and its reservation is released.

Other requests keep werkzeug's parser, with a hard maximum of their own (``MAX_REQUEST_SIZE``).

Over 400 lines: one streaming multipart parser and its limits, whose parts share the request's state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Request, current_app, g
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.datastructures import FileStorage, Headers, MultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.http import parse_options_header
from wtforms import ValidationError

from portfolio.body_reader import ReadInto, body_reader
from portfolio.extensions import csrf
from portfolio.formatting import human_size
from portfolio.services import file_rules, quota
from portfolio.storage import BlobTooLarge, EmptyBlob, PendingBlob, StorageError, get_storage
from portfolio.upload_batch import BATCH_KEY as _BATCH
from portfolio.upload_batch import StoredFile, UploadBatch

log = logging.getLogger("portfolio")

BUFFER_SIZE = 1024 * 1024  # the body buffer: at most this much is asked of the input stream at a time
HEADERS_MAX = 16 * 1024  # one part's headers
CSRF_HEADERS = ("X-CSRFToken", "X-CSRF-Token")


class RequestTooLarge(RequestEntityTooLarge):
    """413 with a message that names the limit passed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(_("La requête dépasse la taille maximale de %(limit)s.", limit=human_size(limit)))


@dataclass(frozen=True)
class UploadTarget:
    fields: frozenset[str]
    owner: Callable[[], Any]


def _current_user() -> Any:
    return current_user if current_user.is_authenticated else None


def streams_uploads(*fields: str, owner: Callable[[], Any] | None = None):
    """Mark a view whose ``fields`` carry files (put it under the route and access decorators)."""

    def decorate(view):
        view.streams_uploads = UploadTarget(frozenset(fields), owner or _current_user)
        return view

    return decorate


# --- the multipart parser ---------------------------------------------------------------------------

class _Body:
    """The request body, read straight into one buffer (``readinto``: no copy on the way, see
    ``portfolio.body_reader``) and counted against a hard maximum. ``buf[pos:end]`` is what has not
    been consumed yet; the buffer never grows, so views of it handed out stay valid until ``fill``."""

    def __init__(self, readinto: ReadInto, limit: int | None, size: int = BUFFER_SIZE) -> None:
        self._readinto = readinto
        self.limit = limit
        self.total = 0
        self.buf = bytearray(size)
        self.buf[:2] = b"\r\n"  # so that the first boundary looks like every other one
        self.pos = 0
        self.end = 2

    def fill(self) -> bool:
        """Move what is left to the front, then read as much as fits after it; False at the end."""
        left = self.end - self.pos
        if self.pos:
            self.buf[:left] = self.buf[self.pos:self.end]  # same length: the buffer is not resized
            self.pos, self.end = 0, left
        if self.end == len(self.buf):
            raise BadRequest(_("Formulaire incomplet ou mal formé."))  # callers bound what they wait for
        try:
            with memoryview(self.buf) as view:
                n = self._readinto(view[self.end:])
        except RequestEntityTooLarge as exc:  # werkzeug's own count of a body without Content-Length
            if self.limit is None or isinstance(exc, RequestTooLarge):
                raise
            raise _too_large(self.limit) from None
        if not n:
            return False
        self.total += n
        if self.limit is not None and self.total > self.limit:
            raise _too_large(self.limit)
        self.end += n
        return True

    def need(self, n: int) -> None:
        while self.end - self.pos < n:
            if not self.fill():
                raise BadRequest(_("Formulaire incomplet ou mal formé."))


def _parse_part_headers(raw: bytes) -> Headers:
    headers = Headers()
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers.add(name.strip(), value.strip())
    return headers


class _Handler:
    """What to do with each part: fields in memory, files into the store."""

    def __init__(self, request: StreamingRequest, target: UploadTarget) -> None:
        config = current_app.config
        self.request = request
        self.target = target
        self.rules = file_rules
        self.storage = get_storage()
        self.per_file = config["MAX_FILE_SIZE"]
        self.max_files = config["MAX_FILES_PER_EVIDENCE"]
        self.quota = config["MAX_BYTES_PER_USER"]
        self.field_max = config.get("MAX_FORM_MEMORY_SIZE") or 500_000
        self.fields_max = config["MAX_FORM_FIELDS_SIZE"]
        self.parts_max = config.get("MAX_FORM_PARTS") or 1000
        owner = target.owner()
        owner_id = getattr(owner, "id", None)
        self.used_at_start = quota.used_bytes(owner_id) if owner_id is not None else 0
        reservation = quota.Reservation(owner_id, self.quota) if owner_id is not None else None
        self.batch = UploadBatch(owner_id, reservation)
        g.setdefault(_BATCH, self.batch)
        self.fields: list[tuple[str, str]] = []
        self.files: list[tuple[str, FileStorage]] = []
        self.fields_size = 0
        self.parts = 0
        self.file_parts = 0
        self.csrf_checked = False

    # fields
    def field(self, name: str, value: bytearray, headers: Headers) -> None:
        _kind, options = parse_options_header(headers.get("Content-Type", "text/plain"))
        charset = options.get("charset", "utf-8")
        try:
            text = value.decode(charset, "replace")
        except LookupError:
            text = value.decode("utf-8", "replace")
        self.fields.append((name, text))

    def field_bytes(self, n: int, size: int) -> None:
        self.fields_size += n
        if size > self.field_max or self.fields_size > self.fields_max:
            raise RequestTooLarge(_("Les champs du formulaire dépassent la taille permise (%(limit)s).",
                                    limit=human_size(min(self.field_max, self.fields_max))))

    # files
    def check_csrf(self) -> None:
        if self.csrf_checked:
            return
        self.csrf_checked = True
        config = current_app.config
        if not config.get("WTF_CSRF_ENABLED", True) or not _csrf_protected():
            return
        token = next((self.request.headers[h] for h in CSRF_HEADERS if self.request.headers.get(h)), None)
        if token is None:
            token = next((v for k, v in self.fields if k == config.get("WTF_CSRF_FIELD_NAME", "csrf_token")), None)
        try:
            validate_csrf(token)
        except ValidationError as exc:
            raise CSRFError(exc.args[0]) from None

    def start_file(self, name: str, filename: str) -> _FilePart:
        self.check_csrf()
        return _FilePart(self, name, filename)


def _csrf_protected() -> bool:
    """False for views exempted from CSRF protection (the API, authenticated by a bearer token)."""
    return not csrf._is_exempt()


class _FilePart:
    def __init__(self, handler: _Handler, name: str, filename: str) -> None:
        self.h = handler
        self.name = name
        self.filename = self.h.rules.clean_filename(filename) if filename else ""
        self.size = 0
        self.writer: Any = None
        self.error: BaseException | None = None
        self.refused: str | None = None
        batch = handler.batch
        if batch.refusal is not None:
            return
        if name not in handler.target.fields:
            batch.refuse(self.h.rules.DomainError(
                _("Partie de fichier inattendue « %(name)s » : l'envoi est refusé, rien n'a été enregistré.",
                  name=name[:60]), field="files"))
            return
        try:
            self.writer = handler.storage.begin_upload(max_size=handler.per_file, filename=self.filename or None)
        except StorageError as exc:
            self.error = exc

    def data(self, piece: memoryview) -> None:
        n = len(piece)
        if not n:
            return
        h = self.h
        if self.size == 0 and self.writer is not None:
            h.file_parts += 1
            if h.file_parts > h.max_files:
                self._stop()
                h.batch.refuse(h.rules.LimitExceeded(
                    _("Une preuve peut contenir au plus %(max)d fichiers : l'envoi en contient davantage.",
                      max=h.max_files), field="files"))
        self.size += n
        if self.writer is None:
            return
        h.batch.bytes += n
        reservation = h.batch.reservation
        if reservation is not None and not reservation.cover(h.batch.bytes):
            self._stop()
            self.refused = "quota"
            return
        try:
            self.writer.write(piece)
        except BlobTooLarge:
            self.writer = None
            self.refused = "size"
        except StorageError as exc:
            self.writer = None
            self.error = exc

    def _stop(self) -> None:
        if self.writer is not None:
            self.writer.abort()
            self.writer = None

    def end(self) -> None:
        h = self.h
        if self.refused is not None:
            remaining = h.quota - h.used_at_start - (h.batch.bytes - self.size)
            h.batch.refuse(h.rules.size_refusal(self.filename or "fichier", self.size, h.per_file, h.quota,
                                                   remaining))
        if self.size == 0 and not self.filename:  # an empty file input: no file at all
            self._stop()
            return
        if h.batch.refusal is not None:
            # Nothing more is stored; the part stays visible so that the view meets the refusal.
            self._stop()
            if self.name in h.target.fields:
                # A StoredFile stands in for the stream (its bytes are in the store); werkzeug types it IO[bytes].
                h.files.append((self.name, FileStorage(StoredFile(h.batch, None, h.batch.refusal),  # type: ignore[arg-type]
                                                       self.filename or "fichier", self.name)))
            return
        pending: PendingBlob | None = None
        if self.writer is not None:
            try:
                # On S3 the last parts and the upload's completion go on while the view records the rows
                # (the service confirms them before its flush is committed).
                pending = self.writer.finish_later()
            except (EmptyBlob, StorageError) as exc:
                self.error = exc
            else:
                h.batch.stored.append(pending.blob)
                h.batch.pending.append(pending)
        elif self.error is None:
            self.error = EmptyBlob()
        stored = StoredFile(h.batch, pending, self.error)
        # A StoredFile stands in for the stream (its bytes are in the store); werkzeug types it IO[bytes].
        h.files.append((self.name, FileStorage(stored, self.filename or "fichier", self.name,  # type: ignore[arg-type]
                                               headers=Headers({"Content-Length": str(self.size)}))))

    def abort(self) -> None:
        self._stop()


def parse_multipart(body: _Body, boundary: bytes, handler: _Handler) -> None:
    delim = b"\r\n--" + boundary
    keep = len(delim) - 1
    # The preamble, up to the first boundary.
    _scan(body, delim, keep, None)
    while True:
        body.need(2)
        tail = body.buf[body.pos:body.pos + 2]
        if tail == b"--":
            return  # the closing boundary: the epilogue is ignored, never read
        while True:  # optional whitespace, then the line break
            end = body.buf.find(b"\r\n", body.pos, body.end)
            if end >= 0:
                body.pos = end + 2
                break
            if body.end - body.pos > 256 or not body.fill():
                raise BadRequest(_("Formulaire incomplet ou mal formé."))
        while True:
            end = body.buf.find(b"\r\n\r\n", body.pos, body.end)
            if end >= 0:
                break
            if body.end - body.pos > HEADERS_MAX or not body.fill():
                raise BadRequest(_("Formulaire incomplet ou mal formé."))
        headers = _parse_part_headers(bytes(body.buf[body.pos:end]))
        # The blank line's second CRLF may also be the one before the next boundary (empty data).
        body.pos = end + 2
        body.need(len(delim))
        empty = body.buf.startswith(delim, body.pos, body.end)
        body.pos += len(delim) if empty else 2
        handler.parts += 1
        if handler.parts > handler.parts_max:
            raise RequestTooLarge(_("Le formulaire contient trop de parties (%(max)d au plus).",
                                    max=handler.parts_max))
        _disposition, options = parse_options_header(headers.get("Content-Disposition", ""))
        name = options.get("name", "")
        filename = options.get("filename")
        if filename is None:
            value = bytearray()

            def add(piece: memoryview, value: bytearray = value) -> None:
                handler.field_bytes(len(piece), len(value) + len(piece))
                value.extend(piece)

            if not empty:
                _scan(body, delim, keep, add)
            handler.field(name, value, headers)
        else:
            part = handler.start_file(name, filename)
            try:
                if not empty:
                    _scan(body, delim, keep, part.data)
            except BaseException:
                part.abort()
                raise
            part.end()


def _scan(body: _Body, delim: bytes, keep: int, emit: Callable[[memoryview], None] | None) -> None:
    """Hand over the bytes up to the next delimiter (as views, no copy), and step past it."""
    while True:
        buf = body.buf
        i = buf.find(delim, body.pos, body.end)
        if i >= 0:
            if emit is not None and i > body.pos:
                emit(memoryview(buf)[body.pos:i])
            body.pos = i + len(delim)
            return
        safe = body.end - keep
        if safe > body.pos:
            if emit is not None:
                emit(memoryview(buf)[body.pos:safe])
            body.pos = safe
        if not body.fill():
            raise BadRequest(_("Formulaire incomplet ou mal formé."))


class StreamingRequest(Request):
    """Parses the multipart body of views marked with :func:`streams_uploads` itself (see above)."""

    def _upload_target(self) -> UploadTarget | None:
        if self.endpoint is None:
            return None
        view = current_app.view_functions.get(self.endpoint)
        return getattr(view, "streams_uploads", None)

    # Flask's Request lets max_content_length be set; here it is worked out per view and never set.
    @property  # type: ignore[misc]
    def max_content_length(self) -> int | None:  # type: ignore[override]
        if self._upload_target() is not None:
            return current_app.config["MAX_UPLOAD_REQUEST_SIZE"]
        return current_app.config["MAX_REQUEST_SIZE"]

    def _load_form_data(self) -> None:
        if "form" in self.__dict__:
            return
        target = self._upload_target()
        if target is None or self.mimetype != "multipart/form-data":
            return super()._load_form_data()
        boundary = self.mimetype_params.get("boundary", "").encode("latin-1")
        if not boundary or len(boundary) > 200:
            raise BadRequest(_("Formulaire mal formé : délimiteur absent ou trop long."))
        limit = self.max_content_length
        if limit is not None and self.content_length is not None and self.content_length > limit:
            raise _too_large(limit)  # before reading a byte
        handler = _Handler(self, target)
        try:
            body = _Body(body_reader(self.environ, self.stream), limit)
            parse_multipart(body, boundary, handler)
        except BaseException:
            self.__dict__["form"] = MultiDict()
            self.__dict__["files"] = MultiDict()
            raise
        self.__dict__["form"] = MultiDict(handler.fields)
        self.__dict__["files"] = MultiDict(handler.files)


def _teardown(_exc: BaseException | None) -> None:
    batch = g.pop(_BATCH, None)
    if batch is not None:
        try:
            batch.clean_up()
        except Exception:
            log.exception("could not clean up a refused upload")


def init_app(app: Flask) -> None:
    app.teardown_request(_teardown)
