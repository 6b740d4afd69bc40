"""What the pages have, through the API: a learner's progress with the tutor's levels and block
decisions, internship logbooks, and the VAE dossier (read, write a block, send) — per role, and each
answer checked against the schema the OpenAPI document declares for it."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import func, select

from portfolio.extensions import db
from portfolio.models import Claim, DossierStatus, DossierVersion, LogbookEntry
from portfolio.services import assessment, logbook, tokens, vae
from portfolio.services import evidence as evidence_service

C1, C2 = "RNCP28754BC04-C01", "RNCP28754BC04-C02"
B1 = "RNCP28754BC01"


@pytest.fixture
def api(app, client):  # type: ignore[no-untyped-def]
    def call(user, method: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
        _, raw = tokens.create_token(user, "test")
        db.session.commit()
        return client.open(f"/api/v1{path}", method=method, headers={"Authorization": f"Bearer {raw}"}, **kwargs)

    return call


@pytest.fixture
def check(app, client):  # type: ignore[no-untyped-def]
    """Validate an answer against a component of the served OpenAPI document."""
    jsonschema = pytest.importorskip("jsonschema")
    document = client.get("/api/v1/openapi.json").get_json()

    def validate(response, schema: str) -> dict:  # type: ignore[no-untyped-def]
        body = response.get_json()
        wrapper = {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
        jsonschema.Draft202012Validator(wrapper).validate(body)
        return body

    return validate


def _evidence(owner, title: str = "Rapport", tags=()):  # type: ignore[no-untyped-def]
    item = evidence_service.create_evidence(owner, title=title, kind="document", context="professional",
                                            occurred_on=date(2026, 3, 1), description="",
                                            uploads=[evidence_service.Upload("r.txt", io.BytesIO(b"rapport"))])
    for code in tags:
        evidence_service.tag_evidence(item, code, "parce que", actor=owner)
    db.session.commit()
    return item


# --- progress ---------------------------------------------------------------------------------------------

def test_progress_shows_the_current_level_history_and_block_decision(app, world, api, check):
    item = _evidence(world.learner, tags=(C1, C2))
    with app.test_request_context():  # notifications link to pages
        assessment.submit_evidence(item, actor=world.learner)
        assessment.record_assessment(item, C1, "in_progress", "Presque.", assessor=world.tutor)
        assessment.record_assessment(item, C1, "acquired", "Oui.", assessor=world.tutor)
        assessment.record_assessment(item, C2, "acquired", "", assessor=world.tutor)
        block = assessment.find_block(world.certification.id, "RNCP28754BC04")
        assessment.validate_block(world.learner, block, actor=world.tutor)
    db.session.commit()

    for reader in (world.learner, world.tutor, world.admin):
        body = check(api(reader, "GET", f"/learners/{world.learner.id}/progress"), "LearnerProgress")
        assert body["learner"] == {"id": world.learner.id, "name": world.learner.name}
        bc04 = next(b for b in body["blocks"] if b["code"] == "RNCP28754BC04")
        first = next(c for c in bc04["competencies"] if c["code"] == C1)
        assert first["level"] == "acquired"                       # the current state, not the first judgement
        assert [a["level"] for a in first["assessments"]] == ["in_progress", "acquired"]
        assert first["assessments"][1]["supersedes"] == first["assessments"][0]["id"]
        assert first["tags"] == [{"evidence": item.id, "title": "Rapport", "justification": "parce que"}]
        assert bc04["decision"]["kind"] == "validated" and bc04["decision"]["decided_by"]["id"] == world.tutor.id
        assert bc04["acquired"] == bc04["total"] == 2
        other = next(b for b in body["blocks"] if b["code"] == B1)
        assert other["decision"] is None and all(c["level"] is None for c in other["competencies"])
    for outsider in (world.other_tutor, world.other_learner, world.jury):
        response = api(outsider, "GET", f"/learners/{world.learner.id}/progress")
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert api(world.admin, "GET", f"/learners/{world.vae.id}/progress").get_json()["error"]["code"] == \
        "no_certification"


def test_a_revoked_block_shows_the_revocation(app, world, api):
    item = _evidence(world.learner, tags=(C1, C2))
    with app.test_request_context():
        assessment.submit_evidence(item, actor=world.learner)
        for code in (C1, C2):
            assessment.record_assessment(item, code, "acquired", "", assessor=world.tutor)
        block = assessment.find_block(world.certification.id, "RNCP28754BC04")
        assessment.validate_block(world.learner, block, actor=world.tutor)
        assessment.revoke_block(world.learner, block, actor=world.tutor, comment="Erreur de saisie.")
    db.session.commit()
    body = api(world.tutor, "GET", f"/learners/{world.learner.id}/progress").get_json()
    decision = next(b for b in body["blocks"] if b["code"] == "RNCP28754BC04")["decision"]
    assert decision["kind"] == "revoked" and decision["comment"] == "Erreur de saisie."


# --- logbooks -------------------------------------------------------------------------------------------

@pytest.fixture
def internship(world):  # type: ignore[no-untyped-def]
    found = logbook.create_internship(world.learner, organisation="Acme", supervisor_name="Marc Maître",
                                      supervisor_email="marc@example.org", start_date=date(2026, 3, 2),
                                      end_date=date(2026, 3, 27))
    db.session.commit()
    return found


def test_the_learner_writes_entries_and_their_tutor_reads_them(world, api, check, internship):
    listed = check(api(world.learner, "GET", "/internships"), "InternshipList")
    assert [i["id"] for i in listed["internships"]] == [internship.id]
    assert api(world.tutor, "GET", "/internships").get_json() == {"internships": []}  # only one's own
    created = api(world.learner, "POST", f"/internships/{internship.id}/entries",
                  json={"day": "2026-03-03", "hours": "7h30", "activities": "Revue de **code**.",
                        "competencies": ["RNCP28754BC01-C01"]})
    assert created.status_code == 201, created.get_data(as_text=True)
    entry = check(created, "Entry")
    assert entry["minutes"] == 450 and entry["status"] == "draft" and entry["competencies"] == ["RNCP28754BC01-C01"]
    for reader in (world.learner, world.tutor, world.admin):
        body = check(api(reader, "GET", f"/internships/{internship.id}/entries"), "EntryList")
        assert [e["id"] for e in body["entries"]] == [entry["id"]] and body["internship"]["organisation"] == "Acme"
    for outsider in (world.other_tutor, world.other_learner, world.vae):
        assert api(outsider, "GET", f"/internships/{internship.id}/entries").status_code == 404


@pytest.mark.parametrize(("payload", "status", "field"), [
    ({"day": "2026-04-30", "hours": 7, "activities": "Hors stage"}, 422, "day"),
    ({"day": "03/03/2026", "hours": 7, "activities": "x"}, 422, "day"),
    ({"day": "2026-03-03", "hours": "beaucoup", "activities": "x"}, 422, "hours"),
    ({"day": "2026-03-03", "hours": True, "activities": "x"}, 422, "hours"),
    ({"day": "2026-03-03", "hours": 7, "activities": ""}, 422, "activities"),
    ({"day": "2026-03-03", "hours": 7, "activities": 5}, 422, "activities"),
])
def test_entry_refusals_name_the_field(world, api, internship, payload, status, field):
    response = api(world.learner, "POST", f"/internships/{internship.id}/entries", json=payload)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"]["field"] == field
    assert db.session.scalar(select(func.count()).select_from(LogbookEntry)) == 0


def test_only_the_learner_writes_their_logbook(world, api, internship):
    entry = {"day": "2026-03-03", "hours": 7, "activities": "x"}
    assert api(world.tutor, "POST", f"/internships/{internship.id}/entries", json=entry).status_code == 403
    assert api(world.other_learner, "POST", f"/internships/{internship.id}/entries", json=entry).status_code == 404
    bad = api(world.learner, "POST", f"/internships/{internship.id}/entries", data="x", content_type="text/plain")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "bad_request"
    assert db.session.scalar(select(func.count()).select_from(LogbookEntry)) == 0


# --- the VAE dossier --------------------------------------------------------------------------------------

@pytest.fixture
def dossier(world):  # type: ignore[no-untyped-def]
    vae.enrol_candidate(world.vae, world.certification, actor=None)
    vae.set_adviser(world.vae, world.tutor, actor=None)
    found = vae.get_or_create_dossier(world.vae)
    db.session.commit()
    return found


def _block_payload(dossier, evidence_id: int) -> dict:  # type: ignore[no-untyped-def]
    block = vae.section_for(dossier, B1).block
    return {"applied": True, "activities": "J'ai conçu une API.", "context": "Une PME.", "means": "Python.",
            "competencies": [{"code": c.code, "narrative": f"Récit {c.code}", "evidence": [evidence_id]}
                             for c in block.competencies]}


def test_the_candidate_writes_a_block_and_tags_once(world, api, check, dossier):
    item = _evidence(world.vae, title="Cahier des charges")
    response = api(world.vae, "PUT", f"/dossiers/{dossier.id}/sections/{B1}", json=_block_payload(dossier, item.id))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = check(response, "Dossier")
    section = next(s for s in body["sections"] if s["code"] == B1)
    assert section["applied"] and section["complete"] is True
    first = section["competencies"][0]
    assert first["evidence"] == [{"id": item.id, "title": "Cahier des charges",
                                  "justification": f"Récit {first['code']}"}]
    # The dossier's evidence is the candidate's tags: the evidence itself now carries them.
    tags = api(world.vae, "GET", f"/evidence/{item.id}").get_json()["tags"]
    assert {t["code"] for t in tags} == {c["code"] for c in section["competencies"]}
    # The adviser and an administrator read it; the adviser does not write it.
    for reader in (world.tutor, world.admin):
        assert check(api(reader, "GET", f"/dossiers/{dossier.id}"), "Dossier")["id"] == dossier.id
    assert api(world.tutor, "PUT", f"/dossiers/{dossier.id}/sections/{B1}",
               json={"applied": False}).status_code == 403
    for outsider in (world.jury, world.other_tutor, world.learner):
        assert api(outsider, "GET", f"/dossiers/{dossier.id}").status_code == 404


def test_leaving_out_evidence_untags_it_and_leaving_out_a_competency_keeps_it(world, api, dossier):
    item = _evidence(world.vae)
    api(world.vae, "PUT", f"/dossiers/{dossier.id}/sections/{B1}", json=_block_payload(dossier, item.id))
    competencies = _block_payload(dossier, item.id)["competencies"]
    payload = {"applied": True, "competencies": [{"code": competencies[0]["code"], "narrative": "Nouveau",
                                                  "evidence": []},
                                                 {"code": competencies[1]["code"], "narrative": "Gardé"}]}
    body = api(world.vae, "PUT", f"/dossiers/{dossier.id}/sections/{B1}", json=payload).get_json()
    shown = {c["code"]: c for c in next(s for s in body["sections"] if s["code"] == B1)["competencies"]}
    assert shown[competencies[0]["code"]]["evidence"] == [] and shown[competencies[0]["code"]]["narrative"] == "Nouveau"
    assert [e["id"] for e in shown[competencies[1]["code"]]["evidence"]] == [item.id]
    assert db.session.scalar(select(func.count()).select_from(Claim)) == len(competencies) - 1


@pytest.mark.parametrize(("payload", "status", "field"), [
    ({"activities": "x"}, 422, "applied"),
    ({"applied": "oui"}, 422, "applied"),
    ({"applied": True, "experiences": ["a"]}, 422, "experiences"),
    ({"applied": True, "competencies": [{"code": "RNCP28754BC02-C01", "narrative": "x"}]}, 422, "competencies"),
])
def test_section_refusals(world, api, dossier, payload, status, field):
    response = api(world.vae, "PUT", f"/dossiers/{dossier.id}/sections/{B1}", json=payload)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"]["field"] == field
    db.session.expire_all()
    assert not vae.section_for(db.session.get(type(dossier), dossier.id), B1).is_applied


def test_someone_elses_evidence_is_refused_and_nothing_changes(world, api, dossier):
    theirs = _evidence(world.learner)
    response = api(world.vae, "PUT", f"/dossiers/{dossier.id}/sections/{B1}", json=_block_payload(dossier, theirs.id))
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "evidence"
    assert db.session.scalar(select(func.count()).select_from(Claim)) == 0


def test_send_lists_what_is_missing_then_freezes_a_version(world, api, check, dossier):
    incomplete = api(world.vae, "POST", f"/dossiers/{dossier.id}/send")
    assert incomplete.status_code == 422
    error = check(incomplete, "Error")["error"]
    assert error["code"] == "dossier_incomplete" and error["missing"]
    item = _evidence(world.vae)
    api(world.vae, "PUT", f"/dossiers/{dossier.id}/sections/{B1}", json=_block_payload(dossier, item.id))
    vae.update_presentation(dossier, "Développeur depuis 2015.", actor=world.vae)
    db.session.commit()
    assert api(world.tutor, "POST", f"/dossiers/{dossier.id}/send").status_code == 403
    sent = api(world.vae, "POST", f"/dossiers/{dossier.id}/send")
    assert sent.status_code == 201, sent.get_data(as_text=True)
    version = check(sent, "DossierVersion")
    assert version["number"] == 1 and version["blocks"] == [B1]
    stored = db.session.get(DossierVersion, version["id"])
    evidence = stored.snapshot["blocks"][0]["competencies"][0]["evidence"][0]
    assert evidence["id"] == item.id and evidence["justification"].startswith("Récit")
    body = api(world.vae, "GET", f"/dossiers/{dossier.id}").get_json()
    assert body["status"] == DossierStatus.SENT.value and body["versions"][0]["number"] == 1
