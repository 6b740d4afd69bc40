"""Verification of a credential this instance issued: from a JWT, a JSON file, a baked PNG/SVG or its URL.

Checks, in order: the form (a compact JWS whose header says ``alg`` ES256, ``typ`` ``vc+jwt`` and a ``kid``),
the signature against our published credentials keys (a retired key stays published), the payload
(an ``OpenBadgeCredential`` issued by our issuer profile), the dates (``validFrom``, ``validUntil``) and the
revocation bit in our Bitstring Status List. URLs are never fetched: only addresses of this instance are
accepted, and read from the database (no request leaves the server).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask_babel import gettext as _
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from portfolio.extensions import db
from portfolio.models import KeyPurpose, StatusList
from portfolio.models.base import utcnow
from portfolio.services.credentials import baking
from portfolio.services.credentials.issue import (
    CREDENTIAL_PATH,
    ISSUER_PATH,
    JWT_TYPE,
    STATUS_PATH,
    email_identity_hash,
    find_credential,
)
from portfolio.services.credentials.status import is_set
from portfolio.services.lti import keys

JWS_PATTERN = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
ENVELOPE_PREFIX = "data:application/vc+jwt,"
MAX_INPUT = baking.MAX_IMAGE_BYTES


class Unreadable(ValueError):
    """The input holds no credential we can read; ``message`` says why, translated."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Verification:
    """What a verifier is told: each check, the reasons for a refusal, and what the credential says."""

    token: str
    signature_valid: bool = False
    issued_here: bool = False
    revoked: bool | None = None
    expired: bool = False
    not_yet_valid: bool = False
    problems: list[str] = field(default_factory=list)
    credential: dict | None = None
    kid: str | None = None

    @property
    def valid(self) -> bool:
        return (self.signature_valid and self.issued_here and self.revoked is False and not self.expired
                and not self.not_yet_valid and not self.problems)

    # What the page and the command show --------------------------------------------------------------
    @property
    def issuer_name(self) -> str:
        issuer = (self.credential or {}).get("issuer") or {}
        return issuer.get("name", "") if isinstance(issuer, dict) else str(issuer)

    @property
    def achievement(self) -> dict:
        return ((self.credential or {}).get("credentialSubject") or {}).get("achievement") or {}

    @property
    def block_code(self) -> str:
        return self.achievement.get("humanCode", "")

    @property
    def block_name(self) -> str:
        return self.achievement.get("name", "")

    @property
    def framework(self) -> str:
        alignments = self.achievement.get("alignment") or [{}]
        return alignments[0].get("targetFramework", "")

    def _identifiers(self) -> list[dict]:
        return ((self.credential or {}).get("credentialSubject") or {}).get("identifier") or []

    @property
    def learner_name(self) -> str:
        return next((i.get("identityHash", "") for i in self._identifiers() if i.get("identityType") == "name"), "")

    @property
    def learner_did(self) -> str:
        return ((self.credential or {}).get("credentialSubject") or {}).get("id", "")

    @property
    def email_hash(self) -> dict | None:
        return next((i for i in self._identifiers() if i.get("identityType") == "emailAddress"), None)

    def email_matches(self, email: str) -> bool | None:
        """Whether ``email`` is the address the credential was issued to (None: not identified by e-mail)."""
        entry = self.email_hash
        if entry is None or not email.strip():
            return None
        return email_identity_hash(email, entry.get("salt", "")) == entry.get("identityHash")

    @property
    def valid_from(self) -> datetime | None:
        return _parse_date((self.credential or {}).get("validFrom"))

    @property
    def valid_until(self) -> datetime | None:
        return _parse_date((self.credential or {}).get("validUntil"))

    @property
    def awarded(self) -> datetime | None:
        return _parse_date((self.credential or {}).get("awardedDate"))

    @property
    def evidence(self) -> list[dict]:
        return list((self.credential or {}).get("evidence") or [])


def _parse_date(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- getting the token out of what was given --------------------------------------------------------------

def token_from_url(url: str, base: str | None) -> str:
    """The credential at ``url``, if it is an address of this instance (read from the database)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Unreadable(_("Cette adresse n'est pas valide."))
    if base is not None and parts.netloc.lower() != urlsplit(base).netloc.lower():
        raise Unreadable(_("Seules les adresses de cette instance (%(host)s) sont vérifiées ici : aucune autre "
                           "adresse n'est consultée.", host=urlsplit(base).netloc))
    path = parts.path.rstrip("/")
    public_id = path.removeprefix(CREDENTIAL_PATH.rstrip("/") + "/").removesuffix(".jwt")
    credential = find_credential(public_id) if path.startswith(CREDENTIAL_PATH) else None
    if credential is None:
        raise Unreadable(_("Aucun badge n'est publié à cette adresse."))
    return credential.token


def extract_token(data: bytes | str, *, base: str | None = None) -> str:
    """The compact JWS inside a JWT, a JSON file (enveloped credential), a baked PNG or SVG, or a URL."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_INPUT:
        raise Unreadable(_("Ce fichier est trop gros pour être un badge (5 Mio au plus)."))
    if raw.startswith(baking.PNG_SIGNATURE):
        try:
            return baking.unbake_png(raw)
        except (baking.BakingError, ValueError):
            raise Unreadable(_("Cette image PNG ne contient pas de badge (aucun bloc « openbadgecredential »)."))\
                from None
    try:
        text = raw.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        raise Unreadable(_("Ce fichier n'est ni un badge (JWT, JSON), ni une image PNG ou SVG.")) from None
    if text.startswith("<"):
        try:
            text = baking.unbake_svg(text)
        except baking.BakingError:
            raise Unreadable(_("Cette image SVG ne contient pas de badge (aucun élément openbadges:credential)."))\
                from None
    if text.startswith(("http://", "https://")):
        return token_from_url(text, base)
    if text.startswith("{"):
        return _token_from_json(text)
    if JWS_PATTERN.fullmatch(text):
        return text
    raise Unreadable(_("Ce texte n'est pas un badge : collez le JWT (trois parties séparées par des points), "
                       "ou l'adresse du badge."))


def _token_from_json(text: str) -> str:
    try:
        document = json.loads(text)
    except ValueError:
        raise Unreadable(_("Ce fichier JSON est illisible.")) from None
    if isinstance(document, dict):
        kind = document.get("type")
        identifier = document.get("id", "")
        if (kind == "EnvelopedVerifiableCredential" or "EnvelopedVerifiableCredential" in (kind or [])) \
                and isinstance(identifier, str) and identifier.startswith(ENVELOPE_PREFIX):
            token = identifier[len(ENVELOPE_PREFIX):]
            if JWS_PATTERN.fullmatch(token):
                return token
        if "proof" not in document and "credentialSubject" in document:
            raise Unreadable(_("Ce fichier est une copie lisible du badge, sans signature : vérifiez le fichier "
                               ".jwt, .json signé ou l'image PNG/SVG."))
    raise Unreadable(_("Ce fichier JSON ne contient pas de badge signé (VC-JWT)."))


# --- checking it -------------------------------------------------------------------------------------------

def _header(token: str) -> dict:
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        return {}
    return header if isinstance(header, dict) else {}


def verify_token(token: str, *, base: str | None = None, now: datetime | None = None) -> Verification:
    """Every check on a compact JWS; ``base`` (this instance's address) when known, to compare the issuer."""
    result = Verification(token=token)
    header = _header(token)
    result.kid = header.get("kid")
    if header.get("alg") != "ES256" or not result.kid:
        result.problems.append(_("Signature d'un type inattendu : seuls les badges signés ES256 par cette "
                                 "instance sont vérifiés ici."))
        return result
    if header.get("typ") != JWT_TYPE:
        result.problems.append(_("En-tête inattendu : ce JWT n'est pas un badge (typ vc+jwt)."))
        return result
    published = [k for k in keys.published_keys(KeyPurpose.CREDENTIALS) if k.kid == result.kid]
    if not published:
        result.problems.append(_("La clé qui a signé ce badge n'est pas une clé de cette instance : il n'a pas été "
                                 "émis ici, ou sa clé a été retirée."))
        return result
    try:
        decoded = jwt.decode(token, KeySet.import_key_set({"keys": [dict(published[0].public_jwk)]}),
                             algorithms=["ES256"])
    except (JoseError, ValueError):
        result.problems.append(_("La signature n'est pas valide : le badge a été modifié après son émission."))
        return result
    result.signature_valid = True
    credential = dict(decoded.claims)
    result.credential = credential
    types = credential.get("type") or []
    if "VerifiableCredential" not in types or "OpenBadgeCredential" not in types:
        result.problems.append(_("Ce document signé n'est pas un badge OpenBadgeCredential."))
    issuer = credential.get("issuer") or {}
    issuer_id = issuer.get("id", "") if isinstance(issuer, dict) else str(issuer)
    expected = (base.rstrip("/") + ISSUER_PATH) if base else None
    result.issued_here = urlsplit(issuer_id).path == ISSUER_PATH and (expected is None or issuer_id == expected)
    if not result.issued_here:
        result.problems.append(_("L'émetteur nommé dans le badge n'est pas cette instance."))
    moment = now or utcnow()
    if result.valid_from is None:
        result.problems.append(_("Le badge n'a pas de date de validité (validFrom)."))
    elif result.valid_from > moment:
        result.not_yet_valid = True
    if result.valid_until is not None and result.valid_until < moment:
        result.expired = True
    result.revoked = _revoked(credential)
    if result.revoked is None:
        result.problems.append(_("Le statut du badge (révocation) ne peut pas être lu."))
    return result


def _revoked(credential: dict) -> bool | None:
    status = credential.get("credentialStatus") or {}
    if not isinstance(status, dict) or status.get("type") != "BitstringStatusListEntry" \
            or status.get("statusPurpose") != "revocation":
        return None
    path = urlsplit(str(status.get("statusListCredential", ""))).path
    list_id, index = path.removeprefix(STATUS_PATH), str(status.get("statusListIndex", ""))
    if not path.startswith(STATUS_PATH) or not list_id.isdigit() or not index.isdigit():
        return None
    found = db.session.get(StatusList, int(list_id))
    if found is None or int(index) >= found.size:
        return None
    return is_set(found.bits, int(index))


def verify(data: bytes | str, *, base: str | None = None, now: datetime | None = None) -> Verification:
    """Extract, then check; an input that holds no credential raises :class:`Unreadable`."""
    return verify_token(extract_token(data, base=base), base=base, now=now)


def reasons(result: Verification) -> list[str]:
    """Why a credential is not valid, one sentence each (empty when it is)."""
    found = list(result.problems)
    if result.signature_valid and result.revoked:
        found.append(_("Ce badge a été révoqué par l'émetteur : la validation du bloc a été retirée."))
    if result.expired:
        found.append(_("Ce badge a expiré."))
    if result.not_yet_valid:
        found.append(_("Ce badge n'est pas encore valide."))
    return found
