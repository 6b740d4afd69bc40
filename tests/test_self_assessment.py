"""Self-assessment: the learner rates each tagged competency of a draft; frozen once submitted; tutors
read it beside their level on the evidence page; the cohort matrix can mark where the two differ."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portfolio.extensions import db
from portfolio.models import AuditEvent, Claim, SelfAssessment
from portfolio.services import assessment as assessment_service
from portfolio.services import evidence as evidence_service
from portfolio.services import self_assessment as service
from portfolio.services.errors import DomainError
from portfolio.services.evidence import EvidenceLocked, Upload

C1, C2, C3 = "RNCP28754BC01-C01", "RNCP28754BC01-C02", "RNCP28754BC01-C03"


@pytest.fixture
def req(app):  # type: ignore[no-untyped-def]
    with app.test_request_context():
        yield


def make_evidence(owner, *codes: str):  # type: ignore[no-untyped-def]
    item = evidence_service.create_evidence(owner, title="Gestion de stock", kind="code", context="project",
                                            occurred_on=date(2026, 1, 1),
                                            uploads=[Upload("stock.py", io.BytesIO(b"print('stock')"))])
    for code in codes:
        evidence_service.tag_evidence(item, code, f"Je montre {code}.", actor=owner)
    db.session.commit()
    return item


def ratings(item) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {r.claim.competency.code: (r.level.value, r.comment) for r in service.self_assessments_on(item).values()}


def test_learner_rates_own_tagged_competencies_and_can_change_them(world, req):
    item = make_evidence(world.learner, C1, C2)
    service.rate_competency(item, C1.lower(), "in_progress", "  Je sais faire   avec de l'aide. ", actor=world.learner)
    service.rate_competency(item, C2, "acquired", "Fait seul en stage.", actor=world.learner)
    service.rate_competency(item, C1, "acquired", "Refait seul depuis.", actor=world.learner)
    db.session.commit()
    assert ratings(item) == {C1: ("acquired", "Refait seul depuis."), C2: ("acquired", "Fait seul en stage.")}
    assert db.session.scalar(select(func.count()).select_from(SelfAssessment)) == 2
    events = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action == "evidence.self_assess")).all()
    assert len(events) == 3


@pytest.mark.parametrize(("who", "code", "level", "comment", "error", "message"), [
    ("other_learner", C1, "acquired", "Moi aussi.", service.NotOwnEvidence, "auteur"),
    ("tutor", C1, "acquired", "Je note.", service.NotOwnEvidence, "auteur"),
    ("learner", C3, "acquired", "Pas rattachée.", DomainError, "pas rattachée à"),
    ("learner", C1, "expert", "Niveau inventé.", DomainError, "Niveau inconnu"),
    ("learner", C1, "acquired", "   ", DomainError, "en une phrase"),
    ("learner", C1, "acquired", "x" * 1001, DomainError, "1000"),
])
def test_refusals_write_nothing(world, req, who, code, level, comment, error, message):
    item = make_evidence(world.learner, C1)
    with pytest.raises(error, match=message):
        service.rate_competency(item, code, level, comment, actor=getattr(world, who))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(SelfAssessment)) == 0


def test_self_assessment_is_frozen_once_submitted_and_follows_a_new_version(world, req):
    item = make_evidence(world.learner, C1, C2)
    service.rate_competency(item, C1, "acquired", "Je maîtrise.", actor=world.learner)
    assessment_service.submit_evidence(item, actor=world.learner)
    db.session.commit()
    with pytest.raises(EvidenceLocked, match="soumise"):
        service.rate_competency(item, C1, "not_acquired", "Finalement non.", actor=world.learner)
    with pytest.raises(EvidenceLocked):
        service.rate_competency(item, C2, "acquired", "Et celle-ci.", actor=world.learner)
    db.session.rollback()
    assert ratings(item) == {C1: ("acquired", "Je maîtrise.")}
    assessment_service.record_assessment(item, C1, "in_progress", "Pas encore seul.", assessor=world.tutor)
    copy = assessment_service.new_version(item, actor=world.learner)
    db.session.commit()
    assert ratings(copy) == {C1: ("acquired", "Je maîtrise.")}
    service.rate_competency(copy, C1, "in_progress", "D'accord, pas encore.", actor=world.learner)
    db.session.commit()
    assert ratings(item) == {C1: ("acquired", "Je maîtrise.")}  # the submitted version keeps what was sent


def test_removing_a_tag_removes_its_self_assessment_and_one_per_tag(world, req):
    item = make_evidence(world.learner, C1, C2)
    service.rate_competency(item, C1, "acquired", "Je maîtrise.", actor=world.learner)
    db.session.commit()
    claim_id = db.session.scalar(select(Claim.id).where(Claim.evidence_id == item.id))
    db.session.add(SelfAssessment(claim_id=claim_id, level="acquired", comment="Doublon"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    evidence_service.untag_evidence(item, C1, actor=world.learner)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(SelfAssessment)) == 0


def test_pages_learner_form_tutor_sees_it_beside_the_level_matrix_marks_the_gap(world, login, client, app):
    with app.test_request_context():
        item = make_evidence(world.learner, C1, C2)
    item_id = item.id
    login(world.learner)
    page = client.get(f"/evidence/{item_id}").get_data(as_text=True)
    assert f'action="/evidence/{item_id}/self-assessment"' in page and "Je me situe sur" in page
    response = client.post(f"/evidence/{item_id}/self-assessment",
                           data={"competency": C1, "level": "acquired", "comment": "Je le fais seule."})
    assert response.status_code == 302
    client.post(f"/evidence/{item_id}/self-assessment",
                data={"competency": C2, "level": "not_acquired", "comment": "Pas encore."})
    refused = client.post(f"/evidence/{item_id}/self-assessment",
                          data={"competency": C3, "level": "acquired", "comment": "Hors preuve."},
                          follow_redirects=True)
    assert "pas rattachée à" in refused.get_data(as_text=True)
    page = client.get(f"/evidence/{item_id}").get_data(as_text=True)
    assert "Mon auto-évaluation" in page and "Je le fais seule." in page
    client.post(f"/evidence/{item_id}/submit")
    page = client.get(f"/evidence/{item_id}").get_data(as_text=True)
    assert f'action="/evidence/{item_id}/self-assessment"' not in page
    frozen = client.post(f"/evidence/{item_id}/self-assessment",
                         data={"competency": C1, "level": "not_acquired", "comment": "Changement."},
                         follow_redirects=True)
    assert "ne change plus" in frozen.get_data(as_text=True)
    client.post("/logout")

    login(world.other_learner)
    assert client.post(f"/evidence/{item_id}/self-assessment",
                       data={"competency": C1, "level": "acquired", "comment": "Intrus."}).status_code in (403, 404)
    client.post("/logout")

    login(world.tutor)
    client.post(f"/evidence/{item_id}/assessments", data={"competency": C1, "level": "in_progress", "comment": ""})
    client.post(f"/evidence/{item_id}/assessments", data={"competency": C2, "level": "not_acquired", "comment": ""})
    page = client.get(f"/evidence/{item_id}").get_data(as_text=True)
    assert "Auto-évaluation de l'apprenant·e" in page and "Je le fais seule." in page
    assert page.count("(écart avec le niveau actuel)") == 1  # C1 only: C2 agrees
    matrix = client.get(f"/cohorts/{world.cohort.id}/matrix").get_data(as_text=True)
    assert "≠" not in matrix.split('id="matrix"')[1]
    matrix = client.get(f"/cohorts/{world.cohort.id}/matrix?gap=1").get_data(as_text=True)
    table = matrix.split('id="matrix"')[1]
    assert table.count('class="lvl level--in_progress gap"') == 1 and table.count(" ≠</span>") == 1
    assert "auto-évaluation : acquis" in table
    assert "1 case diffère de l'auto-évaluation." in matrix
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SelfAssessment)) == 2
