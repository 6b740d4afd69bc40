"""Open Badges 3.0 credentials for validated blocks: what a learner may claim, the credential itself
(W3C VC Data Model 2.0, OB 3.0 context), signing (VC-JWT, ES256, the credentials key set) and revocation."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app, has_request_context, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from joserfc import jwt
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import (
    Block,
    BlockDecision,
    BlockResult,
    Claim,
    Competency,
    Credential,
    CredentialSource,
    DecisionKind,
    Dossier,
    DossierVersion,
    Evidence,
    EvidenceKind,
    JuryBlockDecision,
    JuryOutcome,
    KeyPurpose,
    Outcome,
    SubjectKind,
    User,
)
from portfolio.models.base import utcnow
from portfolio.services.audit import record_event
from portfolio.services.credentials.status import allocate_index, set_revoked
from portfolio.services.current import latest, latest_per
from portfolio.services.errors import DomainError
from portfolio.services.lti import keys

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
SCHEMA_ID = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
JWT_TYPE = "vc+jwt"
ISSUER_PATH = "/credentials/issuer"
STATUS_PATH = "/credentials/status/"
CREDENTIAL_PATH = "/credentials/"
#: did:<method>:<method-specific-id> (W3C DID Core § 3.1), without a path, query or fragment.
_ID_CHAR = r"(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})"
DID_PATTERN = re.compile(rf"^did:[a-z0-9]+:{_ID_CHAR}+(?::{_ID_CHAR}+)*$")
MAX_DID = 500
MAX_EVIDENCE_DESCRIPTION = 500


def base_url() -> str:
    """The public address credentials name: ``CREDENTIALS_BASE_URL``, else the request's, else SERVER_NAME."""
    configured = current_app.config.get("CREDENTIALS_BASE_URL")
    if configured:
        return str(configured).rstrip("/")
    if has_request_context():
        return request.url_root.rstrip("/")
    server = current_app.config.get("SERVER_NAME")
    if server:
        return f"https://{server}"
    raise DomainError(_("Définissez PORTFOLIO_CREDENTIALS_BASE_URL (l'adresse publique de cette instance)."))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- what may be claimed --------------------------------------------------------------------------

@dataclass(frozen=True)
class Claimable:
    """A block the learner may claim a credential for, and the decision behind it."""

    block: Block
    source: CredentialSource
    decision_id: int
    decided_at: datetime

    @property
    def key(self) -> str:
        return f"{self.source.value}-{self.block.id}"


def claimable_blocks(learner: User) -> list[Claimable]:
    """Blocks validated by a tutor (current decision), and blocks a VAE jury validated in an outcome it
    recorded (full or partial validation): the only decisions a credential may stand on."""
    found: dict[tuple[CredentialSource, int], Claimable] = {}
    for decision in db.session.scalars(latest_per(BlockDecision, [BlockDecision.block_id],
                                                  BlockDecision.learner_id == learner.id)):
        if decision.kind == DecisionKind.VALIDATED:
            found[(CredentialSource.TUTOR, decision.block_id)] = Claimable(
                decision.block, CredentialSource.TUTOR, decision.id, decision.created_at)
    versions = db.session.scalars(select(DossierVersion).join(Dossier).where(Dossier.candidate_id == learner.id)
                                  .order_by(DossierVersion.id))
    for version in versions:
        outcome = latest(JuryOutcome, JuryOutcome.version_id == version.id)
        if outcome is None or outcome.outcome not in (Outcome.FULL, Outcome.PARTIAL):
            continue
        for jury_decision in db.session.scalars(latest_per(JuryBlockDecision, [JuryBlockDecision.block_id],
                                                           JuryBlockDecision.version_id == version.id)):
            if jury_decision.result == BlockResult.VALIDATED:
                found[(CredentialSource.JURY, jury_decision.block_id)] = Claimable(
                    jury_decision.block, CredentialSource.JURY, jury_decision.id, outcome.created_at)
    return sorted(found.values(), key=lambda c: (c.block.position, c.source.value))


def find_claimable(learner: User, block_id: int, source: str) -> Claimable:
    for option in claimable_blocks(learner):
        if option.block.id == block_id and option.source.value == source:
            return option
    raise DomainError(_("Ce bloc n'est pas validé pour vous : un badge ne peut être demandé que pour un bloc "
                        "validé par votre formateur·rice ou par un jury de VAE."))


def disclosable_evidence(learner: User, block: Block) -> list[Evidence]:
    """The learner's own evidence tagged with a competency of ``block``: what they may choose to disclose."""
    return list(db.session.scalars(
        select(Evidence).where(Evidence.owner_id == learner.id,
                               Evidence.id.in_(select(Claim.evidence_id).join(Competency)
                                               .where(Competency.block_id == block.id)))
        .order_by(Evidence.occurred_on.desc(), Evidence.id.desc())))


def credentials_of(learner: User) -> list[Credential]:
    return list(db.session.scalars(select(Credential).where(Credential.user_id == learner.id)
                                   .order_by(Credential.id.desc())))


def find_credential(public_id: str) -> Credential | None:
    try:
        uuid.UUID(public_id)
    except ValueError:
        return None
    return db.session.scalar(select(Credential).where(Credential.uuid == public_id))


# --- the credential ------------------------------------------------------------------------------------

def issuer_profile(base: str) -> dict:
    """The institution's issuer profile (OB 3.0 ``Profile``), also served at ``/credentials/issuer``."""
    config = current_app.config
    profile: dict = {"id": base + ISSUER_PATH, "type": ["Profile"], "name": config["CREDENTIALS_ISSUER_NAME"]}
    if config.get("CREDENTIALS_ISSUER_URL"):
        profile["url"] = config["CREDENTIALS_ISSUER_URL"]
    if config.get("CREDENTIALS_ISSUER_EMAIL"):
        profile["email"] = config["CREDENTIALS_ISSUER_EMAIL"]
    return profile


def fiche_url(block: Block, base: str) -> str:
    """The fiche's public page at France compétences (RNCP or RS), else our achievement page."""
    match = re.fullmatch(r"(RNCP|RS)(\d+)", block.certification.code)
    if match:
        return f"https://www.francecompetences.fr/recherche/{match.group(1).lower()}/{match.group(2)}/"
    return f"{base}/credentials/achievements/{block.id}"


def achievement_of(block: Block, base: str) -> dict:
    """The block as an OB 3.0 ``Achievement`` aligned to the fiche (served at its own public address)."""
    certification = block.certification
    with force_locale("fr"):
        methods = (block.assessment_methods or "").strip()
        narrative = methods or _("Chaque compétence du bloc évaluée « acquise » sur des preuves, puis le bloc "
                                 "validé par un·e formateur·rice ou par un jury de VAE.")
        description = (block.description or "").strip() or block.title
        return {
            "id": f"{base}/credentials/achievements/{block.id}",
            "type": ["Achievement"],
            "achievementType": "Competency",
            "name": block.title,
            "humanCode": block.code,
            "description": description,
            "criteria": {"narrative": narrative},
            "image": {"id": f"{base}/credentials/achievements/{block.id}/image.svg", "type": "Image",
                      "caption": block.code},
            "inLanguage": "fr",
            "alignment": [{
                "type": ["Alignment"],
                "targetType": "ceterms:Credential",
                "targetName": block.title,
                "targetCode": block.code,
                "targetFramework": certification.label,
                "targetDescription": _("Bloc de compétences de la fiche %(code)s (enregistrement %(registration)s).",
                                       code=certification.code, registration=certification.registration),
                "targetUrl": fiche_url(block, base),
            }],
        }


def email_identity_hash(email: str, salt: str) -> str:
    """OB 3.0 ``IdentityHash``: ``sha256$`` + hex SHA-256 of the address (lower case) followed by the salt."""
    return "sha256$" + hashlib.sha256((email.strip().lower() + salt).encode()).hexdigest()


#: ``Evidence.genre``: the kind of evidence, as the evidence form names it.
GENRES = {EvidenceKind.CODE: _l("Code source"), EvidenceKind.UML: _l("Diagramme UML"),
          EvidenceKind.TEST_REPORT: _l("Rapport de tests"), EvidenceKind.LOGBOOK: _l("Journal de stage"),
          EvidenceKind.DOCUMENT: _l("Document"), EvidenceKind.LINK: _l("Lien"), EvidenceKind.OTHER: _l("Autre")}


def _genre(evidence: Evidence) -> str:
    return str(GENRES.get(evidence.kind, evidence.kind.value))


def _evidence_entry(evidence: Evidence) -> dict:
    """What is disclosed of a piece of evidence: its title, the start of its description, its genre;
    never a file or an address inside the portfolio (they are private)."""
    entry = {"type": ["Evidence"], "name": evidence.title, "genre": _genre(evidence)}
    text = " ".join((evidence.description or "").split())
    if text:
        entry["description"] = text if len(text) <= MAX_EVIDENCE_DESCRIPTION else \
            text[:MAX_EVIDENCE_DESCRIPTION - 1].rstrip() + "…"
    return entry


def build_credential(*, public_id: str, learner: User, option: Claimable, subject_kind: SubjectKind, did: str,
                     salt: str, include_name: bool, evidence: Iterable[Evidence], status_list_id: int,
                     status_index: int, valid_from: datetime, valid_until: datetime | None) -> dict:
    """The unsigned ``OpenBadgeCredential`` (JSON-LD, VC 2.0), as the JWT payload carries it."""
    base = base_url()
    block = option.block
    subject: dict = {"type": ["AchievementSubject"]}
    identifiers = []
    if subject_kind == SubjectKind.DID:
        subject["id"] = did
    else:
        identifiers.append({"type": "IdentityObject", "identityType": "emailAddress", "hashed": True,
                            "identityHash": email_identity_hash(learner.email, salt), "salt": salt})
    if include_name:
        identifiers.append({"type": "IdentityObject", "identityType": "name", "hashed": False,
                            "identityHash": learner.name})
    if identifiers:
        subject["identifier"] = identifiers
    subject["achievement"] = achievement_of(block, base)
    with force_locale("fr"):
        by = (_("un·e formateur·rice") if option.source == CredentialSource.TUTOR else _("le jury de VAE"))
        description = _("Bloc de compétences %(block)s de la certification %(certification)s, validé par %(by)s.",
                        block=block.code, certification=block.certification.label, by=by)
        entries = [_evidence_entry(e) for e in evidence]
    credential: dict = {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": base + CREDENTIAL_PATH + public_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": f"{block.code} — {block.title}",
        "description": description,
        "issuer": issuer_profile(base),
        "validFrom": _iso(valid_from),
        "awardedDate": _iso(option.decided_at),
        "credentialSubject": subject,
        "credentialStatus": {
            "id": f"{base}{STATUS_PATH}{status_list_id}#{status_index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(status_index),
            "statusListCredential": f"{base}{STATUS_PATH}{status_list_id}",
        },
        "credentialSchema": [{"id": SCHEMA_ID, "type": "1EdTechJsonSchemaValidator2019"}],
    }
    if valid_until is not None:
        credential["validUntil"] = _iso(valid_until)
    if entries:
        credential["evidence"] = entries
    return credential


def sign_credential(payload: dict) -> tuple[str, str]:
    """VC-JOSE-COSE: the JWT payload is the credential; ``typ`` ``vc+jwt``, ``cty`` ``vc``, our ``kid``.
    Returns (compact JWS, kid)."""
    row = keys.ensure_key(KeyPurpose.CREDENTIALS)
    header = {"alg": row.algorithm, "kid": row.kid, "typ": JWT_TYPE, "cty": "vc"}
    return jwt.encode(header, payload, keys.private_key(row)), row.kid


def check_did(value: str) -> str:
    did = (value or "").strip()
    if not did:
        raise DomainError(_("Saisissez votre identifiant décentralisé (DID), par exemple did:web:exemple.fr."),
                          field="did")
    if len(did) > MAX_DID or not DID_PATTERN.fullmatch(did):
        raise DomainError(_("Cet identifiant n'est pas un DID valide : il doit être de la forme "
                            "did:méthode:identifiant (par exemple did:key:z6Mk… ou did:web:exemple.fr), "
                            "sans espace ni fragment."), field="did")
    return did


def claim_credential(learner: User, block_id: int, source: str, *, subject: str, did: str = "",
                     evidence_ids: Iterable[int] = (), include_name: bool = True) -> Credential:
    """Issue a signed credential for a block validated for ``learner``, with the subject identifier and the
    evidence they chose (flushed; an audit event)."""
    option = find_claimable(learner, block_id, source)
    try:
        subject_kind = SubjectKind(subject)
    except ValueError:
        raise DomainError(_("Choisissez comment vous identifier : empreinte de votre adresse e-mail ou DID."),
                          field="subject") from None
    did = check_did(did) if subject_kind == SubjectKind.DID else ""
    wanted = {int(i) for i in evidence_ids}
    allowed = {e.id: e for e in disclosable_evidence(learner, option.block)}
    unknown = wanted - allowed.keys()
    if unknown:
        raise DomainError(_("Seules vos preuves rattachées à ce bloc peuvent figurer dans le badge."),
                          field="evidence")
    chosen = [allowed[i] for i in sorted(wanted, key=list(allowed).index)]
    status_list, index = allocate_index()
    public_id = str(uuid.uuid4())
    valid_from = utcnow().replace(microsecond=0)
    days = current_app.config.get("CREDENTIALS_VALIDITY_DAYS")
    valid_until = valid_from + timedelta(days=int(days)) if days else None
    payload = build_credential(public_id=public_id, learner=learner, option=option, subject_kind=subject_kind,
                               did=did, salt=secrets.token_hex(8), include_name=include_name, evidence=chosen,
                               status_list_id=status_list.id, status_index=index, valid_from=valid_from,
                               valid_until=valid_until)
    token, kid = sign_credential(payload)
    row = Credential(uuid=public_id, user_id=learner.id, block_id=option.block.id, source=option.source,
                     block_decision_id=option.decision_id if option.source == CredentialSource.TUTOR else None,
                     jury_decision_id=option.decision_id if option.source == CredentialSource.JURY else None,
                     subject_kind=subject_kind, status_list_id=status_list.id, status_index=index, kid=kid,
                     token=token, valid_from=valid_from, valid_until=valid_until)
    db.session.add(row)
    db.session.flush()
    record_event("credential.issue", actor=learner, subject_type="credential", subject_id=row.id,
                 data={"block": option.block.code, "source": option.source.value, "status_list": status_list.id,
                       "status_index": index, "subject": subject_kind.value, "evidence": len(chosen)})
    return row


def revoke_credentials(learner: User, block: Block, *, source: CredentialSource, actor: User | None,
                       reason: str) -> list[Credential]:
    """Revoke every live credential of ``learner`` for ``block`` from ``source``: the status bit is set in
    the same transaction as the decision that withdraws the validation."""
    rows = list(db.session.scalars(select(Credential).where(
        Credential.user_id == learner.id, Credential.block_id == block.id, Credential.source == source,
        Credential.revoked_at.is_(None))))
    for row in rows:
        _revoke(row, actor=actor, reason=reason, by="decision")
    db.session.flush()
    return rows


def revoke_own_credential(credential: Credential, *, actor: User, confirmed: bool) -> None:
    """The holder withdraws one of their badges (shared with the wrong evidence, say): its bit is set."""
    if credential.revoked_at is not None:
        raise DomainError(_("Ce badge est déjà révoqué."))
    if not confirmed:
        raise DomainError(_("Cochez la case pour confirmer : un badge révoqué ne sera plus jamais reconnu comme "
                            "valide, même par ceux qui l'ont déjà reçu."), field="confirm")
    _revoke(credential, actor=actor, reason=_("Révoqué par son titulaire."), by="holder")
    db.session.flush()


def _revoke(row: Credential, *, actor: User | None, reason: str, by: str) -> None:
    row.revoked_at = utcnow()
    row.revocation_reason = reason
    set_revoked(row.status_list, row.status_index)
    record_event("credential.revoke", actor=actor, subject_type="credential", subject_id=row.id,
                 data={"block": row.block.code, "by": by, "status_list": row.status_list_id,
                       "status_index": row.status_index})

