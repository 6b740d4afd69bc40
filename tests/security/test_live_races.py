"""Two requests at once cannot break a rule, through a real HTTP server: the application is served by a
threaded WSGI server (werkzeug's, one thread per request, as gunicorn's threads are) on the test
database (a SQLite file, or PostgreSQL with ``PORTFOLIO_TEST_DATABASE_URL``), with CSRF on. The actors
sign in through the login form with their own HTTP sessions, take the CSRF token from the pages, and
each pair of requests is fired at the same moment (a barrier), ``ROUNDS`` times. Every outcome must be a
legal one, in the HTTP answers (never a 5xx) and in the database afterwards.

``tests/security/test_races.py`` races the services themselves; this file races the whole request:
routing, loading, permission checks, the unit of work's commit."""

from __future__ import annotations

import io
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portfolio import unit_of_work
from portfolio.extensions import db
from portfolio.models import (
    Assessment,
    AuditEvent,
    Blob,
    BlockDecision,
    CompetencyState,
    EntryStatus,
    Evidence,
    EvidenceFile,
    EvidenceStatus,
    LogbookEntry,
    MemberRole,
    User,
)
from portfolio.services.assessment import record_assessment, submit_evidence
from portfolio.services.cohorts import add_member
from portfolio.services.evidence import Upload, create_evidence, tag_evidence
from tests.conftest import TEST_PASSWORD, make_config, new_app
from tests.factories import entries_sent_for_signoff, usage

ROUNDS = int(os.environ.get("PORTFOLIO_RACE_ROUNDS", "20"))
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
#: What each test saw, by outcome (printed with ``-s``; the report quotes these counts).
SEEN: dict[str, Counter] = {}
#: The log of the gunicorn serving the module now, if it is gunicorn (quoted when a pair fails).
SERVER_LOG: list[Path] = []


@pytest.fixture(scope="module")
def smtp(app):  # type: ignore[no-untyped-def]
    """One loopback SMTP server for the module (the served application is told its address once)."""
    from tests.smtp_server import LoopbackSMTP

    server = LoopbackSMTP()
    saved = app.config.get("SMTP_URL")
    app.config["SMTP_URL"] = server.url
    yield server
    app.config["SMTP_URL"] = saved
    server.close()


#: The quota the served application enforces (the upload pair has room for one of its two files).
QUOTA = 100_000


@pytest.fixture(scope="module", params=["threaded", "gunicorn"])
def server(request, app, database_url: str, tmp_path_factory, smtp) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The application served over HTTP on the test database; yields its base URL. ``threaded``:
    werkzeug's server in a thread of this process, one thread per request; ``gunicorn``: two worker
    processes of four threads each, so the two requests of a pair may run in different processes.
    Started once per module: it keeps no state between tests but the database's, which each test's
    cleanup empties."""
    tmp_path = tmp_path_factory.mktemp(f"served-{request.param}")
    settings = {"SECRET_KEY": app.config["SECRET_KEY"],  # the sign-off links the tests make open there
                "STORAGE_URL": app.config["STORAGE_URL"], "SMTP_URL": smtp.url, "MAX_BYTES_PER_USER": QUOTA}
    if request.param == "gunicorn":
        yield from _gunicorn(database_url, tmp_path, settings)
        return
    served = new_app(make_config(database_url, tmp_path, WTF_CSRF_ENABLED=True, **settings))
    httpd = make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="race-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(timeout=10)
        httpd.server_close()
        with served.app_context():
            db.engine.dispose()


def _gunicorn(database_url: str, tmp_path: Path, settings: dict) -> Iterator[str]:
    import socket
    import subprocess
    import sys
    import time

    from tests.conftest import AUDIT_KEY

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = make_config(database_url, tmp_path, **settings) | {"WTF_CSRF_ENABLED": True, "AUDIT_KEY": AUDIT_KEY}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFOLIO_")}
    env |= {f"PORTFOLIO_{key}": str(value) for key, value in config.items() if value is not None
            and not isinstance(value, bool)}
    env |= {"PORTFOLIO_WTF_CSRF_ENABLED": "true", "PORTFOLIO_INSTANCE_PATH": str(tmp_path)}
    log = (tmp_path / "gunicorn.log").open("wb")
    SERVER_LOG[:] = [tmp_path / "gunicorn.log"]
    # --keep-alive outlasts any pause of a test: each Browser keeps its connection between requests,
    # and with gunicorn's 2 s a POST sent as the server drops the idle connection is answered by a
    # close (RemoteDisconnected), which requests does not retry (a browser would).
    process = subprocess.Popen(  # noqa: S603
        [str(Path(sys.executable).with_name("gunicorn")), "--workers", "2", "--worker-class", "gthread",
         "--threads", "4", "--bind", f"127.0.0.1:{port}", "--timeout", "120", "--keep-alive", "600",
         "--no-control-socket",
         "portfolio:create_app()"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(Path(__file__).parents[2]))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(base + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or the workers still booting
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("gunicorn did not start:\n" + (tmp_path / "gunicorn.log").read_text(errors="replace"))
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        SERVER_LOG.clear()


@pytest.fixture
def seen(request) -> Counter:  # type: ignore[no-untyped-def]
    """The outcomes this test saw, counted (printed at the end of the module with ``-s``)."""
    return SEEN.setdefault(request.node.name, Counter())


class Browser:
    """One person's HTTP session: cookies, and the CSRF token of their session taken from a page."""

    def __init__(self, base: str) -> None:
        self.base, self.http, self.token = base, requests.Session(), ""

    def csrf(self, path: str = "/") -> str:
        page = self.http.get(self.base + path, timeout=60)
        assert page.status_code == 200, (path, page.status_code)
        self.token = CSRF.search(page.text).group(1)
        return self.token

    def sign_in(self, user: User) -> Browser:
        self.csrf("/login")
        response = self.http.post(self.base + "/login", timeout=60, allow_redirects=False,
                                  data={"email": user.email, "password": TEST_PASSWORD, "csrf_token": self.token})
        assert response.status_code == 302, response.text
        self.csrf("/")  # the token of the signed-in session
        return self

    def post(self, path: str, data: dict | None = None, **kwargs) -> requests.Response:  # type: ignore[no-untyped-def]
        return self.http.post(self.base + path, data={**(data or {}), "csrf_token": self.token}, timeout=120,
                              allow_redirects=False, **kwargs)


def fire(*calls: Callable[[], requests.Response]) -> list[int]:
    """Send the requests at the same moment, each from its own thread; their HTTP statuses, in order."""
    barrier = threading.Barrier(len(calls))
    statuses: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[], requests.Response]) -> None:
        barrier.wait(timeout=60)
        try:
            statuses[index] = call().status_code
        except Exception as exc:  # noqa: BLE001  (reported as the outcome)
            statuses[index] = exc

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    db.session.expire_all()
    if not all(isinstance(s, int) and s < 500 for s in statuses):
        served = "".join(path.read_text(errors="replace")[-4000:] for path in SERVER_LOG)
        pytest.fail(f"{statuses}\n{served}")
    return statuses  # type: ignore[return-value]


def _codes(world, n: int | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.code for c in world.certification.blocks[0].competencies][:n]


def _submitted(app, learner: User, codes: list[str], data: bytes = b"projet") -> int:  # type: ignore[no-untyped-def]
    with app.test_request_context():
        item = create_evidence(learner, title="Projet", kind="document", context="project",
                               occurred_on=date(2026, 1, 5), uploads=[Upload("p.txt", io.BytesIO(data))])
        for code in codes:
            tag_evidence(item, code, "Parce que.", actor=learner)
        submit_evidence(item, actor=learner)
        db.session.commit()
        unit_of_work.run_deferred()
        return item.id


def _second_tutor(world):  # type: ignore[no-untyped-def]
    add_member(world.cohort, world.other_tutor, MemberRole.TUTOR, actor=None)
    db.session.commit()
    return world.other_tutor


def _assess(browser: Browser, evidence_id: int, code: str, level: str) -> Callable[[], requests.Response]:
    return lambda: browser.post(f"/evidence/{evidence_id}/assessments",
                                {"competency": code, "level": level, "comment": "Vu."})


def _count(model, *where) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_withdrawal_racing_an_assessment_over_http(app, world, server, seen):
    learner, tutor = Browser(server).sign_in(world.learner), Browser(server).sign_in(world.tutor)
    code = _codes(world, 1)[0]
    for _ in range(ROUNDS):
        evidence_id = _submitted(app, world.learner, [code])
        statuses = fire(lambda evidence_id=evidence_id: learner.post(f"/evidence/{evidence_id}/withdraw"),
                        _assess(tutor, evidence_id, code, "acquired"))
        assert statuses == [302, 302], statuses  # both answered with their page; refusals are flashed
        evidence = db.session.get(Evidence, evidence_id)
        assessed = _count(Assessment, Assessment.evidence_id == evidence_id)
        if evidence.status == EvidenceStatus.DRAFT:  # the withdrawal went first: nothing was assessed
            assert assessed == 0 and evidence.submitted_at is None
            seen["withdrawn, assessment refused"] += 1
        else:  # the assessment went first: the withdrawal was refused
            assert evidence.status == EvidenceStatus.ASSESSED and assessed == 1
            seen["assessed, withdrawal refused"] += 1
    assert sum(seen.values()) == ROUNDS


def test_two_assessments_of_the_same_competency_over_http(app, world, server, seen):
    first_tutor = Browser(server).sign_in(world.tutor)
    second_tutor = Browser(server).sign_in(_second_tutor(world))
    code = _codes(world, 1)[0]
    for _ in range(ROUNDS):
        first, second = _submitted(app, world.learner, [code]), _submitted(app, world.learner, [code])
        before = _count(Assessment, Assessment.learner_id == world.learner.id)
        statuses = fire(_assess(first_tutor, first, code, "acquired"),
                        _assess(second_tutor, second, code, "in_progress"))
        assert statuses == [302, 302], statuses
        chain = db.session.scalars(select(Assessment).where(Assessment.learner_id == world.learner.id)
                                   .order_by(Assessment.id)).all()
        assert len(chain) == before + 2  # both judgements kept...
        # ...in one line of supersession, the state being the newest.
        assert [a.supersedes_id for a in chain] == [None] + [a.id for a in chain[:-1]]
        state = db.session.scalar(select(CompetencyState).where(CompetencyState.learner_id == world.learner.id))
        assert state.assessment_id == chain[-1].id and state.level == chain[-1].level
        seen[f"both kept, newest {chain[-1].level.value}"] += 1
    assert sum(seen.values()) == ROUNDS


def test_block_validation_racing_a_new_assessment_over_http(app, world, server, seen, make_user):
    validating = Browser(server).sign_in(world.tutor)
    assessing = Browser(server).sign_in(_second_tutor(world))
    codes = _codes(world)
    block_code = world.certification.blocks[0].code
    for _ in range(ROUNDS):
        learner = make_user(None, "learner")
        add_member(world.cohort, learner, MemberRole.LEARNER, actor=None)
        db.session.commit()
        evidence_id = _submitted(app, learner, codes)
        with app.test_request_context():
            evidence, tutor = db.session.get(Evidence, evidence_id), db.session.get(User, world.tutor.id)
            for code in codes:
                record_assessment(evidence, code, "acquired", "", assessor=tutor)
            db.session.commit()
            unit_of_work.run_deferred()
        statuses = fire(
            lambda learner_id=learner.id: validating.post(f"/learners/{learner_id}/blocks/{block_code}/validation",
                                                          {"comment": "Bloc complet."}),
            _assess(assessing, evidence_id, codes[0], "not_acquired"))
        assert statuses[1] == 302 and statuses[0] in (302, 422), statuses
        decided = db.session.scalar(select(BlockDecision).where(BlockDecision.learner_id == learner.id))
        # This learner's events, in the chain's order: the validation, and the new "not acquired".
        events = [e.action for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(["block.validate", "assessment.record"]))
            .order_by(AuditEvent.id)) if (e.data or {}).get("learner") == learner.id
            and (e.action == "block.validate" or e.data.get("level") == "not_acquired")]
        if statuses[0] == 302:  # legal only if it came first, when every competency was acquired
            assert decided is not None and events == ["block.validate", "assessment.record"], events
            seen["validated first, then not acquired"] += 1
        else:  # refused with the competency no longer acquired
            assert decided is None
            seen["validation refused after the new assessment"] += 1
    assert sum(seen.values()) == ROUNDS


def test_two_signoffs_of_the_same_entries_over_http(app, world, server, seen, make_user, smtp):
    for round_ in range(ROUNDS):
        learner = make_user(None, "learner")
        with app.test_request_context():
            internship, entries, _link, url = entries_sent_for_signoff(learner)
            unit_of_work.run_deferred()
        path, entry_ids = url.split("127.0.0.1", 1)[-1].split("/signoff/", 1)[-1], [e.id for e in entries]
        path = f"/signoff/{path}"
        # Two browsers on the link (the supervisor's and someone who has it too): the code is asked once,
        # by the supervisor, and both then send it at the same moment.
        supervisor, other = Browser(server), Browser(server)
        supervisor.csrf(path)
        other.csrf(path)
        asked = supervisor.post(path, {"entries": entry_ids, "name": f"Marc {round_}"})
        assert asked.status_code == 200, asked.text
        code = smtp.last_code("marc@acme.example")
        statuses = fire(lambda: supervisor.post(path, {"entries": entry_ids, "name": f"Marc {round_}",
                                                       "code": code}),
                        lambda: other.post(path, {"entries": entry_ids, "name": f"Intrus {round_}", "code": code}))
        assert sorted(statuses) in ([303, 410], [303, 422]), statuses
        winner = f"Marc {round_}" if statuses[0] == 303 else f"Intrus {round_}"
        rows = db.session.scalars(select(LogbookEntry).where(LogbookEntry.id.in_(entry_ids))).all()
        assert {(r.status, r.signed_by_name) for r in rows} == {(EntryStatus.SIGNED, winner)}
        assert _count(AuditEvent, AuditEvent.action == "logbook.sign",
                      AuditEvent.subject_id == str(internship.id)) == 1
        seen[f"one signed ({'first' if statuses[0] == 303 else 'second'}), the other {max(statuses)}"] += 1
    assert sum(seen.values()) == ROUNDS


def test_parallel_uploads_through_the_form_never_pass_the_quota(app, world, server, seen):
    quota, size = QUOTA, 60_000  # room for one of the two, never both
    learner = Browser(server).sign_in(world.learner)

    def upload(i: int) -> Callable[[], requests.Response]:
        content = os.urandom(size)  # distinct bytes: nothing is deduplicated
        return lambda: learner.post("/evidence/new", {"title": f"Envoi {i}", "kind": "document",
                                                      "context": "project", "occurred_on": "2026-01-05"},
                                    files={"files": (f"f{i}.bin", content)})

    for round_ in range(ROUNDS):
        statuses = fire(upload(2 * round_), upload(2 * round_ + 1))
        assert all(status in (302, 413, 422) for status in statuses), statuses
        stored = db.session.scalars(select(Blob.size).join(EvidenceFile).join(Evidence)
                                    .where(Evidence.owner_id == world.learner.id)).all()
        assert sum(stored) <= quota and len(stored) == statuses.count(302) <= 1, (statuses, stored)
        assert usage(world.learner.id) == sum(stored)  # reservations released, nothing in flight
        seen["one stored, the other refused" if stored else "both refused (each held part of the room)"] += 1
        # Make room again for the next round: delete the piece that was stored.
        with app.test_request_context():
            from portfolio.services.evidence import delete_evidence

            for item in db.session.scalars(select(Evidence).where(Evidence.owner_id == world.learner.id)).all():
                delete_evidence(item, actor=world.learner)
            db.session.commit()
            unit_of_work.run_deferred()
    assert sum(seen.values()) == ROUNDS


def test_editing_with_a_new_file_racing_the_submission_over_http(app, world, server, seen):
    """What is submitted is frozen: an edit adding a file lands before the submission or not at all."""
    editing, submitting = Browser(server).sign_in(world.learner), Browser(server).sign_in(world.learner)
    code = _codes(world, 1)[0]
    for round_ in range(ROUNDS):
        with app.test_request_context():
            item = create_evidence(world.learner, title="Brouillon", kind="document", context="project",
                                   occurred_on=date(2026, 1, 5), uploads=[Upload("a.txt", io.BytesIO(b"a"))])
            tag_evidence(item, code, "Parce que.", actor=world.learner)
            db.session.commit()
            evidence_id = item.id
        edit = {"title": f"Modifiée {round_}", "kind": "document", "context": "project",
                "occurred_on": "2026-01-05", "description": "", "url": ""}
        statuses = fire(lambda evidence_id=evidence_id: editing.post(
                            f"/evidence/{evidence_id}/edit", edit,
                            files={"files": (f"b{round_}.txt", f"ajout {round_}".encode())}),
                        lambda evidence_id=evidence_id: submitting.post(f"/evidence/{evidence_id}/submit"))
        assert statuses[1] == 302 and statuses[0] in (302, 422), statuses
        evidence = db.session.get(Evidence, evidence_id)
        assert evidence.status == EvidenceStatus.SUBMITTED
        actions = [e.action for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.subject_type == "evidence",
                                     AuditEvent.subject_id == str(evidence_id),
                                     AuditEvent.action.in_(["evidence.update", "evidence.file_add",
                                                            "evidence.submit"])).order_by(AuditEvent.id))]
        if statuses[0] == 302:  # the edit came first: the submission froze the edited piece, new file included
            assert evidence.title == f"Modifiée {round_}" and len(evidence.files) == 2
            assert actions == ["evidence.file_add", "evidence.update", "evidence.file_add", "evidence.submit"], actions
            seen["edited with its file, then submitted"] += 1
        else:  # submitted first: the edit was refused, nothing of it stored
            assert evidence.title == "Brouillon" and len(evidence.files) == 1
            assert actions == ["evidence.file_add", "evidence.submit"], actions  # (the first file, at creation)
            seen["submitted, edit refused"] += 1
    assert sum(seen.values()) == ROUNDS


def test_revoking_a_link_racing_its_signature_over_http(app, world, server, seen, make_user, smtp):
    for round_ in range(ROUNDS):
        learner = make_user(None, "learner")
        with app.test_request_context():
            internship, entries, link, url = entries_sent_for_signoff(learner)
            unit_of_work.run_deferred()
            internship_id, link_id, entry_ids = internship.id, link.id, [e.id for e in entries]
        path = "/signoff/" + url.rsplit("/signoff/", 1)[-1]
        owner, supervisor = Browser(server).sign_in(learner), Browser(server)
        supervisor.csrf(path)
        assert supervisor.post(path, {"entries": entry_ids, "name": "Marc"}).status_code == 200
        code = smtp.last_code("marc@acme.example")
        statuses = fire(lambda: owner.post(f"/internships/{internship_id}/links/{link_id}/revoke"),
                        lambda: supervisor.post(path, {"entries": entry_ids, "name": "Marc", "code": code}))
        assert statuses[0] == 302 and statuses[1] in (303, 410, 422), statuses
        rows = {r.status for r in db.session.scalars(select(LogbookEntry).where(LogbookEntry.id.in_(entry_ids)))}
        if statuses[1] == 303:  # signed first: the revocation found nothing pending, the entries stay signed
            assert rows == {EntryStatus.SIGNED}, rows
            seen["signed, then the link revoked"] += 1
        else:  # revoked first: nothing signed, the entries are drafts again
            assert rows == {EntryStatus.DRAFT}, rows
            seen[f"revoked, signature refused ({statuses[1]})"] += 1
    assert sum(seen.values()) == ROUNDS


def test_two_jurors_closing_the_deliberation_over_http(app, world, server, seen, make_user):
    from portfolio.models import JuryOutcome
    from portfolio.services import vae
    from tests.factories import complete_block, own_evidence

    vae.enrol_candidate(world.vae, world.certification, actor=None)
    dossier = vae.get_or_create_dossier(world.vae)
    complete_block(dossier, own_evidence(world.vae))
    second = make_user(None, "jury")
    jury = vae.create_jury("Jury", [world.jury, second], actor=None)
    db.session.commit()
    jurors = [Browser(server).sign_in(world.jury), Browser(server).sign_in(second)]
    block_code = world.certification.blocks[0].code
    for _ in range(ROUNDS):
        with app.test_request_context():
            version = vae.send_dossier(dossier, actor=world.vae)
            vae.assign_version(version, jury, actor=None)
            vae.record_block_decision(version, block_code, "validated", "Démontré.", member=world.jury)
            db.session.commit()
            unit_of_work.run_deferred()
            version_id = version.id

        def close(browser: Browser, version_id: int = version_id) -> Callable[[], requests.Response]:
            return lambda: browser.post(f"/vae/versions/{version_id}/outcome", {
                "outcome-outcome": "partial", "outcome-comment": "Un bloc sur cinq.", "outcome-confirm": "y",
                "outcome-csrf_token": browser.token})

        statuses = fire(close(jurors[0]), close(jurors[1]))
        assert sorted(statuses) == [302, 422], statuses
        assert _count(JuryOutcome, JuryOutcome.version_id == version_id) == 1
        seen[f"closed by the {'first' if statuses[0] == 302 else 'second'}, the other refused"] += 1
    assert sum(seen.values()) == ROUNDS


def teardown_module() -> None:
    for test, outcomes in SEEN.items():
        print(f"\n{test}: " + ", ".join(f"{n} × {outcome}" for outcome, n in outcomes.most_common()))
