"""The assessment workflow through the JSON API: submission, the tutor's queue, append-only
assessments, block validation, cohorts and the cohort matrix (JSON and CSV).

Who may call what, role by role, is in the MATRIX of ``tests/test_api.py``; here, what each route does.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from portfolio.extensions import db
from portfolio.models import (
    Assessment,
    AuditEvent,
    BlockDecision,
    CompetencyState,
    Evidence,
    EvidenceStatus,
    MemberRole,
    Notification,
)
from portfolio.models.base import utcnow
from portfolio.services import tokens
from tests.factories import add_evidence

C01, C02, C03 = "RNCP28754BC01-C01", "RNCP28754BC01-C02", "RNCP28754BC01-C03"
BC04 = "RNCP28754BC04"
BC04_CODES = ["RNCP28754BC04-C01", "RNCP28754BC04-C02"]


@pytest.fixture
def api(client):  # type: ignore[no-untyped-def]
    """Call the API as someone: ``api(user, "POST", path, json=...)``; tokens are made once per person."""
    headers: dict[int, dict[str, str]] = {}

    def call(user, method: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
        if user.id not in headers:
            _, raw = tokens.create_token(user, "tests")
            db.session.commit()
            headers[user.id] = {"Authorization": f"Bearer {raw}"}
        response = client.open(f"/api/v1{path}", method=method, headers=headers[user.id], **kwargs)
        response.close()
        return response

    return call


def submitted(api, owner, *, title: str = "Tests du module", tags=(C01,)):  # type: ignore[no-untyped-def]
    item = add_evidence(owner, title=title, files=((title.encode(), f"{title}.txt"),), tags=tags)
    response = api(owner, "POST", f"/evidence/{item.id}/submit")
    assert response.status_code == 200, response.get_data(as_text=True)
    return item


def assess(api, assessor, item, code: str, level: str = "acquired", comment: str = "Bien."):  # type: ignore[no-untyped-def]
    return api(assessor, "POST", f"/evidence/{item.id}/assessments",
               json={"competency": code, "level": level, "comment": comment})


def error_of(response) -> dict:  # type: ignore[no-untyped-def]
    return response.get_json()["error"]


# --- submission -------------------------------------------------------------------------------------------

def test_submit_freezes_the_evidence(app, world, api):
    item = add_evidence(world.learner, tags=[C01])
    response = api(world.learner, "POST", f"/evidence/{item.id}/submit")
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == item.id and body["status"] == "submitted"
    assert body["submitted_at"] is not None and body["previous_version_id"] is None
    assert body["tags"] == [{"code": C01, "justification": "parce que"}]
    # Frozen: files, description and tags no longer change, nor can it be deleted.
    for method, path, kwargs in [
        ("PATCH", f"/evidence/{item.id}", {"json": {"description": "Autre chose"}}),
        ("POST", f"/evidence/{item.id}/tags", {"json": {"competency": C02, "justification": "Aussi"}}),
        ("DELETE", f"/evidence/{item.id}/tags/{C01}", {}),
        ("DELETE", f"/evidence/{item.id}", {}),
    ]:
        refused = api(world.learner, method, path, **kwargs)
        assert refused.status_code == 409, (method, path, refused.get_data(as_text=True))
        assert error_of(refused)["message"]
    again = api(world.learner, "POST", f"/evidence/{item.id}/submit")
    assert again.status_code == 409 and error_of(again)["message"]
    db.session.expire_all()
    stored = db.session.get(Evidence, item.id)
    assert stored.status == EvidenceStatus.SUBMITTED and stored.description == "Du **gras**"
    assert [c.competency.code for c in stored.claims] == [C01]
    # The tutors of the cohort are told; the audit chain has it.
    assert db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.user_id == world.tutor.id)) == 1
    assert db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.user_id == world.other_tutor.id)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "evidence.submit")) == 1


def test_submit_needs_a_tag(app, world, api):
    item = add_evidence(world.learner)
    response = api(world.learner, "POST", f"/evidence/{item.id}/submit")
    assert response.status_code == 422
    assert error_of(response)["field"] == "competency"
    db.session.expire_all()
    assert db.session.get(Evidence, item.id).status == EvidenceStatus.DRAFT


@pytest.mark.parametrize(("role", "status"), [("tutor", 403), ("admin", 403), ("other_tutor", 404),
                                              ("other_learner", 404), ("jury", 404)])
def test_only_the_owner_submits_and_withdraws(app, world, api, role, status):
    item = add_evidence(world.learner, tags=[C01])
    assert api(getattr(world, role), "POST", f"/evidence/{item.id}/submit").status_code == status
    assert api(world.learner, "POST", f"/evidence/{item.id}/submit").status_code == 200
    assert api(getattr(world, role), "POST", f"/evidence/{item.id}/withdraw").status_code == status
    db.session.expire_all()
    assert db.session.get(Evidence, item.id).status == EvidenceStatus.SUBMITTED


def test_withdraw_makes_a_draft_again(app, world, api):
    item = submitted(api, world.learner)
    response = api(world.learner, "POST", f"/evidence/{item.id}/withdraw")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "draft" and body["submitted_at"] is None
    assert api(world.learner, "PATCH", f"/evidence/{item.id}", json={"title": "Reprise"}).status_code == 200
    # A draft cannot be withdrawn.
    again = api(world.learner, "POST", f"/evidence/{item.id}/withdraw")
    assert again.status_code == 409 and error_of(again)["code"] == "conflict"


def test_withdraw_is_refused_once_assessed(app, world, api):
    item = submitted(api, world.learner, tags=(C01, C02))
    assert assess(api, world.tutor, item, C01).status_code == 201
    response = api(world.learner, "POST", f"/evidence/{item.id}/withdraw")
    assert response.status_code == 409 and error_of(response)["message"]
    db.session.expire_all()
    stored = db.session.get(Evidence, item.id)
    assert stored.status == EvidenceStatus.ASSESSED and stored.submitted_at is not None
    assert db.session.scalar(select(func.count()).select_from(Assessment)) == 1


# --- the queue ------------------------------------------------------------------------------------------

def test_queue_is_oldest_first_with_owner_and_tags(app, world, api, make_user):
    from portfolio.services.cohorts import add_member

    late = submitted(api, world.learner, title="Récente")
    early = submitted(api, world.learner, title="Ancienne", tags=("RNCP28754BC02-C01",))
    classmate = make_user("classmate@example.org", "learner", name="Chloé Camarade")
    add_member(world.cohort, classmate, MemberRole.LEARNER, actor=None)
    db.session.commit()
    middle = submitted(api, classmate, title="Entre les deux")
    add_evidence(world.learner, title="Brouillon", files=((b"draft", "d.txt"),), tags=[C01])  # not submitted
    theirs = submitted(api, world.other_learner, title="Autre promotion")
    now = utcnow()
    for item, age in ((early, 3), (middle, 2), (late, 1), (theirs, 5)):
        db.session.get(Evidence, item.id).submitted_at = now - timedelta(days=age)
    db.session.commit()

    def titles(user, **params):  # type: ignore[no-untyped-def]
        response = api(user, "GET", "/assessments/queue", query_string=params)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert body["count"] == len(body["evidence"])
        return [e["title"] for e in body["evidence"]]

    assert titles(world.tutor) == ["Ancienne", "Entre les deux", "Récente"]
    assert titles(world.other_tutor) == ["Autre promotion"]
    assert titles(world.admin) == ["Autre promotion", "Ancienne", "Entre les deux", "Récente"]
    assert titles(world.tutor, learner=world.learner.id) == ["Ancienne", "Récente"]
    assert titles(world.tutor, block="rncp28754bc02") == ["Ancienne"]
    assert titles(world.tutor, cohort=world.cohort.id) == ["Ancienne", "Entre les deux", "Récente"]
    # Another cohort or another tutor's learner: nothing, and nothing said about them.
    assert titles(world.tutor, cohort=world.other_cohort.id) == []
    assert titles(world.tutor, learner=world.other_learner.id) == []
    assert titles(world.admin, cohort=world.other_cohort.id) == ["Autre promotion"]

    first = api(world.tutor, "GET", "/assessments/queue").get_json()["evidence"][0]
    assert first["owner"] == {"id": world.learner.id, "name": "Lina Apprenante"}
    assert first["tags"] == [{"code": "RNCP28754BC02-C01", "justification": "parce que"}]
    assert first["submitted_at"].startswith((now - timedelta(days=3)).date().isoformat())
    assert first["status"] == "submitted" and first["files"][0]["filename"] == "Ancienne.txt"
    # Once assessed, it leaves the queue.
    assert assess(api, world.tutor, early, "RNCP28754BC02-C01").status_code == 201
    assert titles(world.tutor) == ["Entre les deux", "Récente"]


@pytest.mark.parametrize("param", ["cohort", "learner"])
@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "١"])
def test_queue_refuses_a_bad_filter(app, world, api, param, value):
    response = api(world.tutor, "GET", "/assessments/queue", query_string={param: value})
    assert response.status_code == 422
    assert error_of(response)["field"] == param


@pytest.mark.parametrize("role", ["learner", "vae", "jury"])
def test_queue_is_refused_to_those_who_do_not_assess(app, world, api, role):
    response = api(getattr(world, role), "GET", "/assessments/queue")
    assert response.status_code == 403 and error_of(response)["code"] == "forbidden"


# --- assessments -----------------------------------------------------------------------------------------

def test_assessment_is_recorded(app, world, api):
    item = submitted(api, world.learner, tags=(C01, C02))
    response = assess(api, world.tutor, item, "rncp28754bc01-c01", "in_progress", "Il manque les **tests**.")
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"id", "learner", "competency", "level", "comment", "assessor", "evidence", "supersedes",
                         "created_at"}
    assert body["learner"] == {"id": world.learner.id, "name": "Lina Apprenante"}
    assert body["assessor"] == {"id": world.tutor.id, "name": "Théo Formateur"}
    assert body["competency"] == C01 and body["level"] == "in_progress"
    assert body["comment"] == "Il manque les **tests**."
    assert body["evidence"] == item.id and body["supersedes"] is None and body["created_at"]
    db.session.expire_all()
    state = db.session.get(CompetencyState, (world.learner.id, db.session.get(Assessment, body["id"]).competency_id))
    assert state.level.value == "in_progress" and state.assessment_id == body["id"]
    assert db.session.get(Evidence, item.id).status == EvidenceStatus.ASSESSED
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "assessment.record")) == 1
    assert db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.user_id == world.learner.id)) == 1


def test_assessments_are_appended_and_supersede(app, world, api):
    item = submitted(api, world.learner, tags=(C01,))
    first = assess(api, world.tutor, item, C01, "not_acquired", "Pas encore.").get_json()
    second = assess(api, world.admin, item, C01, "acquired", "Correction : acquis.").get_json()
    assert second["supersedes"] == first["id"]
    # A later piece of evidence for the same competency supersedes the current assessment too.
    later = submitted(api, world.learner, title="Deuxième preuve", tags=(C01,))
    third = assess(api, world.tutor, later, C01, "acquired", "Confirmé.").get_json()
    assert third["supersedes"] == second["id"]

    listed = api(world.learner, "GET", f"/evidence/{item.id}/assessments")
    assert listed.status_code == 200
    history = listed.get_json()["assessments"]
    assert [a["id"] for a in history] == [first["id"], second["id"]]
    assert history[0] == first  # the superseded record reads exactly as it was written
    assert history[1]["assessor"]["name"] == "Ada Admin"
    assert api(world.tutor, "GET", f"/evidence/{later.id}/assessments").get_json()["assessments"] == [third]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Assessment)) == 3
    assert db.session.scalar(select(CompetencyState.assessment_id)) == third["id"]


def test_assessments_list_is_for_those_who_see_the_evidence(app, world, api):
    item = submitted(api, world.learner)
    assert api(world.tutor, "GET", f"/evidence/{item.id}/assessments").get_json() == {"assessments": []}
    for role in ("other_learner", "other_tutor", "jury", "vae"):
        response = api(getattr(world, role), "GET", f"/evidence/{item.id}/assessments")
        assert response.status_code == 404, role
    assert api(world.tutor, "GET", "/evidence/999999/assessments").status_code == 404


@pytest.mark.parametrize(("payload", "status", "field"), [
    ({"competency": C01, "level": "excellent"}, 422, "level"),
    ({"competency": C01}, 422, "level"),
    ({"competency": C03, "level": "acquired"}, 422, "competency"),
    ({"competency": "RNCP99999BC01-C01", "level": "acquired"}, 422, "competency"),
    ({"level": "acquired"}, 422, "competency"),
    ({"competency": C01, "level": "acquired", "comment": "x" * 10_001}, 422, "comment"),
    ({"competency": C01, "level": 3}, 422, "level"),
    ({"competency": C01, "level": "acquired", "comment": ["liste"]}, 422, "comment"),
])
def test_assessment_refusals(app, world, api, payload, status, field):
    item = submitted(api, world.learner, tags=(C01, C02))
    response = api(world.tutor, "POST", f"/evidence/{item.id}/assessments", json=payload)
    assert response.status_code == status, response.get_data(as_text=True)
    assert error_of(response)["field"] == field
    assert db.session.scalar(select(func.count()).select_from(Assessment)) == 0
    assert db.session.scalar(select(func.count()).select_from(CompetencyState)) == 0


def test_assessment_needs_a_json_object(app, world, api):
    item = submitted(api, world.learner)
    response = api(world.tutor, "POST", f"/evidence/{item.id}/assessments", data="level=acquired",
                   content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and error_of(response)["code"] == "bad_request"


def test_a_draft_is_not_assessed(app, world, api):
    item = add_evidence(world.learner, tags=[C01])
    response = assess(api, world.tutor, item, C01)
    assert response.status_code == 409 and error_of(response)["code"] == "conflict"


@pytest.mark.parametrize(("role", "status"), [("learner", 403), ("other_learner", 403), ("vae", 403),
                                              ("jury", 403), ("other_tutor", 404)])
def test_assessment_refused_by_role(app, world, api, role, status):
    item = submitted(api, world.learner)
    response = assess(api, getattr(world, role), item, C01)
    assert response.status_code == status
    assert db.session.scalar(select(func.count()).select_from(Assessment)) == 0


def test_an_admin_who_is_also_the_learner_cannot_assess_themself(app, world, api, make_user):
    from portfolio.services.cohorts import add_member

    both = make_user("both@example.org", "learner", "admin", name="Bea Both")
    add_member(world.cohort, both, MemberRole.LEARNER, actor=None)
    db.session.commit()
    item = submitted(api, both)
    response = assess(api, both, item, C01)
    assert response.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Assessment)) == 0


# --- block validation -----------------------------------------------------------------------------------

def _validation(api, user, learner, block: str = BC04, **kwargs):  # type: ignore[no-untyped-def]
    return api(user, "POST", f"/learners/{learner.id}/blocks/{block}/validation", **kwargs)


def test_block_validation_lists_what_is_missing(app, world, api):
    response = _validation(api, world.tutor, world.learner, json={"comment": "Trop tôt"})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "block_incomplete" and error["missing"] == BC04_CODES
    assert BC04_CODES[0] in error["message"]
    item = submitted(api, world.learner, tags=tuple(BC04_CODES))
    assert assess(api, world.tutor, item, BC04_CODES[0]).status_code == 201
    assert assess(api, world.tutor, item, BC04_CODES[1], "in_progress").status_code == 201
    error = error_of(_validation(api, world.tutor, world.learner, json={}))
    assert error["missing"] == [BC04_CODES[1]]
    assert db.session.scalar(select(func.count()).select_from(BlockDecision)) == 0


def test_block_validation(app, world, api):
    item = submitted(api, world.learner, tags=tuple(BC04_CODES))
    for code in BC04_CODES:
        assert assess(api, world.tutor, item, code).status_code == 201
    response = _validation(api, world.tutor, world.learner, block=BC04.lower(),
                           json={"comment": "Bloc validé, **bravo**."})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"id", "learner", "block", "kind", "comment", "decided_by", "created_at"}
    assert body["learner"] == {"id": world.learner.id, "name": "Lina Apprenante"}
    assert body["decided_by"] == {"id": world.tutor.id, "name": "Théo Formateur"}
    assert body["block"] == BC04 and body["kind"] == "validated" and body["comment"] == "Bloc validé, **bravo**."
    again = _validation(api, world.admin, world.learner)  # no body at all: the comment is optional
    assert again.status_code == 409 and error_of(again)["code"] == "conflict"
    assert db.session.scalar(select(func.count()).select_from(BlockDecision)) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "block.validate")) == 1
    matrix = api(world.tutor, "GET", f"/cohorts/{world.cohort.id}/matrix").get_json()
    assert matrix["learners"][0]["validated_blocks"] == [BC04]


def test_block_validation_refusals(app, world, api):
    assert _validation(api, world.learner, world.learner).status_code == 403
    assert _validation(api, world.jury, world.learner).status_code == 403
    # Outside the tutor's cohorts, or nobody at all: 404, the same answer.
    outside = _validation(api, world.tutor, world.other_learner)
    assert outside.status_code == 404 and error_of(outside)["code"] == "not_found"
    assert api(world.tutor, "POST", f"/learners/999999/blocks/{BC04}/validation").status_code == 404
    unknown = _validation(api, world.tutor, world.learner, block="RNCP28754BC99")
    assert unknown.status_code == 404 and "RNCP28754BC99" in error_of(unknown)["message"]
    # Someone who prepares no certification.
    assert _validation(api, world.admin, world.vae).status_code == 404
    # A tutor does not validate their own blocks.
    assert _validation(api, world.tutor, world.tutor).status_code == 403
    bad = _validation(api, world.tutor, world.learner, data="comment=x", content_type="text/plain")
    assert bad.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(BlockDecision)) == 0


# --- cohorts -------------------------------------------------------------------------------------------

def test_cohorts_are_the_callers(app, world, api):
    def names(user):  # type: ignore[no-untyped-def]
        response = api(user, "GET", "/cohorts")
        assert response.status_code == 200
        return response.get_json()["cohorts"]

    mine = names(world.tutor)
    assert mine == [{"id": world.cohort.id, "name": "Promo A 2026", "year": 2026, "certification": "RNCP28754"}]
    assert names(world.learner) == mine
    assert [c["name"] for c in names(world.other_tutor)] == ["Promo B 2026"]
    assert [c["name"] for c in names(world.admin)] == ["Promo A 2026", "Promo B 2026"]
    assert names(world.jury) == [] and names(world.vae) == []


# --- the cohort matrix ------------------------------------------------------------------------------------

@pytest.fixture
def assessed_cohort(app, world, api, make_user):  # type: ignore[no-untyped-def]
    """world.cohort with a second learner; levels on BC01 and BC04, BC04 validated for world.learner."""
    from portfolio.services.cohorts import add_member

    zoe = make_user("zoe@example.org", "learner", name="=Zoé Dernière")
    add_member(world.cohort, zoe, MemberRole.LEARNER, actor=None)
    db.session.commit()
    item = submitted(api, world.learner, tags=(C01, C02, *BC04_CODES))
    assert assess(api, world.tutor, item, C01, "acquired").status_code == 201
    assert assess(api, world.tutor, item, C02, "in_progress").status_code == 201
    for code in BC04_CODES:
        assert assess(api, world.tutor, item, code).status_code == 201
    assert _validation(api, world.tutor, world.learner, json={"comment": "ok"}).status_code == 201
    theirs = submitted(api, zoe, tags=(C01, C03))
    assert assess(api, world.tutor, theirs, C01, "not_acquired").status_code == 201
    assert assess(api, world.tutor, theirs, C03, "acquired").status_code == 201
    return zoe


def test_matrix_json(app, world, api, assessed_cohort):
    response = api(world.tutor, "GET", f"/cohorts/{world.cohort.id}/matrix")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["cohort"] == {"id": world.cohort.id, "name": "Promo A 2026", "year": 2026,
                              "certification": "RNCP28754"}
    assert [b["code"] for b in body["blocks"]] == [f"RNCP28754BC0{n}" for n in range(1, 6)]
    assert body["blocks"][0]["competencies"][0]["code"] == C01 and body["blocks"][0]["competencies"][0]["statement"]
    all_codes = [c["code"] for b in body["blocks"] for c in b["competencies"]]
    zoe, lina = body["learners"]  # by name, case-insensitively: "=" sorts before letters
    assert lina["id"] == world.learner.id and lina["email"] == "learner@example.org"
    assert zoe["name"] == "=Zoé Dernière"
    assert list(lina["levels"]) == all_codes
    assert lina["levels"][C01] == "acquired" and lina["levels"][C02] == "in_progress"
    assert lina["levels"][C03] is None and lina["levels"][BC04_CODES[1]] == "acquired"
    assert lina["acquired"] == 3 and lina["validated_blocks"] == [BC04]
    assert zoe["levels"][C01] == "not_acquired" and zoe["levels"][C03] == "acquired"
    assert zoe["acquired"] == 1 and zoe["validated_blocks"] == []
    # The other cohort's learner is not in it.
    assert world.other_learner.id not in {row["id"] for row in body["learners"]}


def test_matrix_filter_and_sort(app, world, api, assessed_cohort):
    path = f"/cohorts/{world.cohort.id}/matrix"
    body = api(world.admin, "GET", path, query_string={"block": BC04.lower()}).get_json()
    assert [b["code"] for b in body["blocks"]] == [BC04]
    zoe, lina = body["learners"]
    assert list(lina["levels"]) == BC04_CODES
    assert lina["acquired"] == 2 and zoe["acquired"] == 0
    assert lina["validated_blocks"] == [BC04] and zoe["validated_blocks"] == []
    only_bc01 = api(world.admin, "GET", path, query_string={"block": "RNCP28754BC01"}).get_json()
    assert [row["validated_blocks"] for row in only_bc01["learners"]] == [[], []]
    unknown = api(world.admin, "GET", path, query_string={"block": "RNCP28754BC99"})
    assert unknown.status_code == 404 and error_of(unknown)["field"] == "block"
    # By acquired competencies, most first: Lina (3) before Zoé (1), whom the name order puts first.
    by_acquired = api(world.admin, "GET", path, query_string={"sort": "acquired"}).get_json()
    assert [(row["name"], row["acquired"]) for row in by_acquired["learners"]] == [("Lina Apprenante", 3),
                                                                                  ("=Zoé Dernière", 1)]
    assert api(world.admin, "GET", path, query_string={"sort": "age"}).status_code == 422
    assert api(world.admin, "GET", path, query_string={"format": "xlsx"}).status_code == 422


def test_matrix_refusals(app, world, api):
    path = f"/cohorts/{world.cohort.id}/matrix"
    assert api(world.other_tutor, "GET", path).status_code == 404
    assert api(world.tutor, "GET", f"/cohorts/{world.other_cohort.id}/matrix").status_code == 404
    assert api(world.tutor, "GET", "/cohorts/999999/matrix").status_code == 404
    for role in ("learner", "vae", "jury"):
        response = api(getattr(world, role), "GET", path)
        assert response.status_code == 403 and error_of(response)["code"] == "forbidden", role
    # Refusals are JSON even when CSV was asked for.
    csv_refused = api(world.other_tutor, "GET", path, query_string={"format": "csv"})
    assert csv_refused.status_code == 404 and csv_refused.mimetype == "application/json"


def test_matrix_csv(app, world, api, assessed_cohort):
    response = api(world.tutor, "GET", f"/cohorts/{world.cohort.id}/matrix", query_string={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="matrice-promo-a-2026.csv"'
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    json_body = api(world.tutor, "GET", f"/cohorts/{world.cohort.id}/matrix").get_json()
    all_codes = [c["code"] for b in json_body["blocks"] for c in b["competencies"]]
    assert rows[0] == ["Nom", "E-mail", *all_codes, "Acquises"]
    assert len(rows) == 3
    zoe, lina = (dict(zip(rows[0], row, strict=True)) for row in rows[1:])
    assert lina["Nom"] == "Lina Apprenante" and lina["E-mail"] == "learner@example.org"
    assert lina[C01] == "acquis" and lina[C02] == "en cours d'acquisition" and lina[C03] == ""
    assert lina["Acquises"] == "3"
    assert zoe[C01] == "non acquis" and zoe[C03] == "acquis" and zoe["Acquises"] == "1"
    # A name a spreadsheet would run as a formula is quoted.
    assert zoe["Nom"] == "'=Zoé Dernière"
    assert "\r\n" in text and text.count(";") == 3 * (len(all_codes) + 2)  # nothing quoted


def test_matrix_csv_of_one_block(app, world, api, assessed_cohort):
    response = api(world.admin, "GET", f"/cohorts/{world.cohort.id}/matrix",
                   query_string={"format": "csv", "block": BC04})
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig")), delimiter=";"))
    assert rows == [["Nom", "E-mail", *BC04_CODES, "Acquises"],
                    ["'=Zoé Dernière", "zoe@example.org", "", "", "0"],
                    ["Lina Apprenante", "learner@example.org", "acquis", "acquis", "2"]]


def _add_learners(world, start: int, n: int) -> None:  # type: ignore[no-untyped-def]
    """``n`` more learners in world.cohort, each with levels on a few competencies, half with a decision."""
    from portfolio.models import Block, Competency, DecisionKind, Level, Role
    from portfolio.services.cohorts import add_member
    from portfolio.services.users import create_user

    competencies = db.session.scalars(select(Competency).join(Block)
                                      .where(Block.certification_id == world.certification.id)
                                      .order_by(Block.position, Competency.position)).all()
    levels = list(Level)
    for i in range(start, start + n):
        user = create_user(f"learner{i:03d}@example.org", f"Apprenant·e {i:03d}", {Role.LEARNER}, locale="fr")
        add_member(world.cohort, user, MemberRole.LEARNER, actor=None)
        for j, competency in enumerate(competencies[: 3 + i % 5]):
            record = Assessment(learner_id=user.id, competency_id=competency.id, assessor_id=world.tutor.id,
                                level=levels[(i + j) % 3], comment="")
            db.session.add(record)
            db.session.flush()
            db.session.add(CompetencyState(learner_id=user.id, competency_id=competency.id, level=record.level,
                                           assessment_id=record.id))
        if i % 2:
            db.session.add(BlockDecision(learner_id=user.id, block_id=competencies[0].block_id,
                                         decided_by_id=world.tutor.id, kind=DecisionKind.VALIDATED, comment=""))
    db.session.commit()


def _learner_rows(response, output: str) -> int:  # type: ignore[no-untyped-def]
    if output == "json":
        return len(response.get_json()["learners"])
    return len(response.get_data().decode("utf-8-sig").strip().split("\r\n")) - 1


@pytest.mark.parametrize("output", ["json", "csv"])
def test_matrix_queries_do_not_grow_with_learners(app, world, api, output, monkeypatch):
    """3 learners or 30, with levels and block decisions: the same number of SQL queries."""
    # The token's last use is refreshed at most once a minute: on a loaded machine that one UPDATE
    # fell in one count and not the other. No refresh during this test; the warm-up makes the token.
    monkeypatch.setattr(tokens, "TOUCH_INTERVAL", timedelta(days=1))
    path = f"/cohorts/{world.cohort.id}/matrix"
    assert api(world.tutor, "GET", "/cohorts").status_code == 200  # the token exists before counting

    def count_queries(learners: int) -> int:
        statements: list[str] = []

        def listener(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            response = api(world.tutor, "GET", path, query_string={"format": output})
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        assert response.status_code == 200
        assert _learner_rows(response, output) == learners
        seen.append(statements)
        return len(statements)

    seen: list[list[str]] = []
    _add_learners(world, 0, 2)  # with world.learner: 3
    small = count_queries(3)
    _add_learners(world, 2, 27)
    large = count_queries(30)
    listing = "\n\n".join("\n".join(" ".join(q.split())[:140] for q in run) for run in seen)
    assert small == large, f"{small} queries for 3 learners, {large} for 30:\n{listing}"


# --- the documented shapes -----------------------------------------------------------------------------

def test_answers_match_the_openapi_schemas(app, world, api, assessed_cohort):
    """The new answers validate against the components the OpenAPI document declares for them."""
    jsonschema = pytest.importorskip("jsonschema")
    from portfolio.blueprints.api.openapi import build_document

    document = build_document()

    def check(response, schema: str) -> None:  # type: ignore[no-untyped-def]
        wrapper = {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
        jsonschema.Draft202012Validator(wrapper).validate(response.get_json())

    item = submitted(api, world.learner, title="Encore une", tags=(C03,))
    check(api(world.tutor, "GET", "/assessments/queue"), "Queue")
    created = assess(api, world.tutor, item, C03, "acquired", "ok")
    check(created, "Assessment")
    check(api(world.learner, "GET", f"/evidence/{item.id}/assessments"), "AssessmentList")
    check(api(world.learner, "GET", f"/evidence/{item.id}"), "Evidence")
    check(api(world.admin, "GET", "/cohorts"), "CohortList")
    check(api(world.tutor, "GET", f"/cohorts/{world.cohort.id}/matrix"), "Matrix")
    incomplete = _validation(api, world.tutor, world.learner, block="RNCP28754BC01", json={})
    assert incomplete.status_code == 422
    check(incomplete, "Error")
    other = submitted(api, world.learner, title="Sans évaluation", tags=(C03,))
    check(api(world.learner, "POST", f"/evidence/{other.id}/withdraw"), "Evidence")


@pytest.mark.parametrize(("name", "filename"), [("Promo A 2026", "matrice-promo-a-2026.csv"),
                                                ("Été « Dév » n°2", "matrice-ete-dev-n2.csv"),
                                                ("日本", "matrice-7.csv")])
def test_matrix_filename(name, filename):
    from portfolio.models import Cohort
    from portfolio.services.assessment import matrix_filename

    assert matrix_filename(Cohort(id=7, name=name, year=2026)) == filename
