"""What leaves the server: a badge in each export format, and the signed status list."""

from __future__ import annotations

import json
from datetime import timedelta

from joserfc import jwt

from portfolio.models import Credential, LtiKey, StatusList
from portfolio.models.base import utcnow
from portfolio.services.credentials import baking
from portfolio.services.credentials.issue import (
    JWT_TYPE,
    STATUS_PATH,
    VC_CONTEXT,
    _iso,
    base_url,
    issuer_profile,
)
from portfolio.services.credentials.status import encode_list
from portfolio.services.lti import keys

FORMATS = {"jwt": "application/vc+jwt", "json": "application/json", "png": "image/png", "svg": "image/svg+xml"}
#: How long a fetched status list may be cached by a verifier.
STATUS_LIST_TTL = timedelta(days=1)


def enveloped(credential: Credential) -> dict:
    """VC 2.0 ``EnvelopedVerifiableCredential``: the signed JWT in a JSON document (§ 4.13)."""
    return {"@context": VC_CONTEXT, "id": "data:application/vc+jwt," + credential.token,
            "type": "EnvelopedVerifiableCredential"}


def export(credential: Credential, fmt: str) -> tuple[bytes, str]:
    if fmt == "jwt":
        body = credential.token.encode()
    elif fmt == "json":
        body = json.dumps(enveloped(credential), indent=2).encode()
    elif fmt == "png":
        body = baking.bake_png(baking.badge_png(), credential.token)
    elif fmt == "svg":
        body = baking.badge_svg(code=credential.block.code, title=credential.block.title,
                                issuer=issuer_profile(base_url())["name"], token=credential.token).encode()
    else:
        raise ValueError(fmt)
    return body, FORMATS[fmt]


def filename(credential: Credential, fmt: str) -> str:
    return f"badge-{credential.block.code}-{credential.uuid[:8]}.{fmt}"


def status_list_credential(status_list: StatusList) -> dict:
    """The ``BitstringStatusListCredential`` of one list, as of now (valid one day)."""
    base = base_url()
    url = f"{base}{STATUS_PATH}{status_list.id}"
    now = utcnow().replace(microsecond=0)
    return {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_profile(base),
        "validFrom": _iso(now),
        "validUntil": _iso(now + STATUS_LIST_TTL),
        "credentialSubject": {"id": f"{url}#list", "type": "BitstringStatusList", "statusPurpose": "revocation",
                              "encodedList": encode_list(status_list.bits)},
    }


def status_list_token(status_list: StatusList, key: LtiKey) -> str:
    """The status list signed with the active credentials key (read-only: the key exists once a badge does)."""
    header = {"alg": key.algorithm, "kid": key.kid, "typ": JWT_TYPE, "cty": "vc"}
    return jwt.encode(header, status_list_credential(status_list), keys.private_key(key))
