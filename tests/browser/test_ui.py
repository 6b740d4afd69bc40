"""The product as people meet it: homes that tell the truth, phone-first pages, the language link.

Every page visited goes through ``browse`` (axe at 390 and 1366 px, no sideways scrolling at 320 px).
Set ``PORTFOLIO_SCREENSHOTS=/some/dir`` to keep a full-page screenshot of each page at both widths.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.browser.conftest import DESKTOP, PHONE, sign_in

pytestmark = pytest.mark.browser

BC01 = [f"RNCP28754BC01-C0{n}" for n in range(1, 8)]


def png(width: int = 64, height: int = 40) -> bytes:
    """A small valid PNG (a gradient), for thumbnails."""
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 4 % 256, 90 + y * 3 % 256, 200))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


JUNIT = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="stock" tests="4" failures="1" errors="0" skipped="0" time="0.3">
  <testcase classname="test_stock" name="test_add" time="0.1"/>
  <testcase classname="test_stock" name="test_remove" time="0.1"/>
  <testcase classname="test_stock" name="test_list" time="0.05"/>
  <testcase classname="test_stock" name="test_negative" time="0.05">
    <failure message="stock below zero">AssertionError</failure></testcase>
</testsuite>
"""


@pytest.fixture
def showcase(app, world, tmp_path):  # type: ignore[no-untyped-def]
    """A lived-in world: the learner has assessed, submitted and draft evidence, feedback, a logbook;
    the VAE candidate a dossier; the jury member a version assigned to their jury."""
    from portfolio.extensions import db
    from portfolio.services import assessment, logbook, vae
    from portfolio.services.cohorts import current_certification
    from portfolio.services.evidence import Upload, create_evidence, tag_evidence
    from portfolio.storage import LocalStorage

    learner, tutor = world.learner, world.tutor
    live_store = LocalStorage(tmp_path / "evidence")  # the live server's store (see live_server): same bytes there
    with app.test_request_context():
        def piece(title, kind, files, codes, *, submit=True, description=""):  # type: ignore[no-untyped-def]
            for _name, body in files:
                live_store.put_stream(io.BytesIO(body))
            item = create_evidence(learner, title=title, kind=kind, context="project", occurred_on=date(2026, 10, 1),
                                   description=description,
                                   uploads=[Upload(name, io.BytesIO(body)) for name, body in files])
            for code in codes:
                tag_evidence(item, code, "Réalisé en autonomie sur le projet fil rouge.", actor=learner)
            if submit and codes:
                assessment.submit_evidence(item, actor=learner)
            return item

        api = piece("Gestion de stock — API REST", "code", [("stock.py", b"def stock(n):\n    return n\n")],
                    BC01[:5], description="Une API **Flask** pour le stock.")
        for code in BC01[:3]:
            assessment.record_assessment(api, code, "acquired", "Code clair, bien testé.", assessor=tutor)
        assessment.record_assessment(api, BC01[3], "in_progress", "Les erreurs ne sont pas gérées.", assessor=tutor)
        assessment.record_assessment(api, BC01[4], "not_acquired", "", assessor=tutor)
        piece("Maquette de l'écran de commande", "document", [("maquette.png", png())], ["RNCP28754BC05-C01"])
        piece("Rapport de tests du module stock", "test_report", [("junit.xml", JUNIT)], [BC01[5]])
        piece("Diagramme de classes (brouillon)", "uml", [("classes.mmd", b"classDiagram\n  Stock <|-- Produit\n")],
              [], submit=False)
        piece("Notes de conception", "document", [("notes.txt", b"notes")], [BC01[6]], submit=False)
        internship = logbook.create_internship(learner, organisation="Acme SARL", supervisor_name="Marc Maître",
                                               supervisor_email="marc@example.org", start_date=date(2026, 9, 7),
                                               end_date=date(2026, 12, 4))
        entries = [logbook.add_entry(internship, actor=learner, day=date(2026, 9, 7) + timedelta(days=d), hours="7",
                                     activities="Développement de l'API.") for d in range(3)]
        logbook.send_for_signoff(internship, entries[:1], actor=learner)

        # VAE: a candidate with a dossier sent to the jury world.jury sits on.
        cert = current_certification("RNCP28754")
        vae.enrol_candidate(world.vae, cert, actor=world.vae)
        dossier = vae.get_or_create_dossier(world.vae)
        vae.update_presentation(dossier, "Développeur depuis 2015.", actor=world.vae)
        jury = vae.create_jury("Jury CDA 2026", [world.jury], actor=world.admin)
        db.session.flush()
        section = vae.section_for(dossier, "RNCP28754BC01")
        vae.update_section(section, actor=world.vae, applied=True, activities="API de facturation.",
                           context="Équipe de cinq.", means="Python, Flask.", experience_ids=[])
        db.session.commit()
    return {"api": api, "internship": internship, "dossier": dossier, "jury": jury}


def assign_version(world, showcase) -> int:  # type: ignore[no-untyped-def]
    """Freeze the candidate's dossier as a version (as ``send_dossier`` would once complete) and assign it."""
    from portfolio.extensions import db
    from portfolio.models import DossierVersion
    from portfolio.models.base import utcnow
    from portfolio.services import vae

    dossier = showcase["dossier"]
    sent_at = utcnow()
    version = DossierVersion(number=1, sent_at=sent_at, snapshot=vae.dossier_snapshot(dossier, 1, sent_at))
    dossier.versions.append(version)
    db.session.flush()
    vae.assign_version(version, showcase["jury"], actor=world.admin)
    db.session.commit()
    return version.id


def shoot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Keep a full-page screenshot at both widths when PORTFOLIO_SCREENSHOTS names a directory."""
    target = os.environ.get("PORTFOLIO_SCREENSHOTS")
    if not target:
        return
    Path(target).mkdir(parents=True, exist_ok=True)
    for label, size in (("390", PHONE), ("1366", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(Path(target) / f"{name}-{label}.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(Path(target) / f"{name}-1366-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(DESKTOP)


def sign_out(browse) -> None:  # type: ignore[no-untyped-def]
    browse.submit(browse.page.locator("header form[action$='/logout'] button[type=submit]"))


def test_learner_home_numbers_match_the_data(browse, world, showcase):  # type: ignore[no-untyped-def]
    page = browse.page
    sign_in(browse, world.learner.email)
    shoot(page, "home-learner")
    bc01 = page.locator("#home-RNCP28754BC01 .summary")
    assert bc01.get_attribute("data-acquired") == "3" and bc01.get_attribute("data-total") == "7"
    text = " ".join(bc01.inner_text().split())
    assert "3 acquises sur 7" in text and "1 en cours" in text and "1 non acquises" in text
    assert "2 pas encore évaluées" in text
    assert page.locator("#stat-acquired .stat__value").inner_text().replace("\u00a0", " ").startswith("3")
    # Next actions: two drafts (one not tagged), five assessments to read, logbook entries.
    assert page.locator("#todo-drafts > div > a").inner_text() == "2 brouillons à soumettre"
    assert "1 n'est rattaché à aucune compétence" in page.locator("#todo-drafts").inner_text()
    assert page.locator("#todo-feedback > div > a").inner_text() == "5 retours à lire"
    assert page.locator("#todo-logbook-send").inner_text().strip() == "2 entrées de journal à envoyer pour signature"
    assert page.locator("#todo-logbook-pending").inner_text().strip().startswith("1 entrée attend")
    assert page.locator("#latest-feedback .feedback > li").count() == 3  # the latest three of five
    # A VAE-only menu is not a learner's, and the learner's speaks of progress and internships.
    nav = page.locator("header nav").inner_text()
    assert "Ma progression" in nav and "Mes stages" in nav and "Mon dossier VAE" not in nav

    # The progress page: blocks folded to their bars; the filter shows only the competencies in a state.
    browse.visit(f"/learners/{world.learner.id}/progress")
    shoot(page, "progress")
    assert page.locator("details.block-progress").count() == 5
    assert page.locator("details.block-progress[open]").count() == 0
    assert not page.locator(f"#progress-{BC01[0]}").is_visible()
    # A folded block's body is not in the page: it is fetched when the block opens.
    assert page.locator(f"#progress-{BC01[0]}").count() == 0
    page.locator("#block-RNCP28754BC01 > summary").click()
    page.locator(f"#progress-{BC01[0]}").wait_for(state="visible")
    shoot(page, "progress-open")
    browse.check()  # the opened block, with its competencies
    # "Imprimer" waits for every block's body before the print dialog (stubbed here) opens.
    page.evaluate("() => { window.print = () => { window.unloaded = "
                  "document.querySelectorAll('.block-progress__body[data-fragment]').length; }; }")
    page.locator("a[data-print]").click()
    page.wait_for_function("() => window.unloaded !== undefined")
    assert page.evaluate("() => window.unloaded") == 0
    assert page.locator(".competency-progress > li").count() == 21
    # A link to a competency opens its folded block and shows it.
    browse.visit(f"/learners/{world.learner.id}/progress#progress-{BC01[2]}")
    page.locator(f"#progress-{BC01[2]}").wait_for(state="visible")
    assert page.locator("details.block-progress[open]").count() == 1
    browse.submit(page.locator("#state-filter a[href$='state=in_progress']"))
    assert page.locator("details.block-progress").count() == 1  # only BC01 has one in progress
    assert page.locator(".competency-progress > li").all() and [
        li.get_attribute("id") for li in page.locator(".competency-progress > li").all()] == [f"progress-{BC01[3]}"]
    assert page.locator(f"#progress-{BC01[3]}").is_visible()

    browse.visit("/evidence/")
    shoot(page, "evidence")
    assert page.locator("#evidence-cards > li").count() == 5
    assert page.locator("#evidence-cards .evidence-card__thumb img").count() == 1  # the mock-up's PNG


def test_tutor_home_shows_the_queue_the_oldest_piece_and_a_heatmap(browse, world, showcase):  # type: ignore[no-untyped-def]
    page = browse.page
    sign_in(browse, world.tutor.email)
    shoot(page, "home-tutor")
    # The API is assessed; the mock-up and the test report wait, the mock-up since longer.
    assert page.locator("#tutor-waiting").inner_text() == "2 preuves attendent votre évaluation"
    assert "Maquette de l'écran de commande" in page.locator("#tutor-oldest").inner_text()
    card = page.locator(f"#cohort-card-{world.cohort.id}")
    assert card.locator(".queue-count").get_attribute("data-waiting") == "2"
    # BC01: 3 of the cohort's 7 cells acquired (one learner) = 43 %.
    assert card.locator(".heatmap td").first.inner_text().split("\u202f")[0] == "43"
    assert page.locator(f"#cohort-card-{world.other_cohort.id}").count() == 0


def test_vae_candidate_home_and_menu_speak_of_the_dossier(browse, world, showcase):  # type: ignore[no-untyped-def]
    page = browse.page
    sign_in(browse, world.vae.email)
    shoot(page, "home-vae")
    nav = page.locator("header nav").inner_text()
    assert "Mon dossier VAE" in nav and "Mes expériences" in nav
    assert "Mes stages" not in nav and "Ma progression" not in nav
    assert "promotion" not in page.locator("main").inner_text()
    assert page.locator("#dossier-RNCP28754BC01").count() == 1  # the one block applied for
    assert "3 éléments rédigés ou prouvés sur 17" in page.locator("#dossier-RNCP28754BC01").inner_text()


def test_jury_home_lists_the_dossier_assigned_to_them(browse, world, showcase):  # type: ignore[no-untyped-def]
    version_id = assign_version(world, showcase)
    page = browse.page
    sign_in(browse, world.jury.email)
    shoot(page, "home-jury")
    assert page.locator("#jury-count").inner_text() == "1 dossier vous est confié."
    link = page.locator("#jury-dossiers tbody a")
    assert link.inner_text() == "Victor Candidat"
    assert link.get_attribute("href") == f"/vae/versions/{version_id}"
    assert "Aucun dossier" not in page.locator("main").inner_text()


def test_language_link_is_remembered_on_the_browser_and_the_account(browse, world, showcase, live_server):  # type: ignore[no-untyped-def]
    from portfolio.extensions import db

    page = browse.page
    browse.visit("/login")
    assert page.locator("html").get_attribute("lang") == "fr"
    browse.submit(page.locator("#language-link"))  # a plain link: no form, no button
    assert page.url == f"{live_server}/login" and page.locator("html").get_attribute("lang") == "en"
    browse.visit("/login")  # remembered by this browser
    assert page.locator("html").get_attribute("lang") == "en"
    sign_in(browse, world.learner.email)
    assert page.locator("html").get_attribute("lang") == "en"
    db.session.expire_all()
    assert world.learner.locale == "en"  # kept on the account at sign-in
    # Back to French from a deep page: the link returns to the same page.
    browse.visit(f"/learners/{world.learner.id}/progress")
    browse.submit(page.locator("#language-link"))
    assert page.url == f"{live_server}/learners/{world.learner.id}/progress"
    assert page.locator("html").get_attribute("lang") == "fr"


def test_phone_menu_folds_and_opens_with_and_without_javascript(browse, world, showcase, browser, live_server):  # type: ignore[no-untyped-def]
    page = browse.page
    sign_in(browse, world.learner.email)
    page.set_viewport_size(PHONE)
    menu = page.locator("#site-menu")
    button = page.locator("header .nav-button")
    assert not menu.is_visible() and button.get_attribute("aria-expanded") == "false"
    box = button.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44  # a tap target
    button.click()
    assert menu.is_visible() and button.get_attribute("aria-expanded") == "true"
    for link in page.locator("header nav a").all():
        assert link.bounding_box()["height"] >= 44
    shoot(page, "menu-open")
    page.set_viewport_size(PHONE)
    page.keyboard.press("Escape")
    assert not menu.is_visible()
    page.set_viewport_size(DESKTOP)
    assert menu.is_visible() and not button.is_visible()

    # Without JavaScript, the checkbox and its label open the same menu.
    context = browser.new_context(java_script_enabled=False, viewport=PHONE, base_url=live_server)
    try:
        bare = context.new_page()
        bare.goto("/login")
        assert not bare.locator("#site-menu").is_visible()
        bare.locator("label[for=nav-toggle]").click()
        assert bare.locator("#site-menu").is_visible()
        assert bare.locator("#language-link").is_visible()
    finally:
        context.close()


def test_tutor_reviews_a_batch_with_the_keyboard(browse, world, showcase, live_server):  # type: ignore[no-untyped-def]
    from portfolio.extensions import db
    from portfolio.models import Assessment, Evidence, EvidenceStatus

    page = browse.page
    sign_in(browse, world.tutor.email)
    browse.submit(page.locator("#home-start-review"))
    shoot(page, "review")
    # The oldest piece first, the piece beside its assessment form.
    assert page.locator("#review-position").inner_text() == "Preuve 1 sur 2"
    assert page.locator("h1").inner_text() == "Maquette de l'écran de commande"
    assert page.locator(".review-piece .file-view img").count() == 1
    # n: the next piece without recording, p: back.
    with page.expect_navigation():
        page.keyboard.press("n")
    browse.check()
    assert page.locator("#review-position").inner_text() == "Preuve 2 sur 2"
    with page.expect_navigation():
        page.keyboard.press("p")
    browse.check()
    # 1 = acquis for the (only) competency, c = comment, Escape, Ctrl+Enter = record and go on.
    page.keyboard.press("1")
    assert page.locator("#rv-RNCP28754BC05-C01-acquired").is_checked()
    page.keyboard.press("c")
    page.keyboard.type("Maquette lisible, parcours complet.")
    page.keyboard.press("Escape")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    browse.check()
    assert "1 évaluation enregistrée" in page.locator(".flashes").inner_text()
    assert page.locator("h1").inner_text() == "Rapport de tests du module stock"  # the next one, at once
    assert page.locator("#review-position").inner_text() == "Preuve 1 sur 1"
    assert page.locator(".review-piece .report-table, .review-piece table").count() >= 1
    # Submitting without any level is refused, on the same piece, the message focused.
    with page.expect_navigation():
        page.locator("#review-submit").click()
    browse.check()
    assert page.locator("#review-error").is_visible()
    assert page.evaluate("document.activeElement.id") == "review-error"
    page.locator("label[for='rv-RNCP28754BC01-C06-not_acquired']").click()
    browse.submit(page.locator("#review-submit"))
    assert page.locator("#review-done").is_visible()  # the queue is empty

    db.session.expire_all()
    mock = db.session.scalar(db.select(Evidence).where(Evidence.title == "Maquette de l'écran de commande"))
    assert mock.status == EvidenceStatus.ASSESSED
    recorded = db.session.scalars(db.select(Assessment).where(Assessment.evidence_id == mock.id)).all()
    assert [(a.level.value, a.comment) for a in recorded] == [("acquired", "Maquette lisible, parcours complet.")]


def test_files_dropped_and_an_image_pasted_are_listed_sent_with_a_bar_each(browse, world, live_server):  # type: ignore[no-untyped-def]
    from portfolio.extensions import db
    from portfolio.models import Evidence

    page = browse.page
    sign_in(browse, world.learner.email)
    browse.visit("/evidence/new")
    page.locator("#title").fill("Captures et sources")
    page.locator("#kind").select_option("document")
    page.locator("#occurred_on").fill("2026-10-01")
    # Two files dropped at once on the zone, then an image pasted from the clipboard.
    page.evaluate("""() => {
        const t = new DataTransfer();
        t.items.add(new File(['print(1)\\n'], 'a.py', {type: 'text/x-python'}));
        t.items.add(new File(['# notes\\n'], 'notes.md', {type: 'text/markdown'}));
        t.items.add(new File(['tmp'], 'oops.txt', {type: 'text/plain'}));
        document.querySelector('.dropzone').dispatchEvent(new DragEvent('drop', {dataTransfer: t, bubbles: true}));
    }""")
    page.evaluate("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const t = new DataTransfer();
        t.items.add(new File([bytes], 'image.png', {type: 'image/png'}));
        document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: t, bubbles: true}));
    }""", __import__("base64").b64encode(png()).decode())
    rows = page.locator("#upload-list > li")
    assert rows.count() == 4
    assert rows.locator(".name", has_text="capture-").count() == 1  # the pasted image gets a name
    rows.filter(has_text="oops.txt").locator("button").click()  # taken out before sending
    assert rows.count() == 3
    assert page.evaluate("document.querySelector('#files').files.length") == 3
    browse.check()
    browse.submit(page.locator("main form button[type=submit]"))
    assert page.locator("h1").inner_text() == "Captures et sources"
    db.session.expire_all()
    item = db.session.scalar(db.select(Evidence).where(Evidence.title == "Captures et sources"))
    assert sorted(f.filename.split("-")[0] for f in item.files) == ["a.py", "capture", "notes.md"]


def test_one_file_of_several_is_cancelled_while_they_are_sent(browse, world, live_server):  # type: ignore[no-untyped-def]
    """Per-file cancel: the form's request under way is held back by the test; « Annuler » on one row
    stops it and the form goes again without that file, the others recorded."""
    from portfolio.extensions import db
    from portfolio.models import Evidence

    page = browse.page
    sign_in(browse, world.learner.email)
    browse.visit("/evidence/new")
    page.locator("#title").fill("Trois fichiers, deux gardés")
    page.locator("#kind").select_option("document")
    page.locator("#occurred_on").fill("2026-10-02")
    page.evaluate("""() => {
        const t = new DataTransfer();
        t.items.add(new File(['print(1)\\n'], 'a.py', {type: 'text/x-python'}));
        t.items.add(new File(['# notes\\n'], 'notes.md', {type: 'text/markdown'}));
        t.items.add(new File(['x'.repeat(5000)], 'gros.txt', {type: 'text/plain'}));
        document.querySelector('.dropzone').dispatchEvent(new DragEvent('drop', {dataTransfer: t, bubbles: true}));
    }""")
    held = []  # the first POST of the form, never answered: the upload is "under way"
    bodies = []

    def hold_first(route):  # type: ignore[no-untyped-def]
        bodies.append(route.request.post_data_buffer or b"")
        if not held:
            held.append(route)
        else:
            route.continue_()

    page.route("**/evidence/new", lambda route: hold_first(route) if route.request.method == "POST"
               else route.continue_())
    rows = page.locator("#upload-list > li")
    page.locator("main form button[type=submit]").click()
    page.wait_for_function("document.querySelector('#upload-list button').textContent.startsWith('Annuler')")
    assert rows.locator("button", has_text="Annuler").count() == 3  # each row: « Annuler », not « Retirer »
    for _ in range(200):  # until the form's request reaches the route (polled, no time asserted)
        if bodies:
            break
        page.wait_for_timeout(25)
    assert len(bodies) == 1 and b'filename="notes.md"' in bodies[0]
    with page.expect_navigation():
        rows.filter(has_text="notes.md").locator("button").click()
    browse.check()
    assert page.locator("h1").inner_text() == "Trois fichiers, deux gardés"
    assert len(bodies) == 2 and b"notes.md" not in bodies[1] and b'filename="a.py"' in bodies[1]
    db.session.expire_all()
    item = db.session.scalar(db.select(Evidence).where(Evidence.title == "Trois fichiers, deux gardés"))
    assert sorted(f.filename for f in item.files) == ["a.py", "gros.txt"]
