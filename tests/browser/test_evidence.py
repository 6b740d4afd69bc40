"""A learner records evidence in the browser: live preview, upload with its progress bar, tag, block page."""

from __future__ import annotations

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def test_learner_uploads_tags_and_sees_it_on_the_block_page(browse, learner, live_server):  # noqa: F811
    page = browse.page
    sign_in(browse, learner.email)
    browse.visit("/evidence/new")

    page.locator("#title").fill("Gestion de stock — API REST")
    page.locator("#kind").select_option("code")
    page.locator("#occurred_on").fill("2026-10-01")
    page.locator("#description").fill("Une **API** et <script>alert(1)</script> ses tests.")
    # The live preview is rendered and sanitized by the server.
    page.locator("#description-preview strong").wait_for()
    assert page.locator("#description-preview").inner_html().count("<script") == 0
    page.locator("#files").set_input_files([
        {"name": "stock.py", "mimeType": "text/x-python", "buffer": b"def stock():\n    return 42\n" * 20},
        {"name": "README.md", "mimeType": "text/markdown", "buffer": b"# Stock\n"},
    ])
    # Record (through the console) whether the progress bar is shown while the files go up.
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.evaluate("""() => {
        const box = document.querySelector('.progress');
        new MutationObserver(() => { if (!box.hidden) console.log('progress-shown'); })
            .observe(box, {attributes: true});
    }""")
    browse.submit(page.locator("main form button[type=submit]"))
    assert "progress-shown" in messages
    assert page.locator("h1").inner_text() == "Gestion de stock — API REST"
    assert sorted(page.locator("#files-h + ul a").all_inner_texts()) == ["README.md", "stock.py"]

    page.locator("#competency").select_option("RNCP28754BC01-C01")
    page.locator("#justification").fill("Le module stock est codé en Python avec des tests.")
    browse.submit(page.locator("form:has(#justification) button[type=submit]"))
    assert "RNCP28754BC01-C01" in page.locator("#tags ~ ul").first.inner_text()  # the message may come between

    browse.visit("/blocks/RNCP28754BC01")
    item = page.locator("#RNCP28754BC01-C01 .evidence-list")
    assert "Gestion de stock — API REST" in item.inner_text()

    browse.visit("/evidence/?q=stock")
    card = page.locator("#evidence-cards > li")
    assert card.count() == 1
    assert "Brouillon" in card.inner_text() and "RNCP28754BC01-C01" in card.locator(".tags").inner_text()
    browse.submit(page.locator(".view-switch a", has_text="Tableau"))  # the dense table keeps the filter
    assert page.locator("#evidence-table tbody tr").count() == 1
