"""Deep Linking 2.0: the content item a teacher picked, signed back to the platform."""

from __future__ import annotations

import secrets
import time

from flask_babel import gettext as _
from sqlalchemy import select
from wtforms import SelectChoice

from portfolio.extensions import db
from portfolio.models import Block, LinkTarget, LtiContext, LtiPlatform
from portfolio.services.errors import DomainError
from portfolio.services.lti import CLAIM, DL_CLAIM, LTI_VERSION, keys

RESPONSE_TTL = 300


def target_labels() -> dict[LinkTarget, str]:
    return {
        LinkTarget.PORTFOLIO: _("Le portfolio de l'apprenant·e pour la certification"),
        LinkTarget.BLOCK: _("Un bloc de compétences"),
        LinkTarget.QUEUE: _("La file d'évaluation du formateur·rice"),
        LinkTarget.MATRIX: _("La matrice de la promotion"),
    }


def target_choices() -> list[SelectChoice]:
    return [SelectChoice(t.value, label) for t, label in target_labels().items()]


def content_item(context: LtiContext, target: str, block_code: str | None, title: str, *,
                 launch_url: str) -> dict:
    try:
        chosen = LinkTarget(target)
    except ValueError:
        raise DomainError(_("Choix inconnu."), field="target") from None
    cohort = context.cohort
    if cohort is None:
        raise DomainError(_("Choisissez d'abord la certification de ce cours."))
    custom = {"target": chosen.value, "certification": cohort.certification.code}
    block = None
    if chosen == LinkTarget.BLOCK:
        block = db.session.scalar(select(Block).where(Block.certification_id == cohort.certification_id,
                                                      Block.code == (block_code or "")))
        if block is None:
            raise DomainError(_("Choisissez le bloc que le lien ouvre."), field="block")
        custom["block"] = block.code
    label = (title or "").strip() or (f"{block.code} — {block.title}"[:200] if block else target_labels()[chosen])
    item = {"type": "ltiResourceLink", "title": label, "url": launch_url, "custom": custom}
    if block is not None:
        item["lineItem"] = {"scoreMaximum": 100, "label": label, "resourceId": f"block:{block.code}",
                            "tag": "portfolio-block"}
    return item


def build_response(settings: dict, context: LtiContext, target: str, block_code: str | None, title: str, *,
                   launch_url: str) -> str:
    """The signed LtiDeepLinkingResponse JWT (iss = our client id, aud = the platform's issuer)."""
    platform = db.session.get(LtiPlatform, settings["platform_id"])
    if platform is None or platform.id != context.platform_id:
        raise DomainError(_("Ce cours n'appartient pas à la plateforme qui a demandé le lien."))
    now = int(time.time())
    claims = {
        "iss": platform.client_id, "aud": [platform.issuer], "azp": platform.issuer,
        "iat": now, "exp": now + RESPONSE_TTL, "nonce": secrets.token_urlsafe(16),
        CLAIM + "message_type": "LtiDeepLinkingResponse", CLAIM + "version": LTI_VERSION,
        CLAIM + "deployment_id": settings["deployment_id"],
        DL_CLAIM + "content_items": [content_item(context, target, block_code, title, launch_url=launch_url)],
    }
    if settings.get("data") is not None:
        claims[DL_CLAIM + "data"] = settings["data"]
    return keys.sign(claims)
