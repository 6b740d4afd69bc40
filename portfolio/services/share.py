"""Share links: a person shows a read-only selection of their portfolio — one block with its evidence, their
progress, a dossier version as it was sent — to someone without an account, by a secret link.

* The token (32 random bytes, URL-safe) is shown once, at creation; only its SHA-256 is stored, so it
  cannot be shown again. Every link expires (1 to 90 days), may need a password (hashed like account
  passwords, tries limited per link by ``login_limits``) and can be revoked.
* What a link reaches is decided here (``shared_evidence_ids``, ``shared_file``) and asked through
  ``access.share_reaches_file``: a block's link reaches the owner's evidence tagged to that block once
  submitted or assessed (never a draft, and only the latest sent version of a piece); a dossier version's
  link reaches the files its snapshot names; a progress or credential link reaches no evidence file (a
  credential's link offers the badge itself, in the formats its owner can download).
* Block and progress links show the state of the day (levels change, new evidence appears); a dossier
  version never changes.
* Each opening is logged for the owner (``share_views``): when, the network (IPv4 /24, IPv6 /48, never the
  full address), the browser's family, what was opened. Those rows are the audit of a read, written inside
  ``unit_of_work.read_audit``; the owner's own openings are not logged.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portfolio import unit_of_work
from portfolio.extensions import db
from portfolio.models import (
    Block,
    BlockDecision,
    Claim,
    Competency,
    Credential,
    DecisionKind,
    Dossier,
    DossierVersion,
    Evidence,
    EvidenceFile,
    EvidenceStatus,
    Level,
    Role,
    ShareKind,
    ShareLink,
    ShareOpened,
    ShareView,
    User,
)
from portfolio.models.base import utcnow
from portfolio.services import cohorts, login_limits, passwords
from portfolio.services.audit import record_event, record_read
from portfolio.services.credentials.issue import credentials_of
from portfolio.services.current import current_levels, latest_per
from portfolio.services.errors import DomainError
from portfolio.services.tokens import hash_token

#: Validity offered at creation, in days; 30 unless chosen otherwise.
EXPIRY_DAYS = (1, 7, 30, 90)
DEFAULT_EXPIRY_DAYS = 30
MIN_PASSWORD = 8
MAX_PASSWORD = 200
MAX_LABEL = 120
MAX_TOKEN_LENGTH = 100  # a real token is 43 characters
#: Evidence a block's link shows: what was sent for assessment, never a draft.
SHARED_STATUSES = (EvidenceStatus.SUBMITTED, EvidenceStatus.ASSESSED)


class ShareRefused(DomainError):
    """A link that opens nothing; ``status`` is the page's HTTP answer."""

    code = "share_refused"
    status = 410


class ShareUnknown(ShareRefused):
    code = "share_unknown"
    status = 404


class ShareExpired(ShareRefused):
    code = "share_expired"


class ShareRevoked(ShareRefused):
    code = "share_revoked"


class PasswordRefused(DomainError):
    code = "share_password"


# --- tokens ---------------------------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(32)


# --- what a person may share -----------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """One thing a person may share: ``value`` is the form's choice (``progress``, ``block:<code>``,
    ``version:<id>``), ``label`` what the list says, ``group`` its heading in the list."""

    value: str
    label: str
    group: str
    kind: ShareKind
    block: Block | None = None
    version: DossierVersion | None = None
    credential: Credential | None = None


def share_targets(owner: User) -> list[Target]:
    """What ``owner`` may share: as a learner, their progress and each block of their certification; their
    badges not revoked; as a VAE candidate, each version of their dossier sent to the jury."""
    targets: list[Target] = []
    certification = cohorts.learner_certification(owner) if owner.has_role(Role.LEARNER) else None
    if certification is not None:
        targets.append(Target("progress", _("Ma progression (tous les blocs de %(code)s)", code=certification.code),
                              _("Progression"), ShareKind.PROGRESS))
        group = _("Un bloc, avec ses preuves")
        targets += [Target(f"block:{b.code}", f"{b.code} — {b.title}", group, ShareKind.BLOCK, block=b)
                    for b in certification.blocks]
    versions = db.session.scalars(
        select(DossierVersion).join(Dossier, Dossier.id == DossierVersion.dossier_id)
        .where(Dossier.candidate_id == owner.id).order_by(DossierVersion.sent_at.desc(), DossierVersion.id.desc()))
    group = _("Un badge Open Badges")
    targets += [Target(f"credential:{c.id}", _("Badge du bloc %(code)s — %(title)s", code=c.block.code,
                                               title=c.block.title), group, ShareKind.CREDENTIAL, credential=c)
                for c in credentials_of(owner) if c.revoked_at is None]
    group = _("Un dossier de validation envoyé")
    targets += [Target(f"version:{v.id}", _("Dossier de validation, version %(n)d envoyée le %(date)s", n=v.number,
                                            date=format_date(v.sent_at, "long")), group, ShareKind.DOSSIER_VERSION,
                       version=v) for v in versions]
    return targets


def create_share_link(owner: User, *, target: str, days: int, password: str = "",
                      label: str = "") -> tuple[ShareLink, str]:
    """Create a link to ``target`` (a ``Target.value`` of ``owner``); return it and its token, which is
    never stored and can be shown only now."""
    chosen = next((t for t in share_targets(owner) if t.value == target), None)
    if chosen is None:
        raise DomainError(_("Choisissez ce que vous partagez parmi la liste."), field="target")
    if days not in EXPIRY_DAYS:
        raise DomainError(_("Choisissez une durée de validité parmi la liste."), field="days")
    password = password or ""
    if password and len(password) < MIN_PASSWORD:
        raise DomainError(_("Le mot de passe du lien doit contenir au moins %(n)d caractères, ou laissez-le vide.",
                            n=MIN_PASSWORD), field="password")
    if len(password) > MAX_PASSWORD:
        raise DomainError(_("Le mot de passe du lien ne doit pas dépasser %(n)d caractères.", n=MAX_PASSWORD),
                          field="password")
    label = (label or "").strip()
    if len(label) > MAX_LABEL:
        raise DomainError(_("La note ne doit pas dépasser %(n)d caractères.", n=MAX_LABEL), field="label")
    token = new_token()
    now = utcnow()
    link = ShareLink(owner=owner, kind=chosen.kind, block=chosen.block, dossier_version=chosen.version,
                     credential=chosen.credential,
                     label=label, token_hash=hash_token(token), created_at=now, expires_at=now + timedelta(days=days),
                     password_hash=passwords.hash_password(password) if password else None)
    db.session.add(link)
    db.session.flush()
    record_event("share.create", actor=owner, subject_type="share_link", subject_id=link.id,
                 data={"kind": link.kind.value, "block": link.block_id, "dossier_version": link.dossier_version_id,
                       "credential": link.credential_id,
                       "days": days, "password": link.password_hash is not None})
    return link, token


def revoke_share_link(link: ShareLink, *, actor: User) -> None:
    """Close a link for good (revoking it again changes nothing)."""
    if link.revoked_at is not None:
        return
    link.revoked_at = utcnow()
    db.session.flush()
    record_event("share.revoke", actor=actor, subject_type="share_link", subject_id=link.id,
                 data={"kind": link.kind.value})


def links_of(owner: User) -> list[ShareLink]:
    """A person's links, newest first, closed ones included (they say why they are closed)."""
    return list(db.session.scalars(select(ShareLink).where(ShareLink.owner_id == owner.id)
                                   .order_by(ShareLink.created_at.desc(), ShareLink.id.desc())))


def state_of(link: ShareLink, now: datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if link.revoked_at is not None:
        return "revoked"
    return "expired" if (now or utcnow()) >= link.expires_at else "active"


# --- opening a link --------------------------------------------------------------------------------

def open_share_link(token: str) -> ShareLink:
    """The link a token opens, or ``ShareRefused`` saying why. Known or not, a token costs one hash and one
    indexed look-up, so the answer's timing tells nothing about which tokens exist."""
    digest = hash_token((token or "")[:MAX_TOKEN_LENGTH])
    link = db.session.scalar(select(ShareLink).where(ShareLink.token_hash == digest))
    if link is None or not hmac.compare_digest(link.token_hash, digest) or len(token or "") > MAX_TOKEN_LENGTH:
        raise ShareUnknown(_("Ce lien de partage n'existe pas. Vérifiez qu'il a été copié en entier."))
    if link.revoked_at is not None or not link.owner.is_enabled:
        raise ShareRevoked(_("Ce lien de partage a été retiré par la personne qui l'avait créé : il ne montre plus "
                             "rien. Demandez-lui un nouveau lien si besoin."))
    if utcnow() >= link.expires_at:
        raise ShareExpired(_("Ce lien de partage a expiré le %(date)s : il ne montre plus rien. Demandez un nouveau "
                             "lien à la personne qui vous l'avait envoyé.", date=format_date(link.expires_at, "long")))
    return link


def check_password(link: ShareLink, password: str) -> None:
    """Open a password-protected link; each try is counted for the link, and past its limit every try is
    refused, the right password too, until the window passes."""
    refusal = login_limits.register_share_attempt(link.id)
    if refusal is not None:
        raise PasswordRefused(ngettext("Trop d'essais de mot de passe sur ce lien. Réessayez dans %(num)d minute.",
                                       "Trop d'essais de mot de passe sur ce lien. Réessayez dans %(num)d minutes.",
                                       refusal.minutes), field="password")
    if not passwords.verify_password(link.password_hash, password or ""):
        raise PasswordRefused(_("Ce mot de passe n'est pas celui du lien. Il vous a été communiqué par la personne "
                                "qui a partagé ce lien."), field="password")
    login_limits.clear_share(link.id)


# --- what a link shows -----------------------------------------------------------------------------

def _block_evidence(link: ShareLink) -> list[Evidence]:
    """The owner's evidence tagged to the link's block, sent for assessment, latest sent version only."""
    if link.kind != ShareKind.BLOCK or link.block_id is None:
        return []
    found = list(db.session.scalars(
        select(Evidence).join(Claim, Claim.evidence_id == Evidence.id)
        .join(Competency, Competency.id == Claim.competency_id)
        .where(Evidence.owner_id == link.owner_id, Competency.block_id == link.block_id,
               Evidence.status.in_(SHARED_STATUSES))
        .options(selectinload(Evidence.files), selectinload(Evidence.claims))
        .distinct().order_by(Evidence.occurred_on.desc(), Evidence.id.desc())))
    replaced = {e.previous_version_id for e in found if e.previous_version_id is not None}
    return [e for e in found if e.id not in replaced]


def _snapshot_files(link: ShareLink) -> dict[int, set[str]]:
    """For a dossier version's link: evidence id → the SHA-256 of each file its snapshot names."""
    version = link.dossier_version
    if link.kind != ShareKind.DOSSIER_VERSION or version is None:
        return {}
    files: dict[int, set[str]] = {}
    for block in version.snapshot.get("blocks", []):
        for competency in block.get("competencies", []):
            for item in competency.get("evidence", []):
                if isinstance(item.get("id"), int):
                    files.setdefault(item["id"], set()).update(
                        f.get("sha256") for f in item.get("files", []) if f.get("sha256"))
    return files


def shared_evidence_ids(link: ShareLink) -> set[int]:
    """The evidence whose files the link reaches (none for a progress link)."""
    if link.kind == ShareKind.BLOCK:
        return {e.id for e in _block_evidence(link)}
    if link.kind == ShareKind.DOSSIER_VERSION:
        return set(_snapshot_files(link))
    return set()


def reaches_file(link: ShareLink, file: EvidenceFile) -> bool:
    """Whether the link reaches this file (the rule ``access.share_reaches_file`` states)."""
    if file.evidence.owner_id != link.owner_id:
        return False
    if link.kind == ShareKind.DOSSIER_VERSION:
        # The file as the jury received it: its evidence is in the snapshot, and so is its content.
        return file.blob.sha256 in _snapshot_files(link).get(file.evidence_id, set())
    return file.evidence_id in shared_evidence_ids(link)


@dataclass
class SharedCompetency:
    competency: Competency
    level: Level | None
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class SharedBlock:
    block: Block
    competencies: list[SharedCompetency]
    validated_at: datetime | None

    def count(self, level: Level | None) -> int:
        return sum(1 for c in self.competencies if c.level == level)

    @property
    def total(self) -> int:
        return len(self.competencies)


def _validations(owner: User, block_ids: list[int]) -> dict[int, datetime]:
    """When each block was validated, for those whose current decision is a validation."""
    return {d.block_id: d.created_at for d in db.session.scalars(
        latest_per(BlockDecision, [BlockDecision.block_id], BlockDecision.learner_id == owner.id,
                   BlockDecision.block_id.in_(block_ids))) if d.kind == DecisionKind.VALIDATED}


def shared_block(link: ShareLink) -> SharedBlock:
    """The block of a block link: per competency the tutor's current level and the evidence shown."""
    block = link.block
    assert block is not None  # noqa: S101 (the CHECK says a block link has a block)
    levels = current_levels(link.owner, [c.id for c in block.competencies])
    evidence = _block_evidence(link)
    per_competency = {c.id: [e for e in evidence if any(t.competency_id == c.id for t in e.claims)]
                      for c in block.competencies}
    return SharedBlock(block, [SharedCompetency(c, levels.get(c.id), per_competency[c.id]) for c in block.competencies],
                       _validations(link.owner, [block.id]).get(block.id))


def shared_progress(link: ShareLink) -> tuple[object | None, list[SharedBlock]]:
    """The certification and, per block, the current levels and validation (no evidence, no comments)."""
    certification = cohorts.learner_certification(link.owner)
    if certification is None:
        return None, []
    blocks = list(certification.blocks)
    levels = current_levels(link.owner, [c.id for b in blocks for c in b.competencies])
    validated = _validations(link.owner, [b.id for b in blocks])
    return certification, [SharedBlock(b, [SharedCompetency(c, levels.get(c.id)) for c in b.competencies],
                                       validated.get(b.id)) for b in blocks]


def shared_version_files(link: ShareLink) -> dict[tuple[int, str], EvidenceFile]:
    """For a dossier version's link: (evidence id, SHA-256) → the file row that still holds it."""
    wanted = _snapshot_files(link)
    if not wanted:
        return {}
    rows = db.session.scalars(select(EvidenceFile).join(Evidence, Evidence.id == EvidenceFile.evidence_id)
                              .where(EvidenceFile.evidence_id.in_(list(wanted)), Evidence.owner_id == link.owner_id))
    return {(f.evidence_id, f.blob.sha256): f for f in rows if f.blob.sha256 in wanted[f.evidence_id]}


# --- the log of openings ---------------------------------------------------------------------------

_AGENTS = (  # order matters: Edge and Opera also say Chrome, Chrome also says Safari
    (re.compile(r"bot|crawl|spider|slurp|preview|facebookexternalhit|curl|wget|python|java/", re.I), "Robot"),
    (re.compile(r"Edg(e|A|iOS)?/"), "Edge"),
    (re.compile(r"OPR/|Opera"), "Opera"),
    (re.compile(r"Firefox/|FxiOS/"), "Firefox"),
    (re.compile(r"Chrome/|Chromium/|CriOS/"), "Chrome"),
    (re.compile(r"Safari/"), "Safari"),
)


def agent_family(user_agent: str | None) -> str:
    """« Firefox », « Chrome », « Robot »…: the family only, never the full User-Agent."""
    for pattern, name in _AGENTS:
        if pattern.search(user_agent or ""):
            return name
    return ""


def network_of(address: str | None) -> str:
    """The address cut to its network: IPv4 /24, IPv6 /48 (no full address is kept)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return ""
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def record_view(link: ShareLink, *, viewer: User | None, address: str | None, user_agent: str | None,
                file: EvidenceFile | None = None, download: str = "") -> ShareView | None:
    """Log one opening of the link (not the owner's own): the page, an evidence file (also a read in the audit
    chain) or another ``download`` (a badge's file, by its name)."""
    if viewer is not None and getattr(viewer, "id", None) == link.owner_id:
        return None
    with unit_of_work.read_audit():
        view = ShareView(link=link, viewed_at=utcnow(), network=network_of(address), agent=agent_family(user_agent),
                         opened=ShareOpened.FILE if file is not None or download else ShareOpened.PAGE,
                         file_id=file.id if file is not None else None,
                         filename=(file.filename if file is not None else download)[:255])
        db.session.add(view)
    if file is not None:
        record_read("share.download", actor=None, subject_type="evidence", subject_id=file.evidence_id,
                    data={"share_link": link.id, "file": file.id})
    return view
