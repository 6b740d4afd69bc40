"""The defects a walk through every journey found, each checked in a real browser (axe on every page):
a saved VAE block keeps its linked experiences when reopened and saved again; the jury cannot record an
outcome that contradicts its block decisions, sees why beside the form with focus on it and its text kept,
and the candidate is told once; a long unbroken title never widens the page on a phone; a program is
refused in French; opening a notification marks it read and the header count follows; without SMTP the
sign-off page says no e-mail leaves.

``PORTFOLIO_SCREENSHOTS=DIR`` saves each step at 1366 and 390 px wide, to look at."""

from __future__ import annotations

import io
import os
import re
from datetime import date
from pathlib import Path

import pytest

from tests.browser.conftest import Browse
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser
B1, B2 = "RNCP28754BC01", "RNCP28754BC02"


def shoot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    folder = os.environ.get("PORTFOLIO_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=f"{folder}/{name}-{width}.png", full_page=True)
    page.set_viewport_size(size)


def sign_in(browse: Browse, email: str) -> None:
    page = browse.page
    browse.visit("/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(TEST_PASSWORD)
    browse.submit(page.locator("main form button[type=submit]"))


def sign_out(browse: Browse) -> None:
    browse.submit(browse.page.locator("header form[action$='/logout'] button"))


def no_horizontal_scroll(page) -> bool:  # type: ignore[no-untyped-def]
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture
def vae_people(make_user):  # type: ignore[no-untyped-def]
    from portfolio.extensions import db
    from portfolio.services import vae
    from portfolio.services.cohorts import current_certification
    from portfolio.services.evidence import Upload, create_evidence

    candidate = make_user("victor@example.org", "vae_candidate", name="Victor Candidat")
    juror = make_user("judith@example.org", "jury", name="Judith Jury")
    admin = make_user("ada@example.org", "admin", name="Ada Admin")
    vae.enrol_candidate(candidate, current_certification("RNCP28754"), actor=candidate)
    evidence = create_evidence(candidate, title="Rapport de mission", kind="document", context="professional",
                               occurred_on=date(2025, 6, 1), uploads=[Upload("rapport.txt", io.BytesIO(b"r"))])
    vae.create_experience(candidate, actor=candidate, organisation="Acme SARL", job_title="Développeur",
                          start_date=date(2020, 1, 6), time_basis="full_time")
    dossier = vae.get_or_create_dossier(candidate)
    vae.update_presentation(dossier, "Développeur depuis 2020.", actor=candidate)
    db.session.flush()
    for code in (B1, B2):
        section = vae.section_for(dossier, code)
        for competency in section.block.competencies:
            vae.set_claim(dossier, competency, actor=candidate, narrative="Récit.", evidence_ids=[evidence.id])
    jury = vae.create_jury("Jury CDA 2026", [juror], actor=admin)
    db.session.commit()
    return {"dossier": dossier.id, "jury": jury.id}


def fill_block(page, code: str) -> None:  # type: ignore[no-untyped-def]
    page.locator("#is_applied").check()
    page.locator("#activities").fill(f"Activités du bloc {code}.")
    page.locator("#context").fill("Équipe de cinq.")
    page.locator("#means").fill("Python.")
    page.locator("input[name=experiences]").first.check()


def test_vae_block_form_keeps_experiences_and_the_jury_rules_hold(browse, vae_people):  # type: ignore[no-untyped-def]
    page = browse.page
    dossier_url = f"/vae/dossiers/{vae_people['dossier']}"
    sign_in(browse, "victor@example.org")
    for code in (B1, B2):
        browse.visit(f"{dossier_url}/blocks/{code}")
        fill_block(page, code)
        browse.submit(page.locator("form#section-form button[type=submit]"))
    # Reopen the first block: its experience is ticked; saving it again unchanged keeps it.
    browse.visit(f"{dossier_url}/blocks/{B1}")
    assert page.locator("input[name=experiences]").first.is_checked()
    shoot(page, "vae-block-form")
    browse.submit(page.locator("form#section-form button[type=submit]"))
    # The flash moved beside the block it is about, and has the focus.
    assert page.locator(f"#block-{B1} .flashes").count() == 1
    assert page.evaluate("() => document.activeElement.id") == "flashes"

    # Sending asks for a confirmation (no JavaScript needed): unticked, refused in the form itself.
    browse.submit(page.locator("#send-form button[type=submit]"))
    alert = page.locator("#send-form [role=alert]")
    assert "Cochez la case pour confirmer" in alert.inner_text()
    assert page.evaluate("() => document.activeElement.getAttribute('role')") == "alert"
    shoot(page, "vae-send-refused")
    page.locator("#send-form #confirm").check()
    browse.submit(page.locator("#send-form button[type=submit]"))
    version_url = page.url.split("#")[0]
    assert page.locator(f"#block-{B1} dd").first.inner_text() == "Développeur — Acme SARL"  # not « aucune »
    sign_out(browse)

    sign_in(browse, "ada@example.org")
    browse.visit(version_url)
    page.locator("#jury").select_option(label="Jury CDA 2026")
    browse.submit(page.locator("#assign-form button[type=submit]"))
    sign_out(browse)

    sign_in(browse, "judith@example.org")
    browse.visit(version_url)
    for code, result in ((B1, "validated"), (B2, "not_validated")):
        block = page.locator(f"#block-{code}")
        block.locator(f"label[for=result-{code}-{result}]").click()
        block.locator(f"#comment-{code}").fill(f"Motivation du bloc {code}.")
        browse.submit(block.locator("button[type=submit]"))
    # « Validation totale » contradicts BC02's decision: refused beside the form, the text kept, focus there.
    page.locator("label[for=outcome-outcome-0]").click()
    page.locator("#outcome-comment").fill("Ma motivation détaillée.")
    browse.submit(page.locator("#outcome-form button[type=submit]"))
    alert = page.locator("#outcome-form [role=alert]")
    assert B2 in alert.inner_text() and "Cochez la case de confirmation" in alert.inner_text()
    assert page.locator("#outcome-comment").input_value() == "Ma motivation détaillée."
    assert page.evaluate("() => document.activeElement.closest('#outcome-form') !== null")
    shoot(page, "vae-outcome-refused")
    page.locator("label[for=outcome-outcome-1]").click()
    page.locator("#outcome-confirm").check()
    browse.submit(page.locator("#outcome-form button[type=submit]"))
    assert page.locator("#deliberation-closed").count() == 1 and page.locator("form.decision-form").count() == 0
    shoot(page, "vae-closed")
    sign_out(browse)

    # The candidate was told once, of the final decision, naming the validated block.
    sign_in(browse, "victor@example.org")
    browse.visit("/notifications")
    items = page.locator("#notifications li").all_inner_texts()
    decisions = [t for t in items if "jury" in t.lower()]
    assert len(decisions) == 1 and f"bloc validé : {B1}" in decisions[0]


@pytest.fixture
def learner(make_user):  # type: ignore[no-untyped-def]
    from portfolio.extensions import db
    from portfolio.models import MemberRole
    from portfolio.services.assessment import notify
    from portfolio.services.cohorts import add_member, create_cohort, current_certification

    person = make_user("lina@example.org", "learner", name="Lina Apprenante")
    cohort = create_cohort("Promo 2026", current_certification("RNCP28754"), 2026, actor=None)
    add_member(cohort, person, MemberRole.LEARNER, actor=None)
    notify(person, "Première notification", "/evidence/")
    notify(person, "Deuxième notification", "/evidence/")
    db.session.commit()
    return person


def test_long_titles_programs_and_notifications(browse, learner):  # type: ignore[no-untyped-def]
    page = browse.page
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(browse, "lina@example.org")
    # A program is refused, in French, whatever kind it is given.
    browse.visit("/evidence/new")
    page.locator("#title").fill("Mon outil")
    page.locator("#kind").select_option("code")
    page.locator("#occurred_on").fill("2026-01-05")
    page.locator("#files").set_input_files(files=[{"name": "outil.pdf", "mimeType": "application/pdf",
                                                   "buffer": b"\x7fELF\x02\x01\x01" + b"\0" * 200}])
    # (The upload script shows the refusal in place of the page, without a navigation.)
    page.locator("main form button[type=submit]").click()
    page.get_by_text("pas une preuve", exact=False).first.wait_for()
    browse.check()
    assert "est un programme (exécutable Linux (ELF)), pas une preuve" in page.locator("main").inner_text()

    # A 200-character title without a space wraps; nothing widens the page on a phone.
    title = "Architecture" * 16 + "Fin"
    page.locator("#title").fill(title[:200])
    page.locator("#files").set_input_files(files=[{"name": "notes.txt", "mimeType": "text/plain",
                                                   "buffer": b"des notes"}])
    browse.submit(page.locator("main form button[type=submit]"))
    assert re.search(r"/evidence/\d+$", page.url)
    assert no_horizontal_scroll(page)
    shoot(page, "evidence-long-title")
    browse.visit("/evidence/")
    assert no_horizontal_scroll(page)
    # Over the limit: refused, the limit named, never cut silently (no maxlength on the field).
    browse.visit("/evidence/new")
    assert page.locator("#title").get_attribute("maxlength") is None

    # Opening a notification marks it read; the header count follows.
    browse.visit("/notifications")
    count = page.locator("#nav-notifications .count")
    assert count.inner_text().startswith("2")
    browse.submit(page.locator("#notifications button.link-button").first)
    assert page.url.endswith("/evidence/")
    assert page.locator("#nav-notifications .count").inner_text().startswith("1")
    browse.visit("/notifications")
    browse.submit(page.locator("#mark-read"))
    assert page.locator("#nav-notifications .count").count() == 0
    assert page.locator("#mark-read").count() == 0
    shoot(page, "notifications")
