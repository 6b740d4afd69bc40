"""Every edit form shows what was saved: open it, send it back without touching anything, and the records
are exactly as they were (before, the VAE block form showed its linked experiences unticked, and the next
save unlinked them)."""

from __future__ import annotations

import io
from datetime import date

import pytest

from portfolio.extensions import db
from portfolio.services import logbook
from portfolio.services import vae as vae_service
from portfolio.services.evidence import Upload, create_evidence, tag_evidence
from tests.formpost import read_form, resubmit

B1 = "RNCP28754BC01"
pytestmark = pytest.mark.db


def _evidence(owner, title="Rapport de mission"):  # type: ignore[no-untyped-def]
    item = create_evidence(owner, title=title, kind="code", context="professional", occurred_on=date(2025, 6, 1),
                           description="# Titre\n\nDu *Markdown*.", url="https://example.org/depot",
                           uploads=[Upload("rapport.txt", io.BytesIO(b"rapport"))])
    db.session.flush()
    return item


def _same_after_resubmit(client, url, state, form_id=None):  # type: ignore[no-untyped-def]
    before = state()
    response = resubmit(client, url, form_id)
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:2000]
    db.session.expire_all()
    after = state()
    assert after == before
    return before


def test_vae_block_form_keeps_linked_experiences_and_claims(app, client, world, login):  # type: ignore[no-untyped-def]
    candidate = world.vae
    vae_service.enrol_candidate(candidate, world.certification, actor=candidate)
    dossier = vae_service.get_or_create_dossier(candidate)
    evidence = _evidence(candidate)
    experience = vae_service.create_experience(candidate, actor=candidate, organisation="Acme", job_title="Dév",
                                               start_date=date(2020, 1, 6), time_basis="part_time")
    section = vae_service.section_for(dossier, B1)
    vae_service.update_section(section, actor=candidate, applied=True, activities="A", context="C", means="M",
                               experience_ids=[experience.id])
    competency = section.block.competencies[0]
    vae_service.set_claim(dossier, competency, actor=candidate, narrative="Récit", evidence_ids=[evidence.id])
    db.session.commit()
    login(candidate)

    def state():  # type: ignore[no-untyped-def]
        s = vae_service.section_for(db.session.get(type(dossier), dossier.id), B1)
        claims = vae_service.dossier_competencies(s.dossier)
        return {"applied": s.is_applied, "texts": (s.activities, s.context, s.means),
                "experiences": [e.id for e in s.experiences],
                "claims": {k: (c.narrative, [e.id for e in c.evidence]) for k, c in claims.items()}}

    saved = _same_after_resubmit(client, f"/vae/dossiers/{dossier.id}/blocks/{B1}", state, "section-form")
    assert saved["experiences"] == [experience.id]
    assert saved["claims"][competency.id] == ("Récit", [evidence.id])


def test_vae_experience_and_presentation_forms(app, client, world, login):  # type: ignore[no-untyped-def]
    candidate = world.vae
    vae_service.enrol_candidate(candidate, world.certification, actor=candidate)
    dossier = vae_service.get_or_create_dossier(candidate)
    evidence = _evidence(candidate)
    experience = vae_service.create_experience(
        candidate, actor=candidate, organisation="Acme", job_title="Dév", sector="Numérique",
        start_date=date(2020, 1, 6), end_date=date(2022, 3, 1), time_basis="part_time", is_volunteer=True,
        activities="Des API", tools="Python")
    vae_service.set_experience_evidence(experience, [evidence.id], actor=candidate)
    vae_service.update_presentation(dossier, "Mon parcours\n\nen deux paragraphes.", actor=candidate)
    db.session.commit()
    login(candidate)

    def experience_state():  # type: ignore[no-untyped-def]
        e = db.session.get(type(experience), experience.id)
        return (e.organisation, e.job_title, e.sector, e.start_date, e.end_date, e.time_basis.value, e.is_volunteer,
                e.activities, e.tools, [x.id for x in e.evidence])

    saved = _same_after_resubmit(client, f"/vae/experiences/{experience.id}/edit", experience_state)
    assert saved[5] == "part_time" and saved[6] is True and saved[-1] == [evidence.id]

    def presentation_state():  # type: ignore[no-untyped-def]
        return db.session.get(type(dossier), dossier.id).presentation

    _same_after_resubmit(client, f"/vae/dossiers/{dossier.id}/presentation", presentation_state)


def test_evidence_form_keeps_kind_context_and_tags(app, client, world, login):  # type: ignore[no-untyped-def]
    item = _evidence(world.learner)
    tag_evidence(item, _first_code(), "Parce que.", actor=world.learner)
    db.session.commit()
    login(world.learner)

    def state():  # type: ignore[no-untyped-def]
        e = db.session.get(type(item), item.id)
        return (e.title, e.kind.value, e.context.value, e.occurred_on, e.description, e.url,
                [f.filename for f in e.files], sorted((c.competency.code, c.justification) for c in e.claims))

    saved = _same_after_resubmit(client, f"/evidence/{item.id}/edit", state)
    assert saved[1] == "code" and saved[-1]


def _first_code() -> str:
    from sqlalchemy import select

    from portfolio.models import Competency

    return db.session.scalar(select(Competency.code).where(Competency.code.like(f"{B1}%")).order_by(Competency.id))


def test_internship_and_entry_forms(app, client, world, login):  # type: ignore[no-untyped-def]
    internship = logbook.create_internship(
        world.learner, organisation="Acme SARL", supervisor_name="Marc Maître", supervisor_email="marc@example.org",
        start_date=date(2026, 1, 5), end_date=date(2026, 3, 27), expected_hours=280)
    entry = logbook.add_entry(internship, actor=world.learner, day=date(2026, 1, 6), hours="7,5",
                              activities="Revue de code", competency_codes=[_first_code()])
    db.session.commit()
    login(world.learner)

    def internship_state():  # type: ignore[no-untyped-def]
        i = db.session.get(type(internship), internship.id)
        return (i.organisation, i.supervisor_name, i.supervisor_email, i.start_date, i.end_date, i.expected_hours)

    _same_after_resubmit(client, f"/internships/{internship.id}/edit", internship_state)

    def entry_state():  # type: ignore[no-untyped-def]
        e = db.session.get(type(entry), entry.id)
        return (e.day, e.minutes, e.activities, [c.code for c in e.competencies])

    saved = _same_after_resubmit(client, f"/internships/{internship.id}/entries/{entry.id}/edit", entry_state)
    assert saved[1] == 450 and saved[-1] == [_first_code()]


def test_admin_user_form_keeps_roles_language_and_state(app, client, world, login, make_user):  # type: ignore[no-untyped-def]
    person = make_user("multi@example.org", "tutor", "jury", name="Multi Rôles", locale="en")
    login(world.admin)

    def state():  # type: ignore[no-untyped-def]
        u = db.session.get(type(person), person.id)
        return (u.name, sorted(r.value for r in u.roles), u.locale, u.is_enabled, u.password_hash)

    saved = _same_after_resubmit(client, f"/admin/users/{person.id}", state)
    assert saved[1] == ["jury", "tutor"] and saved[2] == "en"


def test_form_reader_sends_what_a_browser_sends() -> None:
    html = """<form id="f" action="/x"><input name="a" value="1"><input type="checkbox" name="b" value="2" checked>
    <input type="checkbox" name="b" value="3"><textarea name="t">
ligne
suite</textarea><select name="s"><option value="p">P</option><option value="q" selected>Q</option></select>
    <button type="submit" name="go">Go</button></form>"""
    assert read_form(html, "f") == ("/x", [("a", "1"), ("b", "2"), ("t", "ligne\r\nsuite"), ("s", "q")])
