"""Our signing keys: generated here, the private half encrypted at rest, published as a JWKS.

One mechanism, one key set per ``purpose``: LTI (RSA 2048, RS256, ``/lti/jwks``) and the Open Badges
credentials (P-256, ES256, ``/credentials/jwks``). Every function takes the purpose, LTI by default.

The encryption key is derived from the application's secret (``SECRET_KEY``, or ``LTI_KEY_SECRET`` when
set, e.g. from a KMS) by HKDF-SHA256 with a label of its own, so it is never the key that signs the
session cookie. Each private key is sealed with AES-256-GCM, its ``kid`` as associated data (a sealed
key moved to another row does not open). Rotation makes a new active key and retires the old one, which
stays published until ``expires_at`` so that what a platform cached or is still checking keeps working;
a retired credentials key stays published for good (``expires_at`` empty), since the credentials it
signed are kept by their holders for years.
"""

from __future__ import annotations

import base64
import os
import secrets
from datetime import timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from joserfc import jwt
from joserfc.jwk import ECKey, KeyParameters, RSAKey
from sqlalchemy import or_, select

from portfolio.extensions import db
from portfolio.models import KeyPurpose, KeyStatus, LtiKey
from portfolio.models.base import utcnow
from portfolio.services.audit import record_event

HKDF_LABEL = b"portfolio/lti/private-key-encryption/v1"
SEALED_PREFIX = "v1:"
KEY_BITS = 2048
DEFAULT_OVERLAP = 7 * 24 * 3600


def _encryption_key() -> bytes:
    secret = current_app.config.get("LTI_KEY_SECRET") or current_app.config["SECRET_KEY"]
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_LABEL).derive(str(secret).encode())


def seal(private_pem: bytes, kid: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_encryption_key()).encrypt(nonce, private_pem, kid.encode())
    return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode()


def unseal(value: str, kid: str) -> bytes:
    if not value.startswith(SEALED_PREFIX):
        raise ValueError("unknown sealed key format")
    raw = base64.b64decode(value[len(SEALED_PREFIX):])
    return AESGCM(_encryption_key()).decrypt(raw[:12], raw[12:], kid.encode())


#: The algorithm each key set signs with.
ALGORITHMS = {KeyPurpose.LTI: "RS256", KeyPurpose.CREDENTIALS: "ES256"}
#: Audit event prefix per key set (``lti.key.create``, ``credentials.key.rotate``).
_EVENT_PREFIX = {KeyPurpose.LTI: "lti", KeyPurpose.CREDENTIALS: "credentials"}


def generate_key(purpose: KeyPurpose = KeyPurpose.LTI) -> LtiKey:
    """A new active key pair (flushed); the caller retires the previous one if any."""
    kid = secrets.token_urlsafe(16)
    algorithm = ALGORITHMS[purpose]
    parameters: KeyParameters = {"kid": kid, "use": "sig", "alg": algorithm}
    key: RSAKey | ECKey = (RSAKey.generate_key(KEY_BITS, parameters=parameters) if algorithm == "RS256"
                           else ECKey.generate_key("P-256", parameters=parameters))
    row = LtiKey(kid=kid, algorithm=algorithm, purpose=purpose, public_jwk=dict(key.as_dict(private=False)),
                 private_key_encrypted=seal(key.as_pem(private=True), kid), status=KeyStatus.ACTIVE)
    db.session.add(row)
    db.session.flush()
    return row


def active_key(purpose: KeyPurpose = KeyPurpose.LTI) -> LtiKey | None:
    return db.session.scalar(select(LtiKey).where(LtiKey.status == KeyStatus.ACTIVE, LtiKey.purpose == purpose)
                             .order_by(LtiKey.id.desc()).limit(1))


def ensure_key(purpose: KeyPurpose = KeyPurpose.LTI) -> LtiKey:
    """The active key, made on first need (registration, launch, a claim: unsafe requests and commands only)."""
    key = active_key(purpose)
    if key is None:
        key = generate_key(purpose)
        record_event(f"{_EVENT_PREFIX[purpose]}.key.create", actor=None, subject_type="lti_key", subject_id=key.kid)
    return key


def rotate_keys(*, overlap_seconds: int | None = None,
                purpose: KeyPurpose = KeyPurpose.LTI) -> tuple[LtiKey, list[LtiKey]]:
    """Make a new active key; the old ones are retired and stay published for ``overlap_seconds`` (LTI),
    or for good (credentials, unless an overlap is given)."""
    if purpose == KeyPurpose.LTI:
        overlap: int | None = overlap_seconds if overlap_seconds is not None else current_app.config.get(
            "LTI_KEY_OVERLAP_SECONDS", DEFAULT_OVERLAP)
    else:
        overlap = overlap_seconds
    now = utcnow()
    retired = list(db.session.scalars(select(LtiKey).where(LtiKey.status == KeyStatus.ACTIVE,
                                                           LtiKey.purpose == purpose)))
    for old in retired:
        old.status = KeyStatus.RETIRED
        old.retired_at = now
        old.expires_at = now + timedelta(seconds=overlap) if overlap is not None else None
    new = generate_key(purpose)
    record_event(f"{_EVENT_PREFIX[purpose]}.key.rotate", actor=None, subject_type="lti_key", subject_id=new.kid,
                 data={"retired": [k.kid for k in retired], "overlap_seconds": overlap})
    return new, retired


def published_keys(purpose: KeyPurpose = KeyPurpose.LTI) -> list[LtiKey]:
    """The active key and the retired ones not yet expired (a retired key without an end stays)."""
    now = utcnow()
    return list(db.session.scalars(
        select(LtiKey).where(LtiKey.purpose == purpose,
                             or_(LtiKey.status == KeyStatus.ACTIVE, LtiKey.expires_at.is_(None),
                                 LtiKey.expires_at > now))
        .order_by(LtiKey.id.desc())))


def jwks(purpose: KeyPurpose = KeyPurpose.LTI) -> dict:
    return {"keys": [dict(k.public_jwk) for k in published_keys(purpose)]}


def private_key(row: LtiKey) -> RSAKey | ECKey:
    pem = unseal(row.private_key_encrypted, row.kid)
    if row.algorithm == "ES256":
        return ECKey.import_key(pem, parameters={"kid": row.kid})
    return RSAKey.import_key(pem, parameters={"kid": row.kid})


def sign(claims: dict, *, typ: str = "JWT", purpose: KeyPurpose = KeyPurpose.LTI) -> str:
    """Sign ``claims`` with the active key of ``purpose`` (its algorithm, our ``kid`` in the header)."""
    row = ensure_key(purpose)
    return jwt.encode({"alg": row.algorithm, "kid": row.kid, "typ": typ}, claims, private_key(row))
