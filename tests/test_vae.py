"""VAE: enrolment, experiences, the dossier and its completeness, sending (frozen versions), juries and
their decisions, advisers' comments, the access rules, and every VAE route with every role."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import (
    AuditEvent,
    Dossier,
    DossierStatus,
    DossierVersion,
    Jury,
    JuryBlockDecision,
    Notification,
)
from portfolio.services import access
from portfolio.services import vae as service
from portfolio.services.comments import comments_on
from portfolio.services.errors import Conflict, DomainError
from portfolio.services.evidence import learner_certification_ids
from tests.factories import B1, block_competencies, complete_block, own_evidence


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


# --- enrolment, experiences ----------------------------------------------------------------------

def test_enrolment_needs_the_role_and_counts_for_tagging(app, world):
    with pytest.raises(DomainError):
        service.enrol_candidate(world.learner, world.certification, actor=None)
    assert learner_certification_ids(world.vae) == set()
    service.enrol_candidate(world.vae, world.certification, actor=world.vae)
    assert learner_certification_ids(world.vae) == {world.certification.id}
    assert "vae.enrol" in actions()


def test_certification_is_fixed_once_the_dossier_exists(app, world, enrolled):
    from portfolio.models import Certification

    other = Certification(code="RNCP99999", registration="2024", title="Autre", source="test")
    db.session.add(other)
    db.session.flush()
    service.get_or_create_dossier(world.vae)
    with pytest.raises(Conflict):
        service.enrol_candidate(world.vae, other, actor=world.vae)


def test_cli_creates_an_enrolled_candidate(app, runner):
    from portfolio.services.users import find_user_by_email

    result = runner.invoke(args=["users", "create", "cand@example.org", "--role", "vae_candidate",
                                 "--certification", "RNCP28754", "--password-stdin"],
                           input="a long enough password\n")
    assert result.exit_code == 0, result.output
    user = find_user_by_email("cand@example.org")
    assert service.candidate_certification(user).code == "RNCP28754"
    result = runner.invoke(args=["users", "create", "l@example.org", "--role", "learner",
                                 "--certification", "RNCP28754", "--password-stdin"], input="a long enough password\n")
    assert result.exit_code != 0
    assert find_user_by_email("l@example.org") is None


def test_experiences_validate_and_link_only_own_evidence(app, world, enrolled):
    with pytest.raises(DomainError) as exc:
        service.create_experience(world.vae, actor=world.vae, organisation="", job_title="Dev",
                                  start_date=date(2020, 1, 1), time_basis="full_time")
    assert exc.value.field == "organisation"
    with pytest.raises(DomainError) as exc:
        service.create_experience(world.vae, actor=world.vae, organisation="A", job_title="Dev",
                                  start_date=date(2020, 1, 1), end_date=date(2019, 1, 1), time_basis="full_time")
    assert exc.value.field == "end_date"
    item = service.create_experience(world.vae, actor=world.vae, organisation="Asso", job_title="Trésorier",
                                     start_date=date(2018, 9, 1), time_basis="part_time", is_volunteer=True,
                                     sector="Associatif", activities="Comptes", tools="Tableur")
    mine, theirs = own_evidence(world.vae), own_evidence(world.learner, data=b"autre")
    service.link_evidence(item, mine, actor=world.vae)
    with pytest.raises(DomainError):
        service.link_evidence(item, theirs, actor=world.vae)
    with pytest.raises(DomainError):
        service.set_experience_evidence(item, [theirs.id], actor=world.vae)
    assert item.evidence == [mine]
    service.unlink_evidence(item, mine, actor=world.vae)
    assert item.evidence == []
    service.delete_experience(item, actor=world.vae)
    assert {"vae.experience.create", "vae.experience.link", "vae.experience.unlink",
            "vae.experience.delete"} <= set(actions())


# --- the dossier -----------------------------------------------------------------------------------

def test_dossier_has_a_section_per_block_and_completeness_lists_what_is_missing(app, world, enrolled):
    dossier = service.get_or_create_dossier(world.vae)
    assert len(dossier.sections) == len(world.certification.blocks)
    assert service.get_or_create_dossier(world.vae) is dossier
    assert "Choisissez au moins un bloc de compétences." in service.missing_items(dossier)
    section = service.section_for(dossier, B1)
    service.update_section(section, actor=world.vae, applied=True, activities="", context="", means="",
                           experience_ids=[])
    competencies = block_competencies()
    evidence = own_evidence(world.vae)
    service.set_claim(dossier, competencies[0], actor=world.vae, narrative="Récit", evidence_ids=[evidence.id])
    [report] = service.completeness(dossier)
    assert report.block.code == B1 and not report.complete
    assert len(report.missing_section) == 3
    assert competencies[0] not in report.missing_evidence and competencies[0] not in report.missing_narrative
    assert set(report.missing_evidence) == set(competencies[1:])
    with pytest.raises(service.DossierIncomplete) as exc:
        service.send_dossier(dossier, actor=world.vae)
    missing = exc.value.missing
    assert any(competencies[1].code in m and "preuve" in m for m in missing)
    assert any("présentation" in m for m in missing)
    assert dossier.versions == []


def test_claims_take_only_the_candidates_evidence_and_their_certification(app, world, enrolled):
    dossier = service.get_or_create_dossier(world.vae)
    theirs = own_evidence(world.learner)
    with pytest.raises(DomainError):
        service.set_claim(dossier, block_competencies()[0], actor=world.vae, narrative="x", evidence_ids=[theirs.id])
    with pytest.raises(DomainError):
        service.update_section(service.section_for(dossier, B1), actor=world.vae, applied=True, activities="",
                               context="", means="", experience_ids=[987654])


def test_send_freezes_a_version_and_later_edits_make_the_next(app, world, enrolled):
    evidence = own_evidence(world.vae)
    dossier = service.get_or_create_dossier(world.vae)
    complete_block(dossier, evidence)
    version = service.send_dossier(dossier, actor=world.vae)
    db.session.commit()
    assert version.number == 1 and dossier.status == DossierStatus.SENT
    snap = version.snapshot
    assert snap["version"] == 1 and snap["sent_at"] and snap["candidate"]["email"] == "vae@example.org"
    assert snap["certification"]["code"] == "RNCP28754"
    assert [b["code"] for b in snap["blocks"]] == [B1]
    block = snap["blocks"][0]
    assert block["activities"] == "J'ai conçu une API." and len(block["experience_ids"]) == 1
    file = block["competencies"][0]["evidence"][0]["files"][0]
    assert file["filename"] == "rapport.txt" and len(file["sha256"]) == 64 and file["size"] == 7
    assert file["storage_key"] and file["media_type"]
    assert snap["experiences"][0]["time_basis"] == "full_time"

    service.update_presentation(dossier, "Nouvelle présentation.", actor=world.vae)
    db.session.commit()
    assert dossier.status == DossierStatus.DRAFT
    db.session.expire_all()
    assert db.session.get(DossierVersion, version.id).snapshot["presentation"] == "Développeur depuis 2020."
    second = service.send_dossier(dossier, actor=world.vae)
    assert second.number == 2 and second.snapshot["presentation"] == "Nouvelle présentation."
    draft = service.dossier_snapshot(dossier)
    assert draft["version"] is None and draft["sent_at"] is None
    assert actions().count("vae.dossier.send") == 2


# --- juries and decisions --------------------------------------------------------------------------

def test_juries_take_only_jury_members(app, world, make_user):
    with pytest.raises(DomainError):
        service.create_jury("J", [world.tutor], actor=world.admin)
    jury = service.create_jury("J", [world.jury], actor=world.admin)
    with pytest.raises(Conflict):
        service.create_jury("J", [], actor=world.admin)
    other = make_user("j2@example.org", "jury")
    service.add_jury_member(jury, other, actor=world.admin)
    with pytest.raises(Conflict):
        service.add_jury_member(jury, other, actor=world.admin)
    service.remove_jury_member(jury, other, actor=world.admin)
    assert jury.members == [world.jury]


def test_jury_decides_block_by_block_and_the_candidate_is_told(app, world, vae_case, make_user):
    version = db.session.get(DossierVersion, vae_case["version"])
    outsider = make_user("j3@example.org", "jury")
    with pytest.raises(DomainError):
        service.record_block_decision(version, B1, "validated", "Bien.", member=outsider)
    with pytest.raises(DomainError):
        service.record_block_decision(version, B1, "validated", "  ", member=world.jury)
    with pytest.raises(DomainError):
        service.record_block_decision(version, "RNCP28754BC02", "validated", "x", member=world.jury)
    service.record_block_decision(version, B1, "not_validated", "Preuves insuffisantes.", member=world.jury)
    service.record_block_decision(version, B1, "validated", "Après entretien : validé.", member=world.jury)
    assert len(service.block_decisions(version)) == 2
    assert service.current_block_decisions(version)[B1].comment == "Après entretien : validé."
    with pytest.raises(DomainError):
        service.record_outcome(version, "partial", "", member=world.jury)
    service.record_outcome(version, "partial", "Un bloc sur cinq.", member=world.jury, confirmed=True)
    db.session.commit()
    assert version.dossier.status == DossierStatus.DECIDED
    messages = list(db.session.scalars(select(Notification.message).where(Notification.user_id == world.vae.id)))
    assert any("Validation partielle" in m for m in messages)
    assert {"vae.jury.create", "vae.version.assign", "vae.decision.block", "vae.decision.outcome"} <= set(actions())


def test_comments_are_for_the_candidate_and_the_adviser(app, world, vae_case):
    dossier = db.session.get(Dossier, vae_case["dossier"])
    service.add_dossier_comment(dossier, "Précisez le contexte du bloc 1.", author=world.tutor)
    service.add_dossier_comment(dossier, "C'est fait.", author=world.vae)
    for someone in (world.other_tutor, world.jury, world.admin):
        with pytest.raises(DomainError):
            service.add_dossier_comment(dossier, "x", author=someone)
    assert [c.body for c in comments_on(dossier)] == ["Précisez le contexte du bloc 1.", "C'est fait."]


def test_access_rules(app, world, vae_case):
    dossier = db.session.get(Dossier, vae_case["dossier"])
    version = db.session.get(DossierVersion, vae_case["version"])
    from portfolio.models import Evidence

    evidence = db.session.get(Evidence, vae_case["vae_evidence"])
    for user, view, edit, comment, decide in [
        (world.vae, True, True, True, False),
        (world.tutor, True, False, True, False),       # the adviser
        (world.other_tutor, False, False, False, False),
        (world.admin, True, False, False, False),
        (world.jury, False, False, False, True),        # through the version only
        (world.learner, False, False, False, False),
    ]:
        assert access.can_view_dossier(user, dossier) is view, user.email
        assert access.can_edit_dossier(user, dossier) is edit, user.email
        assert access.can_comment_dossier(user, dossier) is comment, user.email
        assert access.can_decide_version(user, version) is decide, user.email
    assert access.can_view_version(world.jury, version)
    assert not access.can_view_version(world.other_tutor, version)
    assert access.can_view_evidence(world.jury, evidence)
    assert access.can_view_evidence(world.tutor, evidence)
    assert not access.can_view_evidence(world.other_tutor, evidence)
    version.jury = None
    db.session.flush()
    assert not access.can_view_evidence(world.jury, evidence)
    assert not access.can_view_version(world.jury, version)


# --- pages -----------------------------------------------------------------------------------------

def test_first_visit_chooses_the_certification(app, world, login, client):
    login(world.vae)
    response = client.get("/vae/")
    assert response.status_code == 200 and "certification visée" in response.get_data(as_text=True).lower()
    response = client.post("/vae/", data={"certification": world.certification.id})
    assert response.status_code == 302 and response.headers["Location"].endswith("/vae/experiences/")
    assert service.candidate_certification(world.vae).id == world.certification.id
    response = client.get("/vae/")
    assert response.status_code == 302 and "/vae/dossiers/" in response.headers["Location"]


def test_candidate_pages_write_the_dossier_and_sending_lists_what_is_missing(app, world, enrolled, login, client):
    login(world.vae)
    evidence = own_evidence(world.vae)
    db.session.commit()
    response = client.post("/vae/experiences/new", data={
        "organisation": "Acme", "job_title": "Développeur", "start_date": "2020-01-06", "time_basis": "full_time",
        "sector": "Numérique", "activities": "API", "tools": "Python", "evidence": [evidence.id]})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert client.get("/vae/").status_code == 200  # enrolled, no dossier yet: a GET creates nothing
    assert service.dossier_of(world.vae) is None
    assert client.post("/vae/", data={"certification": world.certification.id}).status_code == 302  # creates it
    dossier = service.dossier_of(world.vae)
    assert client.get("/vae/").headers["Location"].endswith(f"/vae/dossiers/{dossier.id}")
    experience = service.experiences_of(world.vae)[0]
    assert experience.evidence[0].id == evidence.id
    assert client.get(f"/vae/experiences/{experience.id}/edit").status_code == 200

    response = client.post(f"/vae/dossiers/{dossier.id}/send", data={"confirm": "y"})
    body = response.get_data(as_text=True)
    assert "Choisissez au moins un bloc de compétences." in body

    client.post(f"/vae/dossiers/{dossier.id}/presentation", data={"presentation": "Mon parcours."})
    data = {"is_applied": "y", "activities": "A", "context": "C", "means": "M", "experiences": [experience.id]}
    for competency in block_competencies():
        data[f"narrative-{competency.id}"] = "Récit"
        data[f"evidence-{competency.id}"] = [evidence.id]
    response = client.post(f"/vae/dossiers/{dossier.id}/blocks/{B1}", data=data)
    assert response.status_code == 302
    page = client.get(f"/vae/dossiers/{dossier.id}").get_data(as_text=True)
    assert "Le dossier est complet pour les blocs demandés." in page
    response = client.post(f"/vae/dossiers/{dossier.id}/send", data={"confirm": "y"})
    assert response.status_code == 302 and "/vae/versions/" in response.headers["Location"]
    assert client.get(response.headers["Location"]).status_code == 200
    assert client.get(f"/vae/dossiers/{dossier.id}/blocks/NOPE").status_code == 404


def test_jury_pages_record_decisions_and_the_candidate_sees_them(app, world, vae_case, login, client):
    login(world.jury)
    assert "Victor Candidat" in client.get("/vae/jury/").get_data(as_text=True)
    version_id = vae_case["version"]
    assert client.get(f"/vae/versions/{version_id}").status_code == 200
    assert client.get(f"/evidence/{vae_case['vae_evidence']}").status_code == 200
    response = client.post(f"/vae/versions/{version_id}/decisions",
                           data={"block": B1, "result": "validated", "comment": ""}, follow_redirects=True)
    assert db.session.scalar(select(JuryBlockDecision.id)) is None
    response = client.post(f"/vae/versions/{version_id}/decisions",
                           data={"block": B1, "result": "validated", "comment": "Compétences démontrées."})
    assert response.status_code == 302
    response = client.post(f"/vae/versions/{version_id}/outcome",
                           data={"outcome-outcome": "partial", "outcome-comment": "Un bloc validé.",
                                 "outcome-confirm": "y"})
    assert response.status_code == 302
    client.post("/logout")
    login(world.vae)
    page = client.get(f"/vae/versions/{version_id}").get_data(as_text=True)
    assert "Compétences démontrées." in page and "Validation partielle" in page
    assert "decision-form" not in page


@pytest.mark.parametrize("role", ["vae", "tutor", "other_tutor", "admin", "learner"])
def test_decision_posts_are_refused_to_all_but_the_jury(app, world, vae_case, login, client, role):
    login(getattr(world, role))
    version_id = vae_case["version"]
    for path, data in [(f"/vae/versions/{version_id}/decisions", {"block": B1, "result": "validated", "comment": "x"}),
                       (f"/vae/versions/{version_id}/outcome", {"outcome-outcome": "full", "outcome-comment": "x"})]:
        assert client.post(path, data=data).status_code in (403, 404)
    assert db.session.scalar(select(JuryBlockDecision.id)) is None


@pytest.mark.parametrize("role", ["tutor", "other_tutor", "admin", "jury", "learner"])
def test_only_the_candidate_edits_and_sends(app, world, vae_case, login, client, role):
    login(getattr(world, role))
    dossier_id = vae_case["dossier"]
    assert client.post(f"/vae/dossiers/{dossier_id}/presentation",
                       data={"presentation": "Piraté"}).status_code in (403, 404)
    assert client.post(f"/vae/dossiers/{dossier_id}/send").status_code in (403, 404)
    assert client.post(f"/vae/experiences/{vae_case['experience']}/delete").status_code in (403, 404)
    db.session.expire_all()
    dossier = db.session.get(Dossier, dossier_id)
    assert dossier.presentation == "Développeur depuis 2020." and len(dossier.versions) == 1


def test_admin_forms_juries_assigns_and_sets_advisers(app, world, vae_case, login, client):
    login(world.admin)
    response = client.post("/vae/juries/", data={"name": "Jury 2", "members": [world.jury.id]})
    assert response.status_code == 302
    jury = db.session.scalar(select(Jury).where(Jury.name == "Jury 2"))
    response = client.post(f"/vae/juries/{jury.id}", data={"email": world.tutor.email})
    assert response.status_code == 422  # not a jury member
    response = client.post(f"/vae/versions/{vae_case['version']}/assign", data={"jury": jury.id})
    assert response.status_code == 302
    assert db.session.get(DossierVersion, vae_case["version"]).jury_id == jury.id
    response = client.post(f"/vae/candidates/{world.vae.id}/adviser",
                           data={f"a{world.vae.id}-adviser": world.other_tutor.id})
    assert response.status_code == 302
    assert service.enrolment_of(world.vae).adviser_id == world.other_tutor.id
    assert client.get("/vae/candidates/").status_code == 200
    client.post("/logout")
    login(world.tutor)  # no longer the adviser
    assert client.get(f"/vae/dossiers/{vae_case['dossier']}").status_code == 404


def test_adviser_reads_and_comments(app, world, vae_case, login, client):
    login(world.tutor)
    assert "Victor Candidat" in client.get("/vae/candidates/").get_data(as_text=True)
    page = client.get(f"/vae/dossiers/{vae_case['dossier']}").get_data(as_text=True)
    assert "Rédiger le bloc" not in page
    response = client.post(f"/vae/dossiers/{vae_case['dossier']}/comments", data={"body": "Bien avancé."})
    assert response.status_code == 302
    messages = list(db.session.scalars(select(Notification.message).where(Notification.user_id == world.vae.id)))
    assert any("commenté" in m for m in messages)
