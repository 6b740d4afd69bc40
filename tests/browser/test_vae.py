"""Browser journey of a VAE: the candidate chooses the certification, adds an experience, writes a block
section, is told what is missing, sends; an administrator assigns the version to a jury; a jury member
records a block decision and the outcome; the candidate sees them. Every page is checked with axe-core.
(The export step is added with the dossier export.)"""

from __future__ import annotations

import io
import re
from datetime import date

import pytest

from tests.browser.conftest import Browse
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser

B1 = "RNCP28754BC01"


@pytest.fixture
def people(make_user):  # type: ignore[no-untyped-def]
    from portfolio.extensions import db
    from portfolio.services import vae
    from portfolio.services.evidence import Upload, create_evidence

    candidate = make_user("victor@example.org", "vae_candidate", name="Victor Candidat")
    juror = make_user("judith@example.org", "jury", name="Judith Jury")
    admin = make_user("ada@example.org", "admin", name="Ada Admin")
    create_evidence(candidate, title="Rapport de mission", kind="document", context="professional",
                    occurred_on=date(2025, 6, 1), uploads=[Upload("rapport.txt", io.BytesIO(b"rapport"))])
    vae.create_jury("Jury CDA 2026", [juror], actor=admin)
    db.session.commit()
    return {"candidate": candidate, "juror": juror, "admin": admin}


def sign_in(browse: Browse, email: str) -> None:
    page = browse.page
    browse.visit("/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(TEST_PASSWORD)
    browse.submit(page.locator("main form button[type=submit]"))


def sign_out(browse: Browse) -> None:
    browse.submit(browse.page.locator("header form[action$='/logout'] button"))


def test_candidate_writes_and_sends_and_the_jury_decides(browse, people):  # type: ignore[no-untyped-def]
    page = browse.page
    sign_in(browse, "victor@example.org")

    # First visit: choose the certification.
    browse.visit("/vae/")
    page.locator("#certification").select_option(index=0)
    browse.submit(page.locator("main form button[type=submit]"))
    assert page.url.endswith("/vae/experiences/")

    # An experience, with its evidence.
    browse.submit(page.locator("main a.button[href$='/vae/experiences/new']"))
    page.locator("#organisation").fill("Acme SARL")
    page.locator("#sector").fill("Numérique")
    page.locator("#job_title").fill("Développeur")
    page.locator("#start_date").fill("2020-01-06")
    page.locator("label[for=time_basis-1]").click()
    page.locator("#activities").fill("Conception et développement d'API.")
    page.locator("#tools").fill("Python, PostgreSQL")
    page.locator("input[name=evidence]").first.check()
    browse.submit(page.locator("main form button[type=submit]"))
    assert "Acme SARL" in page.locator("main").inner_text()
    assert "Rapport de mission" in page.locator("#experiences, main").first.inner_text()

    # The dossier: sending too early lists what is missing.
    browse.visit("/vae/")
    assert "/vae/dossiers/" in page.url
    dossier_url = page.url
    page.locator("#send-form #confirm").check()
    browse.submit(page.locator("#send-form button[type=submit]"))
    refusal = page.locator("#send-form [role=alert]").inner_text()
    assert "Choisissez au moins un bloc de compétences." in refusal

    browse.submit(page.locator("#presentation a.button"))
    page.locator("#presentation").fill("Développeur depuis 2020, je demande le bloc 1.")
    browse.submit(page.locator("main form button[type=submit]"))

    # A block section: apply, activities, experience, each competency's narrative and evidence.
    browse.submit(page.locator(f"#block-{B1} a.button"))
    page.locator("#is_applied").check()
    page.locator("#activities").fill("J'ai conçu l'API de facturation.")
    page.locator("#context").fill("Équipe de cinq développeurs.")
    page.locator("#means").fill("Python, Flask, PostgreSQL.")
    page.locator("input[name=experiences]").first.check()
    narratives = page.locator("textarea[name^=narrative-]")
    for i in range(narratives.count()):
        narratives.nth(i).fill("J'ai mis en œuvre cette compétence sur le projet de facturation.")
    boxes = page.locator("input[type=checkbox][name^=evidence-]")
    for i in range(boxes.count()):
        boxes.nth(i).check()
    browse.submit(page.locator("main form#section-form button[type=submit]"))
    assert page.url.startswith(dossier_url)
    assert page.locator("#ready").count() == 1

    # Export the draft (PDF): a job, its progress page, then the download link.
    browse.submit(page.locator("form:has(input[name=kind][value=pdf]) button[type=submit]"))
    assert re.search(r"/vae/exports/\d+$", page.url)
    assert page.locator("#export-progress").get_attribute("value") == "100"
    download = page.locator("#export-download a")
    assert download.is_visible()
    response = page.request.get(download.get_attribute("href"))
    assert response.ok and response.body().startswith(b"%PDF")
    browse.visit(dossier_url)

    page.locator("#send-form #confirm").check()
    browse.submit(page.locator("#send-form button[type=submit]"))
    assert re.search(r"/vae/versions/\d+#main$", page.url)
    version_url = page.url.split("#")[0]
    assert "version 1" in page.locator("h1").inner_text()
    sign_out(browse)

    # The administrator assigns the version to the jury.
    sign_in(browse, "ada@example.org")
    browse.visit(version_url)
    page.locator("#jury").select_option(label="Jury CDA 2026")
    browse.submit(page.locator("#assign-form button[type=submit]"))
    assert page.locator("#version-jury").inner_text() == "Jury CDA 2026"
    sign_out(browse)

    # The jury member reads it and decides.
    sign_in(browse, "judith@example.org")
    browse.visit("/vae/jury/")
    browse.submit(page.locator("main table a").first)
    assert page.url.startswith(version_url)
    block = page.locator(f"#block-{B1}")
    block.locator(f"label[for=result-{B1}-validated]").click()
    block.locator(f"#comment-{B1}").fill("Les activités décrites et les preuves démontrent le bloc.")
    browse.submit(block.locator("button[type=submit]"))
    assert page.locator(f"#block-{B1} .block-result").inner_text() == "Validé"
    page.locator("label[for=outcome-outcome-1]").click()  # validation partielle
    page.locator("#outcome-comment").fill("Un bloc sur cinq validé.")
    page.locator("#outcome-confirm").check()
    browse.submit(page.locator("#outcome form button[type=submit]"))
    assert page.locator("#version-outcome").inner_text() == "Validation partielle"
    sign_out(browse)

    # The candidate sees the decision.
    sign_in(browse, "victor@example.org")
    browse.visit(version_url)
    assert page.locator("#version-outcome").inner_text() == "Validation partielle"
    assert "démontrent le bloc" in page.locator(f"#block-{B1}").inner_text()
    assert page.locator("form.decision-form").count() == 0
