"""Fast review: the tutor walks the queue one piece after another and assesses every competency of a
piece in one submission, without going back to the queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import gettext as _

from portfolio.extensions import db
from portfolio.models import Evidence, EvidenceStatus, User
from portfolio.services import assessment as assessment_service
from portfolio.services.errors import DomainError


@dataclass
class ReviewPosition:
    """Where the tutor is in their (filtered) queue."""

    ids: list[int]                # the queue, oldest first
    current: Evidence | None      # None when nothing waits
    index: int                    # 0-based position of ``current`` in ``ids``

    @property
    def total(self) -> int:
        return len(self.ids)

    @property
    def previous_id(self) -> int | None:
        return self.ids[self.index - 1] if self.current is not None and self.index > 0 else None

    @property
    def next_id(self) -> int | None:
        return self.ids[self.index + 1] if self.current is not None and self.index + 1 < len(self.ids) else None


def review_position(user: User, *, at: int | None = None, cohort_id: int | None = None,
                    learner_id: int | None = None, block_code: str | None = None) -> ReviewPosition:
    """The queue as ids (one query) and the piece to show: ``at`` if it waits, else the oldest."""
    ids = [e.id for e in assessment_service.queue(user, cohort_id=cohort_id, learner_id=learner_id,
                                                  block_code=block_code)]
    if not ids:
        return ReviewPosition([], None, 0)
    index = ids.index(at) if at in ids else 0
    return ReviewPosition(ids, db.session.get(Evidence, ids[index]), index)


@dataclass
class Judgement:
    competency: str
    level: str
    comment: str


def record_review(evidence: Evidence, judgements: Sequence[Judgement], *, assessor: User) -> int:
    """Record the levels given to a piece's competencies in one go; returns how many were recorded.

    A competency left without a level is skipped; at least one level is required. All or nothing: the
    first refusal stops the batch (the request's unit of work then rolls everything back).
    """
    chosen = [j for j in judgements if j.level]
    if evidence.status != EvidenceStatus.SUBMITTED and not chosen:
        raise DomainError(_("Cette preuve n'attend plus d'évaluation."))
    if not chosen:
        raise DomainError(_("Choisissez un niveau pour au moins une compétence."), field="level")
    for judgement in chosen:
        assessment_service.record_assessment(evidence, judgement.competency, judgement.level, judgement.comment,
                                             assessor=assessor)
    return len(chosen)

