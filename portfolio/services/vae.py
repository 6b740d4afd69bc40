"""VAE (validation des acquis de l'expérience): enrolment, experiences, the dossier de validation
(livret 2), sending it to a jury as a frozen version, and the jury's decisions.

Every change is audited (``record_event``); who may do what is decided in ``services.access``.

Over 400 lines: enrolment, experiences, dossier, versions and juries change under one lock order;
the juries could move out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import (
    Block,
    BlockResult,
    Certification,
    Claim,
    Comment,
    Competency,
    Dossier,
    DossierNarrative,
    DossierSection,
    DossierStatus,
    DossierVersion,
    Evidence,
    Experience,
    Jury,
    JuryBlockDecision,
    JuryOutcome,
    Outcome,
    TimeBasis,
    User,
    UserRole,
    VaeEnrolment,
)
from portfolio.models.base import utcnow
from portfolio.services import access, references
from portfolio.services import comments as comment_service
from portfolio.services import evidence as evidence_service
from portfolio.services.audit import record_event
from portfolio.services.current import latest, latest_per
from portfolio.services.errors import Conflict, DomainError, NotFound
from portfolio.services.locks import lock
from portfolio.services.notifications import notify

MAX_SHORT = 200
MAX_TEXT = 20_000
MAX_COMMENT = 5_000


class DossierIncomplete(DomainError):
    """The dossier cannot be sent: ``missing`` lists, for a person, what is still missing."""

    code = "dossier_incomplete"

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


# --- labels ----------------------------------------------------------------------------------------

def time_basis_label(value: TimeBasis | str) -> str:
    return {TimeBasis.FULL_TIME: _("Temps plein"), TimeBasis.PART_TIME: _("Temps partiel")}[TimeBasis(value)]


def status_label(value: DossierStatus | str) -> str:
    return {DossierStatus.DRAFT: _("Brouillon"), DossierStatus.SENT: _("Envoyé au jury"),
            DossierStatus.DECIDED: _("Décision rendue")}[DossierStatus(value)]


def result_label(value: BlockResult | str) -> str:
    return {BlockResult.VALIDATED: _("Validé"), BlockResult.NOT_VALIDATED: _("Non validé")}[BlockResult(value)]


def outcome_label(value: Outcome | str) -> str:
    return {Outcome.FULL: _("Validation totale"), Outcome.PARTIAL: _("Validation partielle"),
            Outcome.REFUSAL: _("Refus")}[Outcome(value)]


# --- enrolment and adviser -------------------------------------------------------------------------

def _link(endpoint: str, anchor: str = "", **values: Any) -> str | None:
    """A link for a notification; None outside a request (the CLI, some tests)."""
    try:
        return url_for(endpoint, **values) + anchor
    except RuntimeError:
        return None


def enrolment_of(user: User) -> VaeEnrolment | None:
    return db.session.get(VaeEnrolment, user.id)


def candidate_certification(user: User) -> Certification | None:
    enrolment = enrolment_of(user)
    return enrolment.certification if enrolment is not None else None


def enrol_candidate(user: User, certification: Certification | None, *, actor: User | None) -> VaeEnrolment:
    """Enrol a VAE candidate in one certification (it can change only while no dossier exists)."""
    if not access.has_permission(user, access.Permission.KEEP_VAE_DOSSIER):
        raise DomainError(_("%(email)s n'a pas le rôle candidat·e VAE.", email=user.email), field="user")
    if certification is None:
        raise NotFound(_("Certification inconnue : chargez-la d'abord (flask frameworks import)."),
                       field="certification")
    enrolment = enrolment_of(user)
    if enrolment is not None:
        if enrolment.certification_id == certification.id:
            return enrolment
        if db.session.scalar(select(Dossier.id).where(Dossier.candidate_id == user.id).limit(1)) is not None:
            raise Conflict(_("Votre dossier est commencé : la certification visée ne peut plus changer."),
                           field="certification")
        enrolment.certification = certification
    else:
        enrolment = VaeEnrolment(user_id=user.id, certification=certification)
        db.session.add(enrolment)
    db.session.flush()
    record_event("vae.enrol", actor=actor, subject_type="user", subject_id=user.id,
                 data={"certification": certification.code, "registration": certification.registration})
    return enrolment


def set_adviser(candidate: User, adviser: User | None, *, actor: User | None) -> VaeEnrolment:
    enrolment = enrolment_of(candidate)
    if enrolment is None:
        raise NotFound(_("%(email)s n'est inscrit·e à aucune VAE.", email=candidate.email))
    if adviser is not None and not access.has_permission(adviser, access.Permission.TEACH):
        raise DomainError(_("L'accompagnateur·rice doit avoir le rôle formateur·rice."), field="adviser")
    enrolment.adviser = adviser
    db.session.flush()
    record_event("vae.set_adviser", actor=actor, subject_type="user", subject_id=candidate.id,
                 data={"adviser": adviser.id if adviser else None})
    if adviser is not None:
        notify(adviser, _("Vous accompagnez désormais %(name)s dans sa VAE.", name=candidate.name))
    return enrolment


def candidates(*, adviser: User | None = None) -> list[VaeEnrolment]:
    query = select(VaeEnrolment).join(VaeEnrolment.user)
    if adviser is not None:
        query = query.where(VaeEnrolment.adviser_id == adviser.id)
    return list(db.session.scalars(query.order_by(User.name)))


# --- experiences -----------------------------------------------------------------------------------

def _text(value: str | None, limit: int, field_name: str, *, required_message: str | None = None) -> str:
    value = (value or "").strip()
    if required_message and not value:
        raise DomainError(required_message, field=field_name)
    if len(value) > limit:
        raise DomainError(_("%(n)d caractères au plus.", n=limit), field=field_name)
    return value


def _experience_fields(organisation: str, sector: str, job_title: str, start_date: date | None,
                       end_date: date | None, time_basis: str, activities: str, tools: str) -> dict:
    values: dict[str, Any] = {
        "organisation": _text(organisation, MAX_SHORT, "organisation",
                              required_message=_("Indiquez l'employeur ou l'organisation.")),
        "sector": _text(sector, MAX_SHORT, "sector"),
        "job_title": _text(job_title, MAX_SHORT, "job_title", required_message=_("Indiquez l'emploi occupé.")),
        "activities": _text(activities, MAX_TEXT, "activities"),
        "tools": _text(tools, MAX_TEXT, "tools"),
    }
    if start_date is None:
        raise DomainError(_("Indiquez une date valide (jj/mm/aaaa)."), field="start_date")
    if end_date is not None and end_date < start_date:
        raise DomainError(_("La date de fin précède la date de début."), field="end_date")
    try:
        values["time_basis"] = TimeBasis(time_basis)
    except ValueError:
        raise DomainError(_("Choisissez temps plein ou temps partiel."), field="time_basis") from None
    values["start_date"], values["end_date"] = start_date, end_date
    return values


def _require_candidate(user: User) -> None:
    if enrolment_of(user) is None:
        raise DomainError(_("Choisissez d'abord la certification visée."), field="certification")


def create_experience(candidate: User, *, actor: User, organisation: str, job_title: str,
                      start_date: date | None, time_basis: str, sector: str = "", end_date: date | None = None,
                      is_volunteer: bool = False, activities: str = "", tools: str = "") -> Experience:
    _require_candidate(candidate)
    values = _experience_fields(organisation, sector, job_title, start_date, end_date, time_basis, activities, tools)
    experience = Experience(candidate=candidate, is_volunteer=bool(is_volunteer), **values)
    db.session.add(experience)
    db.session.flush()
    record_event("vae.experience.create", actor=actor, subject_type="experience", subject_id=experience.id,
                 data={"candidate": experience.candidate_id})
    _touch_dossier(candidate)
    return experience


def update_experience(experience: Experience, *, actor: User, organisation: str, job_title: str,
                      start_date: date | None, time_basis: str, sector: str = "", end_date: date | None = None,
                      is_volunteer: bool = False, activities: str = "", tools: str = "") -> Experience:
    values = _experience_fields(organisation, sector, job_title, start_date, end_date, time_basis, activities, tools)
    for key, value in values.items():
        setattr(experience, key, value)
    experience.is_volunteer = bool(is_volunteer)
    db.session.flush()
    record_event("vae.experience.update", actor=actor, subject_type="experience", subject_id=experience.id,
                 data={"candidate": experience.candidate_id})
    _touch_dossier(experience.candidate)
    return experience


def delete_experience(experience: Experience, *, actor: User) -> None:
    candidate = experience.candidate
    record_event("vae.experience.delete", actor=actor, subject_type="experience", subject_id=experience.id,
                 data={"organisation": experience.organisation})
    db.session.delete(experience)
    db.session.flush()
    _touch_dossier(candidate)


def _own_evidence(candidate: User, ids: Iterable[int]) -> list[Evidence]:
    ids = {int(i) for i in ids}
    if not ids:
        return []
    found = list(db.session.scalars(select(Evidence).where(Evidence.id.in_(ids), Evidence.owner_id == candidate.id)
                                    .order_by(Evidence.id)))
    if len(found) != len(ids):
        raise DomainError(_("Choisissez parmi vos propres preuves."), field="evidence")
    return found


def link_evidence(experience: Experience, evidence: Evidence, *, actor: User) -> None:
    if evidence.owner_id != experience.candidate_id:
        raise DomainError(_("Choisissez parmi vos propres preuves."), field="evidence")
    if evidence not in experience.evidence:
        experience.evidence.append(evidence)
        db.session.flush()
        record_event("vae.experience.link", actor=actor, subject_type="experience", subject_id=experience.id,
                     data={"evidence": evidence.id})


def unlink_evidence(experience: Experience, evidence: Evidence, *, actor: User) -> None:
    if evidence in experience.evidence:
        experience.evidence.remove(evidence)
        db.session.flush()
        record_event("vae.experience.unlink", actor=actor, subject_type="experience", subject_id=experience.id,
                     data={"evidence": evidence.id})


def set_experience_evidence(experience: Experience, evidence_ids: Iterable[int], *, actor: User) -> None:
    """Link exactly these pieces of evidence (the candidate's own) to the experience."""
    wanted = _own_evidence(experience.candidate, evidence_ids)
    for item in list(experience.evidence):
        if item not in wanted:
            unlink_evidence(experience, item, actor=actor)
    for item in wanted:
        link_evidence(experience, item, actor=actor)


def experiences_of(candidate: User) -> list[Experience]:
    return list(db.session.scalars(select(Experience).where(Experience.candidate_id == candidate.id)
                                   .order_by(Experience.start_date.desc(), Experience.id.desc())))


def candidate_evidence(candidate: User) -> list[Evidence]:
    return list(db.session.scalars(select(Evidence).where(Evidence.owner_id == candidate.id)
                                   .order_by(Evidence.occurred_on.desc(), Evidence.id.desc())))


# --- the dossier -----------------------------------------------------------------------------------

def dossier_of(candidate: User) -> Dossier | None:
    enrolment = enrolment_of(candidate)
    if enrolment is None:
        return None
    return db.session.scalar(select(Dossier).where(Dossier.candidate_id == candidate.id,
                                                   Dossier.certification_id == enrolment.certification_id))


def get_or_create_dossier(candidate: User) -> Dossier:
    """The candidate's dossier for their certification, with a section for every block."""
    enrolment = enrolment_of(candidate)
    if enrolment is None:
        raise DomainError(_("Choisissez d'abord la certification visée."), field="certification")
    dossier = dossier_of(candidate)
    if dossier is None:
        dossier = Dossier(candidate=candidate, certification=enrolment.certification)
        db.session.add(dossier)
        db.session.flush()
        record_event("vae.dossier.create", actor=candidate, subject_type="dossier", subject_id=dossier.id,
                     data={"certification": enrolment.certification.code})
    have = {s.block_id for s in dossier.sections}
    for block in dossier.certification.blocks:
        if block.id not in have:
            dossier.sections.append(DossierSection(block=block))
    db.session.flush()
    return dossier


def sections_in_order(dossier: Dossier) -> list[DossierSection]:
    return sorted(dossier.sections, key=lambda s: (s.block.position, s.block.code))


def section_for(dossier: Dossier, block_code: str) -> DossierSection:
    for section in dossier.sections:
        if section.block.code == block_code:
            return section
    raise NotFound(_("Bloc inconnu : %(code)s.", code=block_code))


@dataclass
class DossierCompetency:
    """What the dossier shows for one competency: the candidate's narrative, and their tags on it
    (``Claim``, the same a learner makes, each with its justification)."""

    competency: Competency
    narrative: str = ""
    claims: list[Claim] = field(default_factory=list)

    @property
    def evidence(self) -> list[Evidence]:
        return sorted((c.evidence for c in self.claims), key=lambda e: e.id)

    def justification_for(self, evidence: Evidence) -> str:
        return next((c.justification for c in self.claims if c.evidence_id == evidence.id), "")


def dossier_competencies(dossier: Dossier) -> dict[int, DossierCompetency]:
    """Per competency id of the dossier's certification that has a narrative or a tag: what it shows."""
    result: dict[int, DossierCompetency] = {}
    for narrative in dossier.narratives:
        result[narrative.competency_id] = DossierCompetency(narrative.competency, narrative.narrative)
    for competency_id, claims in evidence_service.claims_by_competency(dossier.candidate,
                                                                       dossier.certification).items():
        item = result.get(competency_id)
        if item is None:
            item = result[competency_id] = DossierCompetency(claims[0].competency)
        item.claims = claims
    return result


def _edited(dossier: Dossier) -> None:
    """An edit after sending makes the dossier a draft again: the next send makes the next version."""
    dossier.status = DossierStatus.DRAFT
    dossier.updated_at = utcnow()


def _touch_dossier(candidate: User) -> None:
    dossier = dossier_of(candidate)
    if dossier is not None:
        _edited(dossier)


def update_presentation(dossier: Dossier, presentation: str, *, actor: User) -> None:
    dossier.presentation = _text(presentation, MAX_TEXT, "presentation")
    _edited(dossier)
    db.session.flush()
    record_event("vae.dossier.presentation", actor=actor, subject_type="dossier", subject_id=dossier.id,
                 data={"length": len(dossier.presentation)})


def update_section(section: DossierSection, *, actor: User, applied: bool, activities: str, context: str,
                   means: str, experience_ids: Iterable[int]) -> None:
    candidate_id = section.dossier.candidate_id
    ids = {int(i) for i in experience_ids}
    experiences = list(db.session.scalars(select(Experience).where(
        Experience.id.in_(ids), Experience.candidate_id == candidate_id).order_by(Experience.id))) if ids else []
    if len(experiences) != len(ids):
        raise DomainError(_("Choisissez parmi vos propres expériences."), field="experiences")
    section.is_applied = bool(applied)
    section.activities = _text(activities, MAX_TEXT, "activities")
    section.context = _text(context, MAX_TEXT, "context")
    section.means = _text(means, MAX_TEXT, "means")
    section.experiences = experiences
    _edited(section.dossier)
    db.session.flush()
    record_event("vae.dossier.section", actor=actor, subject_type="dossier", subject_id=section.dossier_id,
                 data={"block": section.block.code, "applied": section.is_applied,
                       "experiences": [e.id for e in experiences]})


def set_claim(dossier: Dossier, competency: Competency, *, actor: User, narrative: str,
              evidence_ids: Iterable[int], justifications: dict[int, str] | None = None) -> DossierCompetency:
    """Write a competency's narrative and choose its evidence: the chosen pieces are tagged against the
    competency (a new tag's justification is ``justifications[evidence id]``, else the narrative), the
    others untagged — the candidate's tags, the same the evidence and block pages show."""
    if competency.block.certification_id != dossier.certification_id:
        raise NotFound(_("Cette compétence n'appartient pas à la certification visée."), field="competency")
    wanted = _own_evidence(dossier.candidate, evidence_ids)
    narrative = _text(narrative, MAX_TEXT, f"narrative-{competency.id}")
    row = next((n for n in dossier.narratives if n.competency_id == competency.id), None)
    if row is None:
        row = DossierNarrative(competency=competency)
        dossier.narratives.append(row)
    row.narrative = narrative
    tagged = {c.evidence_id: c for c in evidence_service.claims_by_competency(dossier.candidate, competency.block)
              .get(competency.id, [])}
    wanted_ids = {e.id for e in wanted}
    for evidence_id, claim in tagged.items():
        if evidence_id not in wanted_ids:
            evidence_service.untag_evidence(claim.evidence, competency.code, actor=actor)
    for item in wanted:
        if item.id not in tagged:
            justification = (justifications or {}).get(item.id, "").strip() or \
                narrative[:evidence_service.MAX_JUSTIFICATION]
            evidence_service.tag_evidence(item, competency.code, justification, actor=actor)
    _edited(dossier)
    db.session.flush()
    record_event("vae.dossier.claim", actor=actor, subject_type="dossier", subject_id=dossier.id,
                 data={"competency": competency.code, "evidence": sorted(wanted_ids), "length": len(narrative)})
    return dossier_competencies(dossier).get(competency.id) or DossierCompetency(competency, narrative)


@dataclass
class BlockCompleteness:
    section: DossierSection
    missing_evidence: list[Competency] = field(default_factory=list)
    missing_narrative: list[Competency] = field(default_factory=list)
    missing_section: list[str] = field(default_factory=list)  # labels of empty section fields

    @property
    def block(self) -> Block:
        return self.section.block

    @property
    def complete(self) -> bool:
        return not (self.missing_evidence or self.missing_narrative or self.missing_section)


def completeness(dossier: Dossier) -> list[BlockCompleteness]:
    """Per applied block: competencies lacking evidence or narrative, and the section's empty fields."""
    claims = dossier_competencies(dossier)
    result = []
    for section in sections_in_order(dossier):
        if not section.is_applied:
            continue
        item = BlockCompleteness(section)
        for label, value in ((_("les activités"), section.activities), (_("le contexte"), section.context),
                             (_("les moyens"), section.means)):
            if not value.strip():
                item.missing_section.append(label)
        for competency in section.block.competencies:
            claim = claims.get(competency.id)
            if claim is None or not claim.evidence:
                item.missing_evidence.append(competency)
            if claim is None or not claim.narrative.strip():
                item.missing_narrative.append(competency)
        result.append(item)
    return result


def missing_items(dossier: Dossier) -> list[str]:
    """What still prevents sending, one sentence each."""
    missing = []
    if not dossier.presentation.strip():
        missing.append(_("La présentation de votre parcours est vide."))
    report = completeness(dossier)
    if not report:
        missing.append(_("Choisissez au moins un bloc de compétences."))
    for item in report:
        code = item.block.code
        if item.missing_section:
            missing.append(_("%(block)s : décrivez %(fields)s.", block=code, fields=", ".join(item.missing_section)))
        for competency in item.missing_narrative:
            missing.append(_("%(block)s : %(competency)s n'a pas de récit.", block=code, competency=competency.code))
        for competency in item.missing_evidence:
            missing.append(_("%(block)s : %(competency)s n'a aucune preuve.", block=code, competency=competency.code))
    return missing


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def dossier_snapshot(dossier: Dossier, version_number: int | None = None, sent_at: datetime | None = None) -> dict:
    """The dossier as a plain dict (the schema is in ``DossierVersion``'s docstring): applied blocks only."""
    claims = dossier_competencies(dossier)
    candidate, certification = dossier.candidate, dossier.certification
    blocks = []
    for section in sections_in_order(dossier):
        if not section.is_applied:
            continue
        competencies = []
        for competency in section.block.competencies:
            claim = claims.get(competency.id)
            tagged = [(item, claim.justification_for(item)) for item in claim.evidence] if claim else []
            competencies.append({
                "code": competency.code,
                "statement": competency.statement,
                "narrative": claim.narrative if claim else "",
                "evidence": [{
                    "id": item.id, "title": item.title, "kind": item.kind.value,
                    "justification": justification,
                    "files": [{"filename": f.filename, "sha256": f.blob.sha256, "size": f.blob.size,
                               "media_type": f.blob.media_type, "storage_key": f.blob.storage_key}
                              for f in item.files],
                } for item, justification in tagged],
            })
        blocks.append({
            "code": section.block.code, "title": section.block.title, "activities": section.activities,
            "context": section.context, "means": section.means,
            "experience_ids": [e.id for e in section.experiences], "competencies": competencies,
        })
    experiences = sorted(experiences_of(candidate), key=lambda e: (e.start_date, e.id))
    return {
        "candidate": {"name": candidate.name, "email": candidate.email},
        "certification": {"code": certification.code, "title": certification.title,
                          "registration": certification.registration},
        "presentation": dossier.presentation,
        "version": version_number,
        "sent_at": _iso(sent_at),
        "experiences": [{
            "id": e.id, "organisation": e.organisation, "sector": e.sector, "job_title": e.job_title,
            "start": _iso(e.start_date), "end": _iso(e.end_date), "time_basis": e.time_basis.value,
            "volunteer": e.is_volunteer, "activities": e.activities, "tools": e.tools,
        } for e in experiences],
        "blocks": blocks,
    }


def send_dossier(dossier: Dossier, *, actor: User) -> DossierVersion:
    """Freeze the dossier as the next version and send it; refuse with what is missing. Under the
    candidate's row lock, which changing or deleting their evidence takes too."""
    lock(dossier.candidate)
    missing = missing_items(dossier)
    if missing:
        raise DossierIncomplete(_("Le dossier ne peut pas encore être envoyé : il manque des éléments."), missing)
    number = (max((v.number for v in dossier.versions), default=0)) + 1
    sent_at = utcnow()
    version = DossierVersion(number=number, sent_at=sent_at, sent_by_id=actor.id,
                             snapshot=dossier_snapshot(dossier, number, sent_at))
    dossier.versions.append(version)
    dossier.status = DossierStatus.SENT
    db.session.flush()
    record_event("vae.dossier.send", actor=actor, subject_type="dossier", subject_id=dossier.id,
                 data={"version": number, "blocks": [b["code"] for b in version.snapshot["blocks"]]})
    enrolment = enrolment_of(dossier.candidate)
    if enrolment is not None and enrolment.adviser is not None:
        notify(enrolment.adviser, _("%(name)s a envoyé la version %(n)d de son dossier de VAE.",
                                    name=dossier.candidate.name, n=number),
               _link("vae.version_detail", version_id=version.id))
    return version


def latest_version(dossier: Dossier) -> DossierVersion | None:
    return dossier.versions[-1] if dossier.versions else None


snapshot_evidence_ids = references.snapshot_evidence_ids


# --- comments --------------------------------------------------------------------------------------

def add_dossier_comment(dossier: Dossier, body: str, *, author: User) -> Comment:
    if not access.can_comment_dossier(author, dossier):
        raise DomainError(_("Seuls le·la candidat·e et son accompagnateur·rice commentent le dossier."))
    body = _text(body, MAX_COMMENT, "body", required_message=_("Écrivez votre commentaire."))
    comment = comment_service.add_comment_to(dossier, body, author=author, max_length=MAX_COMMENT,
                                             action="vae.dossier.comment")
    link = _link("vae.dossier_detail", "#comments", dossier_id=dossier.id)
    enrolment = enrolment_of(dossier.candidate)
    if author.id != dossier.candidate_id:
        notify(dossier.candidate, _("%(name)s a commenté votre dossier de VAE.", name=author.name), link)
    elif enrolment is not None and enrolment.adviser is not None:
        notify(enrolment.adviser, _("%(name)s a commenté son dossier de VAE.", name=author.name), link)
    return comment


# --- juries ----------------------------------------------------------------------------------------

def possible_advisers() -> list[User]:
    """Who may be chosen as an adviser: the tutors (``access.Permission.TEACH``), by name."""
    tutors = access.ROLE_PERMISSIONS[access.Permission.TEACH]
    return list(db.session.scalars(select(User).join(UserRole).where(UserRole.role.in_(tutors))
                                   .order_by(User.name)))


def possible_jurors() -> list[User]:
    """Who may sit on a jury (``access.Permission.SIT_ON_JURY``), by name."""
    jurors = access.ROLE_PERMISSIONS[access.Permission.SIT_ON_JURY]
    return list(db.session.scalars(select(User).join(UserRole).where(UserRole.role.in_(jurors))
                                   .order_by(User.name)))


def _check_juror(user: User) -> None:
    if not access.has_permission(user, access.Permission.SIT_ON_JURY):
        raise DomainError(_("%(email)s n'a pas le rôle membre du jury.", email=user.email), field="members")


def create_jury(name: str, members: Sequence[User], *, actor: User | None) -> Jury:
    name = _text(name, MAX_SHORT, "name", required_message=_("Le nom du jury est obligatoire."))
    if db.session.scalar(select(Jury.id).where(Jury.name == name)) is not None:
        raise Conflict(_("Un jury porte déjà le nom « %(name)s ».", name=name), field="name")
    for member in members:
        _check_juror(member)
    jury = Jury(name=name, members=list(dict.fromkeys(members)))
    db.session.add(jury)
    db.session.flush()
    record_event("vae.jury.create", actor=actor, subject_type="jury", subject_id=jury.id,
                 data={"name": name, "members": [m.id for m in jury.members]})
    return jury


def add_jury_member(jury: Jury, user: User, *, actor: User | None) -> None:
    _check_juror(user)
    if user in jury.members:
        raise Conflict(_("%(email)s fait déjà partie de ce jury.", email=user.email), field="email")
    jury.members.append(user)
    db.session.flush()
    record_event("vae.jury.add_member", actor=actor, subject_type="jury", subject_id=jury.id, data={"user": user.id})


def remove_jury_member(jury: Jury, user: User, *, actor: User | None) -> None:
    if user not in jury.members:
        raise NotFound(_("%(email)s ne fait pas partie de ce jury.", email=user.email))
    jury.members.remove(user)
    db.session.flush()
    record_event("vae.jury.remove_member", actor=actor, subject_type="jury", subject_id=jury.id,
                 data={"user": user.id})


def juries() -> list[Jury]:
    return list(db.session.scalars(select(Jury).order_by(Jury.name)))


def assign_version(version: DossierVersion, jury: Jury, *, actor: User | None) -> None:
    version.jury = jury
    db.session.flush()
    record_event("vae.version.assign", actor=actor, subject_type="dossier_version", subject_id=version.id,
                 data={"jury": jury.id, "dossier": version.dossier_id, "version": version.number})
    for member in jury.members:
        notify(member, _("Un dossier de VAE vous est confié : %(name)s (version %(n)d).",
                         name=version.dossier.candidate.name, n=version.number),
               _link("vae.version_detail", version_id=version.id))


def versions_for_juror(user: User) -> list[DossierVersion]:
    jury_ids = [j.id for j in user_juries(user)]
    if not jury_ids:
        return []
    return list(db.session.scalars(select(DossierVersion).where(DossierVersion.jury_id.in_(jury_ids))
                                   .order_by(DossierVersion.sent_at.desc(), DossierVersion.id.desc())))


def user_juries(user: User) -> list[Jury]:
    return list(db.session.scalars(select(Jury).where(Jury.members.any(User.id == user.id)).order_by(Jury.name)))


def sent_versions() -> list[DossierVersion]:
    return list(db.session.scalars(select(DossierVersion).order_by(DossierVersion.sent_at.desc(),
                                                                   DossierVersion.id.desc())))


# --- decisions -------------------------------------------------------------------------------------

def _check_member(version: DossierVersion, member: User) -> None:
    if version.jury is None or member not in version.jury.members:
        raise DomainError(_("Seuls les membres du jury auquel ce dossier est confié peuvent décider."))


class DeliberationClosed(Conflict):
    code = "deliberation_closed"


def deliberation_open(version: DossierVersion) -> bool:
    """The jury deliberates on a version until it records the overall outcome, which closes it."""
    return current_outcome(version) is None


def _check_open(version: DossierVersion) -> None:
    if not deliberation_open(version):
        raise DeliberationClosed(_("La délibération du jury sur cette version est close : sa décision a été "
                                   "notifiée au·à la candidat·e et ne change plus."))


def presented_blocks(version: DossierVersion) -> list[str]:
    """The codes of the blocks the candidate asked for in this version, in the dossier's order."""
    return [b["code"] for b in version.snapshot.get("blocks", [])]


def record_block_decision(version: DossierVersion, block_code: str, result: str, comment: str, *,
                          member: User) -> JuryBlockDecision:
    """The jury's decision on one presented block, while it deliberates. The candidate is told nothing yet:
    they are notified once, of the final decision, when the jury records the outcome. Decided under the
    version's row lock, which recording the outcome takes too: no decision slips in after the close."""
    _check_member(version, member)
    lock(version)
    _check_open(version)
    if block_code not in {b["code"] for b in version.snapshot.get("blocks", [])}:
        raise DomainError(_("Ce bloc ne fait pas partie de la demande."), field="block")
    try:
        result_value = BlockResult(result)
    except ValueError:
        raise DomainError(_("Choisissez validé ou non validé."), field="result") from None
    comment = _text(comment, MAX_COMMENT, "comment", required_message=_("Motivez la décision du jury."))
    block = db.session.scalar(select(Block).where(Block.certification_id == version.dossier.certification_id,
                                                  Block.code == block_code))
    if block is None:
        raise NotFound(_("Bloc inconnu : %(code)s.", code=block_code), field="block")
    decision = JuryBlockDecision(version_id=version.id, block=block, decided_by=member, result=result_value,
                                 comment=comment)
    db.session.add(decision)
    db.session.flush()
    record_event("vae.decision.block", actor=member, subject_type="dossier_version", subject_id=version.id,
                 data={"block": block_code, "result": result_value.value, "decision": decision.id})
    return decision


def expected_outcome(version: DossierVersion) -> tuple[Outcome | None, list[str], list[str]]:
    """What the block decisions allow: (outcome or None while a presented block awaits its decision,
    validated block codes, presented block codes without a decision)."""
    current = current_block_decisions(version)
    presented = presented_blocks(version)
    undecided = [code for code in presented if code not in current]
    validated = [code for code in presented if code in current and current[code].result == BlockResult.VALIDATED]
    if undecided:
        return None, validated, undecided
    all_blocks = {b.code for b in version.dossier.certification.blocks}
    if not validated:
        return Outcome.REFUSAL, validated, undecided
    if len(validated) == len(presented) and all_blocks <= set(presented):
        return Outcome.FULL, validated, undecided
    return Outcome.PARTIAL, validated, undecided


def _check_outcome_agrees(version: DossierVersion, value: Outcome) -> list[str]:
    """Refuse an outcome that the block decisions contradict; return the validated block codes."""
    expected, validated, undecided = expected_outcome(version)
    if undecided:
        raise DomainError(ngettext("Décidez d'abord du bloc %(blocks)s : la décision globale suit les décisions "
                                   "par bloc.",
                                   "Décidez d'abord des blocs %(blocks)s : la décision globale suit les décisions "
                                   "par bloc.", len(undecided), blocks=", ".join(undecided)), field="outcome")
    if value == expected:
        return validated
    if value == Outcome.FULL:
        not_validated = [c for c in presented_blocks(version) if c not in validated]
        if not_validated:
            message = ngettext("La validation totale demande que chaque bloc présenté soit validé : %(blocks)s "
                               "ne l'est pas.",
                               "La validation totale demande que chaque bloc présenté soit validé : %(blocks)s "
                               "ne le sont pas.", len(not_validated), blocks=", ".join(not_validated))
        else:
            message = _("La validation totale demande tous les blocs de la certification : ce dossier n'en "
                        "présente que %(n)d sur %(total)d. Choisissez la validation partielle.",
                        n=len(presented_blocks(version)), total=len(version.dossier.certification.blocks))
    elif value == Outcome.PARTIAL:
        message = (_("Aucun bloc n'est validé : la décision ne peut être qu'un refus.") if not validated else
                   _("Tous les blocs de la certification sont validés : c'est une validation totale."))
    else:
        message = ngettext("Le bloc %(blocks)s est validé : ce n'est pas un refus.",
                           "Les blocs %(blocks)s sont validés : ce n'est pas un refus.", len(validated),
                           blocks=", ".join(validated))
    raise DomainError(message, field="outcome")


def outcome_summary(value: Outcome | str, validated: Sequence[str]) -> str:
    """The outcome as the candidate reads it: a partial validation names the validated blocks."""
    value = Outcome(value)
    if value == Outcome.PARTIAL and validated:
        return ngettext("%(outcome)s (bloc validé : %(blocks)s)", "%(outcome)s (blocs validés : %(blocks)s)",
                        len(validated), outcome=outcome_label(value), blocks=", ".join(validated))
    return outcome_label(value)


def record_outcome(version: DossierVersion, outcome: str, comment: str, *, member: User,
                   confirmed: bool = False) -> JuryOutcome:
    """The overall outcome, which must agree with the block decisions, closes the deliberation; the candidate
    is then notified, once, of the final decision. ``confirmed``: the juror ticked the confirmation.
    Under the version's row lock: of two jurors closing at once, the second finds it closed."""
    _check_member(version, member)
    lock(version)
    _check_open(version)
    try:
        value = Outcome(outcome)
    except ValueError:
        raise DomainError(_("Choisissez la décision du jury."), field="outcome") from None
    comment = _text(comment, MAX_COMMENT, "comment", required_message=_("Motivez la décision du jury."))
    validated = _check_outcome_agrees(version, value)
    if not confirmed:
        raise DomainError(_("Cochez la case de confirmation : la décision globale clôt la délibération et sera "
                            "notifiée au·à la candidat·e."), field="confirm")
    record = JuryOutcome(version_id=version.id, decided_by=member, outcome=value, comment=comment)
    db.session.add(record)
    dossier = version.dossier
    if latest_version(dossier) is version and dossier.status == DossierStatus.SENT:
        dossier.status = DossierStatus.DECIDED
    db.session.flush()
    record_event("vae.decision.outcome", actor=member, subject_type="dossier_version", subject_id=version.id,
                 data={"outcome": value.value, "record": record.id, "validated": validated})
    notify(dossier.candidate, _("Le jury a rendu sa décision sur votre dossier de VAE : %(outcome)s.",
                                outcome=outcome_summary(value, validated)),
           _link("vae.version_detail", version_id=version.id), email_subject=_("Décision du jury de VAE"))
    return record


def block_decisions(version: DossierVersion) -> list[JuryBlockDecision]:
    """Every decision recorded on the version, oldest first."""
    return list(db.session.scalars(select(JuryBlockDecision).where(JuryBlockDecision.version_id == version.id)
                                   .order_by(JuryBlockDecision.created_at, JuryBlockDecision.id)))


def current_block_decisions(version: DossierVersion) -> dict[str, JuryBlockDecision]:
    """The latest decision per block code."""
    return {d.block.code: d for d in db.session.scalars(
        latest_per(JuryBlockDecision, [JuryBlockDecision.block_id], JuryBlockDecision.version_id == version.id))}


def outcomes(version: DossierVersion) -> list[JuryOutcome]:
    return list(db.session.scalars(select(JuryOutcome).where(JuryOutcome.version_id == version.id)
                                   .order_by(JuryOutcome.created_at, JuryOutcome.id)))


def current_outcome(version: DossierVersion) -> JuryOutcome | None:
    return latest(JuryOutcome, JuryOutcome.version_id == version.id)
