"""A learner records evidence in the browser: live preview, upload with its progress bar, tag, block page."""

from __future__ import annotations

import pytest

from tests.browser.test_journey import learner, sign_in  # noqa: F401 — the fixture is used by name

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
    assert "RNCP28754BC01-C01" in page.locator("#tags + ul").inner_text()

    browse.visit("/blocks/RNCP28754BC01")
    item = page.locator("#RNCP28754BC01-C01 .evidence-list")
    assert "Gestion de stock — API REST" in item.inner_text()

    browse.visit("/evidence/?q=stock")
    assert page.locator("table tbody tr").count() == 1
