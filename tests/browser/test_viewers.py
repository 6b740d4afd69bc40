"""A tutor judges evidence without downloading it: the queue's test summary, a code archive (its tree, then
one file highlighted), a real pytest report's tables, a Mermaid diagram rendered in the page. axe-core
checks every page (``browse``); the diagram is also rendered once under the application's real CSP."""

from __future__ import annotations

import io

import pytest

from tests.browser.conftest import sign_in
from tests.conftest import TEST_PASSWORD
from tests.factories import PROJECT, file_of, run_pytest_junit, zip_bytes
from tests.factories import add_project_evidence as add_evidence

pytestmark = pytest.mark.browser

DIAGRAM = b"""classDiagram
  class Cart {
    +items: list
    +add(item)
  }
  Cart --> Item : contient
"""


def run_dir(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "pytest-run"
    path.mkdir()
    return path


@pytest.fixture
def submitted(app, world, tmp_path):  # type: ignore[no-untyped-def]
    """Submitted evidence of world.learner: a code archive, a real pytest report and a Mermaid class diagram."""
    from portfolio.storage import LocalStorage

    files = {"shop.zip": zip_bytes(PROJECT), "junit.xml": run_pytest_junit(run_dir(tmp_path)), "model.mmd": DIAGRAM}
    item = add_evidence(world.learner, files, title="Boutique — code, tests et modèle", submit=True)
    # The live server keeps its blobs under tmp_path/evidence (see live_server): the same bytes go there.
    live_store = LocalStorage(tmp_path / "evidence")
    for data in files.values():
        live_store.put_stream(io.BytesIO(data))
    return item


def test_tutor_opens_a_code_archive_and_a_test_report(browse, world, submitted, live_server):  # type: ignore[no-untyped-def]
    page = browse.page
    archive, report = file_of(submitted, "shop.zip"), file_of(submitted, "junit.xml")
    sign_in(browse, world.tutor.email)

    # The queue says how the tests went before anything is opened.
    browse.submit(page.locator("header nav a[href='/assessments/']"))
    row = page.locator("#queue tbody tr", has_text="Boutique")
    assert row.locator("[data-count=tests]").inner_text() == "4 tests"
    assert row.locator("[data-count=failures]").inner_text() == "1 échec"
    assert row.locator("[data-count=errors]").inner_text() == "1 erreur"

    # The evidence page: the report's tables, the archive's summary and tree, the diagram.
    browse.submit(row.locator("a", has_text="Boutique"))
    tests = page.locator(f"#file-{report.id}")
    assert tests.locator("[data-count=tests]").inner_text() == "4"
    assert tests.locator("[data-count=passed]").inner_text() == "1"
    assert tests.locator("table.report-table tbody tr").count() == 4
    failed = tests.locator("tr.case--failed")
    assert "test_subtraction" in failed.inner_text() and "subtraction is broken" in failed.inner_text()
    failed.locator("summary").click()
    assert failed.locator("pre.case-detail").is_visible()

    tree = page.locator(f"#file-{archive.id} .archive-tree")
    assert tree.get_by_role("link", name="cart.py", exact=True).is_visible()
    assert "Python : 8 lignes" in page.locator(f"#file-{archive.id} .archive-languages").inner_text()
    page.wait_for_selector("figure.mermaid-figure[data-rendered]")
    assert page.locator("figure.mermaid-figure").get_attribute("data-rendered") == "true"
    assert page.locator("img.mermaid-diagram").evaluate("img => img.naturalWidth > 0 && img.complete")
    browse.check()  # the page again, with its diagram drawn and a failure's detail open

    # One file of the archive, highlighted with its line numbers.
    browse.submit(tree.get_by_role("link", name="cart.py", exact=True))
    assert page.url.endswith("/archive?path=shop/src/shop/cart.py")
    assert page.locator("h1").inner_text() == "shop/src/shop/cart.py"
    code = page.locator(".code-view .highlight")
    assert code.locator(".k", has_text="class").count() >= 1
    assert code.locator("td.linenos").inner_text().split() == ["1", "2", "3"]

    browse.submit(page.locator("main a", has_text="Retour à la preuve"))
    assert page.url.startswith(f"{live_server}/evidence/{submitted.id}")


def test_mermaid_renders_under_the_real_content_security_policy(browser, world, submitted, live_server):  # type: ignore[no-untyped-def]
    # The harness's pages bypass the CSP (to inject axe): this one keeps it, as a user's browser does.
    context = browser.new_context(locale="fr-FR", base_url=live_server)
    try:
        page = context.new_page()
        blocked_scripts: list[str] = []
        page.on("console", lambda m: blocked_scripts.append(m.text) if "script-src" in m.text else None)
        page.goto("/login")
        page.locator("#email").fill(world.tutor.email)
        page.locator("#password").fill(TEST_PASSWORD)
        with page.expect_navigation():
            page.locator("main form button[type=submit]").click()
        response = page.goto(f"/evidence/{submitted.id}")
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "style-src 'self';" in policy and "unsafe" not in policy
        page.wait_for_selector("figure.mermaid-figure[data-rendered]", timeout=15_000)
        assert page.locator("figure.mermaid-figure").get_attribute("data-rendered") == "true"
        size = page.locator("img.mermaid-diagram").evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert 50 < size[0] < 1000 and size[1] > 50  # drawn at its own size, not stretched
        assert blocked_scripts == []
    finally:
        context.close()
