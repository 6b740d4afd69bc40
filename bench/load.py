#!/usr/bin/env python3
"""Pages under load: learners and tutors at once against gunicorn + PostgreSQL, on loopback only.

It builds a PostgreSQL schema of its own (dropped at the end) from the migrations and fills it with
the cohort of ``bench/matrix.py`` (200 learners × 20 pieces of evidence, assessments, states: the
same seeded generator), starts gunicorn on 127.0.0.1 with the app plus one bench-only page
(``bench/_load_app.py``: a 200-line Jinja template, the yardstick), signs in the virtual users, then:

1. **the mix**, ``--duration`` seconds (default 300) at ``--users`` concurrent users (default 50):
   four learners in five (home, progress, evidence list, evidence page, upload of a small file
   through the HTML form with its CSRF token) and one tutor in five (home, queue, the evidence page
   with its assessment form, a learner's progress, the cohort matrix). No think time: each user sends
   its next request as soon as the previous one is answered.
2. **three short phases** (``--phase`` seconds each, default 20, run in two halves in the order
   reference, home, progress, progress, home, reference) where every user asks for one page only: the
   reference page, a learner's home, a learner's progress. Their requests per second give the
   throughput ratios.

Every request is bounded by a timeout, the whole run by ``--duration`` and ``--max-requests``; it stops
by itself. Exit status: 0 every target met, 1 a target missed, 2 an error.

    .venv/bin/python bench/load.py [--users 50] [--duration 300] [--phase 20] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import matrix  # noqa: E402  (bench/matrix.py: its seeded data generator and PostgreSQL schema helper)

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
RATIO_MIN = 0.30  # home and progress requests/s over the reference page's
REQUEST_TIMEOUT = 30
START_TIMEOUT = 60
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')

LEARNER_MIX = {"home": 3, "progress": 2, "evidence list": 2, "evidence page": 2, "upload": 1}
TUTOR_MIX = {"home (tutor)": 1, "queue": 3, "assessment page": 3, "progress (tutor)": 1, "matrix": 1}


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class World:
    cohort_id: int
    tutor_email: str
    learners: list[tuple[int, str]]  # (id, email)
    evidence: dict[int, list[int]]  # learner id → their evidence ids
    submitted: list[int]  # evidence awaiting assessment


def build(database_url: str, scratch: Path, learners: int, evidence: int, seed: int) -> World:
    from flask_migrate import upgrade
    from sqlalchemy import select

    from portfolio import create_app
    from portfolio.extensions import db
    from portfolio.models import Evidence, EvidenceStatus, User

    app = create_app({"ENV": "testing", "SECRET_KEY": secrets.token_urlsafe(32), "DATABASE_URL": database_url,
                      "STORAGE_URL": f"file://{scratch / 'evidence'}", "SERVER_NAME": None})
    with app.app_context():
        upgrade()
        filled = matrix.fill(learners, evidence, seed)
        rows = db.session.execute(select(User.id, User.email).where(User.email.like("learner%"))
                                  .order_by(User.id)).all()
        by_owner: dict[int, list[int]] = defaultdict(list)
        for evidence_id, owner_id in db.session.execute(select(Evidence.id, Evidence.owner_id)):
            by_owner[owner_id].append(evidence_id)
        submitted = list(db.session.scalars(select(Evidence.id).where(Evidence.status == EvidenceStatus.SUBMITTED)))
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
    log(f"data: {filled.seconds:.1f} s, " + ", ".join(f"{v} {k}" for k, v in filled.rows.items()))
    return World(filled.cohort_id, matrix.TUTOR_EMAIL, [(r.id, r.email) for r in rows], dict(by_owner), submitted)


class Server:
    def __init__(self, database_url: str, scratch: Path, workers: int, threads: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = scratch / "gunicorn.log"
        from upload import no_control_socket  # bench/upload.py

        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFOLIO_")}
        env.update({"PORTFOLIO_ENV": "development", "PORTFOLIO_SECRET_KEY": secrets.token_urlsafe(48),
                    "PORTFOLIO_DATABASE_URL": database_url, "PORTFOLIO_STORAGE_URL": f"file://{scratch / 'evidence'}",
                    "PORTFOLIO_LOGIN_RATE_LIMIT": "100000 per minute", "PORTFOLIO_INSTANCE_PATH": str(scratch)})
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", *no_control_socket(), "--pythonpath", str(HERE), "-w", str(workers),
             "--threads", str(threads), "-b", f"127.0.0.1:{self.port}", "--timeout", "60",
             # gthread closes a kept-alive connection 2 s (the default) after its last response even when the
             # next request is already waiting in it, unread, if every thread is busy: the client sees a reset.
             # 30 s, as behind a proxy that keeps its upstream connections.
             "--keep-alive", "30", "_load_app:app"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        import requests

        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.tail()}")
            try:
                if requests.get(f"{self.base}/_bench/reference", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn not ready after {START_TIMEOUT} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


@dataclass
class Stats:
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.seconds[name].append(seconds)
            if error:
                self.errors[name] += 1
                if len(self.samples) < 10:
                    self.samples.append(f"{name}: {error}")


class User:
    """One virtual user: a signed-in ``requests`` session and the pages it visits."""

    def __init__(self, base: str, email: str, rng: random.Random) -> None:
        import requests

        self.base = base
        self.rng = rng
        self.http = requests.Session()
        page = self.http.get(f"{base}/login", timeout=REQUEST_TIMEOUT)
        token = CSRF_RE.search(page.text)
        if token is None:
            raise RuntimeError("no CSRF token on the login page")
        response = self.http.post(f"{base}/login", timeout=REQUEST_TIMEOUT, allow_redirects=False,
                                  data={"csrf_token": token[1], "email": email, "password": matrix.PASSWORD})
        if response.status_code != 302:
            raise RuntimeError(f"sign-in of {email} answered {response.status_code}")

    def get(self, path: str) -> str | None:
        response = self.http.get(f"{self.base}{path}", timeout=REQUEST_TIMEOUT, allow_redirects=False)
        response.content  # noqa: B018 - read the whole body
        return None if response.status_code == 200 else f"GET {path} answered {response.status_code}"

    def upload(self) -> str | None:
        page = self.http.get(f"{self.base}/evidence/new", timeout=REQUEST_TIMEOUT)
        token = CSRF_RE.search(page.text)
        if page.status_code != 200 or token is None:
            return f"GET /evidence/new answered {page.status_code}"
        data = {"csrf_token": token[1], "title": "Capture de la démo", "kind": "document", "context": "project",
                "occurred_on": "2026-11-30", "description": "Envoyée pendant le test de charge."}
        files = {"files": ("capture.bin", os.urandom(16 * 1024))}
        response = self.http.post(f"{self.base}/evidence/new", data=data, files=files, timeout=REQUEST_TIMEOUT,
                                  allow_redirects=False)
        return None if response.status_code == 302 else f"POST /evidence/new answered {response.status_code}"


def learner_actions(user: User, learner_id: int, evidence: list[int]) -> dict[str, Callable[[], str | None]]:
    return {
        "home": lambda: user.get("/"),
        "progress": lambda: user.get(f"/learners/{learner_id}/progress"),
        "evidence list": lambda: user.get("/evidence/"),
        "evidence page": lambda: user.get(f"/evidence/{user.rng.choice(evidence)}"),
        "upload": user.upload,
    }


def tutor_actions(user: User, world: World) -> dict[str, Callable[[], str | None]]:
    return {
        "home (tutor)": lambda: user.get("/"),
        "queue": lambda: user.get("/assessments/"),
        "assessment page": lambda: user.get(f"/evidence/{user.rng.choice(world.submitted)}"),
        "progress (tutor)": lambda: user.get(f"/learners/{user.rng.choice(world.learners)[0]}/progress"),
        "matrix": lambda: user.get(f"/cohorts/{world.cohort_id}/matrix"),
    }


def drive(plans: list[tuple[dict[str, Callable[[], str | None]], dict[str, int]]], seconds: float,
          max_requests: int, stats: Stats) -> float:
    """Every plan in its own thread until the deadline or the request budget; returns elapsed seconds."""
    deadline = time.monotonic() + seconds
    budget = [max_requests]
    budget_lock = threading.Lock()

    def run(actions: dict[str, Callable[[], str | None]], weights: dict[str, int], seed: int) -> None:
        rng = random.Random(seed)
        names, w = list(weights), list(weights.values())
        while time.monotonic() < deadline:
            with budget_lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            name = rng.choices(names, weights=w)[0]
            started = time.perf_counter()
            try:
                error = actions[name]()
            except Exception as exc:  # noqa: BLE001 - a refused connection, a timeout: an error
                error = f"{type(exc).__name__}: {exc}"
            stats.add(name, time.perf_counter() - started, error)

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(a, w, i), daemon=True) for i, (a, w) in enumerate(plans)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 2 * REQUEST_TIMEOUT)
    return time.monotonic() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


def table(stats: Stats, elapsed: float) -> list[dict[str, Any]]:
    rows = []
    for name, values in sorted(stats.seconds.items()):
        rows.append({"page": name, "requests": len(values), "errors": stats.errors.get(name, 0),
                     "per_second": len(values) / elapsed, "p50_ms": statistics.median(values) * 1000,
                     "p95_ms": percentile(values, 0.95) * 1000, "max_ms": max(values) * 1000})
    return rows


def print_rows(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(f"{'page':<18} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
    for r in rows:
        print(f"{r['page']:<18} {r['requests']:>8} {r['errors']:>6} {r['per_second']:>7.1f} {r['p50_ms']:>7.0f} "
              f"{r['p95_ms']:>7.0f} {r['max_ms']:>7.0f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent users (default 50)")
    parser.add_argument("--duration", type=float, default=300, help="seconds of the mix (default 300)")
    parser.add_argument("--phase", type=float, default=20, help="seconds of each single-page phase (default 20)")
    parser.add_argument("--max-requests", type=int, default=500_000, help="request budget of each phase")
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--evidence", type=int, default=20)
    parser.add_argument("--seed", type=int, default=28754)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2: one per core)")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker (default 8)")
    parser.add_argument("--pg-url", default=os.environ.get("PORTFOLIO_BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (gunicorn.log)")
    args = parser.parse_args(argv)
    if args.users < 2 or args.duration <= 0 or args.phase <= 0:
        parser.error("--users must be at least 2, --duration and --phase positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="portfolio-load-"))
    server: Server | None = None
    try:
        schema = contextlib.ExitStack()
        try:
            database_url, version = schema.enter_context(matrix.pg_schema(args.pg_url))
        except Exception as exc:  # noqa: BLE001
            print(f"SKIP  PostgreSQL at {args.pg_url} cannot be reached: {exc}")
            return 0
        try:
            log(f"PostgreSQL {version}: filling {args.learners} learners × {args.evidence} pieces of evidence")
            world = build(database_url, scratch, args.learners, args.evidence, args.seed)
            server = Server(database_url, scratch, args.workers, args.threads)
            n_tutors = max(1, args.users // 5)
            n_learners = args.users - n_tutors
            if n_learners > len(world.learners):
                raise RuntimeError(f"{n_learners} learner users need as many learners (have {len(world.learners)})")
            log(f"gunicorn -w {args.workers} --threads {args.threads} on {server.base}; signing in {args.users} users")
            learners = [User(server.base, email, random.Random(i)) for i, (_id, email) in
                        enumerate(world.learners[:args.users])]
            tutors = [User(server.base, world.tutor_email, random.Random(1000 + i)) for i in range(n_tutors)]
            plans = [(learner_actions(learners[i], world.learners[i][0], world.evidence[world.learners[i][0]]),
                      LEARNER_MIX) for i in range(n_learners)]
            plans += [(tutor_actions(t, world), TUTOR_MIX) for t in tutors]

            load_before = os.getloadavg()
            log(f"the mix: {args.duration:.0f} s, {n_learners} learners and {n_tutors} tutors")
            mix = Stats()
            mix_elapsed = drive(plans, args.duration, args.max_requests, mix)
            phases: dict[str, dict[str, Any]] = {}
            pages = (
                ("reference", lambda i: {"reference": lambda u=learners[i]: u.get("/_bench/reference")}),
                ("home", lambda i: {"home": lambda u=learners[i]: u.get("/")}),
                ("progress", lambda i: {"progress": lambda u=learners[i], lid=world.learners[i][0]:
                                        u.get(f"/learners/{lid}/progress")}),
            )
            # Each page's phase in two halves, in the order A B C C B A: a machine that speeds up or slows
            # down during the phases (other load, CPU boost) weighs on every page alike, not on whichever
            # came first. A page's requests/s = its requests over its two halves' time.
            per_page = {name: (Stats(), [0.0]) for name, _make in pages}
            for name, make in (*pages, *reversed(pages)):
                log(f"single page: {name}, {args.phase / 2:.0f} s, {args.users} users")
                stats, elapsed = per_page[name]
                elapsed[0] += drive([(make(i), {name: 1}) for i in range(args.users)], args.phase / 2,
                                    args.max_requests // 2, stats)
            for name, (stats, elapsed) in per_page.items():
                phases[name] = table(stats, elapsed[0])[0] | {"samples": stats.samples}
            load_after = os.getloadavg()
        finally:
            if server is not None:
                server.stop()
            schema.close()  # drops the schema

        rows = table(mix, mix_elapsed)
        print(f"\nLoad bench — {datetime.now().astimezone():%Y-%m-%dT%H:%M:%S%z} — {os.cpu_count()} CPUs (load "
              f"{load_before[0]:.2f} before the mix, {load_after[0]:.2f} at the end) — PostgreSQL {version}")
        print(f"gunicorn -w {args.workers} --threads {args.threads}; {args.users} users "
              f"({n_learners} learners, {n_tutors} tutors), no think time; {args.learners} learners × "
              f"{args.evidence} pieces of evidence")
        print_rows(f"The mix, {mix_elapsed:.0f} s:", rows)
        print_rows(f"One page at a time, {args.phase:.0f} s each, {args.users} users:", list(phases.values()))
        errors = sum(r["errors"] for r in rows) + sum(p["errors"] for p in phases.values())
        checks = [("PASS" if errors == 0 else "FAIL", "0 errors", f"{errors} error(s)"
                   + (": " + "; ".join(mix.samples + [s for p in phases.values() for s in p["samples"]])[:800]
                      if errors else ""))]
        reference = phases["reference"]["per_second"]
        for page in ("home", "progress"):
            ratio = phases[page]["per_second"] / reference if reference else 0.0
            checks.append(("PASS" if ratio >= RATIO_MIN else "FAIL", f"{page} >= {RATIO_MIN:.0%} of the reference page",
                           f"{phases[page]['per_second']:.1f} vs {reference:.1f} req/s: {ratio:.2f}x"))
        print()
        for status, target, detail in checks:
            print(f"{status}  {target}: {detail}")
        if args.json:
            args.json.write_text(json.dumps({"mix": rows, "phases": phases, "checks": checks,
                                             "load": [load_before, load_after], "args": {
                                                 k: str(v) for k, v in vars(args).items()}}, indent=2))
            print(f"figures written to {args.json}")
        return 1 if any(status == "FAIL" for status, _t, _d in checks) else 0
    except Exception as exc:  # noqa: BLE001
        print(f"ERROR {type(exc).__name__}: {exc}")
        if server is not None:
            print(server.tail())
        return 2
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
