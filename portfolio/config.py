"""Configuration: code defaults, then ``instance/config.py``, then ``PORTFOLIO_*`` variables.

Everything is checked once at start-up by :func:`validate_config`, which raises
:class:`ConfigError` with one line naming the bad setting.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from limits import parse_many

#: The development secret: fine on a laptop, refused in production.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105

ENVIRONMENTS = ("development", "testing", "production")


class ConfigError(RuntimeError):
    """A setting that prevents the application from starting safely."""


#: The X-Forwarded-* headers werkzeug's ProxyFix may trust, each for a number of proxies (0: not trusted).
PROXY_FIX_KEYS = ("PROXY_FIX_X_FOR", "PROXY_FIX_X_PROTO", "PROXY_FIX_X_HOST", "PROXY_FIX_X_PORT",
                  "PROXY_FIX_X_PREFIX")


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
        # Sign-in attempts per client address, and per account (shared by every worker: Redis or the database).
        "LOGIN_RATE_LIMIT": "10 per minute;50 per hour",
        "LOGIN_ACCOUNT_RATE_LIMIT": "5 per minute;20 per hour",
        # Password tries on one share link, whoever makes them.
        "SHARE_PASSWORD_RATE_LIMIT": "5 per minute;20 per hour",
        "RATELIMIT_STORAGE_URI": "memory://",
        # Behind reverse proxies: how many of them set X-Forwarded-For (…-Proto, …-Host, …-Port, …-Prefix),
        # counted from the server's side. 0 (default) trusts none of these headers: the client's address is
        # the connection's. Set PROXY_FIX_X_FOR=1 behind one proxy, or the per-address sign-in limit and the
        # addresses it sees are the proxy's.
        "PROXY_FIX_X_FOR": 0,
        "PROXY_FIX_X_PROTO": 0,
        "PROXY_FIX_X_HOST": 0,
        "PROXY_FIX_X_PORT": 0,
        "PROXY_FIX_X_PREFIX": 0,
        "RATELIMIT_HEADERS_ENABLED": True,
        # Who may frame the app: LTI platforms (Moodle) embed it in an iframe.
        "FRAME_ANCESTORS": "'self'",
        # LTI 1.3: our private keys are sealed with a key derived from LTI_KEY_SECRET (else SECRET_KEY).
        "LTI_KEY_SECRET": None,
        "LTI_KEY_OVERLAP_SECONDS": 7 * 24 * 3600,     # a retired key stays published this long
        "LTI_JWKS_MIN_REFRESH_SECONDS": 10,           # unknown kid: fetch the platform's JWKS at most this often
        "LTI_HTTP_TIMEOUT": 10,
        "LTI_INVITATION_MAX_AGE": 7 * 24 * 3600,      # dynamic registration URL validity
        "LTI_ROSTER_SYNC_INTERVAL": 3600,             # roster synchronised on launch at most this often
        "LTI_AGS_RETRY_DELAYS": [30, 120, 600, 3600], # seconds between attempts to post a score
        # Open Badges 3.0 credentials: the issuer profile, the public address they name (else the request's
        # host, or SERVER_NAME in commands), and a validity (None: a validated block does not expire).
        "CREDENTIALS_ISSUER_NAME": "Établissement de formation",
        "CREDENTIALS_ISSUER_URL": None,
        "CREDENTIALS_ISSUER_EMAIL": None,
        "CREDENTIALS_BASE_URL": None,
        "CREDENTIALS_VALIDITY_DAYS": None,
        "CREDENTIALS_VERIFY_RATE_LIMIT": "30 per minute;300 per hour",  # the public verifier, per address
        # Upload limits (bytes / counts); a refusal says which limit and by how much.
        "MAX_FILE_SIZE": 200 * 1024 * 1024,
        "MAX_FILES_PER_EVIDENCE": 20,
        "MAX_BYTES_PER_USER": 5 * 1024 * 1024 * 1024,
        # Hard maxima of a request body, counted while it is read (chunked bodies too): a view that
        # receives files (default: MAX_FILE_SIZE × MAX_FILES_PER_EVIDENCE + 1 MiB), and every other one.
        "MAX_UPLOAD_REQUEST_SIZE": None,
        "MAX_REQUEST_SIZE": 16 * 1024 * 1024,
        # What the plain (non-file) fields of an upload form may weigh together.
        "MAX_FORM_FIELDS_SIZE": 1024 * 1024,
        # Above this size, and when the store is S3, the browser sends the file straight to the bucket.
        "DIRECT_UPLOAD_THRESHOLD": 8 * 1024 * 1024,
        "STORAGE_SWEEP_GRACE_SECONDS": 24 * 3600,
        # A file sent straight to the bucket still unchecked after this long: `storage recheck` checks it again.
        "PENDING_RECHECK_SECONDS": 600,
        "STORAGE_CHECK_AT_STARTUP": True,
        # GDPR: who is responsible, whom to write to, and retention periods in days (see services/privacy).
        "PRIVACY_CONTROLLER": "l'établissement de formation",
        "PRIVACY_CONTACT": "dpo@localhost",
        "RETENTION_DAYS": {},
        "SMTP_URL": None,
        # The audit chain's HMAC key; when unset, derived from SECRET_KEY (set it to rotate SECRET_KEY alone).
        "AUDIT_KEY": None,
        # The signed checkpoint of the chain's head, kept outside the database.
        "AUDIT_CHECKPOINT_PATH": str(instance / "audit-checkpoint.json"),
        "MAIL_FROM": "portfolio@localhost",
    }


def load_env(config: dict[str, Any], environ: os._Environ[str] | dict[str, str] | None = None) -> None:
    """Overlay ``PORTFOLIO_*`` environment variables, parsing JSON-looking values like Flask does."""
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
    audit_key = config.get("AUDIT_KEY")
    if audit_key and len(str(audit_key)) < 32:
        raise ConfigError("PORTFOLIO_AUDIT_KEY is shorter than 32 characters: set a long random value.")

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

    if config.get("MAX_UPLOAD_REQUEST_SIZE") is None and isinstance(config.get("MAX_FILE_SIZE"), int) \
            and isinstance(config.get("MAX_FILES_PER_EVIDENCE"), int):
        config["MAX_UPLOAD_REQUEST_SIZE"] = config["MAX_FILE_SIZE"] * config["MAX_FILES_PER_EVIDENCE"] + (1 << 20)
    for key in ("MAX_FILE_SIZE", "MAX_FILES_PER_EVIDENCE", "MAX_BYTES_PER_USER", "STORAGE_SWEEP_GRACE_SECONDS",
                "PENDING_RECHECK_SECONDS",
                "DIRECT_UPLOAD_THRESHOLD", "MAX_UPLOAD_REQUEST_SIZE", "MAX_REQUEST_SIZE", "MAX_FORM_FIELDS_SIZE"):
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"PORTFOLIO_{key} must be a positive whole number (got {value!r}).")

    for key in PROXY_FIX_KEYS:
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10:
            raise ConfigError(f"PORTFOLIO_{key} must be a whole number of proxies from 0 to 10 (got {value!r}).")


    for key in ("LOGIN_RATE_LIMIT", "LOGIN_ACCOUNT_RATE_LIMIT", "SHARE_PASSWORD_RATE_LIMIT",
                "CREDENTIALS_VERIFY_RATE_LIMIT"):
        try:
            parse_many(str(config.get(key) or ""))
        except ValueError:
            raise ConfigError(f"PORTFOLIO_{key} must read like '10 per minute;50 per hour' "
                              f"(got {config.get(key)!r}).") from None

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
