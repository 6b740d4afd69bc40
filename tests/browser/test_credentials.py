"""Browser journey of an Open Badge: the learner claims the badge of a validated block, downloads the baked
PNG, and an employer drops it on the public verification page. Every page is checked with axe-core."""

from __future__ import annotations

import io
from datetime import date

import pytest

from portfolio.extensions import db
from portfolio.services import assessment
from portfolio.services import evidence as evidence_service
from portfolio.services.credentials import baking
from portfolio.services.evidence import Upload
from tests.browser.conftest import TIMEOUT_MS, sign_in

pytestmark = pytest.mark.browser

BC01 = [f"RNCP28754BC01-C0{n}" for n in range(1, 8)]


@pytest.fixture
def validated(app, world):  # type: ignore[no-untyped-def]
    with app.test_request_context():
        item = evidence_service.create_evidence(world.learner, title="API de réservation", kind="code",
                                                context="project", occurred_on=date(2026, 3, 2),
                                                uploads=[Upload("api.py", io.BytesIO(b"print(42)\n"))])
        for code in BC01:
            evidence_service.tag_evidence(item, code, "Je le montre.", actor=world.learner)
        assessment.submit_evidence(item, actor=world.learner)
        for code in BC01:
            assessment.record_assessment(item, code, "acquired", "", assessor=world.tutor)
        block = assessment.find_block(world.certification.id, "RNCP28754BC01")
        assessment.validate_block(world.learner, block, actor=world.tutor)
        db.session.commit()
    return block, item


def test_learner_claims_a_badge_and_an_employer_verifies_the_png(browse, world, validated, tmp_path):  # type: ignore[no-untyped-def]
    block, item = validated
    page = browse.page
    sign_in(browse, world.learner.email)
    browse.visit(f"/learners/{world.learner.id}/progress")
    page.locator("#block-RNCP28754BC01 > summary").click()  # the block's details, where its decision is
    browse.submit(page.get_by_role("link", name="Demander le badge de ce bloc"))
    key = f"tutor-{block.id}"
    page.locator(f"#{key}-evidence-{item.id}").check()
    browse.submit(page.locator(f"#claim-button-{key}"))
    assert "Badge émis pour le bloc RNCP28754BC01" in page.locator(".flashes").inner_text()
    with page.expect_download(timeout=TIMEOUT_MS) as download_info:
        page.get_by_role("link", name="Image PNG").click()
    path = tmp_path / "badge.png"
    download_info.value.save_as(path)
    assert baking.unbake_png(path.read_bytes()).count(".") == 2
    browse.submit(page.locator("form[action$='/logout'] button"))
    browse.visit("/credentials/verify")
    page.locator("#upload").set_input_files(str(path))
    page.locator("#email").fill(world.learner.email)
    browse.submit(page.locator("#verify-button"))
    result = page.locator("#verify-result")
    assert result.get_attribute("data-valid") == "true"
    assert "Badge valide" in result.inner_text() and "Lina Apprenante" in result.inner_text()
    assert "correspond au badge" in page.locator("#email-match").inner_text()
    assert "API de réservation" in result.inner_text()
