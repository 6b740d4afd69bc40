"""An administrator maps a fiche to its next version in the browser and moves its cohort; the learner sees
the new version, the level carried over and the block validated under the old one. axe-core checks every
page (``browse``). Data: the hand-made RNCP35340 → RNCP40792 pair (tests/factories.py)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import sign_in
from tests.factories import NEW_FICHE, OLD_FICHE, import_succession_pair, succession_school
from tests.factories import competency as comp

pytestmark = pytest.mark.browser


def old_code(short: str) -> str:
    return f"{OLD_FICHE}{short}"


def new_code(short: str) -> str:
    return f"{NEW_FICHE}{short}"


def sign_out(browse) -> None:  # type: ignore[no-untyped-def]
    browse.submit(browse.page.locator("header form[action$='/logout'] button[type=submit]"))


@pytest.fixture
def pair(app):  # type: ignore[no-untyped-def]
    return import_succession_pair()


@pytest.fixture
def school(app, pair, make_user):  # type: ignore[no-untyped-def]
    return succession_school(pair, make_user)


def test_admin_reviews_the_suggestions_corrects_one_saves_and_migrates(browse, school, pair, live_server):  # type: ignore[no-untyped-def]
    page = browse.page
    sign_in(browse, school.admin.email)
    browse.visit("/admin/")
    browse.submit(page.get_by_role("link", name="Nouvelles versions des fiches"))
    row = page.locator("#succession-pairs tbody tr")
    assert row.count() == 1 and "nommée par la fiche" in row.inner_text()
    browse.submit(row.get_by_role("link"))
    assert page.url == f"{live_server}/admin/successions/{pair.old.id}/{pair.new.id}"

    # One row per old competency, the suggestion selected, its score shown; a vanished one proposes none.
    assert page.locator("#mapping tbody tr").count() == 15
    reworded = page.locator(f"#row-{old_code('BC01-C01')}")
    assert reworded.get_by_label(f"Correspondance de {old_code('BC01-C01')}", exact=True).input_value() == \
        str(comp(new_code("BC02-C01")).id)
    assert int(reworded.locator("td.score").inner_text().split()[0]) >= 60
    vanished = page.locator(f"#row-{old_code('BC03-C05')}")
    assert vanished.get_by_label(f"Correspondance de {old_code('BC03-C05')}", exact=True).input_value() == "none"
    assert "plus proche" in vanished.locator("td.score").inner_text()
    assert page.locator("#migrate-form").count() == 0  # nothing saved yet: nothing to migrate

    # By hand: « Construire une application organisée en couches » → « Définir l'architecture logicielle ».
    by_hand = page.locator(f"#row-{old_code('BC03-C04')}")
    by_hand.get_by_label(f"Correspondance de {old_code('BC03-C04')}", exact=True).select_option(
        str(comp(new_code("BC02-C02")).id))
    browse.submit(page.get_by_role("button", name="Enregistrer la correspondance"))
    assert page.locator(".flashes .alert--success").inner_text() == "Correspondance enregistrée."
    assert page.locator(f"#row-{old_code('BC03-C04')}").get_attribute("data-kind") == "manual"
    assert "choisie à la main" in page.locator(f"#row-{old_code('BC03-C04')}").inner_text()

    # Migrating asks for the confirmation first, with a French message beside the box.
    migrate = page.get_by_role("button", name="Migrer les promotions")
    browse.submit(migrate)
    assert "Cochez la case de confirmation pour migrer les promotions." in page.locator("#migrate-form").inner_text()
    page.get_by_label("Je confirme le passage des promotions à la nouvelle version").check()
    browse.submit(page.get_by_role("button", name="Migrer les promotions"))
    flash = page.locator(".flashes .alert--success").inner_text()
    assert "1 promotion est passée à RNCP40792." in flash and "3 niveaux repris." in flash
    assert "promotions migrées le" in page.locator("#mapping-state").inner_text()
    sign_out(browse)

    # The learner: the new version, a level carried over with its origin, the old block still validated.
    sign_in(browse, school.learner.email)
    browse.visit(f"/learners/{school.learner.id}/progress")
    assert "RNCP40792" in page.locator("main").inner_text()
    earlier = page.locator("#earlier-validations")
    assert f"{old_code('BC02')}" in earlier.inner_text() and "Persistance maîtrisée." in earlier.inner_text()
    block = page.locator(f"#block-{new_code('BC02')}")
    block.locator("summary").first.click()
    item = page.locator(f"#progress-{new_code('BC02-C01')}")
    item.locator("details summary").click()
    assert f"reprise de {old_code('BC01-C01')}" in item.locator(".history").inner_text()
