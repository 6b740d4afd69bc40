"""Browser journey of a learner's own data: the privacy page, the archive of everything (prepared, then
downloaded), the erasure request with its confirmation; then the administrator answers it with a reason.
Every page is checked with axe-core by ``browse``, at desktop and phone widths."""

from __future__ import annotations

import zipfile

import pytest

from tests.browser.conftest import TIMEOUT_MS, Browse
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def people(make_user):  # type: ignore[no-untyped-def]
    return {"learner": make_user("lina@example.org", "learner", name="Lina Apprenante"),
            "admin": make_user("ada@example.org", "admin", name="Ada Admin")}


def sign_in(browse: Browse, email: str) -> None:
    page = browse.page
    browse.visit("/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(TEST_PASSWORD)
    browse.submit(page.locator("main form button[type=submit]"))


def sign_out(browse: Browse) -> None:
    browse.submit(browse.page.locator("form[action$='/logout'] button"))


@pytest.mark.parametrize("width", [1366, 390])
def test_learner_takes_their_data_and_asks_for_erasure(browse, people, width, tmp_path):  # type: ignore[no-untyped-def]
    page = browse.page
    page.set_viewport_size({"width": width, "height": 900})
    browse.visit("/privacy")
    assert page.locator("h1").inner_text() == "Vos données personnelles"
    sign_in(browse, "lina@example.org")
    browse.visit("/evidence/new")  # a piece of evidence with a file, stored by the live server
    page.locator("#title").fill("API de réservation")
    page.locator("#kind").select_option("code")
    page.locator("#occurred_on").fill("2026-03-02")
    page.locator("#files").set_input_files([
        {"name": "api.py", "mimeType": "text/x-python", "buffer": b"def reserve():\n    return 42\n"}])
    browse.submit(page.locator("main form button[type=submit]"))
    browse.visit("/me/data")
    browse.submit(page.locator("#request-export"))  # without Redis the archive is built right away
    assert "lancée" in page.locator(".flashes").inner_text()
    with page.expect_download(timeout=TIMEOUT_MS) as download_info:
        page.locator("#download-export").click()
    path = tmp_path / "archive.zip"
    download_info.value.save_as(path)
    with zipfile.ZipFile(path) as archive:
        assert "index.html" in archive.namelist()
        assert b"API de r\xc3\xa9servation" in archive.read("data/evidence.json")
    page.screenshot(path=str(tmp_path / f"my-data-{width}.png"), full_page=True)

    browse.submit(page.locator("#request-erasure"))  # the confirmation is not ticked: refused, said why
    assert page.locator("#confirm-error").inner_text().startswith("Cochez la case")
    page.locator("#confirm").check()
    browse.submit(page.locator("#request-erasure"))
    assert "en cours de traitement" in page.locator("#erasure-heading + p").inner_text()
    sign_out(browse)

    sign_in(browse, "ada@example.org")
    browse.visit("/admin/privacy")
    with page.expect_navigation(wait_until="load"):
        page.locator("#open-requests a").first.click()
    browse.check()
    page.locator("input[name=decision][value=erase]").check()
    page.locator("#reason").fill("Demande fondée (RGPD, art. 17).")
    page.locator("#confirm").check()
    browse.submit(page.locator("#handle-request"))
    assert "Demande fondée" in page.locator("main").inner_text()
    assert page.locator("#outcome-kept").count() == 1 or page.locator("#outcome-removed").count() == 1
    page.screenshot(path=str(tmp_path / f"handled-{width}.png"), full_page=True)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"horizontal overflow of {overflow}px at {width}px"
    browse.visit("/admin/privacy/register")
