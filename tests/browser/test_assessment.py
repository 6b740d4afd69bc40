"""A tutor assesses in the browser: queue, evidence page, assessment form; the learner's progress page;
the cohort matrix. axe-core checks every page (``browse``)."""

from __future__ import annotations

import io
from datetime import date

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

C1 = "RNCP28754BC01-C01"


@pytest.fixture
def submitted(app, world):  # type: ignore[no-untyped-def]
    """A submitted piece of evidence of world.learner, tagged against two competencies."""
    from portfolio.extensions import db
    from portfolio.services import assessment, evidence

    with app.test_request_context():
        item = evidence.create_evidence(world.learner, title="Gestion de stock — API REST", kind="code",
                                        context="project", occurred_on=date(2026, 10, 1),
                                        uploads=[evidence.Upload("stock.py", io.BytesIO(b"def stock(): ..."))])
        evidence.tag_evidence(item, C1, "Le module stock est codé et testé.", actor=world.learner)
        evidence.tag_evidence(item, "RNCP28754BC01-C02", "Schéma SQL du stock.", actor=world.learner)
        assessment.submit_evidence(item, actor=world.learner)
        db.session.commit()
    return item


def sign_out(browse) -> None:  # type: ignore[no-untyped-def]
    browse.submit(browse.page.locator("header form[action$='/logout'] button[type=submit]"))


def test_tutor_assesses_the_learner_sees_it_and_the_matrix_shows_it(browse, world, submitted, live_server):  # type: ignore[no-untyped-def]
    page = browse.page
    sign_in(browse, world.tutor.email)

    # The queue, from the navigation.
    browse.submit(page.locator("header nav a[href='/assessments/']"))
    assert page.locator("#queue tbody tr").count() == 1
    assert "Lina Apprenante" in page.locator("#queue tbody tr").inner_text()

    # The evidence page: justifications, current level, one form per tagged competency.
    browse.submit(page.locator("#queue tbody tr a", has_text="Gestion de stock"))
    assert page.url == f"{live_server}/evidence/{submitted.id}"
    card = page.locator(f"#assess-{C1}")
    assert "Le module stock est codé et testé." in card.inner_text()
    card.get_by_label("acquis", exact=True).check()
    card.get_by_label("Commentaire (Markdown)").fill("Code **clair** et tests complets.")
    browse.submit(card.locator("button[type=submit]"))
    card = page.locator(f"#assess-{C1}")
    assert card.locator(".history strong").inner_text() == "clair"
    assert "par Théo Formateur" in card.locator(".history").inner_text()
    assert page.locator(".flashes .alert--success").count() == 1

    # The cohort matrix: the cell says "A" (acquired) in text, not only in colour.
    browse.visit(f"/cohorts/{world.cohort.id}/matrix")
    row = page.locator("#matrix tbody tr", has_text="Lina Apprenante")
    assert row.locator("td.level--acquired").count() == 1
    assert row.locator("td.level--acquired [aria-hidden=true]").inner_text() == "A"
    assert row.locator("td.total").inner_text().startswith("1/21")
    sign_out(browse)

    # The learner: notified, and the assessment is on the progress page.
    sign_in(browse, world.learner.email)
    assert page.locator("#nav-notifications .count").inner_text().startswith("1")
    browse.submit(page.locator("#progress-link"))
    assert page.url == f"{live_server}/learners/{world.learner.id}/progress"
    assert "Acquises\u00a0: 1 sur 7" in page.locator("#legend-RNCP28754BC01").inner_text()
    page.locator("#block-RNCP28754BC01 > summary").click()  # blocks are folded to their bars
    competency = page.locator(f"#progress-{C1}")
    assert competency.locator(".level").first.inner_text() == "acquis"
    competency.locator("summary").click()
    assert "Code clair et tests complets." in competency.locator(".history").inner_text()
    browse.check()  # the history, open

    browse.visit("/notifications")
    assert page.locator("#notifications li").count() == 1
    browse.submit(page.locator("#mark-read"))
    assert page.locator("#nav-notifications .count").count() == 0
