"""The next version of a fiche: map the old competencies to the new ones, then move cohorts over.

RNCP fiches are replaced (the France Compétences export names the replacement in
``NOUVELLES_CERTIFICATIONS``, kept as a ``CertificationLink`` of kind ``successor``). An administrator
reviews the suggested correspondences (text similarity of the statements), edits them and saves them as
one :class:`CompetencyMapping` per (old, new) pair; applying it moves the cohorts of the old version to
the new one and carries each learner's tags and current levels over to the mapped competencies, with the
tag or assessment they came from (``migrated_from_id``). Nothing of the old version is changed or
removed: its tags, assessments and block validations stay readable as they were.

Over 400 lines: one workflow (suggest, review, save, apply a mapping) whose steps share the matching
of statements.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

from flask_babel import gettext as _
from flask_babel import ngettext
from rapidfuzz import fuzz
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portfolio.extensions import db
from portfolio.models import (
    Assessment,
    Block,
    BlockDecision,
    Certification,
    CertificationLink,
    Claim,
    Cohort,
    Competency,
    CompetencyMapping,
    CompetencyMappingEntry,
    CompetencyState,
    Evidence,
    Level,
    MappingKind,
    MemberRole,
    User,
)
from portfolio.models.base import utcnow
from portfolio.services.assessment import progress_and_earlier_validations
from portfolio.services.audit import record_event
from portfolio.services.errors import Conflict, DomainError
from portfolio.services.locks import lock

#: A suggestion below this score (0–100) proposes « aucune correspondance » instead.
SUGGESTION_THRESHOLD = 60
#: Weight of the word-level TF-IDF cosine against rapidfuzz's character-level token_set_ratio.
COSINE_WEIGHT = 0.6
#: The order of levels when several old competencies merge into one: the lowest one is carried over.
LEVEL_RANK = {Level.NOT_ACQUIRED: 0, Level.IN_PROGRESS: 1, Level.ACQUIRED: 2}

_STOP_WORDS = frozenset({"a", "au", "aux", "avec", "ce", "ces", "d", "dans", "de", "des", "du", "en", "et", "l",
                         "la", "le", "les", "leur", "leurs", "ou", "par", "pour", "sa", "se", "ses", "son", "sur",
                         "un", "une"})  # compared once accents are gone (« à » is « a »)
_SUFFIXES = ("ations", "ation", "ements", "ement", "euses", "euse", "eurs", "eur", "ees", "ee", "es", "er", "s",
             "x", "e")


# --------------------------------------------------------------------------------------------------
# Text similarity
# --------------------------------------------------------------------------------------------------

@cache
def _words(text: str) -> tuple[str, ...]:
    """Lower case, no accents, no stop words, a crude French stemming (plural, -er, -ation…)."""
    plain = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    words = []
    for word in re.sub(r"[^a-z0-9]+", " ", plain).split():
        if word in _STOP_WORDS:
            continue
        for suffix in _SUFFIXES:
            if len(word) > len(suffix) + 3 and word.endswith(suffix):
                word = word[: -len(suffix)]
                break
        words.append(word)
    return tuple(words)


class Similarity:
    """Scores 0–100 between statements of two fiches.

    Two measures, averaged: rapidfuzz's ``token_set_ratio`` on the normalised words (robust to a word
    added or an ending changed: « maquetter une application » inside « analyser les besoins et maquetter
    une application ») and a TF-IDF cosine over both fiches' statements (words every statement uses,
    « développer », « application », weigh little, so « déploiement » decides between two « préparer et
    exécuter … d'une application »)."""

    def __init__(self, statements: Iterable[str]) -> None:
        documents = [set(_words(s)) for s in statements]
        frequency = Counter(word for words in documents for word in words)
        self._count = len(documents)
        self._idf = {word: math.log((1 + self._count) / (1 + n)) + 1 for word, n in frequency.items()}

    def _vector(self, text: str) -> dict[str, float]:
        rare = math.log(1 + self._count) + 1
        return {w: n * self._idf.get(w, rare) for w, n in Counter(_words(text)).items()}

    def cosine(self, a: str, b: str) -> float:
        va, vb = self._vector(a), self._vector(b)
        dot = sum(v * vb.get(w, 0.0) for w, v in va.items())
        norm = math.sqrt(sum(v * v for v in va.values())) * math.sqrt(sum(v * v for v in vb.values()))
        return dot / norm if norm else 0.0

    def score(self, a: str, b: str) -> int:
        fuzzy = fuzz.token_set_ratio(" ".join(_words(a)), " ".join(_words(b)))
        return round((1 - COSINE_WEIGHT) * fuzzy + COSINE_WEIGHT * 100 * self.cosine(a, b))


@dataclass
class Suggestion:
    old: Competency
    best: Competency | None  # the closest new competency, whatever its score
    score: int

    @property
    def target(self) -> Competency | None:
        """What is proposed: the closest one if it is close enough, else no correspondence."""
        return self.best if self.score >= SUGGESTION_THRESHOLD else None


def competencies_of(cert: Certification) -> list[Competency]:
    return [c for block in cert.blocks for c in block.competencies]


def suggest(old: Certification, new: Certification) -> dict[int, Suggestion]:
    """For each old competency (by id), the closest new one and its score."""
    olds, news = competencies_of(old), competencies_of(new)
    similarity = Similarity([c.statement for c in olds + news])
    result = {}
    for comp in olds:
        scored = [(similarity.score(comp.statement, n.statement), -i, n) for i, n in enumerate(news)]
        score, _, best = max(scored, key=lambda t: t[:2]) if scored else (0, 0, None)
        result[comp.id] = Suggestion(comp, best, score)
    return result


# --------------------------------------------------------------------------------------------------
# Pairs, mappings
# --------------------------------------------------------------------------------------------------

def load_pair(old_id: int, new_id: int) -> tuple[Certification, Certification] | None:
    """Both registrations with their trees, or None when one is missing or they are the same."""
    if old_id == new_id:
        return None
    certs = {c.id: c for c in db.session.scalars(
        select(Certification).where(Certification.id.in_([old_id, new_id]))
        .options(selectinload(Certification.blocks).selectinload(Block.competencies)))}
    if len(certs) != 2:
        return None
    return certs[old_id], certs[new_id]


def find_mapping(old: Certification, new: Certification) -> CompetencyMapping | None:
    return db.session.scalar(
        select(CompetencyMapping).where(CompetencyMapping.old_certification_id == old.id,
                                        CompetencyMapping.new_certification_id == new.id)
        # selectin, not joined: lock() refreshes the row FOR UPDATE, which PostgreSQL refuses on outer joins
        .options(selectinload(CompetencyMapping.entries), selectinload(CompetencyMapping.saved_by),
                 selectinload(CompetencyMapping.applied_by)))


@dataclass
class SuccessionPair:
    """A known (old, new) pair for the list page, with what has been done about it."""

    old: Certification
    new: Certification
    mapping: CompetencyMapping | None
    cohorts_on_old: int
    declared: bool  # named by the fiche (successor / predecessor link) rather than a later registration


def known_pairs() -> list[SuccessionPair]:
    """Pairs to offer: successor links whose fiche is loaded, later registrations of the same fiche, saved
    mappings. The new side is the latest registration of the named code."""
    certs = db.session.scalars(select(Certification).order_by(Certification.code, Certification.registration)).all()
    latest: dict[str, Certification] = {}
    for cert in certs:
        latest[cert.code] = cert  # ordered by registration: the last one wins
    by_id = {c.id: c for c in certs}
    pairs: dict[tuple[int, int], bool] = {}
    for link in db.session.scalars(select(CertificationLink)):
        here = by_id.get(link.certification_id)
        other = latest.get(link.other_code)
        if here is None or other is None or other.id == here.id:
            continue
        key = (here.id, other.id) if link.kind == "successor" else (other.id, here.id)
        pairs[key] = True
    for previous, cert in zip(certs, certs[1:], strict=False):
        if previous.code == cert.code:
            pairs.setdefault((previous.id, cert.id), False)
    mappings = {(m.old_certification_id, m.new_certification_id): m for m in db.session.scalars(
        select(CompetencyMapping).options(joinedload(CompetencyMapping.saved_by)))}
    for key in mappings:
        pairs.setdefault(key, False)
    counts = Counter(db.session.scalars(select(Cohort.certification_id)))
    return [SuccessionPair(by_id[o], by_id[n], mappings.get((o, n)), counts.get(o, 0), declared)
            for (o, n), declared in sorted(pairs.items(), key=lambda kv: (by_id[kv[0][0]].code, kv[0]))]


@dataclass
class MappingRow:
    """One old competency on the mapping page: its targets (saved, else suggested), kind and score."""

    old: Competency
    targets: list[Competency | None]
    kind: MappingKind
    score: int | None
    suggestion: Suggestion


@dataclass
class MappingView:
    old: Certification
    new: Certification
    mapping: CompetencyMapping | None
    rows: list[MappingRow]
    cohorts: list[Cohort] = field(default_factory=list)

    @property
    def uncovered(self) -> list[Competency]:
        """Old competencies the saved mapping says nothing of (added to the old version since)."""
        if self.mapping is None:
            return []
        covered = {e.old_competency_id for e in self.mapping.entries}
        return [row.old for row in self.rows if row.old.id not in covered]


def mapping_view(old: Certification, new: Certification) -> MappingView:
    """What the page shows: the saved mapping, or the suggestions when none is saved (nothing written)."""
    mapping = find_mapping(old, new)
    suggestions = suggest(old, new)
    news = {c.id: c for c in competencies_of(new)}
    saved: dict[int, list[CompetencyMappingEntry]] = defaultdict(list)
    for entry in mapping.entries if mapping else []:
        saved[entry.old_competency_id].append(entry)
    rows = []
    for comp in competencies_of(old):
        suggestion = suggestions[comp.id]
        entries = saved.get(comp.id)
        if entries:
            targets = [news.get(e.new_competency_id) if e.new_competency_id else None for e in entries]
            kind = MappingKind.MANUAL if any(e.kind == MappingKind.MANUAL for e in entries) else MappingKind.SUGGESTED
            rows.append(MappingRow(comp, targets, kind, entries[0].score, suggestion))
        else:
            target = suggestion.target
            rows.append(MappingRow(comp, [target], MappingKind.SUGGESTED,
                                   suggestion.score if target else None, suggestion))
    cohorts = db.session.scalars(select(Cohort).where(Cohort.certification_id == old.id).order_by(Cohort.name)).all()
    return MappingView(old, new, mapping, rows, list(cohorts))


def save_mapping(old: Certification, new: Certification, choices: Mapping[int, Sequence[int | None]], *,
                 actor: User | None) -> CompetencyMapping:
    """Save the administrator's choices (old competency id → new competency ids, or [None] for no
    correspondence) as the one mapping of the pair, replacing what was saved before."""
    if old.id == new.id:
        raise DomainError(_("Une version ne peut pas succéder à elle-même."))
    olds = {c.id: c for c in competencies_of(old)}
    news = {c.id: c for c in competencies_of(new)}
    unknown = [k for k in choices if k not in olds]
    if unknown:
        raise DomainError(_("Compétence inconnue dans l'ancienne version %(code)s.", code=old.code))
    missing = [c.code for c in olds.values() if not choices.get(c.id)]
    if missing:
        raise DomainError(ngettext(
            "Choisissez une correspondance (ou « aucune correspondance ») pour %(codes)s.",
            "Choisissez une correspondance (ou « aucune correspondance ») pour ces %(num)d compétences : "
            "%(codes)s.", len(missing), codes=", ".join(missing)))
    suggestions = suggest(old, new)
    similarity = Similarity([c.statement for c in [*olds.values(), *news.values()]])
    mapping = find_mapping(old, new)
    if mapping is None:
        mapping = CompetencyMapping(old_certification_id=old.id, new_certification_id=new.id)
        db.session.add(mapping)
    else:
        lock(mapping)
    entries = []
    for old_id, wanted in choices.items():
        targets = list(dict.fromkeys(wanted))  # in order, once each
        if None in targets and len(targets) > 1:
            targets = [t for t in targets if t is not None]
        for target in targets:
            if target is not None and target not in news:
                raise DomainError(_("Compétence inconnue dans la nouvelle version %(code)s.", code=new.code))
        suggested = suggestions[old_id].target
        kind = MappingKind.SUGGESTED if targets == [suggested.id if suggested else None] else MappingKind.MANUAL
        for target in targets:
            score = similarity.score(olds[old_id].statement, news[target].statement) if target else None
            entries.append(CompetencyMappingEntry(old_competency_id=old_id, new_competency_id=target, kind=kind,
                                                  score=score))
    mapping.entries = []
    db.session.flush()  # the old entries go before the new ones come (same unique keys)
    mapping.entries = entries
    mapping.saved_by_id = actor.id if actor else None
    mapping.saved_at = utcnow()
    db.session.flush()
    record_event("certification.mapping_save", actor=actor, subject_type="competency_mapping",
                 subject_id=mapping.id,
                 data={"old": f"{old.code}@{old.registration}", "new": f"{new.code}@{new.registration}",
                       "entries": len(entries), "manual": sum(e.kind == MappingKind.MANUAL for e in entries),
                       "none": sum(e.new_competency_id is None for e in entries)})
    return mapping


def save_suggestions(old: Certification, new: Certification, *, actor: User | None) -> CompetencyMapping:
    """Save the suggestions as the mapping (the command's ``--suggest`` when nothing is saved yet)."""
    return save_mapping(old, new, {k: [s.target.id if s.target else None] for k, s in suggest(old, new).items()},
                        actor=actor)


# --------------------------------------------------------------------------------------------------
# Moving cohorts
# --------------------------------------------------------------------------------------------------

@dataclass
class MigrationResult:
    cohorts: list[str] = field(default_factory=list)
    learners: int = 0
    tags: int = 0
    levels: int = 0
    levels_kept: int = 0  # targets that already had a level of their own (not overwritten)

    @property
    def nothing_to_do(self) -> bool:
        return not (self.cohorts or self.tags or self.levels)


def apply_mapping(mapping: CompetencyMapping, *, actor: User | None) -> MigrationResult:
    """Move every cohort of the old version to the new one and carry its learners' tags and current levels
    over through the mapping, in the caller's transaction. Running it again finds nothing left to do.

    A tag is copied to each mapped competency (same evidence and justification, ``migrated_from_id`` the
    old tag). A current level becomes a new assessment of the mapped competency repeating the old one
    (assessor, evidence, comment; ``migrated_from_id`` the old assessment), unless the learner already has
    a level there; when several old competencies merge into one, the lowest of their levels is carried.
    Old tags, assessments, levels and block validations are left as they were."""
    lock(mapping)
    old, new = mapping.old_certification, mapping.new_certification
    olds = {c.id: c for c in competencies_of(old)}
    targets: dict[int, list[int]] = defaultdict(list)
    for entry in mapping.entries:
        if entry.new_competency_id is not None:
            targets[entry.old_competency_id].append(entry.new_competency_id)
    covered = {e.old_competency_id for e in mapping.entries}
    uncovered = [c.code for c in olds.values() if c.id not in covered]
    if uncovered:
        raise Conflict(ngettext(
            "La correspondance enregistrée ne dit rien de %(codes)s (ajoutée depuis) : revoyez-la et "
            "enregistrez-la avant de migrer.",
            "La correspondance enregistrée ne dit rien de %(num)d compétences (ajoutées depuis) : %(codes)s. "
            "Revoyez-la et enregistrez-la avant de migrer.", len(uncovered), codes=", ".join(uncovered)))
    cohorts = db.session.scalars(select(Cohort).where(Cohort.certification_id == old.id).order_by(Cohort.name)
                                 .options(selectinload(Cohort.memberships))).all()
    result = MigrationResult(cohorts=[c.name for c in cohorts])
    learner_ids = sorted({m.user_id for c in cohorts for m in c.memberships if m.role == MemberRole.LEARNER})
    result.learners = len(learner_ids)
    if learner_ids and targets:
        result.tags = _copy_tags(learner_ids, targets)
        result.levels, result.levels_kept = _carry_levels(learner_ids, targets)
    for cohort in cohorts:
        cohort.certification_id = new.id
    mapping.applied_at = utcnow()
    mapping.applied_by_id = actor.id if actor else None
    db.session.flush()
    record_event("certification.succession_apply", actor=actor, subject_type="competency_mapping",
                 subject_id=mapping.id,
                 data={"old": f"{old.code}@{old.registration}", "new": f"{new.code}@{new.registration}",
                       "cohorts": result.cohorts, "learners": result.learners, "tags": result.tags,
                       "levels": result.levels, "levels_kept": result.levels_kept})
    return result


def migrate_cohorts(old: Certification, new: Certification, *, actor: User | None) -> MigrationResult:
    """Apply the saved mapping of the pair (see :func:`apply_mapping`); refused while none is saved."""
    mapping = find_mapping(old, new)
    if mapping is None:
        raise Conflict(_("Aucune correspondance enregistrée de %(old)s vers %(new)s : enregistrez-la avant de "
                         "migrer les promotions.", old=old.code, new=new.code))
    return apply_mapping(mapping, actor=actor)


def _copy_tags(learner_ids: list[int], targets: Mapping[int, list[int]]) -> int:
    """Copy the learners' tags on mapped old competencies to the new ones; return how many were added."""
    wanted_ids = sorted({t for ts in targets.values() for t in ts})
    rows = db.session.execute(
        select(Claim.id, Claim.evidence_id, Claim.competency_id, Claim.justification)
        .join(Evidence, Claim.evidence_id == Evidence.id)
        .where(Evidence.owner_id.in_(learner_ids), Claim.competency_id.in_([*targets, *wanted_ids]))
        .order_by(Claim.id)).all()
    have = {(evidence_id, comp_id) for _, evidence_id, comp_id, _ in rows}
    added = 0
    for claim_id, evidence_id, comp_id, justification in rows:
        for target in targets.get(comp_id, []):
            if (evidence_id, target) in have:
                continue  # already tagged there (by the learner, or by a previous run)
            db.session.add(Claim(evidence_id=evidence_id, competency_id=target, justification=justification,
                                 migrated_from_id=claim_id))
            have.add((evidence_id, target))
            added += 1
    db.session.flush()
    return added


def _carry_levels(learner_ids: list[int], targets: Mapping[int, list[int]]) -> tuple[int, int]:
    """Give each mapped new competency the learner's level on the old ones it comes from; return (added, kept)."""
    wanted_ids = sorted({t for ts in targets.values() for t in ts})
    states = db.session.scalars(
        select(CompetencyState).where(CompetencyState.learner_id.in_(learner_ids),
                                      CompetencyState.competency_id.in_([*targets, *wanted_ids]))
        .options(joinedload(CompetencyState.assessment))).all()
    existing = {(s.learner_id, s.competency_id) for s in states}
    sources: dict[tuple[int, int], list[CompetencyState]] = defaultdict(list)
    for state in states:
        for target in targets.get(state.competency_id, []):
            sources[(state.learner_id, target)].append(state)
    added = kept = 0
    for (learner_id, target), found in sorted(sources.items()):
        if (learner_id, target) in existing:
            kept += 1
            continue
        source = min(found, key=lambda s: (LEVEL_RANK[s.level], -s.updated_at.timestamp()))
        origin = source.assessment
        assessment = Assessment(learner_id=learner_id, competency_id=target, assessor_id=origin.assessor_id,
                                evidence_id=origin.evidence_id, level=source.level, comment=origin.comment,
                                migrated_from_id=origin.id)
        db.session.add(assessment)
        db.session.flush()
        db.session.add(CompetencyState(learner_id=learner_id, competency_id=target, level=source.level,
                                       assessment_id=assessment.id, updated_at=utcnow()))
        added += 1
    db.session.flush()
    return added, kept


def earlier_validations(learner: User, certification: Certification) -> list[BlockDecision]:
    """The learner's blocks validated under other versions than ``certification`` (still validated)."""
    return progress_and_earlier_validations(learner, certification)[1]


__all__ = ["SUGGESTION_THRESHOLD", "MappingRow", "MappingView", "MigrationResult", "Similarity", "SuccessionPair",
           "Suggestion", "apply_mapping", "earlier_validations", "find_mapping", "known_pairs", "load_pair",
           "mapping_view", "migrate_cohorts", "save_mapping", "save_suggestions", "suggest"]

