"""Grades back to the course (AGS) after the commit, with retries; the roster from the course (NRPS)."""

from __future__ import annotations

import io
import threading
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from portfolio.extensions import db
from portfolio.jobs import wait_for_threads
from portfolio.models import (
    Block,
    CohortMembership,
    Evidence,
    LtiContext,
    LtiContextMember,
    LtiLineItem,
    LtiScorePost,
    MemberRole,
    ScoreStatus,
)
from portfolio.services.lti import ags
from tests.lti.conftest import launch, linked_user
from tests.lti.simulator import INSTRUCTOR, LEARNER

BLOCK = "RNCP28754BC04"  # two competencies: C01 and C02


@pytest.fixture(autouse=True)
def _fast_retries(app):  # type: ignore[no-untyped-def]
    saved = app.config["LTI_AGS_RETRY_DELAYS"], app.config["LTI_ROSTER_SYNC_INTERVAL"]
    app.config["LTI_AGS_RETRY_DELAYS"] = [0, 0]
    app.config["LTI_ROSTER_SYNC_INTERVAL"] = 10**6  # launches do not sync the roster unless a test asks
    ags.forget_tokens()
    yield
    wait_for_threads(app)
    app.config["LTI_AGS_RETRY_DELAYS"], app.config["LTI_ROSTER_SYNC_INTERVAL"] = saved


@pytest.fixture
def course(app, client, platform, registered):  # type: ignore[no-untyped-def]
    """A learner and a teacher launched from the course; the learner's evidence on BC04 is submitted.
    ``client`` holds the teacher's LTI session."""
    from portfolio.services import assessment, evidence
    from portfolio.services.evidence import Upload

    app.config["LTI_ROSTER_SYNC_INTERVAL"] = 0
    platform.members = [platform.member_entry(platform.people[s]) for s in ("learner-1", "teacher-1")]
    assert launch(app.test_client(), platform, "learner-1").status_code == 302
    wait_for_threads(app)  # the first launch synchronised the roster in the background
    assert launch(client, platform, "teacher-1").status_code == 302
    wait_for_threads(app)  # ... and so did the teacher's (interval 0): its job must not overlap the test's
    app.config["LTI_ROSTER_SYNC_INTERVAL"] = 10**6
    learner = linked_user(platform, "learner-1")
    with app.test_request_context():
        item = evidence.create_evidence(learner, title="API de stock", kind="code", context="project",
                                        occurred_on=date(2026, 1, 1),
                                        uploads=[Upload("stock.py", io.BytesIO(b"print('stock')"))])
        for code in (f"{BLOCK}-C01", f"{BLOCK}-C02"):
            evidence.tag_evidence(item, code, "Je le montre.", actor=learner)
        assessment.submit_evidence(item, actor=learner)
    db.session.commit()
    return item


def assess(client, item: Evidence, code: str, level: str = "acquired"):  # type: ignore[no-untyped-def]
    return client.post(f"/evidence/{item.id}/assessments", data={"competency": code, "level": level,
                                                                 "comment": "Bien."})


def test_an_assessment_posts_the_block_score_after_the_commit(app, client, platform, course):
    response = assess(client, course, f"{BLOCK}-C01")
    assert response.status_code == 302
    wait_for_threads(app)
    [item] = platform.line_items
    assert item["resourceId"] == f"block:{BLOCK}" and item["tag"] == "portfolio-block"
    assert item["scoreMaximum"] == 100
    [score] = platform.scores
    assert score["userId"] == "learner-1" and score["scoreGiven"] == 50.0 and score["scoreMaximum"] == 100
    assert score["activityProgress"] == "InProgress" and score["gradingProgress"] == "Pending"
    assert "pas encore validé" in score["comment"] and "1 compétence acquise sur 2" in score["comment"]
    assert score["lineitem"] == item["id"]
    score_scope = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
    token_calls = [c.form() for c in platform.calls_to("/token") if score_scope in c.form()["scope"].split()]
    assert len(token_calls) == 1 and token_calls[0]["grant_type"] == "client_credentials"
    # A second assessment: the line item is reused, the token too (cached until it expires).
    assess(client, course, f"{BLOCK}-C02")
    wait_for_threads(app)
    assert len(platform.line_items) == 1
    assert len([c for c in platform.calls_to("/token") if score_scope in c.form()["scope"].split()]) == 1
    assert platform.scores[-1]["scoreGiven"] == 100.0


def test_block_validation_posts_a_completed_score_naming_the_decision(app, client, platform, course):
    assess(client, course, f"{BLOCK}-C01")
    assess(client, course, f"{BLOCK}-C02")
    learner = linked_user(platform, "learner-1")
    response = client.post(f"/learners/{learner.id}/blocks/{BLOCK}/validation", data={"comment": ""})
    assert response.status_code == 302, response.get_data(as_text=True)
    wait_for_threads(app)
    last = platform.scores[-1]
    assert last["activityProgress"] == "Completed" and last["gradingProgress"] == "FullyGraded"
    assert f"Bloc {BLOCK} validé" in last["comment"]


def test_the_gradebook_ends_on_the_latest_score_when_two_posts_overlap(app, client, platform, course):
    """A competency's post is still in flight when the block is validated: the validation's post waits for
    it, then sends the block's score as it is now, so the gradebook's last score is the completed one."""
    assess(client, course, f"{BLOCK}-C01")
    wait_for_threads(app)
    learner_id = linked_user(platform, "learner-1").id
    db.session.rollback()
    hold = platform.score_hold = threading.Event()
    responses = []
    try:
        assess(client, course, f"{BLOCK}-C02")
        assert platform.score_held.wait(10)  # the competency's post (in progress, 100 %) is at the platform
        # The validation, from another thread: on SQLite (one writer) the request itself waits for the
        # first job's transaction; on PostgreSQL it commits and its job starts at once.
        validation = threading.Thread(target=lambda: responses.append(client.post(
            f"/learners/{learner_id}/blocks/{BLOCK}/validation", data={"comment": ""})))
        validation.start()
        # Until the validation's job posts (out of order) or waits for the first job (PostgreSQL shows
        # it in pg_locks); on SQLite, a moment for the request to reach its wait.
        postgres = db.session.get_bind().dialect.name == "postgresql"
        deadline = time.monotonic() + (10 if postgres else 0.5)
        while time.monotonic() < deadline and not any(s["activityProgress"] == "Completed" for s in platform.scores):
            if postgres and db.session.scalar(text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")):
                break
            db.session.rollback()
            time.sleep(0.02)
        db.session.rollback()
    finally:
        hold.set()
    validation.join(30)
    assert responses and responses[0].status_code == 302, responses[0].get_data(as_text=True)
    wait_for_threads(app)
    assert [(s["activityProgress"], s["scoreGiven"]) for s in platform.scores] == [
        ("InProgress", 50.0), ("InProgress", 100.0), ("Completed", 100.0)]
    stamps = [s["timestamp"] for s in platform.scores]
    assert stamps == sorted(stamps)


def test_an_existing_line_item_is_found_by_tag_and_resource_id(app, client, platform, course):
    platform.line_items.append({"id": platform.url("/ags/course-101/lineitems/77"), "resourceId": f"block:{BLOCK}",
                                "tag": "portfolio-block", "scoreMaximum": 100, "label": "déjà là"})
    assess(client, course, f"{BLOCK}-C01")
    wait_for_threads(app)
    assert len(platform.line_items) == 1
    assert platform.scores[0]["lineitem"].endswith("/lineitems/77")
    assert db.session.scalar(select(LtiLineItem.url)).endswith("/lineitems/77")


def test_the_request_never_waits_for_the_gradebook(app, client, platform, course):
    platform.score_gate = threading.Event()  # the platform holds every score post until released
    try:
        response = assess(client, course, f"{BLOCK}-C01")
        assert response.status_code == 302
        assert platform.scores == []  # answered while the post is still held by the platform
    finally:
        platform.score_gate.set()
    wait_for_threads(app)
    assert len(platform.scores) == 1


def test_a_rolled_back_assessment_posts_nothing(app, client, platform, course):
    response = assess(client, course, "RNCP28754BC01-C01")  # not tagged on this evidence: refused
    assert response.status_code in (302, 400)
    wait_for_threads(app)
    assert platform.scores == [] and not [c for c in platform.calls_to("/token") if "score" in c.form()["scope"]]


def test_gradebook_failures_are_retried_with_back_off_then_recorded(app, client, platform, course):
    platform.fail_scores = 2  # two 503s, then it works
    assess(client, course, f"{BLOCK}-C01")
    wait_for_threads(app)
    assert len(platform.scores) == 1
    score_calls = [c for c in platform.calls if c.path.endswith("/scores")]
    assert len(score_calls) == 3
    post = db.session.scalar(select(LtiScorePost))
    db.session.refresh(post)
    assert post.status == ScoreStatus.SENT and post.attempts == 3 and post.last_error is None


def test_a_gradebook_that_stays_down_leaves_a_failed_record(app, client, platform, course):
    platform.fail_scores = 10
    assess(client, course, f"{BLOCK}-C01")
    wait_for_threads(app)
    assert platform.scores == []
    post = db.session.scalar(select(LtiScorePost))
    db.session.refresh(post)
    assert post.status == ScoreStatus.FAILED and post.attempts == 3  # first try + two retries
    assert "503" in post.last_error


def test_rq_is_used_when_redis_is_configured(app, client, platform, course, monkeypatch):
    enqueued = []

    class FakeQueue:
        def enqueue(self, func, *args, **kwargs):  # type: ignore[no-untyped-def]
            enqueued.append((func.__name__, args, kwargs))

    monkeypatch.setattr("portfolio.services.lti.background.export_queue", lambda: FakeQueue())
    client.application.config["REDIS_URL"] = "redis://127.0.0.1:6379/15"
    try:
        assess(client, course, f"{BLOCK}-C01")
    finally:
        client.application.config["REDIS_URL"] = None
    [(name, args, kwargs)] = enqueued
    assert name == "rq_entry" and args[0] == "portfolio.services.lti.ags.schedule_block_scores"
    assert kwargs["retry"].max == 2 and platform.scores == []


# --- roster ------------------------------------------------------------------------------------------------------

def test_roster_sync_follows_pages_adds_and_removes_without_deleting_evidence(app, client, platform, course,
                                                                              runner):
    learner = linked_user(platform, "learner-1")
    others = [platform.add_person(f"m{i}", f"Membre {i}", [LEARNER], email=f"m{i}@example.org") for i in range(3)]
    co_teacher = platform.add_person("t2", "Co Enseignant", [INSTRUCTOR])
    platform.members = [platform.member_entry(p) for p in others] + [platform.member_entry(co_teacher)] + [
        platform.member_entry(platform.people["teacher-1"])]  # learner-1 has left the course
    cohort = db.session.scalar(select(LtiContext)).cohort
    result = runner.invoke(args=["lti", "sync", cohort.name])
    assert result.exit_code == 0, result.output
    assert "5 membres lus en 3 pages" in result.output
    nrps_calls = platform.calls_to("/nrps")
    assert [c.query.get("page") for c in nrps_calls[-3:]] == [None, ["2"], ["4"]]
    db.session.expire_all()
    members = {m.user_id: m.role for m in db.session.scalars(
        select(CohortMembership).where(CohortMembership.cohort_id == cohort.id))}
    for person in others:
        assert members[linked_user(platform, person.sub).id] == MemberRole.LEARNER
    assert members[linked_user(platform, "t2").id] == MemberRole.TUTOR
    assert learner.id not in members
    # Removed from the cohort, not deleted: the account and the evidence stay.
    assert db.session.get(Evidence, course.id) is not None and linked_user(platform, "learner-1") is not None
    member = db.session.scalar(select(LtiContextMember).where(LtiContextMember.user_id == learner.id))
    assert member.is_active is False


def test_inactive_members_leave_and_the_roster_is_synced_on_launch_throttled(app, client, platform, course):
    platform.members = [platform.member_entry(platform.people["learner-1"], status="Inactive"),
                        platform.member_entry(platform.people["teacher-1"])]
    app.config["LTI_ROSTER_SYNC_INTERVAL"] = 0
    before = len(platform.calls_to("/nrps"))
    assert launch(app.test_client(), platform, "teacher-1").status_code == 302
    wait_for_threads(app)
    assert len(platform.calls_to("/nrps")) == before + 1
    learner = linked_user(platform, "learner-1")
    assert db.session.scalar(select(CohortMembership).where(CohortMembership.user_id == learner.id)) is None
    app.config["LTI_ROSTER_SYNC_INTERVAL"] = 3600
    assert launch(app.test_client(), platform, "teacher-1").status_code == 302
    wait_for_threads(app)
    assert len(platform.calls_to("/nrps")) == before + 1  # synced a moment ago: not again


def test_an_older_member_list_never_undoes_a_newer_one(app, platform, course):
    """Two synchronisations overlapping: the one whose list was asked for first and commits last is
    refused, so a member the newer list removed does not come back."""
    from portfolio.models.base import utcnow
    from portfolio.services.errors import DomainError
    from portfolio.services.lti.roster import sync_context

    learner = linked_user(platform, "learner-1")
    context = db.session.scalar(select(LtiContext))
    # A newer list (asked for after this one will be) was applied and committed meanwhile.
    newer = utcnow() + timedelta(minutes=5)
    context.roster_synced_at = newer
    db.session.commit()
    platform.members = [platform.member_entry(platform.people["learner-1"], status="Inactive"),
                        platform.member_entry(platform.people["teacher-1"])]
    before = len(platform.calls_to("/nrps"))
    with app.test_request_context(), pytest.raises(DomainError, match="plus récente"):
        sync_context(db.session.get(LtiContext, context.id))
    db.session.rollback()
    assert len(platform.calls_to("/nrps")) == before + 1  # the list was read, then refused
    assert db.session.scalar(select(CohortMembership).where(CohortMembership.user_id == learner.id)) is not None
    assert db.session.get(LtiContext, context.id).roster_synced_at == newer


def test_tutor_button_synchronises_and_learners_cannot(app, client, platform, course):
    platform.members = [platform.member_entry(platform.people["learner-1"]),
                        platform.member_entry(platform.add_person("m9", "Neuf", [LEARNER]))]
    cohort_id = db.session.scalar(select(LtiContext)).cohort_id
    matrix = client.get(f"/cohorts/{cohort_id}/matrix").get_data(as_text=True)
    assert 'id="lti-sync-roster"' in matrix
    response = client.post(f"/lti/cohorts/{cohort_id}/roster")
    assert response.status_code == 302
    assert linked_user(platform, "m9") is not None
    learner_browser = app.test_client()
    launch(learner_browser, platform, "learner-1")
    assert learner_browser.post(f"/lti/cohorts/{cohort_id}/roster").status_code == 404


def test_score_for_a_block_with_nothing_assessed(app, platform, course):
    learner = linked_user(platform, "learner-1")
    block = db.session.scalar(select(Block).where(Block.code == BLOCK))
    with app.test_request_context():
        score = ags.block_score(learner, block)
    assert score["scoreGiven"] == 0.0 and score["gradingProgress"] == "NotReady"
    assert score["activityProgress"] == "Initialized"


def test_rq_worker_posts_and_retries_the_score(app, client, platform, course):
    """With Redis: the after-commit hook enqueues the job, a worker runs it, RQ's retry re-runs a failure."""
    redis = pytest.importorskip("redis")
    from rq import Queue, SimpleWorker

    url = "redis://127.0.0.1:6379/13"  # a database of its own
    connection = redis.Redis.from_url(url)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    connection.flushdb()
    platform.fail_scores = 1
    client.application.config["REDIS_URL"] = url
    try:
        assert assess(client, course, f"{BLOCK}-C01").status_code == 302
    finally:
        client.application.config["REDIS_URL"] = None
    assert platform.scores == []  # nothing sent by the web request itself
    queue = Queue("portfolio", connection=connection)
    assert queue.count == 1
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert len(platform.scores) == 1 and platform.scores[0]["scoreGiven"] == 50.0
    assert len([c for c in platform.calls if c.path.endswith("/scores")]) == 2
    post = db.session.scalar(select(LtiScorePost))
    db.session.refresh(post)
    assert post.status == ScoreStatus.SENT and post.attempts == 2
    connection.flushdb()
