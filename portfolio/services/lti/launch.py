"""OIDC third-party login and the validation of an LTI 1.3 launch, then the person and the course.

The sequence (1EdTech Security Framework 1.0, LTI Core 1.3):

1. ``begin_login``: the platform asks us to start (``/lti/login``); we record a state and a nonce bound
   to this browser (a secret kept in a cookie, or in the platform's postMessage storage when cookies are
   blocked) and send the browser to the platform's authorization URL.
2. ``validate_launch``: the platform posts an ``id_token``; we check the browser's secret against the
   state, the signature against the platform's JWKS (fetched again on an unknown ``kid``), ``iss``,
   ``aud``/``azp``, the times with a small leeway, the nonce (once only: a unique row), the deployment,
   the message type and the LTI version. Every refusal raises :class:`LaunchRefused` with a reason code.
3. ``provision``: the person is found by (``iss``, ``sub``) — never by e-mail alone — or created; the
   platform's roles in the course become a role in that context only; the course maps to a cohort.

Over 400 lines: one protocol sequence (OIDC login, launch validation, provisioning), read top to bottom.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import current_app
from flask_babel import gettext as _
from joserfc import jws, jwt
from joserfc.errors import JoseError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from portfolio.extensions import db
from portfolio.models import (
    Block,
    Certification,
    Cohort,
    CohortMembership,
    ContextRole,
    LinkTarget,
    LtiContext,
    LtiContextMember,
    LtiDeployment,
    LtiLaunchState,
    LtiNonce,
    LtiPlatform,
    LtiResourceLink,
    LtiUserLink,
    MemberRole,
    Role,
    User,
    UserRole,
)
from portfolio.models.base import utcnow
from portfolio.services.audit import record_event
from portfolio.services.cohorts import create_cohort, current_certification
from portfolio.services.errors import DomainError
from portfolio.services.lti import AGS_CLAIM, CLAIM, DL_CLAIM, LTI_VERSION, NRPS_CLAIM
from portfolio.services.lti.platforms import find_deployment, find_platform, platform_key
from portfolio.services.users import find_user_by_email, normalise_email

STATE_TTL = timedelta(minutes=10)
LEEWAY = 60                      # seconds of clock difference tolerated on exp, iat, nbf
MAX_TOKEN_AGE = 10 * 60          # an id_token issued longer ago than this is refused
MESSAGE_TYPES = ("LtiResourceLinkRequest", "LtiDeepLinkingRequest")

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"
#: Context roles we understand (full URIs, and the short names LTI 1.3 still allows for context roles).
ROLE_MAP: dict[str, ContextRole] = {
    f"{MEMBERSHIP}#Learner": ContextRole.LEARNER,
    f"{MEMBERSHIP}/Learner#Learner": ContextRole.LEARNER,
    f"{MEMBERSHIP}#Instructor": ContextRole.TUTOR,
    f"{MEMBERSHIP}/Instructor#TeachingAssistant": ContextRole.TUTOR,
    f"{MEMBERSHIP}#Mentor": ContextRole.TUTOR,
    f"{MEMBERSHIP}#Administrator": ContextRole.ADMIN,
    "Learner": ContextRole.LEARNER,
    "Instructor": ContextRole.TUTOR,
    "TeachingAssistant": ContextRole.TUTOR,
    "Mentor": ContextRole.TUTOR,
    "Administrator": ContextRole.ADMIN,
}
ROLE_RANK = {ContextRole.LEARNER: 1, ContextRole.TUTOR: 2, ContextRole.ADMIN: 3}


def lands_as_learner(role: ContextRole | None) -> bool:
    """A launch as the course's learner opens the learner's pages; any other role, the tutor's."""
    return role == ContextRole.LEARNER


class LaunchRefused(DomainError):
    """A launch or login refused; ``reason`` is a stable code for the audit trail and the tests."""

    code = "lti_refused"

    def __init__(self, reason: str, message: str | None = None, *, issuer: str | None = None,
                 status: int = 400) -> None:
        super().__init__(message or _("Le lancement depuis la plateforme a été refusé."))
        self.reason = reason
        self.issuer = issuer
        self.status = status


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- 1. login initiation ------------------------------------------------------------------------------

@dataclass
class LoginStart:
    platform: LtiPlatform
    state: str
    browser_secret: str
    redirect_url: str
    storage_target: str | None


def begin_login(params: dict[str, str], *, launch_url: str, own_origin: str) -> LoginStart:
    """Check the login initiation and prepare the authorization request (flushes the state row)."""
    issuer = (params.get("iss") or "").strip()
    login_hint = params.get("login_hint") or ""
    target = params.get("target_link_uri") or ""
    if not issuer or not login_hint or not target:
        raise LaunchRefused("login_incomplete", _("La demande de connexion de la plateforme est incomplète."),
                            issuer=issuer or None)
    platform = find_platform(issuer, params.get("client_id") or None)
    if platform is None:
        raise LaunchRefused("unknown_platform", _("Cette plateforme n'est pas enregistrée."), issuer=issuer)
    if not (target == own_origin or target.startswith(own_origin + "/")):
        raise LaunchRefused("foreign_target", _("L'adresse de lancement demandée n'est pas la nôtre."),
                            issuer=issuer)
    deployment_id = params.get("lti_deployment_id")
    if deployment_id and find_deployment(platform, deployment_id) is None:
        raise LaunchRefused("unknown_deployment", _("Ce déploiement de l'outil n'est pas enregistré."),
                            issuer=issuer)
    now = utcnow()
    db.session.execute(delete(LtiLaunchState).where(LtiLaunchState.expires_at < now))
    db.session.execute(delete(LtiNonce).where(LtiNonce.expires_at < now))
    state, nonce, secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    storage_target = (params.get("lti_storage_target") or "").strip()[:100] or None
    db.session.add(LtiLaunchState(state=state, nonce=nonce, platform_id=platform.id, browser_hash=_hash(secret),
                                  storage_target=storage_target, target_link_uri=target[:1000],
                                  expires_at=now + STATE_TTL))
    db.session.flush()
    query = {
        "scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
        "client_id": platform.client_id, "redirect_uri": launch_url, "login_hint": login_hint,
        "state": state, "nonce": nonce,
    }
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if "?" in platform.auth_login_url else "?"
    return LoginStart(platform, state, secret, f"{platform.auth_login_url}{separator}{urlencode(query)}",
                      storage_target)


def find_state(state: str) -> LtiLaunchState | None:
    row = db.session.scalar(select(LtiLaunchState).where(LtiLaunchState.state == (state or "")[:64]))
    if row is None or row.expires_at < utcnow():
        return None
    return row


# --- 2. launch validation -------------------------------------------------------------------------------

@dataclass
class Launch:
    platform: LtiPlatform
    deployment: LtiDeployment
    claims: dict[str, Any]
    message_type: str
    roles: list[str]
    context_role: ContextRole | None
    target_link_uri: str
    user: User | None = None
    context: LtiContext | None = None
    link: LtiResourceLink | None = None
    created_user: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def claim(self, name: str, default: Any = None) -> Any:
        return self.claims.get(CLAIM + name, default)


def map_roles(roles: list[str]) -> ContextRole | None:
    """The highest context role among ``roles`` we understand; system and institution roles grant nothing."""
    mapped = [ROLE_MAP[r] for r in roles if isinstance(r, str) and r in ROLE_MAP]
    return max(mapped, key=ROLE_RANK.__getitem__) if mapped else None


def _now() -> int:
    clock = current_app.config.get("LTI_CLOCK")
    return int(clock() if callable(clock) else datetime.now(UTC).timestamp())


def validate_launch(id_token: str, state: str, browser_secret: str | None) -> Launch:
    """Validate everything about a launch; flush the consumed nonce. Raises :class:`LaunchRefused`."""
    row = find_state(state)
    if row is None:
        raise LaunchRefused("unknown_state", _("Ce lancement a expiré ou n'a pas été demandé par ce navigateur. "
                                               "Relancez l'outil depuis la plateforme."))
    platform = db.session.get(LtiPlatform, row.platform_id)
    if platform is None or not platform.is_enabled:
        raise LaunchRefused("unknown_platform", _("Cette plateforme n'est pas enregistrée."))
    if not browser_secret or not hmac.compare_digest(_hash(browser_secret), row.browser_hash):
        raise LaunchRefused("state_not_bound", _("Ce lancement n'a pas été demandé par ce navigateur. "
                                                 "Relancez l'outil depuis la plateforme."), issuer=platform.issuer)
    try:
        compact = jws.extract_compact((id_token or "").encode())
    except (JoseError, ValueError) as exc:
        raise LaunchRefused("malformed_token", issuer=platform.issuer) from exc
    header = compact.protected
    if header.get("alg") != "RS256":
        raise LaunchRefused("bad_algorithm", issuer=platform.issuer)
    key = platform_key(platform, header.get("kid"))
    if key is None:
        raise LaunchRefused("unknown_kid", issuer=platform.issuer)
    try:
        token = jwt.decode(id_token, key, algorithms=["RS256"])
    except (JoseError, ValueError) as exc:
        raise LaunchRefused("bad_signature", issuer=platform.issuer) from exc
    claims = dict(token.claims)
    _check_claims(claims, platform, row)
    deployment_id = claims.get(CLAIM + "deployment_id")
    deployment = find_deployment(platform, deployment_id) if isinstance(deployment_id, str) else None
    if deployment is None:
        raise LaunchRefused("unknown_deployment", _("Ce déploiement de l'outil n'est pas enregistré."),
                            issuer=platform.issuer)
    message_type = claims.get(CLAIM + "message_type")
    if message_type not in MESSAGE_TYPES:
        raise LaunchRefused("bad_message_type", issuer=platform.issuer)
    if claims.get(CLAIM + "version") != LTI_VERSION:
        raise LaunchRefused("bad_version", issuer=platform.issuer)
    if message_type == "LtiResourceLinkRequest" and not (claims.get(CLAIM + "resource_link") or {}).get("id"):
        raise LaunchRefused("missing_resource_link", issuer=platform.issuer)
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise LaunchRefused("anonymous", _("Les lancements anonymes ne sont pas acceptés."), issuer=platform.issuer)
    roles = [r for r in claims.get(CLAIM + "roles") or [] if isinstance(r, str)]
    _consume_nonce(platform, claims["nonce"], int(claims["exp"]))
    return Launch(platform, deployment, claims, message_type, roles, map_roles(roles),
                  claims.get(CLAIM + "target_link_uri") or row.target_link_uri)


def _check_claims(claims: dict, platform: LtiPlatform, row: LtiLaunchState) -> None:
    issuer = platform.issuer
    if claims.get("iss") != issuer:
        raise LaunchRefused("wrong_issuer", issuer=issuer)
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if platform.client_id not in audiences:
        raise LaunchRefused("wrong_audience", issuer=issuer)
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != platform.client_id:
        raise LaunchRefused("wrong_audience", issuer=issuer)
    now = _now()
    for name in ("exp", "iat"):
        if not isinstance(claims.get(name), int | float):
            raise LaunchRefused("missing_time", issuer=issuer)
    if claims["exp"] < now - LEEWAY:
        raise LaunchRefused("expired", _("Le lancement a expiré : relancez l'outil depuis la plateforme."),
                            issuer=issuer)
    if claims["iat"] > now + LEEWAY or claims["iat"] < now - MAX_TOKEN_AGE - LEEWAY:
        raise LaunchRefused("bad_iat", issuer=issuer)
    if "nbf" in claims and (not isinstance(claims["nbf"], int | float) or claims["nbf"] > now + LEEWAY):
        raise LaunchRefused("not_yet_valid", issuer=issuer)
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], row.nonce):
        raise LaunchRefused("wrong_nonce", issuer=issuer)


def _consume_nonce(platform: LtiPlatform, nonce: str, exp: int) -> None:
    """Record the nonce; a second use violates the unique constraint and is refused."""
    expires = datetime.fromtimestamp(max(exp, _now()) + LEEWAY, UTC)
    try:
        with db.session.begin_nested():
            db.session.add(LtiNonce(platform_id=platform.id, nonce=nonce[:255], expires_at=expires))
    except IntegrityError as exc:
        raise LaunchRefused("replayed_nonce", _("Ce lancement a déjà été utilisé : relancez l'outil depuis la "
                                                "plateforme."), issuer=platform.issuer) from exc


# --- 3. the person, the course, the link ---------------------------------------------------------------------

def _placeholder_email(issuer: str, subject: str) -> str:
    digest = hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:24]
    return f"lti-{digest}@lti.invalid"


def _display_name(claims: dict) -> str:
    name = claims.get("name") or " ".join(p for p in (claims.get("given_name"), claims.get("family_name")) if p)
    return (str(name).strip() or _("Utilisateur·rice de la plateforme"))[:200]


def link_user(platform: LtiPlatform, subject: str, claims: dict) -> tuple[User, bool]:
    """The account of (issuer, subject), created on first launch. An e-mail given by the platform is used
    for a new account only if no account has it: an existing account is never taken over by its e-mail."""
    link = db.session.scalar(select(LtiUserLink).where(LtiUserLink.issuer == platform.issuer,
                                                       LtiUserLink.subject == subject))
    if link is not None:
        link.last_launch_at = utcnow()
        user = link.user
        if claims.get("name") and user.email.endswith("@lti.invalid"):
            user.name = _display_name(claims)
        return user, False
    email = None
    if isinstance(claims.get("email"), str) and claims["email"]:
        try:
            email = normalise_email(claims["email"])
        except DomainError:
            email = None
        if email is not None and find_user_by_email(email) is not None:
            email = None
    locale = "en" if str(claims.get("locale", "")).lower().startswith("en") else "fr"
    for candidate in dict.fromkeys([email, _placeholder_email(platform.issuer, subject)]):
        if candidate is None:
            continue
        user = User(email=candidate, name=_display_name(claims), locale=locale)
        try:
            # A savepoint: a launch and a roster synchronisation may create the same person at once.
            with db.session.begin_nested():
                db.session.add(user)
                db.session.flush()
                db.session.add(LtiUserLink(issuer=platform.issuer, subject=subject, platform_id=platform.id,
                                           user_id=user.id, last_launch_at=utcnow()))
                db.session.flush()
        except IntegrityError:
            link = db.session.scalar(select(LtiUserLink).where(LtiUserLink.issuer == platform.issuer,
                                                               LtiUserLink.subject == subject))
            if link is not None:
                return link.user, False
            email = None
            continue
        break
    else:
        raise LaunchRefused("account_conflict", issuer=platform.issuer, status=409)
    record_event("lti.user.create", actor=None, subject_type="user", subject_id=user.id,
                 data={"issuer": platform.issuer, "subject": subject, "email_shared": email is not None})
    return user, True


def grant_app_role(user: User, role: ContextRole) -> None:
    """The application role a context role needs: learner, or tutor (for tutors and context admins).
    Never ``admin``: a platform cannot make anyone an administrator of the application."""
    needed = Role.LEARNER if role == ContextRole.LEARNER else Role.TUTOR
    if needed not in user.roles:
        user.role_rows.append(UserRole(role=needed))
        db.session.flush()


def _cohort_name(context: LtiContext, platform: LtiPlatform) -> str:
    base = (context.title or context.label or context.context_id)[:150]
    name = f"{base} ({platform.name})"[:200]
    if db.session.scalar(select(Cohort.id).where(Cohort.name == name)) is None:
        return name
    return f"{name[:185]} #{context.id}"


def cohort_for_context(context: LtiContext, certification: Certification | None, *, actor: User | None) -> Cohort:
    """The context's cohort, created for ``certification`` on first need."""
    if context.cohort is not None:
        return context.cohort
    if certification is None:
        raise DomainError(_("Choisissez la certification préparée dans ce cours."), field="certification")
    cohort = create_cohort(_cohort_name(context, context.platform), certification, utcnow().year, actor=actor)
    context.cohort = cohort
    db.session.flush()
    record_event("lti.context.map", actor=actor, subject_type="lti_context", subject_id=context.id,
                 data={"cohort": cohort.id, "certification": certification.code})
    return cohort


def set_membership(cohort: Cohort, user: User, role: ContextRole) -> None:
    """Make ``user`` a member of ``cohort`` as the context role says (a learner, or a tutor)."""
    member_role = MemberRole.LEARNER if role == ContextRole.LEARNER else MemberRole.TUTOR
    grant_app_role(user, role)
    membership = db.session.scalar(select(CohortMembership).where(CohortMembership.cohort_id == cohort.id,
                                                                  CohortMembership.user_id == user.id))
    if membership is None:
        db.session.add(CohortMembership(cohort=cohort, user=user, role=member_role))
        record_event("cohort.add_member", actor=None, subject_type="cohort", subject_id=cohort.id,
                     data={"user": user.id, "as": member_role.value, "via": "lti"})
    elif membership.role != member_role:
        membership.role = member_role
        record_event("cohort.member_role", actor=None, subject_type="cohort", subject_id=cohort.id,
                     data={"user": user.id, "as": member_role.value, "via": "lti"})
    db.session.flush()


def set_context_member(context: LtiContext, user: User, role: ContextRole) -> LtiContextMember:
    member = db.session.scalar(select(LtiContextMember).where(LtiContextMember.context_id == context.id,
                                                              LtiContextMember.user_id == user.id))
    if member is None:
        member = LtiContextMember(context=context, user=user, role=role)
        db.session.add(member)
    member.role, member.is_active = role, True
    db.session.flush()
    return member


def certification_from_custom(custom: dict) -> Certification | None:
    code = custom.get("certification") if isinstance(custom, dict) else None
    return current_certification(str(code)) if code else None


def provision(launch: Launch) -> Launch:
    """Find or create the person, the course context and its cohort, the resource link."""
    claims, platform = launch.claims, launch.platform
    if launch.context_role is None:
        raise LaunchRefused("no_known_role", _("Votre rôle dans ce cours ne donne accès à rien ici."),
                            issuer=platform.issuer, status=403)
    context_claim = launch.claim("context") or {}
    if not isinstance(context_claim, dict) or not context_claim.get("id"):
        raise LaunchRefused("missing_context", _("Ce lancement ne vient pas d'un cours."), issuer=platform.issuer)
    user, created = link_user(platform, claims["sub"], claims)
    if not user.is_enabled:
        raise LaunchRefused("user_disabled", _("Ce compte est désactivé."), issuer=platform.issuer, status=403)
    context = db.session.scalar(select(LtiContext).where(LtiContext.platform_id == platform.id,
                                                         LtiContext.context_id == str(context_claim["id"])))
    if context is None:
        context = LtiContext(platform=platform, context_id=str(context_claim["id"])[:255])
        db.session.add(context)
    context.deployment_id = launch.deployment.id
    context.title = str(context_claim.get("title") or "")[:500]
    context.label = str(context_claim.get("label") or "")[:255]
    ags = claims.get(AGS_CLAIM)
    if isinstance(ags, dict):
        context.lineitems_url = ags.get("lineitems") or context.lineitems_url
        context.ags_scopes = [s for s in ags.get("scope") or [] if isinstance(s, str)]
    nrps = claims.get(NRPS_CLAIM)
    if isinstance(nrps, dict) and nrps.get("context_memberships_url"):
        context.memberships_url = nrps["context_memberships_url"]
    db.session.flush()
    custom = launch.claim("custom") or {}
    if context.cohort is None:
        certification = certification_from_custom(custom) or platform.certification
        if certification is not None:
            cohort_for_context(context, certification, actor=None)
        elif launch.context_role == ContextRole.LEARNER:
            raise LaunchRefused("context_not_ready", _("Ce cours n'est pas encore relié à une certification : "
                                                       "votre formateur·rice doit d'abord ouvrir l'outil."),
                                issuer=platform.issuer, status=409)
    grant_app_role(user, launch.context_role)
    if context.cohort is not None:
        set_membership(context.cohort, user, launch.context_role)
    set_context_member(context, user, launch.context_role)
    if launch.message_type == "LtiResourceLinkRequest":
        launch.link = _resource_link(context, launch.claim("resource_link"), custom)
    launch.user, launch.context, launch.created_user = user, context, created
    record_event("lti.launch", actor=user, subject_type="lti_context", subject_id=context.id,
                 data={"issuer": platform.issuer, "deployment": launch.deployment.deployment_id,
                       "context": context.context_id, "message_type": launch.message_type,
                       "role": launch.context_role.value, "roles": launch.roles[:20],
                       "link": launch.link.resource_link_id if launch.link else None})
    return launch


def _resource_link(context: LtiContext, claim: dict, custom: dict) -> LtiResourceLink:
    link_id = str(claim.get("id"))[:255]
    link = db.session.scalar(select(LtiResourceLink).where(LtiResourceLink.context_id == context.id,
                                                           LtiResourceLink.resource_link_id == link_id))
    if link is None:
        link = LtiResourceLink(context=context, resource_link_id=link_id)
        db.session.add(link)
        try:
            link.target = LinkTarget(str(custom.get("target") or "portfolio"))
        except ValueError:
            link.target = LinkTarget.PORTFOLIO
        if custom.get("block") and context.cohort is not None:
            link.block = db.session.scalar(select(Block).where(
                Block.certification_id == context.cohort.certification_id, Block.code == str(custom["block"])))
    link.title = str(claim.get("title") or link.title or "")[:500]
    db.session.flush()
    return link


def record_refusal(exc: LaunchRefused, *, step: str) -> None:
    record_event("lti.refused", actor=None, subject_type="lti", subject_id=step,
                 data={"reason": exc.reason, "issuer": exc.issuer})


def session_scope(launch: Launch) -> dict[str, Any]:
    """What the browser's session remembers of the launch: the one context and cohort it grants."""
    assert launch.context is not None and launch.context_role is not None
    presentation = launch.claim("launch_presentation") or {}
    assert launch.user is not None
    return {
        "user_id": launch.user.id,
        "platform_id": launch.platform.id,
        "context_id": launch.context.id,
        "cohort_id": launch.context.cohort_id,
        "role": launch.context_role.value,
        "return_url": presentation.get("return_url") if isinstance(presentation, dict) else None,
    }


def deep_link_settings(launch: Launch) -> dict[str, Any]:
    settings = launch.claims.get(DL_CLAIM + "deep_linking_settings") or {}
    if not isinstance(settings, dict) or not settings.get("deep_link_return_url"):
        raise LaunchRefused("missing_deep_link_settings", issuer=launch.platform.issuer)
    return {"return_url": settings["deep_link_return_url"], "data": settings.get("data"),
            "accept_multiple": bool(settings.get("accept_multiple", False)),
            "platform_id": launch.platform.id, "deployment_id": launch.deployment.deployment_id,
            "context_id": launch.context.id if launch.context else None}


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
