"""VAE (validation des acquis de l'expérience): enrolment, experiences, the dossier de validation
(livret 2), sending it to a jury as a frozen version, and the jury's decisions.

Every change is audited (``record_event``); who may do what is decided in ``services.access``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import (
    Block,
    BlockResult,
    Certification,
    Competency,
    Dossier,
    DossierClaim,
    DossierComment,
    DossierSection,
    DossierStatus,
    DossierVersion,
    Evidence,
    Experience,
    Jury,
    JuryBlockDecision,
    JuryOutcome,
    Outcome,
    Role,
    TimeBasis,
    User,
    VaeEnrolment,
)
from portfolio.models.base import utcnow
from portfolio.services.assessment import notify
from portfolio.services.audit import record_event
from portfolio.services.errors import Conflict, DomainError, NotFound

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

def _link(endpoint: str, anchor: str = "", **values: object) -> str | None:
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
    if not user.has_role(Role.VAE_CANDIDATE):
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
    if adviser is not None and not adviser.has_role(Role.TUTOR):
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
    values = {
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
                 data={"organisation": experience.organisation, "job_title": experience.job_title})
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
                 data={"organisation": experience.organisation, "job_title": experience.job_title})
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


def claims_by_competency(dossier: Dossier) -> dict[int, DossierClaim]:
    return {c.competency_id: c for c in dossier.claims}


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
              evidence_ids: Iterable[int]) -> DossierClaim:
    if competency.block.certification_id != dossier.certification_id:
        raise NotFound(_("Cette compétence n'appartient pas à la certification visée."), field="competency")
    evidence = _own_evidence(dossier.candidate, evidence_ids)
    narrative = _text(narrative, MAX_TEXT, f"narrative-{competency.id}")
    claim = claims_by_competency(dossier).get(competency.id)
    if claim is None:
        claim = DossierClaim(competency=competency)
        dossier.claims.append(claim)
    claim.narrative = narrative
    claim.evidence = evidence
    _edited(dossier)
    db.session.flush()
    record_event("vae.dossier.claim", actor=actor, subject_type="dossier", subject_id=dossier.id,
                 data={"competency": competency.code, "evidence": [e.id for e in evidence],
                       "length": len(narrative)})
    return claim


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
    claims = claims_by_competency(dossier)
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
    claims = claims_by_competency(dossier)
    candidate, certification = dossier.candidate, dossier.certification
    blocks = []
    for section in sections_in_order(dossier):
        if not section.is_applied:
            continue
        competencies = []
        for competency in section.block.competencies:
            claim = claims.get(competency.id)
            competencies.append({
                "code": competency.code,
                "statement": competency.statement,
                "narrative": claim.narrative if claim else "",
                "evidence": [{
                    "id": item.id, "title": item.title, "kind": item.kind.value,
                    "files": [{"filename": f.filename, "sha256": f.blob.sha256, "size": f.blob.size,
                               "media_type": f.blob.media_type, "storage_key": f.blob.storage_key}
                              for f in item.files],
                } for item in (claim.evidence if claim else [])],
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
    """Freeze the dossier as the next version and send it; refuse with what is missing."""
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


def snapshot_evidence_ids(snapshot: dict) -> set[int]:
    return {e["id"] for b in snapshot.get("blocks", []) for c in b.get("competencies", []) for e in c["evidence"]}


# --- comments --------------------------------------------------------------------------------------

def add_dossier_comment(dossier: Dossier, body: str, *, author: User) -> DossierComment:
    from portfolio.services import access

    if not access.can_comment_dossier(author, dossier):
        raise DomainError(_("Seuls le·la candidat·e et son accompagnateur·rice commentent le dossier."))
    body = _text(body, MAX_COMMENT, "body", required_message=_("Écrivez votre commentaire."))
    comment = DossierComment(dossier_id=dossier.id, author=author, body=body)
    db.session.add(comment)
    db.session.flush()
    record_event("vae.dossier.comment", actor=author, subject_type="dossier", subject_id=dossier.id,
                 data={"comment": comment.id})
    link = _link("vae.dossier_detail", "#comments", dossier_id=dossier.id)
    enrolment = enrolment_of(dossier.candidate)
    if author.id != dossier.candidate_id:
        notify(dossier.candidate, _("%(name)s a commenté votre dossier de VAE.", name=author.name), link)
    elif enrolment is not None and enrolment.adviser is not None:
        notify(enrolment.adviser, _("%(name)s a commenté son dossier de VAE.", name=author.name), link)
    return comment


def comments_on(dossier: Dossier) -> list[DossierComment]:
    return list(db.session.scalars(select(DossierComment).where(DossierComment.dossier_id == dossier.id)
                                   .order_by(DossierComment.created_at, DossierComment.id)))


# --- juries ----------------------------------------------------------------------------------------

def _check_juror(user: User) -> None:
    if not user.has_role(Role.JURY):
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


def record_block_decision(version: DossierVersion, block_code: str, result: str, comment: str, *,
                          member: User) -> JuryBlockDecision:
    _check_member(version, member)
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
    notify(version.dossier.candidate,
           _("Le jury a rendu sa décision sur le bloc %(block)s : %(result)s.", block=block_code,
             result=result_label(result_value)),
           _link("vae.version_detail", version_id=version.id))
    return decision


def record_outcome(version: DossierVersion, outcome: str, comment: str, *, member: User) -> JuryOutcome:
    _check_member(version, member)
    try:
        value = Outcome(outcome)
    except ValueError:
        raise DomainError(_("Choisissez la décision du jury."), field="outcome") from None
    comment = _text(comment, MAX_COMMENT, "comment", required_message=_("Motivez la décision du jury."))
    record = JuryOutcome(version_id=version.id, decided_by=member, outcome=value, comment=comment)
    db.session.add(record)
    dossier = version.dossier
    if latest_version(dossier) is version and dossier.status == DossierStatus.SENT:
        dossier.status = DossierStatus.DECIDED
    db.session.flush()
    record_event("vae.decision.outcome", actor=member, subject_type="dossier_version", subject_id=version.id,
                 data={"outcome": value.value, "record": record.id})
    notify(dossier.candidate, _("Le jury a rendu sa décision sur votre dossier de VAE : %(outcome)s.",
                                outcome=outcome_label(value)),
           _link("vae.version_detail", version_id=version.id), email_subject=_("Décision du jury de VAE"))
    return record


def block_decisions(version: DossierVersion) -> list[JuryBlockDecision]:
    """Every decision recorded on the version, oldest first."""
    return list(db.session.scalars(select(JuryBlockDecision).where(JuryBlockDecision.version_id == version.id)
                                   .order_by(JuryBlockDecision.created_at, JuryBlockDecision.id)))


def current_block_decisions(version: DossierVersion) -> dict[str, JuryBlockDecision]:
    """The latest decision per block code."""
    return {d.block.code: d for d in block_decisions(version)}


def outcomes(version: DossierVersion) -> list[JuryOutcome]:
    return list(db.session.scalars(select(JuryOutcome).where(JuryOutcome.version_id == version.id)
                                   .order_by(JuryOutcome.created_at, JuryOutcome.id)))


def current_outcome(version: DossierVersion) -> JuryOutcome | None:
    found = outcomes(version)
    return found[-1] if found else None
