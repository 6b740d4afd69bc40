"""Platform registrations: manual (admin page, CLI) and dynamic; deployments; the platforms' JWKS."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _
from joserfc.jwk import KeySet
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import Certification, LtiDeployment, LtiPlatform, RegistrationSource, User
from portfolio.models.base import utcnow
from portfolio.services.audit import record_event
from portfolio.services.errors import Conflict, DomainError
from portfolio.services.lti import keys
from portfolio.services.lti.http import PlatformHttpError, get_json

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_url(url: str, field: str) -> str:
    """An absolute https URL (http only for a loopback host outside production)."""
    url = (url or "").strip()
    parts = urlsplit(url)
    insecure_ok = parts.scheme == "http" and (parts.hostname in LOOPBACK
                                              or current_app.config["ENV"] != "production")
    if not parts.netloc or not (parts.scheme == "https" or insecure_ok):
        raise DomainError(_("Adresse invalide pour %(field)s : une URL https:// est attendue.", field=field),
                          field=field)
    return url


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def find_platform(issuer: str, client_id: str | None = None) -> LtiPlatform | None:
    """The enabled registration of ``issuer`` (and ``client_id`` when given; without it, only if unique)."""
    query = select(LtiPlatform).where(LtiPlatform.issuer == issuer, LtiPlatform.is_enabled.is_(True))
    if client_id:
        return db.session.scalar(query.where(LtiPlatform.client_id == client_id))
    found = list(db.session.scalars(query.limit(2)))
    return found[0] if len(found) == 1 else None


def list_platforms() -> list[LtiPlatform]:
    return list(db.session.scalars(select(LtiPlatform).order_by(LtiPlatform.name, LtiPlatform.id)))


def register_platform(*, name: str, issuer: str, client_id: str, auth_login_url: str, auth_token_url: str,
                      jwks_url: str, deployment_ids: Iterable[str] = (), auth_token_audience: str | None = None,
                      certification: Certification | None = None, product: str | None = None,
                      source: RegistrationSource = RegistrationSource.MANUAL, actor: User | None) -> LtiPlatform:
    """Record a platform; refuses a duplicate (issuer, client id). Makes our first key if none exists."""
    issuer = (issuer or "").strip()
    client_id = (client_id or "").strip()
    name = (name or "").strip() or urlsplit(issuer).netloc
    if not issuer:
        raise DomainError(_("L'émetteur (issuer) est obligatoire."), field="issuer")
    check_url(issuer, "issuer")
    if not client_id:
        raise DomainError(_("L'identifiant client (client_id) est obligatoire."), field="client_id")
    platform = LtiPlatform(
        name=name[:200], issuer=issuer, client_id=client_id,
        auth_login_url=check_url(auth_login_url, "auth_login_url"),
        auth_token_url=check_url(auth_token_url, "auth_token_url"),
        jwks_url=check_url(jwks_url, "jwks_url"),
        auth_token_audience=(auth_token_audience or "").strip() or None,
        certification=certification, product=product, source=source,
    )
    if db.session.scalar(select(LtiPlatform.id).where(LtiPlatform.issuer == issuer,
                                                      LtiPlatform.client_id == client_id)):
        raise Conflict(_("Cette plateforme est déjà enregistrée (%(issuer)s, %(client)s).",
                         issuer=issuer, client=client_id), field="client_id")
    db.session.add(platform)
    db.session.flush()
    for deployment_id in deployment_ids:
        add_deployment(platform, deployment_id, actor=actor)
    keys.ensure_key()
    record_event("lti.platform.register", actor=actor, subject_type="lti_platform", subject_id=platform.id,
                 data={"issuer": issuer, "client_id": client_id, "source": source.value,
                       "deployments": [d.deployment_id for d in platform.deployments]})
    forget_frame_origins()
    return platform


def add_deployment(platform: LtiPlatform, deployment_id: str, *, actor: User | None) -> LtiDeployment:
    deployment_id = (deployment_id or "").strip()
    if not deployment_id:
        raise DomainError(_("L'identifiant de déploiement est vide."), field="deployment_ids")
    existing = find_deployment(platform, deployment_id)
    if existing is not None:
        return existing
    deployment = LtiDeployment(platform=platform, deployment_id=deployment_id)
    db.session.add(deployment)
    db.session.flush()
    record_event("lti.deployment.add", actor=actor, subject_type="lti_platform", subject_id=platform.id,
                 data={"deployment_id": deployment_id})
    return deployment


def find_deployment(platform: LtiPlatform, deployment_id: str) -> LtiDeployment | None:
    return db.session.scalar(select(LtiDeployment).where(LtiDeployment.platform_id == platform.id,
                                                         LtiDeployment.deployment_id == deployment_id))


def set_enabled(platform: LtiPlatform, enabled: bool, *, actor: User | None) -> None:
    if platform.is_enabled != enabled:
        platform.is_enabled = enabled
        db.session.flush()
        record_event("lti.platform.enable" if enabled else "lti.platform.disable", actor=actor,
                     subject_type="lti_platform", subject_id=platform.id)
        forget_frame_origins()


# --- the platform's keys ---------------------------------------------------------------------------

def _fetch_jwks(platform: LtiPlatform) -> dict:
    try:
        data = get_json(platform.jwks_url)
    except PlatformHttpError as exc:
        raise DomainError(_("Les clés publiques de la plateforme sont injoignables.")) from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise DomainError(_("Les clés publiques de la plateforme sont illisibles."))
    platform.jwks_cache = {"keys": [k for k in data["keys"] if isinstance(k, dict) and k.get("kty") == "RSA"]}
    platform.jwks_fetched_at = utcnow()
    db.session.flush()
    return platform.jwks_cache


def platform_key(platform: LtiPlatform, kid: str | None):
    """The platform's public key for ``kid``: from the cached JWKS, fetched again when the kid is unknown
    (at most once per ``LTI_JWKS_MIN_REFRESH_SECONDS``, so unknown kids cannot make us hammer the platform).
    Returns None when the platform does not publish that kid."""
    def lookup(jwks: dict | None):
        for item in (jwks or {}).get("keys", []):
            if kid is None or item.get("kid") == kid:
                return KeySet.import_key_set({"keys": [item]}).keys[0]
        return None

    key = lookup(platform.jwks_cache)
    if key is not None:
        return key
    min_age = timedelta(seconds=current_app.config.get("LTI_JWKS_MIN_REFRESH_SECONDS", 10))
    if platform.jwks_fetched_at is not None and utcnow() - platform.jwks_fetched_at < min_age:
        return None
    return lookup(_fetch_jwks(platform))


# --- who may frame us --------------------------------------------------------------------------------

_FRAME_CACHE = "portfolio.lti.frame_origins"


def forget_frame_origins() -> None:
    current_app.extensions.pop(_FRAME_CACHE, None)


def frame_origins() -> list[str]:
    """Origins of the enabled platforms (issuer and login URL), kept 60 s in the process."""
    cached = current_app.extensions.get(_FRAME_CACHE)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    origins: set[str] = set()
    for issuer, login_url in db.session.execute(select(LtiPlatform.issuer, LtiPlatform.auth_login_url)
                                                .where(LtiPlatform.is_enabled.is_(True))):
        for url in (issuer, login_url):
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") and parts.netloc and all(c not in parts.netloc for c in " ;,'\""):
                origins.add(origin_of(url))
    result = sorted(origins)
    current_app.extensions[_FRAME_CACHE] = (time.monotonic() + 60, result)
    return result
