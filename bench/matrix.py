#!/usr/bin/env python3
"""Matrix bench: the cohort matrix page and its CSV for a cohort of 200 learners.

It fills a fresh database (built from the migrations, RNCP 28754 imported) with a tutor, a cohort of
200 learners, 20 pieces of evidence each (links, ~3 competencies tagged per piece), a history of
assessments (1 to 3 per learner and competency touched, each superseding the previous one), the
current state of each (pointing at the latest assessment), a few block validations and revocations
and the notifications the services would have sent. Rows go in with bulk inserts (SQLAlchemy Core
``executemany``), not through the services: that would take minutes.

Then, signed in as the tutor through ``POST /login``, it times ``GET /cohorts/<id>/matrix`` and
``GET /cohorts/<id>/matrix?format=csv`` with Flask's test client (each request in its own
application context and session, as in production): warm-up requests first, then N timed requests
each, counting the SQL statements of each request (``before_cursor_execute``) and splitting the time
into SQL (statements executed), ``cohort_matrix`` (queries + building the matrix) and the render
(template or ``matrix_csv``).

    .venv/bin/python bench/matrix.py [--backend sqlite|postgresql|both] [--pg-url URL]
                                     [--learners 200] [--evidence 20] [--runs 30] [--warmup 3]
                                     [--seed 28754] [--profile] [--json OUT]

PostgreSQL runs in a schema created for the run and dropped at its end; when the server cannot be
reached the bench says so and goes on with SQLite. Target: the page (not the CSV) under 150 ms at
the 95th percentile on PostgreSQL (see bench/README.md, "matrix").

Exit status: 0 when the target is met (or PostgreSQL was not measured), 1 when it is missed, 2 on an error.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import io
import json
import math
import os
import platform
import pstats
import random
import secrets
import statistics
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_P95_MS = 150.0  # the matrix page, 95th percentile, on PostgreSQL
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
PASSWORD = "bench matrix password"  # noqa: S105
TUTOR_EMAIL = "tutor@bench.example.org"
COHORT_NAME = "Bench Promo 2026"
T0 = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)  # the cohort's first day: fixed, so that the data is too

FIRST_NAMES = ("Léa", "Hugo", "Chloé", "Lucas", "Inès", "Nathan", "Manon", "Théo", "Camille", "Enzo", "Zoé",
               "Louis", "Jade", "Mathis", "Élodie", "Yanis", "Sarah", "Noah", "Maëlys", "Adam", "Océane",
               "Gabriel", "Anaïs", "Rayan", "Clément", "Émilie", "Bastien", "Lina", "Kévin", "Aurélie")
LAST_NAMES = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
              "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
              "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet",
              "François", "Martinez", "Legrand", "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Müller",
              "N'Diaye", "Nguyen", "Da Silva", "Le Gall")
TOPICS = ("API REST de réservation", "maquettes Figma", "tests unitaires du panier", "diagramme de classes",
          "base PostgreSQL", "pipeline CI", "composant React", "revue de code", "journal de bord", "sécurité OWASP",
          "déploiement Docker", "cahier de recettes", "requêtes SQL optimisées", "application mobile",
          "documentation technique")
CONTEXTS = ("project", "internship", "professional", "case_study")


# --- the data --------------------------------------------------------------------------------------------


@dataclass
class FillResult:
    cohort_id: int
    seconds: float
    rows: dict[str, int]
    levels: dict[str, int]  # current states per level


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _next_id(table: Any) -> int:
    from sqlalchemy import func, select

    from portfolio.extensions import db

    return (db.session.scalar(select(func.max(table.c.id))) or 0) + 1


def fill(n_learners: int, n_evidence: int, seed: int) -> FillResult:
    """Fill the database of the current application context; returns the cohort's id and row counts."""
    from sqlalchemy import func, insert, select, text

    from portfolio.extensions import db
    from portfolio.frameworks.formats import builtin_path, load_framework_file
    from portfolio.models import (
        Assessment,
        Block,
        BlockDecision,
        Claim,
        CohortMembership,
        CompetencyState,
        DecisionKind,
        Evidence,
        EvidenceKind,
        EvidenceStatus,
        Level,
        MemberRole,
        Notification,
        Role,
        User,
        UserRole,
    )
    from portfolio.services.cohorts import add_member, create_cohort, current_certification
    from portfolio.services.frameworks import import_certification
    from portfolio.services.passwords import hash_password
    from portfolio.services.users import create_user

    started = time.perf_counter()
    rng = random.Random(seed)
    for data in load_framework_file(builtin_path("RNCP28754")):
        import_certification(data)
    certification = current_certification("RNCP28754")
    tutor = create_user(TUTOR_EMAIL, "Théo Formateur", {Role.TUTOR}, password=PASSWORD)
    cohort = create_cohort(COHORT_NAME, certification, 2026, actor=None)
    add_member(cohort, tutor, MemberRole.TUTOR, actor=None)
    db.session.commit()
    blocks = list(db.session.scalars(select(Block).where(Block.certification_id == certification.id)
                                     .order_by(Block.position)))
    block_comps = {b.id: [c.id for c in b.competencies] for b in blocks}
    comp_ids = [cid for ids in block_comps.values() for cid in ids]
    code_of = {c.id: c.code for b in blocks for c in b.competencies}

    # Learners: one password hash for all of them (Argon2 takes tens of ms per hash).
    password_hash = hash_password(PASSWORD)
    first_user = _next_id(User.__table__)
    users, roles, members = [], [], []
    for i in range(n_learners):
        uid = first_user + i
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        users.append({"id": uid, "email": f"learner{i:03d}@bench.example.org", "name": name,
                      "password_hash": password_hash, "locale": "fr", "is_enabled": True,
                      "created_at": T0 - timedelta(days=10, minutes=i)})
        roles.append({"user_id": uid, "role": Role.LEARNER})
        members.append({"cohort_id": cohort.id, "user_id": uid, "role": MemberRole.LEARNER,
                        "created_at": T0 - timedelta(days=9)})
    db.session.execute(insert(User), users)
    db.session.execute(insert(UserRole), roles)
    db.session.execute(insert(CohortMembership), members)

    # Evidence (links) and their claims. The last piece of each learner is still awaiting assessment.
    next_evidence = _next_id(Evidence.__table__)
    evidence: list[dict[str, Any]] = []
    claims: list[dict[str, Any]] = []
    candidates: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)  # (learner, comp) -> evidence
    for i, user in enumerate(users):
        for j in range(n_evidence):
            occurred = (T0 + timedelta(days=j * 9 + rng.randint(0, 6))).date()
            submitted = datetime.combine(occurred, datetime.min.time(), UTC) + timedelta(hours=rng.randint(30, 90))
            topic = rng.choice(TOPICS)
            row = {"id": next_evidence, "owner_id": user["id"], "title": f"Preuve {j + 1} — {topic}",
                   "kind": EvidenceKind.LINK, "context": rng.choice(CONTEXTS), "occurred_on": occurred,
                   "description": f"Travail sur {topic}, voir le dépôt.",
                   "url": f"https://git.example.org/learner{i:03d}/preuve-{j + 1}",
                   "status": EvidenceStatus.SUBMITTED, "submitted_at": submitted, "previous_version_id": None,
                   "created_at": submitted - timedelta(hours=20), "updated_at": submitted}
            next_evidence += 1
            evidence.append(row)
            for cid in rng.sample(comp_ids, rng.choice((2, 3, 3, 4))):
                claims.append({"evidence_id": row["id"], "competency_id": cid,
                               "justification": f"J'ai mis en œuvre {code_of[cid]} dans ce travail.",
                               "created_at": row["created_at"]})
                if j < n_evidence - 1:
                    candidates[(user["id"], cid)].append(row)
    db.session.execute(insert(Evidence), evidence)
    db.session.execute(insert(Claim), claims)

    # Assessments: per (learner, competency) touched, 1-3 of them, each later one superseding the one before
    # and citing the same or a later piece of evidence; levels tend towards "acquired" over time.
    early = {Level.NOT_ACQUIRED: 0.35, Level.IN_PROGRESS: 0.5, Level.ACQUIRED: 0.15}
    final = {Level.NOT_ACQUIRED: 0.1, Level.IN_PROGRESS: 0.25, Level.ACQUIRED: 0.65}
    chains: list[list[dict[str, Any]]] = []
    for (learner_id, cid), pieces in candidates.items():
        count = rng.choice((1, 1, 2, 2, 3))
        chain: list[dict[str, Any]] = []
        at, index = None, 0
        for g in range(count):
            index = rng.randint(index, len(pieces) - 1) if g else rng.randint(0, len(pieces) - 1)
            piece = pieces[index]
            at = max(piece["submitted_at"] + timedelta(hours=rng.randint(2, 120)),
                     (at or T0) + timedelta(hours=rng.randint(24, 24 * 20)))
            level = _weighted(rng, final if g == count - 1 else early)
            verdict = "validé" if level == Level.ACQUIRED else "à retravailler"
            comment = (f"**{code_of[cid]}** : {verdict} sur « {piece['title']} ».\n\n"
                       "- point fort : la démarche\n- à suivre : les tests")
            chain.append({"learner_id": learner_id, "competency_id": cid, "assessor_id": tutor.id,
                          "evidence_id": piece["id"], "level": level, "created_at": at, "comment": comment})
            piece["status"] = EvidenceStatus.ASSESSED
        chains.append(chain)
    # Ids in time order, as the services would have given them; then each links to the one it supersedes.
    assessments = sorted((a for chain in chains for a in chain), key=lambda a: (a["created_at"], a["learner_id"]))
    first_assessment = _next_id(Assessment.__table__)
    for offset, row in enumerate(assessments):
        row["id"] = first_assessment + offset
    for chain in chains:
        for before, after in zip([None, *chain], chain, strict=False):
            after["supersedes_id"] = before["id"] if before else None
    db.session.execute(insert(Assessment), assessments)
    # record_assessment set ASSESSED on the evidence it judged: update the evidence rows written above.
    assessed_ids = [row["id"] for row in evidence if row["status"] == EvidenceStatus.ASSESSED]
    for start in range(0, len(assessed_ids), 900):
        table = Evidence.__table__
        db.session.execute(table.update().where(table.c.id.in_(assessed_ids[start:start + 900]))
                           .values(status=EvidenceStatus.ASSESSED))

    # Current states: the latest assessment of each chain.
    states = [{"learner_id": c[-1]["learner_id"], "competency_id": c[-1]["competency_id"], "level": c[-1]["level"],
               "assessment_id": c[-1]["id"], "updated_at": c[-1]["created_at"]} for c in chains]
    db.session.execute(insert(CompetencyState), states)
    state_of = {(s["learner_id"], s["competency_id"]): s for s in states}

    # Block decisions: a validation where every competency of the block is acquired (as validate_block
    # requires), for about half of those; a few revoked afterwards.
    decisions: list[dict[str, Any]] = []
    for user in users:
        for block_id, ids in block_comps.items():
            found = [state_of.get((user["id"], cid)) for cid in ids]
            if not all(s and s["level"] == Level.ACQUIRED for s in found) or rng.random() < 0.5:
                continue
            at = max(s["updated_at"] for s in found) + timedelta(days=rng.randint(1, 10))
            decisions.append({"learner_id": user["id"], "block_id": block_id, "decided_by_id": tutor.id,
                              "kind": DecisionKind.VALIDATED, "comment": "Bloc validé en commission.",
                              "created_at": at})
            if rng.random() < 0.15:
                decisions.append({"learner_id": user["id"], "block_id": block_id, "decided_by_id": tutor.id,
                                  "kind": DecisionKind.REVOKED, "comment": "Preuve contestée : à revoir.",
                                  "created_at": at + timedelta(days=rng.randint(1, 20))})
    decisions.sort(key=lambda d: (d["created_at"], d["learner_id"], d["kind"]))
    first_decision = _next_id(BlockDecision.__table__)
    for offset, row in enumerate(decisions):
        row["id"] = first_decision + offset
    if decisions:
        db.session.execute(insert(BlockDecision), decisions)

    # Notifications: the tutor's for each submission (most of them read), the learner's for each assessment.
    notes = [{"user_id": tutor.id, "message": f"Un·e apprenant·e a soumis « {e['title']} ».",
              "link": f"/evidence/{e['id']}", "created_at": e["submitted_at"],
              "read_at": None if rng.random() < 0.05 else e["submitted_at"] + timedelta(days=1)} for e in evidence]
    notes += [{"user_id": a["learner_id"], "message": f"{code_of[a['competency_id']]} évaluée.",
               "link": f"/evidence/{a['evidence_id']}", "created_at": a["created_at"],
               "read_at": None if rng.random() < 0.3 else a["created_at"] + timedelta(days=2)} for a in assessments]
    db.session.execute(insert(Notification), notes)

    if db.engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
        for table in ("users", "evidence", "assessments", "block_decisions"):
            db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                    f"(SELECT max(id) FROM {table}))"))
    db.session.commit()
    if db.engine.dialect.name == "postgresql":  # what autovacuum would have done by the time a tutor looks
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))

    # The invariant the services keep: each state points at the latest assessment of its pair.
    latest = (select(Assessment.learner_id, Assessment.competency_id, func.max(Assessment.id).label("last"))
              .group_by(Assessment.learner_id, Assessment.competency_id).subquery())
    wrong = db.session.scalar(
        select(func.count()).select_from(CompetencyState)
        .join(latest, (latest.c.learner_id == CompetencyState.learner_id)
              & (latest.c.competency_id == CompetencyState.competency_id))
        .where(latest.c.last != CompetencyState.assessment_id))
    if wrong:
        raise RuntimeError(f"{wrong} competency states do not point at the latest assessment")
    return FillResult(
        cohort_id=cohort.id, seconds=time.perf_counter() - started,
        rows={"learners": len(users), "evidence": len(evidence), "claims": len(claims),
              "assessments": len(assessments), "competency_states": len(states), "block_decisions": len(decisions),
              "notifications": len(notes), "competencies": len(comp_ids)},
        levels=dict(Counter(str(s["level"].value) for s in states)))


# --- the measurements ----------------------------------------------------------------------------------------


@dataclass
class Figures:
    path: str
    runs_ms: list[float]
    queries: list[int]
    bytes: int
    sql_ms: list[float] = field(default_factory=list)
    build_ms: list[float] = field(default_factory=list)  # service.cohort_matrix: its queries + the Matrix
    render_ms: list[float] = field(default_factory=list)  # render_template, or matrix_csv
    cpu_ms: list[float] = field(default_factory=list)  # CPU time of this thread: what contention does not inflate

    @staticmethod
    def p95(values: list[float]) -> float:
        """Nearest rank: with 30 runs, the second slowest."""
        ordered = sorted(values)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    def summary(self) -> dict[str, Any]:
        return {"median_ms": statistics.median(self.runs_ms), "p95_ms": self.p95(self.runs_ms),
                "max_ms": max(self.runs_ms), "queries": max(self.queries), "queries_min": min(self.queries),
                "bytes": self.bytes, "sql_median_ms": statistics.median(self.sql_ms),
                "cohort_matrix_median_ms": statistics.median(self.build_ms),
                "render_median_ms": statistics.median(self.render_ms), "cpu_median_ms": statistics.median(self.cpu_ms),
                "cpu_p95_ms": self.p95(self.cpu_ms)}


class Probe:
    """Counts and times the SQL statements of the engine, and times cohort_matrix and the render."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.statements = 0
        self.sql = 0.0
        self.build = 0.0
        self.render = 0.0
        self._started: list[float] = []
        self._undo: list[Callable[[], None]] = []

    def reset(self) -> None:
        self.statements, self.sql, self.build, self.render = 0, 0.0, 0.0, 0.0

    def _before(self, *args: Any) -> None:
        self.statements += 1
        self._started.append(time.perf_counter())

    def _after(self, *args: Any) -> None:
        if self._started:
            self.sql += time.perf_counter() - self._started.pop()

    def _wrap(self, module: Any, name: str, slot: str) -> None:
        original = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                setattr(self, slot, getattr(self, slot) + time.perf_counter() - started)

        setattr(module, name, timed)
        self._undo.append(lambda: setattr(module, name, original))

    def __enter__(self) -> Probe:
        from sqlalchemy import event

        from portfolio.blueprints.assessment import views
        from portfolio.services import assessment

        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        self._undo.append(lambda: event.remove(self.engine, "before_cursor_execute", self._before))
        self._undo.append(lambda: event.remove(self.engine, "after_cursor_execute", self._after))
        self._wrap(assessment, "cohort_matrix", "build")
        self._wrap(assessment, "matrix_csv", "render")
        self._wrap(views, "render_template", "render")
        return self

    def __exit__(self, *exc: object) -> None:
        while self._undo:
            self._undo.pop()()


def measure(app: Any, engine: Any, cohort_id: int, runs: int, warmup: int, profile: bool) -> dict[str, Figures]:
    client = app.test_client()
    response = client.post("/login", data={"email": TUTOR_EMAIL, "password": PASSWORD})
    if response.status_code != 302:
        raise RuntimeError(f"login failed: {response.status_code} {response.get_data(as_text=True)[:300]}")
    out: dict[str, Figures] = {}
    for label, path in (("page", f"/cohorts/{cohort_id}/matrix"), ("csv", f"/cohorts/{cohort_id}/matrix?format=csv")):
        for _ in range(warmup):
            check = client.get(path)
            if check.status_code != 200:
                raise RuntimeError(f"GET {path}: {check.status_code}")
        figures = Figures(path, [], [], len(check.get_data()))
        with Probe(engine) as probe:
            for _ in range(runs):
                probe.reset()
                started, cpu = time.perf_counter(), time.thread_time()
                response = client.get(path)
                body = response.get_data()
                elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu
                if response.status_code != 200 or len(body) != figures.bytes:
                    raise RuntimeError(f"GET {path}: {response.status_code}, {len(body)} bytes")
                figures.runs_ms.append(elapsed * 1000)
                figures.queries.append(probe.statements)
                figures.sql_ms.append(probe.sql * 1000)
                figures.build_ms.append(probe.build * 1000)
                figures.render_ms.append(probe.render * 1000)
                figures.cpu_ms.append(cpu * 1000)
        out[label] = figures
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(10):
                client.get(path).get_data()
            profiler.disable()
            print(f"\n--- cProfile, 10 × GET {path} (top 20 by own time) ---")
            pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(20)
    return out


def check_csv(app: Any, cohort_id: int, levels: dict[str, int]) -> None:
    """The CSV holds as many cells of each level as there are states: the timed page is the real one."""
    from portfolio.models import Level
    from portfolio.services.assessment import level_label

    client = app.test_client()
    client.post("/login", data={"email": TUTOR_EMAIL, "password": PASSWORD})
    text = client.get(f"/cohorts/{cohort_id}/matrix?format=csv").get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    with app.test_request_context():
        labels = {level_label(level): level.value for level in Level}
    found = Counter(labels[cell] for row in rows[1:] for cell in row[2:-1] if cell)
    if dict(found) != levels:
        raise RuntimeError(f"the CSV does not match the data: {dict(found)} != {levels}")


# --- backends ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def pg_schema(url: str) -> Iterator[tuple[str, str]]:
    """A fresh schema on the server; yields (URL whose search_path is that schema, server version)."""
    from sqlalchemy import create_engine, text

    from portfolio.config import normalise_database_url

    url = normalise_database_url(url)
    schema = f"bench_matrix_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in url else "?"
        try:
            yield f"{url}{sep}options=-csearch_path%3D{schema}", version
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def run_backend(name: str, database_url: str, scratch: Path, args: argparse.Namespace) -> dict[str, Any]:
    from flask_migrate import upgrade

    from portfolio import create_app
    from portfolio.extensions import db

    app = create_app({"ENV": "testing", "SECRET_KEY": secrets.token_urlsafe(32), "DATABASE_URL": database_url,
                      "STORAGE_URL": f"file://{scratch / name / 'evidence'}", "WTF_CSRF_ENABLED": False,
                      "LOGIN_RATE_LIMIT": "1000 per minute", "SERVER_NAME": None})
    try:
        with app.app_context():
            started = time.perf_counter()
            upgrade()
            migrate_s = time.perf_counter() - started
            filled = fill(args.learners, args.evidence, args.seed)
            db.session.remove()
            engine = db.engine
        print(f"[{name}] migrations {migrate_s:.1f} s; fill {filled.seconds:.1f} s: "
              + ", ".join(f"{v} {k}" for k, v in filled.rows.items()), flush=True)
        check_csv(app, filled.cohort_id, filled.levels)
        # No application context is held from here: each request gets its own, with a fresh session.
        figures = measure(app, engine, filled.cohort_id, args.runs, args.warmup, args.profile)
        return {"backend": name, "migrate_s": migrate_s, "fill_s": filled.seconds, "rows": filled.rows,
                "levels": filled.levels, "load_average": os.getloadavg(),
                "figures": {k: {**v.summary(), "runs_ms": v.runs_ms} for k, v in figures.items()},
                "_figures": figures}
    finally:
        with app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


# --- output ------------------------------------------------------------------------------------------------


def print_table(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\nCohort matrix: {args.learners} learners × {args.evidence} pieces of evidence, "
          f"{args.runs} timed requests after {args.warmup} warm-ups (ms)\n")
    head = ("backend", "request", "median", "p95", "max", "queries", "bytes", "SQL", "cohort_matrix", "render",
            "CPU", "CPU p95")
    rows = []
    for result in results:
        for label, fig in result["_figures"].items():
            s = fig.summary()
            queries = str(s["queries"]) if s["queries"] == s["queries_min"] else f"{s['queries_min']}-{s['queries']}"
            rows.append((result["backend"], label, f"{s['median_ms']:.1f}", f"{s['p95_ms']:.1f}", f"{s['max_ms']:.1f}",
                         queries, f"{s['bytes']:,}", f"{s['sql_median_ms']:.1f}", f"{s['cohort_matrix_median_ms']:.1f}",
                         f"{s['render_median_ms']:.1f}", f"{s['cpu_median_ms']:.1f}", f"{s['cpu_p95_ms']:.1f}"))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in
                                 enumerate(zip(row, widths, strict=True))) + " |")
    print("\nmedian, p95, max: wall-clock time of the request, response body read. Medians of the parts:"
          "\nSQL = time inside cursor.execute; cohort_matrix = the service (its queries + the Matrix);"
          "\nrender = render_template (page) or matrix_csv (CSV); the rest is the session, login and access checks."
          "\nCPU = this process's CPU time for the request (thread_time): what the app costs, whatever else runs.")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL),
                        help=f"PostgreSQL server (a schema is created and dropped); default {DEFAULT_PG_URL}")
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--evidence", type=int, default=20, help="pieces of evidence per learner")
    parser.add_argument("--runs", type=int, default=30, metavar="N", help="timed requests per URL")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=28754)
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of 10 requests per URL")
    parser.add_argument("--json", metavar="OUT", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.learners < 1 or args.evidence < 2 or args.runs < 1 or args.warmup < 1:
        parser.error("--learners ≥ 1, --evidence ≥ 2, --runs ≥ 1 and --warmup ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"matrix bench: {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {platform.platform()}; load average {_load()}", flush=True)
    results: list[dict[str, Any]] = []
    notes: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
            scratch = Path(tmp)
            if args.backend in ("sqlite", "both"):
                results.append(run_backend("sqlite", f"sqlite:///{scratch / 'bench.sqlite3'}", scratch, args))
            if args.backend in ("postgresql", "both"):
                try:
                    schema_cm = pg_schema(args.pg_url)
                    url, version = schema_cm.__enter__()
                except Exception as exc:  # noqa: BLE001 - any failure to reach the server
                    notes.append(f"PostgreSQL not measured: cannot reach {args.pg_url} "
                                 f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''})")
                    print(notes[-1], flush=True)
                else:
                    try:
                        print(f"[postgresql] server {version}", flush=True)
                        result = run_backend("postgresql", url, scratch, args)
                        result["server_version"] = version
                        results.append(result)
                    finally:
                        schema_cm.__exit__(None, None, None)
    except Exception:
        traceback.print_exc()
        print("ERROR: the bench did not complete")
        return 2

    print_table(results, args)
    pg = next((r for r in results if r["backend"] == "postgresql"), None)
    if pg is None:
        verdict = "SKIP"
        line = f"SKIP  page p95 < {TARGET_P95_MS:.0f} ms on PostgreSQL: PostgreSQL not measured"
    else:
        p95 = pg["figures"]["page"]["p95_ms"]
        verdict = "PASS" if p95 < TARGET_P95_MS else "FAIL"
        line = f"{verdict}  page p95 < {TARGET_P95_MS:.0f} ms on PostgreSQL: {p95:.1f} ms"
    print(f"\n{line}")
    print(f"load average at the end: {_load()} (other work on the machine slows every figure)")
    if args.json:
        payload = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "target_p95_ms": TARGET_P95_MS,
                   "verdict": verdict, "python": platform.python_version(), "cpus": os.cpu_count(),
                   "platform": platform.platform(), "args": {k: str(v) for k, v in vars(args).items()},
                   "notes": notes, "results": [{k: v for k, v in r.items() if k != "_figures"} for r in results]}
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
        print(f"figures written to {args.json}")
    return 1 if verdict == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main())
