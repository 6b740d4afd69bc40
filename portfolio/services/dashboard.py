"""What each person's home page shows: where they are and what comes next.

Each function reads what one home needs in a fixed number of queries (counts are grouped in the
database, lists are bounded), whatever the number of blocks, cohorts or pieces of evidence.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from flask_babel import gettext as _
from sqlalchemy import BindParameter, Integer, ScalarSelect, Select, bindparam, exists, func, select
from sqlalchemy.orm import aliased, selectinload

from portfolio.extensions import db
from portfolio.models import (
    Assessment,
    Block,
    BlockDecision,
    Certification,
    Claim,
    Cohort,
    CohortMembership,
    Competency,
    CompetencyState,
    DecisionKind,
    Dossier,
    DossierSection,
    DossierVersion,
    EntryStatus,
    Evidence,
    EvidenceStatus,
    Internship,
    JuryOutcome,
    Level,
    LogbookEntry,
    MemberRole,
    Notification,
    User,
)
from portfolio.services import access, outbox, vae
from portfolio.services.assessment import assessable_learner_ids
from portfolio.services.notifications import unread_count_query
from portfolio.services.privacy import erasure

if TYPE_CHECKING:
    from portfolio.services.assessment import BlockProgress

LEVEL_KEYS = ("acquired", "in_progress", "not_acquired", "none")
_COUNTED = tuple(Level(key) for key in LEVEL_KEYS[:3])  # the levels a block's figures count ("none": the rest)
RECENT = 5  # items in each short list of a home
FEEDBACK = 3  # latest assessments shown on a learner's home


@dataclass
class BlockSummary:
    """A block's competencies counted by current level (``none``: not assessed yet)."""

    block: Block
    counts: dict[str, int]
    validated: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def acquired(self) -> int:
        return self.counts.get("acquired", 0)


def block_summaries(learner: User, certification: Certification) -> list[BlockSummary]:
    """Per block of ``certification``: how many competencies ``learner`` has at each level, and whether
    the block's latest decision is a validation (one query: a block's figures are subqueries of its row)."""
    result = []
    for block, total, *counted, is_validated in db.session.execute(
            _block_summaries_query(), {"learner_id": learner.id, "certification_id": certification.id}):
        counts = {level.value: int(n or 0) for level, n in zip(_COUNTED, counted, strict=True)}
        counts["none"] = int(total or 0) - sum(counts.values())
        result.append(BlockSummary(block, counts, bool(is_validated)))
    return result


# The home's statements are built once per process, with bound parameters: building a SELECT of a dozen
# subqueries cost more CPU on every home page (measured: 3.3 ms for the blocks' figures, in-process,
# PostgreSQL) than running it.
@functools.cache
def _block_summaries_query() -> Select:
    learner_id: BindParameter[int] = bindparam("learner_id", type_=Integer)
    size = select(func.count(Competency.id)).where(Competency.block_id == Block.id).scalar_subquery()

    def at(level: Level) -> ScalarSelect[int]:
        return (select(func.count()).select_from(CompetencyState)
                .join(Competency, CompetencyState.competency_id == Competency.id)
                .where(Competency.block_id == Block.id, CompetencyState.learner_id == learner_id,
                       CompetencyState.level == level).scalar_subquery())

    decision = aliased(BlockDecision)
    latest = (select(func.max(decision.id))
              .where(decision.block_id == Block.id, decision.learner_id == learner_id)
              .correlate(Block).scalar_subquery())  # two levels down: say which block it is
    validated = exists().where(BlockDecision.id == latest, BlockDecision.kind == DecisionKind.VALIDATED)
    return (select(Block, size, *(at(level) for level in _COUNTED), validated)
            .where(Block.certification_id == bindparam("certification_id")).order_by(Block.position, Block.code))


def state_labels() -> list[tuple[str, str]]:
    """The progress page's filters: each state with its label, in the order of the bars."""
    return [("acquired", _("Acquises")), ("in_progress", _("En cours d'acquisition")),
            ("not_acquired", _("Non acquises")), ("none", _("Pas encore évaluées"))]


def progress_totals(blocks: Sequence[BlockProgress]) -> dict[str, int]:
    """Competencies per state over every block of a progress page (``all`` for the sum)."""
    totals = dict.fromkeys(LEVEL_KEYS, 0)
    for block in blocks:
        for item in block.competencies:
            totals[item.level.value if item.level else "none"] += 1
    totals["all"] = sum(totals.values())
    return totals


class DraftLink(NamedTuple):
    """A draft as the learner's home links to it."""

    id: int
    title: str


@dataclass(frozen=True)
class Feedback:
    """One assessment received, as the learner's home shows it (a plain row: no ORM objects to load)."""

    level: Level
    comment: str | None
    created_at: datetime
    competency_code: str
    evidence_id: int | None
    evidence_title: str | None
    assessor_name: str | None


@dataclass
class LearnerHome:
    certification: Certification | None
    blocks: list[BlockSummary] = field(default_factory=list)
    drafts: list[DraftLink] = field(default_factory=list)         # the most recent drafts
    drafts_total: int = 0
    drafts_untagged: int = 0                                      # drafts without a competency: not yet submittable
    submitted_total: int = 0                                      # waiting for a tutor
    unread: list[Notification] = field(default_factory=list)      # feedback to read (newest first)
    unread_total: int = 0
    entries_to_send: int = 0                                      # logbook entries written, not sent for signature
    entries_pending: int = 0                                      # sent, awaiting the supervisor's signature
    internships: int = 0
    feedback: list[Feedback] = field(default_factory=list)        # latest assessments received

    @property
    def acquired(self) -> int:
        return sum(b.acquired for b in self.blocks)

    @property
    def competencies(self) -> int:
        return sum(b.total for b in self.blocks)

    @property
    def has_actions(self) -> bool:
        return bool(self.drafts_total or self.unread_total or self.entries_to_send or self.entries_pending)


def learner_home(learner: User, certification: Certification | None) -> LearnerHome:
    """The learner's home: blocks by level, next actions, latest feedback."""
    home = LearnerHome(certification)
    if certification is not None:
        home.blocks = block_summaries(learner, certification)

    counts = db.session.execute(_learner_counts_query(), {"learner_id": learner.id}).one()
    (home.drafts_total, home.submitted_total, home.unread_total, home.entries_to_send, home.entries_pending,
     home.internships) = (int(n or 0) for n in counts)
    if home.drafts_total:
        home.drafts = [DraftLink(*row) for row in db.session.execute(_drafts_query(), {"learner_id": learner.id})]
        home.drafts_untagged = db.session.scalar(_untagged_drafts_query(), {"learner_id": learner.id}) or 0
    if home.unread_total:
        home.unread = list(db.session.scalars(_unread_query(), {"learner_id": learner.id}))
    home.feedback = [Feedback(*row) for row in db.session.execute(_feedback_query(), {"learner_id": learner.id})]
    return home


@functools.cache
def _learner_counts_query() -> Select:
    """Every count of the learner's home in one query (evidence by state, unread feedback, logbook
    entries, internships)."""
    learner_id: BindParameter[int] = bindparam("learner_id", type_=Integer)

    def evidence(*statuses: EvidenceStatus) -> ScalarSelect[int]:
        return (select(func.count()).select_from(Evidence)
                .where(Evidence.owner_id == learner_id, Evidence.status.in_(statuses)).scalar_subquery())

    def entries(*statuses: EntryStatus) -> ScalarSelect[int]:
        return (select(func.count()).select_from(LogbookEntry).join(Internship)
                .where(Internship.learner_id == learner_id, LogbookEntry.status.in_(statuses)).scalar_subquery())

    return select(
        evidence(EvidenceStatus.DRAFT), evidence(EvidenceStatus.SUBMITTED),
        unread_count_query(learner_id).scalar_subquery(),
        entries(EntryStatus.DRAFT, EntryStatus.RETURNED), entries(EntryStatus.PENDING),
        select(func.count()).select_from(Internship).where(Internship.learner_id == learner_id).scalar_subquery(),
    )


@functools.cache
def _drafts_query() -> Select:
    return (select(Evidence.id, Evidence.title)
            .where(Evidence.owner_id == bindparam("learner_id"), Evidence.status == EvidenceStatus.DRAFT)
            .order_by(Evidence.id.desc()).limit(RECENT))


@functools.cache
def _untagged_drafts_query() -> Select:
    # NOT EXISTS, not NOT IN (SELECT every claim): PostgreSQL hashed all 12,000 tags of the bench's
    # cohort on every home page (3 ms of its CPU per page).
    return (select(func.count()).select_from(Evidence)
            .where(Evidence.owner_id == bindparam("learner_id"), Evidence.status == EvidenceStatus.DRAFT,
                   ~exists().where(Claim.evidence_id == Evidence.id)))


@functools.cache
def _unread_query() -> Select:
    return (select(Notification)
            .where(Notification.user_id == bindparam("learner_id"), Notification.read_at.is_(None))
            .order_by(Notification.id.desc()).limit(RECENT))


@functools.cache
def _feedback_query() -> Select:
    return (select(Assessment.level, Assessment.comment, Assessment.created_at, Competency.code, Evidence.id,
                   Evidence.title, User.name)
            .join(Competency, Assessment.competency_id == Competency.id)
            .outerjoin(Evidence, Assessment.evidence_id == Evidence.id)
            .outerjoin(User, Assessment.assessor_id == User.id)
            .where(Assessment.learner_id == bindparam("learner_id"))
            .order_by(Assessment.id.desc()).limit(FEEDBACK))


# --- tutors --------------------------------------------------------------------------------------------

@dataclass
class CohortHeat:
    """A cohort at a glance: per block, the share of (learner, competency) cells acquired."""

    cohort: Cohort
    learners: int
    waiting: int
    oldest: datetime | None
    blocks: list[tuple[Block, int, int]]  # (block, acquired cells, all cells)

    @staticmethod
    def heat(acquired: int, cells: int) -> int:
        """0 (nothing acquired) to 4 (all acquired): the cell's shade; the number is printed with it."""
        if not cells or not acquired:
            return 0
        return min(4, 1 + (acquired * 4 - 1) // cells)


@dataclass
class TutorHome:
    cohorts: list[CohortHeat]
    waiting_total: int
    oldest: Evidence | None


def tutor_home(tutor: User) -> TutorHome:
    """The tutor's cohorts with what waits in each, the oldest piece waiting, and a heatmap per cohort."""
    cohort_query = select(Cohort).options(selectinload(Cohort.certification)).order_by(Cohort.year.desc(), Cohort.name)
    if not access.sees_every_cohort(tutor):
        cohort_query = cohort_query.where(Cohort.id.in_(
            select(CohortMembership.cohort_id).where(CohortMembership.user_id == tutor.id,
                                                     CohortMembership.role == MemberRole.TUTOR)))
    cohorts = list(db.session.scalars(cohort_query))
    ids = [c.id for c in cohorts]
    learners = dict(db.session.execute(
        select(CohortMembership.cohort_id, func.count()).where(CohortMembership.cohort_id.in_(ids),
                                                              CohortMembership.role == MemberRole.LEARNER)
        .group_by(CohortMembership.cohort_id)).all())
    waiting = {cid: (n, oldest) for cid, n, oldest in db.session.execute(
        select(CohortMembership.cohort_id, func.count(Evidence.id), func.min(Evidence.submitted_at))
        .join(Evidence, Evidence.owner_id == CohortMembership.user_id)
        .where(CohortMembership.cohort_id.in_(ids), CohortMembership.role == MemberRole.LEARNER,
               Evidence.status == EvidenceStatus.SUBMITTED)
        .group_by(CohortMembership.cohort_id))}
    certification_ids = {c.certification_id for c in cohorts}
    blocks = list(db.session.scalars(select(Block).where(Block.certification_id.in_(certification_ids))
                                     .order_by(Block.certification_id, Block.position, Block.code)))
    comps = dict(db.session.execute(select(Competency.block_id, func.count()).where(
        Competency.block_id.in_([b.id for b in blocks])).group_by(Competency.block_id)).all())
    acquired = {(cid, bid): n for cid, bid, n in db.session.execute(
        select(CohortMembership.cohort_id, Competency.block_id, func.count())
        .join(CompetencyState, CompetencyState.learner_id == CohortMembership.user_id)
        .join(Competency, Competency.id == CompetencyState.competency_id)
        .where(CohortMembership.cohort_id.in_(ids), CohortMembership.role == MemberRole.LEARNER,
               CompetencyState.level == Level.ACQUIRED)
        .group_by(CohortMembership.cohort_id, Competency.block_id))}
    heats = []
    for cohort in cohorts:
        n_learners = learners.get(cohort.id, 0)
        n_waiting, oldest = waiting.get(cohort.id, (0, None))
        heats.append(CohortHeat(cohort, n_learners, n_waiting, oldest,
                                [(b, acquired.get((cohort.id, b.id), 0), n_learners * comps.get(b.id, 0))
                                 for b in blocks if b.certification_id == cohort.certification_id]))
    oldest_item = db.session.scalars(
        select(Evidence).where(Evidence.status == EvidenceStatus.SUBMITTED,
                               Evidence.owner_id.in_(assessable_learner_ids(tutor)))
        .options(selectinload(Evidence.owner)).order_by(Evidence.submitted_at, Evidence.id).limit(1)).first()
    total = db.session.scalar(select(func.count()).select_from(Evidence).where(
        Evidence.status == EvidenceStatus.SUBMITTED, Evidence.owner_id.in_(assessable_learner_ids(tutor)))) or 0
    return TutorHome(heats, total, oldest_item)


# --- VAE candidates and juries ----------------------------------------------------------------------------

@dataclass
class DossierBlock:
    code: str
    title: str
    done: int
    total: int
    missing: list[str]


@dataclass
class CandidateHome:
    dossier: Dossier | None
    blocks: list[DossierBlock]
    presentation_done: bool
    missing_total: int
    latest_version: DossierVersion | None


def candidate_home(candidate: User) -> CandidateHome:
    """The VAE candidate's dossier: per applied block, how much of it is written and evidenced."""
    dossier = db.session.scalars(
        select(Dossier).where(Dossier.candidate_id == candidate.id)
        .options(selectinload(Dossier.sections).selectinload(DossierSection.block)
                 .selectinload(Block.competencies),
                 selectinload(Dossier.narratives),
                 selectinload(Dossier.versions))).first()
    if dossier is None:
        return CandidateHome(None, [], False, 0, None)
    blocks = []
    for item in vae.completeness(dossier):
        # Three section fields, then a narrative and evidence for each competency.
        total = 3 + 2 * len(item.block.competencies)
        missing = len(item.missing_section) + len(item.missing_narrative) + len(item.missing_evidence)
        labels = list(item.missing_section)
        blocks.append(DossierBlock(item.block.code, item.block.title, total - missing, total, labels))
    missing_total = len(vae.missing_items(dossier))
    return CandidateHome(dossier, blocks, bool(dossier.presentation.strip()), missing_total,
                         dossier.versions[-1] if dossier.versions else None)


@dataclass
class JuryHome:
    versions: list[DossierVersion]
    decided: set[int]  # versions with an overall outcome


def jury_home(member: User) -> JuryHome:
    """The dossier versions assigned to the juries ``member`` sits on, and which are decided."""
    versions = vae.versions_for_juror(member)
    decided = set(db.session.scalars(select(JuryOutcome.version_id).where(
        JuryOutcome.version_id.in_([v.id for v in versions])).distinct())) if versions else set()
    return JuryHome(versions, decided)


@dataclass
class AdminHome:
    undelivered_emails: int  # failed, retried later or given up
    privacy_requests: int  # open requests on personal data, each with a legal deadline


def admin_home() -> AdminHome:
    """What waits for an administrator: e-mails that did not leave, open requests on personal data."""
    counts = outbox.count_by_state()
    return AdminHome(counts["retrying"] + counts["failed"], len(erasure.open_requests()))
