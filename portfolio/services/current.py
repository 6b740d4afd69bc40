"""The current state, read one way (and only here).

- **A learner's level on a competency** is ``CompetencyState``: the materialised current level,
  written in the same transaction as the assessment that changes it (``assessment.record_assessment``).
  Read it with ``current_levels`` (or join ``CompetencyState`` in a bulk query, as the cohort matrix
  does); never derive it from the ``assessments`` history.
- **Every other record that is appended and never edited** — a tutor's block decisions, a jury's block
  decisions and outcomes — has as its current one the record with the highest id for its key (ids are
  never reused: the tables have AUTOINCREMENT, and a transaction writes them in order). Read it with
  ``latest`` (one key) or ``latest_per`` (one current record per key, in one query).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Mapped

from portfolio.extensions import db
from portfolio.models import CompetencyState, Level, User


class _Appended(Protocol):
    """A model of an append-only history: its integer id orders its records."""

    id: ClassVar[Mapped[int]]


M = TypeVar("M", bound=_Appended)


def current_levels(learner: User, competency_ids: Sequence[int]) -> dict[int, Level]:
    """The learner's current level per competency (absent: never assessed)."""
    if not competency_ids:
        return {}
    return dict(db.session.execute(select(CompetencyState.competency_id, CompetencyState.level)
                                   .where(CompetencyState.learner_id == learner.id,
                                          CompetencyState.competency_id.in_(list(competency_ids)))).all())


def latest(model: type[M], *criteria: ColumnElement[bool]) -> M | None:
    """The current record of an append-only history, among those matching ``criteria``."""
    return db.session.scalar(select(model).where(*criteria).order_by(model.id.desc()).limit(1))


def latest_per(model: type[M], keys: Sequence[Any], *criteria: ColumnElement[bool]) -> Select[M]:
    """A query for the current record per value of ``keys`` (columns of ``model``) among those matching."""
    last = select(func.max(model.id)).where(*criteria).group_by(*keys)
    return select(model).where(model.id.in_(last))
