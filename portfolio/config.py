"""Configuration: code defaults, then ``instance/config.py``, then ``PORTFOLIO_*`` variables.

Everything is checked once at start-up by :func:`validate_config`, which raises
:class:`ConfigError` with one line naming the bad setting.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: The development secret: fine on a laptop, refused in production.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105

ENVIRONMENTS = ("development", "testing", "production")


class ConfigError(RuntimeError):
    """A setting that prevents the application from starting safely."""


def default_config(instance_path: str) -> dict[str, Any]:
    """Return the code defaults; paths that depend on the instance folder are resolved here."""
    instance = Path(instance_path)
    return {
        # "production" is the default on purpose: a forgotten setting must fail closed.
        "ENV": "production",
        "SECRET_KEY": None,
        "DATABASE_URL": f"sqlite:///{instance / 'portfolio.sqlite3'}",
        "STORAGE_URL": f"file://{instance / 'evidence'}",
        "REDIS_URL": None,
        "BABEL_DEFAULT_LOCALE": "fr",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Paris",
        "LANGUAGES": ("fr", "en"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": None,  # decided from ENV when left unset
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_DURATION": 14 * 24 * 3600,
        "PERMANENT_SESSION_LIFETIME": 12 * 3600,
        "WTF_CSRF_TIME_LIMIT": 4 * 3600,
        "LOGIN_RATE_LIMIT": "10 per minute;50 per hour",
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        # Who may frame the app: LTI platforms (Moodle) embed it in an iframe.
        "FRAME_ANCESTORS": "'self'",
        # Upload limits (bytes / counts); a refusal says which limit and by how much.
        "MAX_FILE_SIZE": 200 * 1024 * 1024,
        "MAX_FILES_PER_EVIDENCE": 20,
        "MAX_BYTES_PER_USER": 5 * 1024 * 1024 * 1024,
        # Above this size, and when the store is S3, the browser sends the file straight to the bucket.
        "DIRECT_UPLOAD_THRESHOLD": 8 * 1024 * 1024,
        "STORAGE_SWEEP_GRACE_SECONDS": 24 * 3600,
        "STORAGE_CHECK_AT_STARTUP": True,
        "SMTP_URL": None,
        "MAIL_FROM": "portfolio@localhost",
    }


def load_env(config: dict[str, Any], environ: os._Environ[str] | dict[str, str] | None = None) -> None:
    """Overlay ``PORTFOLIO_*`` environment variables, parsing JSON-looking values like Flask does."""
    import json

    environ = os.environ if environ is None else environ
    for name, raw in environ.items():
        if not name.startswith("PORTFOLIO_") or name.startswith("PORTFOLIO_TEST_"):
            continue
        key = name.removeprefix("PORTFOLIO_")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        # A secret or a URL is always text, even if it happens to parse as a number.
        config[key] = raw if key.endswith(("_URL", "_KEY", "_URI")) else value


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs (SQLAlchemy defaults to psycopg2, not installed)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def validate_config(config: dict[str, Any]) -> None:
    """Refuse to start on a setting that is missing, malformed or unsafe; one clear line."""
    env = config.get("ENV")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"PORTFOLIO_ENV must be one of {', '.join(ENVIRONMENTS)} (got {env!r}).")

    secret = config.get("SECRET_KEY")
    if env == "production":
        if not secret:
            raise ConfigError("PORTFOLIO_SECRET_KEY is missing: set a long random value in production.")
        if secret == DEV_SECRET_KEY or len(str(secret)) < 32:
            raise ConfigError(
                "PORTFOLIO_SECRET_KEY is the development default or shorter than 32 characters: "
                "set a long random value in production."
            )
    elif not secret:
        config["SECRET_KEY"] = DEV_SECRET_KEY

    db_url = config.get("DATABASE_URL") or ""
    scheme = urlsplit(db_url).scheme.split("+")[0]
    if scheme not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"PORTFOLIO_DATABASE_URL must be a sqlite:/// or postgresql:// URL (got {db_url!r})."
        )
    config["DATABASE_URL"] = normalise_database_url(db_url)

    storage_url = config.get("STORAGE_URL") or ""
    parts = urlsplit(storage_url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigError(f"PORTFOLIO_STORAGE_URL must be file:///absolute/path (got {storage_url!r}).")
    elif parts.scheme == "s3":
        if not parts.netloc:
            raise ConfigError(f"PORTFOLIO_STORAGE_URL must name a bucket: s3://bucket[/prefix] (got {storage_url!r}).")
    else:
        raise ConfigError(
            f"PORTFOLIO_STORAGE_URL must be file:///absolute/path or s3://bucket[/prefix] (got {storage_url!r})."
        )

    redis_url = config.get("REDIS_URL")
    if redis_url and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"PORTFOLIO_REDIS_URL must be a redis:// URL (got {redis_url!r}).")

    for key in ("MAX_FILE_SIZE", "MAX_FILES_PER_EVIDENCE", "MAX_BYTES_PER_USER", "STORAGE_SWEEP_GRACE_SECONDS",
                "DIRECT_UPLOAD_THRESHOLD"):
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"PORTFOLIO_{key} must be a positive whole number (got {value!r}).")

    if config.get("BABEL_DEFAULT_LOCALE") not in config.get("LANGUAGES", ()):
        raise ConfigError("PORTFOLIO_BABEL_DEFAULT_LOCALE must be one of LANGUAGES.")

    if config.get("SESSION_COOKIE_SECURE") is None:
        config["SESSION_COOKIE_SECURE"] = env == "production"
        config["REMEMBER_COOKIE_SECURE"] = env == "production"

    config["SQLALCHEMY_DATABASE_URI"] = config["DATABASE_URL"]
    config["SQLALCHEMY_TRACK_MODIFICATIONS"] = False
    if redis_url and config.get("RATELIMIT_STORAGE_URI") == "memory://":
        config["RATELIMIT_STORAGE_URI"] = redis_url
    config["TESTING"] = config.get("TESTING") or env == "testing"
