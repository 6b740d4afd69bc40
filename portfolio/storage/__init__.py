"""The evidence store: one interface (``Storage``), a local-disk and an S3 implementation.

The application reaches it through ``get_storage()``; ``init_app`` builds it from the
``STORAGE_URL`` setting (``file:///absolute/path`` or ``s3://bucket[/prefix]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from flask import current_app

from portfolio.storage.base import (
    BlobNotFound,
    BlobReader,
    BlobTooLarge,
    EmptyBlob,
    ObjectInfo,
    PendingBlob,
    Storage,
    StorageError,
    StorageUnavailable,
    StoredBlob,
    blob_key,
    content_disposition,
)
from portfolio.storage.local import LocalStorage
from portfolio.storage.s3 import S3Storage
from portfolio.storage.sniff import sniff_media_type

if TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "BlobNotFound",
    "BlobReader",
    "BlobTooLarge",
    "EmptyBlob",
    "LocalStorage",
    "ObjectInfo",
    "PendingBlob",
    "S3Storage",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "StoredBlob",
    "blob_key",
    "content_disposition",
    "create_storage",
    "get_storage",
    "init_app",
    "sniff_media_type",
]

EXTENSION_KEY = "portfolio.storage"
_S3_OPTIONS = {"addressing", "region", "parts", "part_mib"}


def create_storage(url: str, **options: Any) -> Storage:
    """Build the store a URL names; no network call is made here.

    ``file:///absolute/path`` gives a LocalStorage; ``s3://bucket[/prefix][?addressing=path&region=...&parts=N&part_mib=M]``
    an S3Storage (credentials and endpoint from boto3's standard configuration). ``options``
    are passed to the constructor and win over the query string.
    """
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"storage URL {url!r} must name an absolute path, like file:///srv/evidence")
        if parts.query or parts.fragment:
            raise ValueError(f"storage URL {url!r}: a file URL takes no query or fragment")
        return _build(url, LocalStorage, unquote(parts.path), **options)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"storage URL {url!r} names no bucket: use s3://bucket[/prefix]")
        if "@" in parts.netloc or ":" in parts.netloc:
            raise ValueError(
                f"storage URL {url!r}: put credentials and endpoint in the AWS_* environment, not in the URL"
            )
        query = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query)))
        unknown = sorted(set(query) - _S3_OPTIONS)
        if unknown:
            raise ValueError(f"storage URL {url!r}: unknown option {unknown[0]!r}"
                             " (allowed: addressing, region, parts, part_mib)")
        return _build(url, S3Storage, parts.netloc, unquote(parts.path), **{**query, **options})
    raise ValueError(f"unsupported storage URL {url!r}: use file:///absolute/path or s3://bucket[/prefix]")


def _build(url: str, kind: type[Storage], *args: Any, **options: Any) -> Storage:
    try:
        return kind(*args, **options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"storage URL {url!r}: {exc}") from None


def init_app(app: Flask) -> None:
    """Create the store from ``app.config["STORAGE_URL"]`` and keep it on the app's extensions."""
    url = app.config.get("STORAGE_URL")
    if not url:
        raise ValueError("STORAGE_URL is not set: use file:///absolute/path or s3://bucket[/prefix]")
    app.extensions[EXTENSION_KEY] = create_storage(url)


def get_storage() -> Storage:
    """The current application's evidence store."""
    try:
        return current_app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError("the evidence store is not set up: call portfolio.storage.init_app(app)") from None
