"""Self-assessment: before submitting, the learner rates each tagged competency of a piece of evidence.

Same levels as the tutors (``Level``) and one sentence. Written only on a draft, by its owner, on a
competency the evidence is tagged with; frozen with the rest of the evidence once submitted (a new
version starts from a copy). Flushes only: the request's unit of work commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext as _
from sqlalchemy import Select, select

from portfolio.extensions import db
from portfolio.models import Claim, Evidence, EvidenceStatus, Level, SelfAssessment, User
from portfolio.services import access
from portfolio.services.audit import record_event
from portfolio.services.errors import DomainError
from portfolio.services.evidence import EvidenceLocked, ensure_mutable
from portfolio.services.locks import lock

MAX_SENTENCE = 1000


class NotOwnEvidence(DomainError):
    code = "forbidden"


def rate_competency(evidence: Evidence, competency_code: str, level: str, comment: str, *,
                    actor: User) -> SelfAssessment:
    """Record (or change) the learner's own level on one tagged competency of their draft."""
    if not access.can_self_assess(actor, evidence):
        raise NotOwnEvidence(_("Seul·e l'auteur·rice d'une preuve peut s'auto-évaluer dessus."))
    lock(evidence.owner)
    lock(evidence)
    if evidence.status != EvidenceStatus.DRAFT:
        raise EvidenceLocked(_("Cette preuve a été soumise : son auto-évaluation ne change plus."))
    ensure_mutable(evidence, lock_rows=False)  # cited by a dossier sent to a jury: frozen too (locked above)
    try:
        level_value = Level(level)
    except ValueError:
        raise DomainError(_("Niveau inconnu : %(level)s (acquired, in_progress, not_acquired)", level=level),
                          field="level") from None
    comment = " ".join((comment or "").split())
    if not comment:
        raise DomainError(_("Dites en une phrase pourquoi vous vous situez à ce niveau."), field="comment")
    if len(comment) > MAX_SENTENCE:
        raise DomainError(_("L'auto-évaluation ne doit pas dépasser %(n)d caractères.", n=MAX_SENTENCE),
                          field="comment")
    code = (competency_code or "").strip().upper()
    claim = next((c for c in evidence.claims if c.competency.code == code), None)
    if claim is None:
        raise DomainError(_("Cette preuve n'est pas rattachée à %(code)s.", code=competency_code),
                          field="competency")
    rating = db.session.scalar(select(SelfAssessment).where(SelfAssessment.claim_id == claim.id))
    if rating is None:
        rating = SelfAssessment(claim=claim, level=level_value, comment=comment)
        db.session.add(rating)
    else:
        rating.level, rating.comment = level_value, comment
    db.session.flush()
    record_event("evidence.self_assess", actor=actor, subject_type="evidence", subject_id=evidence.id,
                 data={"competency": code, "level": level_value.value})
    return rating


def self_assessments_on(evidence: Evidence) -> dict[int, SelfAssessment]:
    """Competency id -> the learner's self-assessment on this piece of evidence."""
    rows = db.session.scalars(select(SelfAssessment).join(Claim).where(Claim.evidence_id == evidence.id))
    return {row.claim.competency_id: row for row in rows}


def copy_self_assessments(source: Evidence, target: Evidence) -> None:
    """Give a new version the self-assessments of the version it continues (its claims are copies)."""
    ratings = self_assessments_on(source)
    for claim in target.claims:
        if (rating := ratings.get(claim.competency_id)) is not None:
            db.session.add(SelfAssessment(claim=claim, level=rating.level, comment=rating.comment))
    db.session.flush()


def submitted_self_levels(learner_ids: Iterable[int] | Select[int],
                          competency_ids: Iterable[int] | Select[int]) -> dict[tuple[int, int], Level]:
    """(learner id, competency id) -> the self-assessed level of the latest submitted evidence rating it.

    Drafts are left out: a tutor compares their level with what the learner sent, not with work in progress.
    ``learner_ids`` and ``competency_ids`` are lists or SELECTs of ids."""
    rows = db.session.execute(
        select(Evidence.owner_id, Claim.competency_id, SelfAssessment.level)
        .join(Claim, SelfAssessment.claim_id == Claim.id).join(Evidence, Claim.evidence_id == Evidence.id)
        .where(Evidence.status != EvidenceStatus.DRAFT, Evidence.owner_id.in_(learner_ids),
               Claim.competency_id.in_(competency_ids))
        .order_by(Evidence.submitted_at, Evidence.id))
    return {(owner, comp): level for owner, comp, level in rows}
