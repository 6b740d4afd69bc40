"""LTI Dynamic Registration 1.0, and the configuration a platform's administrator pastes by hand.

An administrator of ours makes an invitation URL (signed, valid ``LTI_INVITATION_MAX_AGE`` seconds,
7 days by default); the platform's administrator pastes it in the platform, which opens it with its
``openid_configuration`` URL and a ``registration_token``. We fetch the configuration, post our
registration (redirect URIs, scopes, claims, placements) and record the platform with its issuer,
client id, deployment and endpoints.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from portfolio.models import Certification, LtiPlatform, RegistrationSource
from portfolio.services.errors import DomainError
from portfolio.services.lti import TOOL_SCOPES, platforms
from portfolio.services.lti.http import PlatformHttpError, get_json, request_json
from portfolio.services.lti.launch import LaunchRefused

INVITE_SALT = "portfolio.lti.invitation"
TOOL_NAME = "Portfolio RNCP"
TOOL_DESCRIPTION = "Portfolio de compétences pour les certifications professionnelles RNCP"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
CLAIMS = ["iss", "sub", "name", "given_name", "family_name", "email", "locale"]


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=INVITE_SALT)


def invitation_url() -> str:
    """A registration URL to paste into a platform (Moodle: Tool URL)."""
    return url_for("lti.register", invite=_serializer().dumps({"v": 1}), _external=True)


def check_invitation(token: str) -> None:
    max_age = int(current_app.config.get("LTI_INVITATION_MAX_AGE", 7 * 24 * 3600))
    try:
        _serializer().loads(token or "", max_age=max_age)
    except SignatureExpired as exc:
        raise LaunchRefused("invitation_expired", _("Cette adresse d'inscription a expiré : demandez-en une "
                                                    "nouvelle à l'administrateur·rice du portfolio."),
                            status=403) from exc
    except BadSignature as exc:
        raise LaunchRefused("bad_invitation", _("Cette adresse d'inscription n'est pas valide : demandez-en une "
                                                "à l'administrateur·rice du portfolio."), status=403) from exc


def tool_configuration(urls: dict[str, str]) -> dict:
    return {
        "domain": urls["domain"],
        "description": TOOL_DESCRIPTION,
        "target_link_uri": urls["launch"],
        "claims": CLAIMS,
        "messages": [
            {"type": "LtiResourceLinkRequest", "target_link_uri": urls["launch"], "label": TOOL_NAME},
            {"type": "LtiDeepLinkingRequest", "target_link_uri": urls["deep_linking"], "label": TOOL_NAME,
             "placements": ["ContentArea"], "supported_types": ["ltiResourceLink"]},
        ],
    }


def registration_request(urls: dict[str, str]) -> dict:
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": urls["login"],
        "redirect_uris": [urls["launch"]],
        "client_name": TOOL_NAME,
        "jwks_uri": urls["jwks"],
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(TOOL_SCOPES),
        TOOL_CONFIGURATION: tool_configuration(urls),
    }


def register_dynamically(config_url: str, registration_token: str, urls: dict[str, str], *,
                         certification: Certification | None) -> LtiPlatform:
    """Fetch the platform's configuration, post our registration, record the platform."""
    platforms.check_url(config_url, "openid_configuration")
    try:
        config = get_json(config_url)
    except PlatformHttpError as exc:
        raise LaunchRefused("registration_unreachable",
                            _("La configuration de la plateforme est injoignable.")) from exc
    if not isinstance(config, dict):
        raise LaunchRefused("registration_bad_config", _("La configuration de la plateforme est illisible."))
    issuer = str(config.get("issuer") or "")
    if not issuer or urlsplit(issuer).netloc != urlsplit(config_url).netloc:
        raise LaunchRefused("registration_bad_issuer", _("L'émetteur de la plateforme ne correspond pas à "
                                                         "l'adresse de sa configuration."), issuer=issuer or None)
    missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint")
               if not config.get(k)]
    if missing:
        raise LaunchRefused("registration_bad_config", _("La configuration de la plateforme est incomplète : "
                                                         "%(fields)s.", fields=", ".join(missing)), issuer=issuer)
    headers = {"Authorization": f"Bearer {registration_token}"} if registration_token else {}
    try:
        answer, _headers = request_json("POST", platforms.check_url(config["registration_endpoint"],
                                                                    "registration_endpoint"),
                                        json=registration_request(urls), headers=headers)
    except PlatformHttpError as exc:
        raise LaunchRefused("registration_refused", _("La plateforme a refusé l'inscription de l'outil."),
                            issuer=issuer) from exc
    if not isinstance(answer, dict) or not answer.get("client_id"):
        raise LaunchRefused("registration_refused", _("La plateforme a refusé l'inscription de l'outil."),
                            issuer=issuer)
    tool_conf = answer.get(TOOL_CONFIGURATION) or {}
    deployment = tool_conf.get("deployment_id") if isinstance(tool_conf, dict) else None
    platform_conf = config.get(PLATFORM_CONFIGURATION) or {}
    product = " ".join(str(platform_conf.get(k)) for k in ("product_family_code", "version")
                       if platform_conf.get(k)) or None
    try:
        return platforms.register_platform(
            name=product or urlsplit(issuer).netloc, issuer=issuer, client_id=str(answer["client_id"]),
            auth_login_url=config["authorization_endpoint"], auth_token_url=config["token_endpoint"],
            jwks_url=config["jwks_uri"], deployment_ids=[str(deployment)] if deployment else [],
            auth_token_audience=config.get("authorization_server"), certification=certification,
            product=product, source=RegistrationSource.DYNAMIC, actor=None)
    except DomainError as exc:
        raise LaunchRefused("registration_failed", exc.message, issuer=issuer) from exc


def canvas_configuration(urls: dict[str, str]) -> dict:
    """Canvas's developer key JSON (LTI Key → Paste JSON), which also lists everything a platform needs."""
    return {
        "title": TOOL_NAME,
        "description": TOOL_DESCRIPTION,
        "oidc_initiation_url": urls["login"],
        "target_link_uri": urls["launch"],
        "public_jwk_url": urls["jwks"],
        "scopes": list(TOOL_SCOPES),
        "privacy_level": "public",
        "custom_fields": {},
        "extensions": [{
            "platform": "canvas.instructure.com",
            "domain": urls["domain"],
            "privacy_level": "public",
            "settings": {
                "placements": [
                    {"placement": "course_navigation", "message_type": "LtiResourceLinkRequest",
                     "target_link_uri": urls["launch"], "text": TOOL_NAME},
                    {"placement": "link_selection", "message_type": "LtiDeepLinkingRequest",
                     "target_link_uri": urls["deep_linking"], "text": TOOL_NAME},
                    {"placement": "assignment_selection", "message_type": "LtiDeepLinkingRequest",
                     "target_link_uri": urls["deep_linking"], "text": TOOL_NAME},
                ],
            },
        }],
        "portfolio": {"login_url": urls["login"], "launch_url": urls["launch"],
                      "deep_linking_url": urls["deep_linking"], "jwks_url": urls["jwks"],
                      "registration_url": urls["registration"]},
    }
