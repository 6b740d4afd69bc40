"""Submission, assessment, block validation and comments (notifications: ``services.notifications``).

Assessments are appended, never edited or deleted; a correction is a new assessment that names the
one it supersedes. ``CompetencyState`` holds the current level per learner and competency and is
updated in the same transaction, so that reading progress or a cohort matrix never scans history.
How "the current" anything is read is in ``services.current``; comments are ``services.comments``.

Over 400 lines: submission, assessment, block decisions, the queue and the matrix share the current-level reads.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from flask import url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import Select, func, select
from sqlalchemy.orm import aliased, joinedload, lazyload, selectinload

from portfolio.extensions import db
from portfolio.formatting import slugify
from portfolio.models import (
    Assessment,
    Block,
    BlockDecision,
    Certification,
    Claim,
    Cohort,
    CohortMembership,
    Comment,
    Competency,
    CompetencyState,
    CredentialSource,
    DecisionKind,
    Evidence,
    EvidenceFile,
    EvidenceStatus,
    Level,
    MemberRole,
    User,
)
from portfolio.models.base import utcnow
from portfolio.services import access, self_assessment
from portfolio.services import comments as comment_service
from portfolio.services.access import lti_scope_cohort_id
from portfolio.services.audit import record_event
from portfolio.services.credentials.issue import revoke_credentials
from portfolio.services.current import current_levels, latest, latest_per
from portfolio.services.errors import Conflict, DomainError, NotFound
from portfolio.services.evidence import EvidenceLocked, ensure_verified
from portfolio.services.locks import lock

# Re-exported: the notifications were kept here before they had their own service.
from portfolio.services.notifications import (  # noqa: F401
    mark_notifications_read,
    notifications_of,
    notify,
    open_notification,
    unread_count,
)

MAX_COMMENT = 10_000


class BlockIncomplete(DomainError):
    code = "block_incomplete"

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


def level_labels() -> dict[Level | None, str]:
    """Every level's label in the current language (translate once, use for thousands of cells)."""
    return {Level.ACQUIRED: _("acquis"), Level.IN_PROGRESS: _("en cours d'acquisition"),
            Level.NOT_ACQUIRED: _("non acquis"), None: _("pas encore évalué")}


def level_label(level: Level | str | None) -> str:
    if not level:
        return _("pas encore évalué")
    level = Level(level)
    if level == Level.ACQUIRED:
        return _("acquis")
    return _("en cours d'acquisition") if level == Level.IN_PROGRESS else _("non acquis")


def tutors_of(learner: User) -> list[User]:
    tutor = db.aliased(CohortMembership)
    member = db.aliased(CohortMembership)
    return list(db.session.scalars(
        select(User).join(tutor, tutor.user_id == User.id)
        .join(member, member.cohort_id == tutor.cohort_id)
        .where(tutor.role == MemberRole.TUTOR, member.user_id == learner.id, member.role == MemberRole.LEARNER)
        .distinct()
    ))


def _evidence_link(evidence: Evidence) -> str:
    return url_for("evidence.detail", evidence_id=evidence.id)


# --- submission -------------------------------------------------------------------------------------

def _has_assessments(evidence: Evidence) -> bool:
    return bool(db.session.scalar(select(func.count()).select_from(Assessment)
                                  .where(Assessment.evidence_id == evidence.id)))


def submit_evidence(evidence: Evidence, *, actor: User) -> None:
    """Send a tagged draft for assessment; from then on its files, description and tags are frozen."""
    lock(evidence)
    if evidence.status != EvidenceStatus.DRAFT:
        raise EvidenceLocked(_("Cette preuve a déjà été soumise."))
    if not evidence.claims:
        raise DomainError(_("Rattachez la preuve à au moins une compétence avant de la soumettre."),
                          field="competency")
    ensure_verified(evidence)
    evidence.status = EvidenceStatus.SUBMITTED
    evidence.submitted_at = utcnow()
    db.session.flush()
    record_event("evidence.submit", actor=actor, subject_type="evidence", subject_id=evidence.id,
                 data={"competencies": [c.competency.code for c in evidence.claims]})
    for tutor in tutors_of(evidence.owner):
        notify(tutor, _("%(name)s a soumis « %(title)s ».", name=evidence.owner.name, title=evidence.title),
               _evidence_link(evidence))


def withdraw_evidence(evidence: Evidence, *, actor: User) -> None:
    """Take a submission back, while nobody has assessed it (decided under the evidence's row lock, which
    an assessment takes too: one of them wins, the other is refused)."""
    lock(evidence)
    if evidence.status == EvidenceStatus.ASSESSED or (evidence.status == EvidenceStatus.SUBMITTED
                                                      and _has_assessments(evidence)):
        raise Conflict(_("Cette preuve a déjà été évaluée : créez-en une nouvelle version."))
    if evidence.status != EvidenceStatus.SUBMITTED:
        raise Conflict(_("Seule une preuve soumise peut être retirée."))
    evidence.status = EvidenceStatus.DRAFT
    evidence.submitted_at = None
    db.session.flush()
    record_event("evidence.withdraw", actor=actor, subject_type="evidence", subject_id=evidence.id)


def new_version(evidence: Evidence, *, actor: User) -> Evidence:
    """A new draft continuing an assessed piece of evidence; the old one stays readable as it is."""
    if evidence.status == EvidenceStatus.DRAFT:
        raise Conflict(_("Un brouillon se modifie directement."))
    if not _has_assessments(evidence):
        raise Conflict(_("Cette preuve n'a pas encore été évaluée : retirez-la pour la modifier."))
    if db.session.scalar(select(Evidence.id).where(Evidence.previous_version_id == evidence.id)):
        raise Conflict(_("Une nouvelle version de cette preuve existe déjà."))
    copy = Evidence(owner=evidence.owner, title=evidence.title, kind=evidence.kind, context=evidence.context,
                    occurred_on=evidence.occurred_on, description=evidence.description, url=evidence.url,
                    status=EvidenceStatus.DRAFT, previous_version_id=evidence.id)
    copy.files = [EvidenceFile(blob=f.blob, filename=f.filename) for f in evidence.files]
    copy.claims = [Claim(competency=c.competency, justification=c.justification) for c in evidence.claims]
    db.session.add(copy)
    db.session.flush()
    self_assessment.copy_self_assessments(evidence, copy)
    record_event("evidence.new_version", actor=actor, subject_type="evidence", subject_id=copy.id,
                 data={"previous": evidence.id})
    return copy


# --- assessment --------------------------------------------------------------------------------------

def record_assessment(evidence: Evidence, competency_code: str, level: str, comment: str, *,
                      assessor: User) -> Assessment:
    """Judge one tagged competency of a submitted piece of evidence (the caller checked the assessor's right).

    Under the learner's row lock (taken by block decisions too) and the evidence's (taken by a
    withdrawal): a racing withdrawal, assessment of the same competency or block validation waits, then
    sees this one. The database refuses two assessments superseding the same one anyway."""
    lock(evidence.owner)
    lock(evidence)
    if evidence.status == EvidenceStatus.DRAFT:
        raise Conflict(_("Cette preuve n'est pas soumise : elle ne peut pas être évaluée."))
    if assessor.id == evidence.owner_id:
        raise DomainError(_("On ne s'évalue pas soi-même."))
    try:
        level_value = Level(level)
    except ValueError:
        raise DomainError(_("Niveau inconnu : %(level)s (acquired, in_progress, not_acquired)", level=level),
                          field="level") from None
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise DomainError(_("Le commentaire ne doit pas dépasser %(n)d caractères.", n=MAX_COMMENT), field="comment")
    claim = next((c for c in evidence.claims if c.competency.code == (competency_code or "").strip().upper()), None)
    if claim is None:
        raise DomainError(_("Cette preuve n'est pas rattachée à %(code)s.", code=competency_code),
                          field="competency")
    learner_id, competency_id = evidence.owner_id, claim.competency_id
    state = db.session.get(CompetencyState, (learner_id, competency_id), populate_existing=True)
    assessment = Assessment(learner_id=learner_id, competency_id=competency_id, assessor_id=assessor.id,
                            evidence_id=evidence.id, level=level_value, comment=comment,
                            supersedes_id=state.assessment_id if state else None)
    db.session.add(assessment)
    db.session.flush()
    if state is None:
        db.session.add(CompetencyState(learner_id=learner_id, competency_id=competency_id, level=level_value,
                                       assessment_id=assessment.id, updated_at=utcnow()))
    else:
        state.level, state.assessment_id, state.updated_at = level_value, assessment.id, utcnow()
    evidence.status = EvidenceStatus.ASSESSED
    db.session.flush()
    record_event("assessment.record", actor=assessor, subject_type="assessment", subject_id=assessment.id,
                 data={"learner": learner_id, "competency": claim.competency.code, "level": level_value.value,
                       "evidence": evidence.id, "supersedes": assessment.supersedes_id})
    notify(evidence.owner, _("%(code)s évaluée « %(level)s » par %(name)s.", code=claim.competency.code,
                             level=level_label(level_value), name=assessor.name),
           _evidence_link(evidence), email_subject=_("Nouvelle évaluation sur votre portfolio"))
    return assessment


def current_block_decision(learner: User, block: Block) -> BlockDecision | None:
    return latest(BlockDecision, BlockDecision.learner_id == learner.id, BlockDecision.block_id == block.id)


def missing_by_state(block: Block, levels: dict[int, Level]) -> str:
    """The block's competencies that are not acquired, grouped by their real state, e.g.
    « C4 en cours d'acquisition ; C5 non acquise ; C6, C7 pas encore évaluées »."""
    groups: dict[Level | None, list[str]] = {Level.IN_PROGRESS: [], Level.NOT_ACQUIRED: [], None: []}
    for competency in block.competencies:
        level = levels.get(competency.id)
        if level != Level.ACQUIRED:
            groups[Level(level) if level else None].append(competency.code)
    parts = []
    for level, codes in groups.items():
        if not codes:
            continue
        n, joined = len(codes), ", ".join(codes)
        if level == Level.IN_PROGRESS:
            parts.append(ngettext("%(codes)s en cours d'acquisition", "%(codes)s en cours d'acquisition", n,
                                  codes=joined))
        elif level == Level.NOT_ACQUIRED:
            parts.append(ngettext("%(codes)s non acquise", "%(codes)s non acquises", n, codes=joined))
        else:
            parts.append(ngettext("%(codes)s pas encore évaluée", "%(codes)s pas encore évaluées", n, codes=joined))
    return " ; ".join(parts)


def validate_block(learner: User, block: Block, *, actor: User, comment: str = "") -> BlockDecision:
    """Validate a block once every competency of it is acquired; otherwise say which are missing.
    Decided under the learner's row lock, which assessments take too."""
    lock(learner)
    levels = dict(db.session.execute(
        select(CompetencyState.competency_id, CompetencyState.level)
        .join(Competency).where(CompetencyState.learner_id == learner.id, Competency.block_id == block.id)
    ).all())
    missing = [c.code for c in block.competencies if levels.get(c.id) != Level.ACQUIRED]
    if missing:
        raise BlockIncomplete(_("Le bloc %(block)s ne peut pas être validé tant que chacune de ses compétences "
                                "n'est pas acquise : %(details)s.", block=block.code,
                                details=missing_by_state(block, levels)), missing)
    current = current_block_decision(learner, block)
    if current is not None and current.kind == DecisionKind.VALIDATED:
        raise Conflict(_("Ce bloc est déjà validé."))
    decision = BlockDecision(learner_id=learner.id, block_id=block.id, decided_by_id=actor.id,
                             kind=DecisionKind.VALIDATED, comment=(comment or "").strip())
    db.session.add(decision)
    db.session.flush()
    record_event("block.validate", actor=actor, subject_type="block_decision", subject_id=decision.id,
                 data={"learner": learner.id, "block": block.code})
    notify(learner, _("Bloc %(block)s validé par %(name)s.", block=block.code, name=actor.name),
           url_for("assessment.progress", learner_id=learner.id),
           email_subject=_("Bloc de compétences validé"))
    return decision


def revoke_block(learner: User, block: Block, *, actor: User, comment: str) -> BlockDecision:
    """Revoke a validation: a new record, the validation stays in the history."""
    lock(learner)
    current = current_block_decision(learner, block)
    if current is None or current.kind != DecisionKind.VALIDATED:
        raise Conflict(_("Ce bloc n'est pas validé."))
    if not (comment or "").strip():
        raise DomainError(_("Expliquez pourquoi la validation est retirée."), field="comment")
    decision = BlockDecision(learner_id=learner.id, block_id=block.id, decided_by_id=actor.id,
                             kind=DecisionKind.REVOKED, comment=comment.strip())
    db.session.add(decision)
    db.session.flush()
    record_event("block.revoke", actor=actor, subject_type="block_decision", subject_id=decision.id,
                 data={"learner": learner.id, "block": block.code})
    # The credentials standing on this validation are revoked in the same transaction (status list bit).
    revoke_credentials(learner, block, source=CredentialSource.TUTOR, actor=actor, reason=comment.strip())
    notify(learner, _("Validation du bloc %(block)s retirée par %(name)s.", block=block.code, name=actor.name),
           url_for("assessment.progress", learner_id=learner.id))
    return decision


def add_comment(evidence: Evidence, body: str, *, author: User) -> Comment:
    comment = comment_service.add_comment_to(evidence, body, author=author, max_length=MAX_COMMENT,
                                             action="evidence.comment")
    recipients = tutors_of(evidence.owner) if author.id == evidence.owner_id else [evidence.owner]
    for user in recipients:
        if user.id != author.id:
            notify(user, _("%(name)s a commenté « %(title)s ».", name=author.name, title=evidence.title),
                   _evidence_link(evidence))
    return comment


def assessments_on(evidence: Evidence) -> list[Assessment]:
    return list(db.session.scalars(select(Assessment).where(Assessment.evidence_id == evidence.id)
                                   .options(selectinload(Assessment.assessor), selectinload(Assessment.competency),
                                            selectinload(Assessment.supersedes))
                                   .order_by(Assessment.id)))


# --- the tutor's queue -------------------------------------------------------------------------------

def assessable_learner_ids(user: User) -> Select[int]:
    """A subquery of the learners ``user`` may assess: their cohorts' learners (everyone for admins)."""
    learner = db.aliased(CohortMembership)
    scoped = lti_scope_cohort_id(user)  # an LTI session: the launched course's cohort only
    if access.sees_every_cohort(user) and scoped is None:
        return select(learner.user_id).where(learner.role == MemberRole.LEARNER)
    tutor = db.aliased(CohortMembership)
    query = (select(learner.user_id).join(tutor, tutor.cohort_id == learner.cohort_id)
             .where(tutor.user_id == user.id, tutor.role == MemberRole.TUTOR, learner.role == MemberRole.LEARNER))
    return query.where(tutor.cohort_id == scoped) if scoped is not None else query


def queue(user: User, *, cohort_id: int | None = None, learner_id: int | None = None,
          block_code: str | None = None) -> list[Evidence]:
    """Submitted evidence awaiting assessment from the learners ``user`` assesses, oldest first."""
    query = (select(Evidence).where(Evidence.status == EvidenceStatus.SUBMITTED,
                                    Evidence.owner_id.in_(assessable_learner_ids(user)))
             .options(selectinload(Evidence.owner), selectinload(Evidence.claims), selectinload(Evidence.files))
             .order_by(Evidence.submitted_at, Evidence.id))
    if cohort_id is not None:
        query = query.where(Evidence.owner_id.in_(
            select(CohortMembership.user_id).where(CohortMembership.cohort_id == cohort_id,
                                                   CohortMembership.role == MemberRole.LEARNER)))
    if learner_id is not None:
        query = query.where(Evidence.owner_id == learner_id)
    if block_code:
        query = query.where(Evidence.id.in_(select(Claim.evidence_id).join(Competency).join(Block)
                                            .where(Block.code == block_code.upper())))
    return list(db.session.scalars(query))


# --- progress and the cohort matrix -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TaggedEvidence:
    """A piece of evidence tagged with a competency, as the progress page shows it (columns, not objects)."""
    id: int
    title: str
    status: EvidenceStatus


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One assessment of a competency, as the progress page shows it: who, when, on which evidence, what it
    replaced (its date) and the comment."""
    level: Level
    created_at: datetime
    comment: str
    assessor_name: str | None
    evidence_id: int | None
    evidence_title: str | None
    supersedes_created_at: datetime | None
    #: The competency of the previous version whose assessment this one carries over (a cohort moved).
    migrated_from_code: str | None = None


@dataclass
class CompetencyProgress:
    competency: Competency
    level: Level | None
    # The page's rows carry columns; the API puts the whole tags and assessment records in instead.
    claims: list[TaggedEvidence] | list[Claim] = field(default_factory=list)
    history: list[HistoryEntry] | list[Assessment] = field(default_factory=list)


@dataclass
class BlockProgress:
    block: Block
    competencies: list[CompetencyProgress]
    decision: BlockDecision | None
    #: False when only the levels were read (the progress page folds a block to its bar, and loads its
    #: tags and history when it is opened): ``claims`` and ``history`` are then empty.
    detailed: bool = True

    def count(self, level: Level | None) -> int:
        return sum(1 for c in self.competencies if c.level == level)

    @property
    def total(self) -> int:
        return len(self.competencies)


def learner_progress(learner: User, certification: Certification) -> list[BlockProgress]:
    """Each block with, per competency, the current level, the evidence and the assessment history."""
    return progress_and_earlier_validations(learner, certification)[0]


def progress_and_earlier_validations(learner: User, certification: Certification,
                                     detail: Callable[[Block], bool] | None = None,
                                     ) -> tuple[list[BlockProgress], list[BlockDecision]]:
    """:func:`learner_progress`, and the blocks the learner has validated under another version of the fiche
    (their cohort moved to the next one: those validations stay, shown as such), from the same queries.

    A fixed number of queries whatever the number of blocks, evidence or assessments (blocks with their
    competencies, levels, tags, history, decisions), and only the columns the page shows: tags and history
    are plain rows, not ORM objects with their relationships. ``detail``: the blocks whose tags and
    history are read (all by default); the others get their levels and decision only."""
    blocks = db.session.scalars(select(Block).where(Block.certification_id == certification.id)
                                .options(selectinload(Block.competencies)).order_by(Block.position)).all()
    comp_ids = [c.id for b in blocks for c in b.competencies]
    levels = current_levels(learner, comp_ids)
    detailed = {b.id for b in blocks if detail is None or detail(b)}
    detail_ids = [c.id for b in blocks if b.id in detailed for c in b.competencies]
    claims: dict[int, list[TaggedEvidence]] = defaultdict(list)
    history: dict[int, list[HistoryEntry]] = defaultdict(list)
    if detail_ids:
        _read_tags_and_history(learner, detail_ids, claims, history)
    decisions = cast("dict[int, BlockDecision]", {d.block_id: d for d in db.session.scalars(
        latest_per(BlockDecision, [BlockDecision.block_id], BlockDecision.learner_id == learner.id)
        .options(joinedload(BlockDecision.decided_by).lazyload(User.role_rows),  # the page shows the name
                 joinedload(BlockDecision.block).joinedload(Block.certification)))})
    here = {block.id for block in blocks}
    earlier = sorted((d for d in decisions.values() if d.block_id not in here and d.kind == DecisionKind.VALIDATED),
                     key=lambda d: (d.block.certification.code, d.block.certification.registration, d.block.position))
    return [BlockProgress(block, [CompetencyProgress(c, levels.get(c.id), claims.get(c.id, []), history[c.id])
                                  for c in block.competencies], decisions.get(block.id), block.id in detailed)
            for block in blocks], earlier


def _read_tags_and_history(learner: User, comp_ids: list[int], claims: dict[int, list[TaggedEvidence]],
                           history: dict[int, list[HistoryEntry]]) -> None:
    """The learner's tags and assessment history on these competencies, as plain rows (two queries)."""
    for competency_id, evidence_id, title, status in db.session.execute(
            select(Claim.competency_id, Evidence.id, Evidence.title, Evidence.status)
            .join(Evidence, Claim.evidence_id == Evidence.id)
            .where(Evidence.owner_id == learner.id, Claim.competency_id.in_(comp_ids)).order_by(Claim.id)):
        claims[competency_id].append(TaggedEvidence(evidence_id, title, status))
    replaced, origin, origin_competency = aliased(Assessment), aliased(Assessment), aliased(Competency)
    for row in db.session.execute(
            select(Assessment.competency_id, Assessment.level, Assessment.created_at, Assessment.comment,
                   User.name, Evidence.id, Evidence.title, replaced.created_at, origin_competency.code)
            .outerjoin(User, Assessment.assessor_id == User.id)
            .outerjoin(Evidence, Assessment.evidence_id == Evidence.id)
            .outerjoin(replaced, Assessment.supersedes_id == replaced.id)
            .outerjoin(origin, Assessment.migrated_from_id == origin.id)
            .outerjoin(origin_competency, origin.competency_id == origin_competency.id)
            .where(Assessment.learner_id == learner.id, Assessment.competency_id.in_(comp_ids))
            .order_by(Assessment.id)):
        history[row[0]].append(HistoryEntry(*row[1:]))


@dataclass
class Matrix:
    cohort: Cohort
    blocks: list[Block]
    learners: list[User]
    levels: dict[tuple[int, int], Level]          # (learner id, competency id) -> level
    validated: set[tuple[int, int]]               # (learner id, block id) currently validated
    all_blocks: list[Block] = field(default_factory=list)  # every block of the certification (for filters)
    #: (learner id, competency id) -> the learner's self-assessed level (loaded when the gap is shown)
    self_levels: dict[tuple[int, int], Level] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Every total in one pass over the cells, instead of a scan per learner, competency and block.
        self._by_learner: dict[int, int] = defaultdict(int)
        self._by_competency: dict[int, int] = defaultdict(int)
        self._by_block: dict[int, dict[Level | None, int]] = {}
        for block in self.blocks:
            counts: dict[Level | None, int] = defaultdict(int)
            for learner in self.learners:
                for comp in block.competencies:
                    level = self.levels.get((learner.id, comp.id))
                    counts[level] += 1
                    if level == Level.ACQUIRED:
                        self._by_learner[learner.id] += 1
                        self._by_competency[comp.id] += 1
            self._by_block[block.id] = counts

    def competencies(self) -> list[Competency]:
        return [c for b in self.blocks for c in b.competencies]

    def level(self, learner: User, competency: Competency) -> Level | None:
        return self.levels.get((learner.id, competency.id))

    def row(self, learner: User, cells: dict[Level | None, str]) -> str:
        """One learner's cells, from the few distinct cells there are (one per level)."""
        levels, uid = self.levels, learner.id
        return "".join(cells[levels.get((uid, c.id))] for b in self.blocks for c in b.competencies)

    def gap_row(self, learner: User, cells: dict[Level | None, str],
                gap_cells: dict[tuple[Level | None, Level], str]) -> str:
        """Like ``row``, with a marked cell where the learner's self-assessment differs from the level."""
        levels, selves, uid = self.levels, self.self_levels, learner.id
        out = []
        for b in self.blocks:
            for c in b.competencies:
                level, own = levels.get((uid, c.id)), selves.get((uid, c.id))
                out.append(gap_cells[(level, own)] if own is not None and own != level else cells[level])
        return "".join(out)

    def gaps(self) -> int:
        """How many cells of the matrix differ from the learner's self-assessment."""
        shown = {c.id for b in self.blocks for c in b.competencies}
        return sum(1 for (uid, cid), own in self.self_levels.items()
                   if cid in shown and self.levels.get((uid, cid)) != own)

    def acquired_in_block(self, learner: User, block: Block) -> int:
        return sum(1 for c in block.competencies if self.levels.get((learner.id, c.id)) == Level.ACQUIRED)

    def acquired(self, learner: User) -> int:
        return self._by_learner[learner.id]

    def acquired_for(self, competency: Competency) -> int:
        return self._by_competency[competency.id]

    def block_counts(self, block: Block) -> dict[Level | None, int]:
        return self._by_block[block.id]


def cohort_matrix(cohort: Cohort, *, block_code: str | None = None, sort: str = "name",
                  with_self_assessment: bool = False) -> Matrix:
    """Learners × competencies for a cohort, in a number of queries that depends on neither."""
    all_blocks = list(db.session.scalars(select(Block).where(Block.certification_id == cohort.certification_id)
                                         .options(selectinload(Block.competencies)).order_by(Block.position)))
    blocks = [b for b in all_blocks if b.code == block_code.upper()] if block_code else all_blocks
    learners = list(db.session.scalars(
        select(User).join(CohortMembership, CohortMembership.user_id == User.id)
        .where(CohortMembership.cohort_id == cohort.id, CohortMembership.role == MemberRole.LEARNER)
        .options(lazyload(User.role_rows))  # roles are not shown here: no eager load
        .order_by(func.lower(User.name), User.id)
    ))
    member_ids = select(CohortMembership.user_id).where(CohortMembership.cohort_id == cohort.id,
                                                        CohortMembership.role == MemberRole.LEARNER)
    comp_ids = select(Competency.id).join(Block).where(Block.certification_id == cohort.certification_id)
    levels = {(lid, cid): level for lid, cid, level in db.session.execute(
        select(CompetencyState.learner_id, CompetencyState.competency_id, CompetencyState.level)
        .where(CompetencyState.learner_id.in_(member_ids), CompetencyState.competency_id.in_(comp_ids)))}
    current = latest_per(BlockDecision, [BlockDecision.learner_id, BlockDecision.block_id],
                         BlockDecision.learner_id.in_(member_ids)).subquery()
    validated = {(lid, bid) for lid, bid in db.session.execute(
        select(current.c.learner_id, current.c.block_id).where(current.c.kind == DecisionKind.VALIDATED))}
    selves = self_assessment.submitted_self_levels(member_ids, comp_ids) if with_self_assessment else {}
    matrix = Matrix(cohort, blocks, learners, levels, validated, all_blocks, selves)
    if sort == "acquired":
        matrix.learners.sort(key=lambda u: (-matrix.acquired(u), u.name.lower()))
    return matrix


def find_block(certification_id: int, code: str) -> Block:
    block = db.session.scalar(select(Block).where(Block.certification_id == certification_id,
                                                  Block.code == (code or "").upper())
                              .options(selectinload(Block.competencies)))
    if block is None:
        raise NotFound(_("Bloc inconnu : %(code)s", code=code))
    return block


# A spreadsheet runs a cell that starts with one of these as a formula: such cells get a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(text: str) -> str:
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def matrix_csv(matrix: Matrix) -> bytes:
    """The matrix as French spreadsheets open it: ``;``-separated (``,`` is the decimal separator in
    France), UTF-8 with a BOM (so that Excel reads the accents), one column per competency code holding
    the level label (empty when not yet assessed), then the number of competencies acquired."""
    competencies = matrix.competencies()
    labels = level_labels() | {None: ""}
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([_("Nom"), _("E-mail"), *(c.code for c in competencies), _("Acquises")])
    for learner in matrix.learners:
        writer.writerow([_csv_cell(learner.name), _csv_cell(learner.email),
                         *(labels[matrix.level(learner, c)] for c in competencies),
                         matrix.acquired(learner)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def matrix_filename(cohort: Cohort) -> str:
    """``matrice-promo-a-2026.csv``: ASCII, as the matrix page names the same export."""
    return f"matrice-{slugify(cohort.name, 80) or cohort.id}.csv"


# --- what the evidence page shows about assessment ------------------------------------------------------

@dataclass
class CompetencyReview:
    claim: Claim
    level: Level | None                      # the learner's current level, whatever the evidence
    history: list[Assessment]                # the assessments made on this piece of evidence


@dataclass
class EvidenceReview:
    competencies: list[CompetencyReview]
    comments: list[Comment]
    next_version: Evidence | None

    @property
    def is_assessed(self) -> bool:
        return any(c.history for c in self.competencies)


def evidence_review(evidence: Evidence) -> EvidenceReview:
    """Per tagged competency: current level and assessments on this evidence; the comments; the next version."""
    history: dict[int, list[Assessment]] = defaultdict(list)
    for item in assessments_on(evidence):
        history[item.competency_id].append(item)
    levels = current_levels(evidence.owner, [c.competency_id for c in evidence.claims])
    competencies = [CompetencyReview(c, levels.get(c.competency_id), history[c.competency_id])
                    for c in evidence.claims]
    next_version = db.session.scalar(select(Evidence).where(Evidence.previous_version_id == evidence.id)
                                     .order_by(Evidence.id).limit(1))
    return EvidenceReview(competencies, comment_service.comments_on(evidence), next_version)


# --- the queue page ---------------------------------------------------------------------------------------

@dataclass
class QueuePage:
    items: list[Evidence]                    # filtered, oldest first
    total: int                               # everything awaiting this user, before filters
    per_cohort: list[tuple[Cohort, int]]     # awaiting per cohort, before filters
    cohorts: list[Cohort]                    # the choices of the filters
    learners: list[User]
    blocks: list[Block]
    cohorts_of: dict[int, list[str]]         # learner id -> names of their cohorts (among those above)


def queue_page(user: User, *, cohort_id: int | None = None, learner_id: int | None = None,
               block_code: str | None = None) -> QueuePage:
    """The tutor's queue with its filters' choices and counts, in a fixed number of queries."""
    cohort_query = select(Cohort).options(selectinload(Cohort.certification)).order_by(Cohort.year.desc(),
                                                                                      Cohort.name)
    if not access.sees_every_cohort(user):
        cohort_query = cohort_query.where(Cohort.id.in_(
            select(CohortMembership.cohort_id).where(CohortMembership.user_id == user.id,
                                                     CohortMembership.role == MemberRole.TUTOR)))
    cohorts = list(db.session.scalars(cohort_query))
    cohort_ids = [c.id for c in cohorts]
    names = {c.id: c.name for c in cohorts}
    cohorts_of: dict[int, list[str]] = defaultdict(list)
    learners: dict[int, User] = {}
    for learner, cid in db.session.execute(
            select(User, CohortMembership.cohort_id).join(CohortMembership, CohortMembership.user_id == User.id)
            .where(CohortMembership.cohort_id.in_(cohort_ids), CohortMembership.role == MemberRole.LEARNER)
            .order_by(func.lower(User.name), User.id)):
        learners.setdefault(learner.id, learner)
        cohorts_of[learner.id].append(names[cid])
    counts = dict(db.session.execute(
        select(CohortMembership.cohort_id, func.count(Evidence.id))
        .join(Evidence, Evidence.owner_id == CohortMembership.user_id)
        .where(CohortMembership.cohort_id.in_(cohort_ids), CohortMembership.role == MemberRole.LEARNER,
               Evidence.status == EvidenceStatus.SUBMITTED)
        .group_by(CohortMembership.cohort_id)).all())
    total = db.session.scalar(select(func.count()).select_from(Evidence).where(
        Evidence.status == EvidenceStatus.SUBMITTED, Evidence.owner_id.in_(assessable_learner_ids(user)))) or 0
    blocks = list(db.session.scalars(select(Block).where(Block.certification_id.in_(
        {c.certification_id for c in cohorts})).order_by(Block.certification_id, Block.position)))
    items = queue(user, cohort_id=cohort_id, learner_id=learner_id, block_code=block_code)
    return QueuePage(items, total, [(c, counts.get(c.id, 0)) for c in cohorts], cohorts, list(learners.values()),
                     blocks, dict(cohorts_of))
