"""Browser test harness: Debian's headless Chromium driven by Playwright, with axe-core checks.

* No browser is ever downloaded: Playwright drives the system Chromium through ``executable_path``
  (``PORTFOLIO_CHROMIUM``, else ``/usr/bin/chromium``, else ``chromium`` on the PATH). Without it the
  tests are skipped, or fail when ``PORTFOLIO_REQUIRE_BROWSER=1`` (CI).
* ``live_server`` serves a second application instance on the test database (CSRF enabled, as in
  production) from a thread, on a free port of 127.0.0.1.
* ``browse`` is how a journey moves: ``browse.visit(path)`` and ``browse.submit(button)`` wait for the
  new page and run axe-core on it (WCAG 2.0/2.1 A and AA rules). Every document the page loads is
  counted, and the test fails at teardown if one was never checked, so no page escapes the check.
* axe-core is vendored in ``vendor/axe.min.js`` (see ``vendor/README.md``); node is not needed here.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.conftest import make_config, new_app

HERE = Path(__file__).parent
AXE_PATH = HERE / "vendor" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
CHROMIUM_MISSING = (
    "Chromium absent: install Debian's chromium package (apt-get install chromium) to run the browser tests"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    # Every test under tests/browser is a browser test, whatever its module declares.
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    # Remember whether the test body failed: the unchecked-page guard then stays quiet.
    report = yield
    if report.when == "call" and report.failed:
        item.browser_call_failed = True
    return report


def find_chromium() -> str | None:
    """The Chromium executable to drive, or None when there is none."""
    configured = os.environ.get("PORTFOLIO_CHROMIUM")
    if configured:
        return configured if os.path.isfile(configured) and os.access(configured, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("PORTFOLIO_REQUIRE_BROWSER") == "1":
            pytest.fail(CHROMIUM_MISSING, pytrace=False)
        pytest.skip(CHROMIUM_MISSING)
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
    except Exception:
        playwright.stop()
        raise
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


@pytest.fixture
def live_server(app, database_url: str, tmp_path: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A real HTTP server on the test database; yields its base URL (no trailing slash).

    ``app`` is requested so the schema exists and the per-test cleanup runs before the server starts.
    """
    from portfolio.extensions import db

    served = new_app(make_config(database_url, tmp_path, WTF_CSRF_ENABLED=True))
    server = make_server("127.0.0.1", 0, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with served.app_context():
            db.engine.dispose()


@pytest.fixture
def page(browser, live_server: str):  # type: ignore[no-untyped-def]
    """A fresh French-speaking browser context; CSP is bypassed only so that axe can be injected."""
    context = browser.new_context(locale="fr-FR", base_url=live_server, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def _axe_source() -> str:
    return AXE_PATH.read_text(encoding="utf-8")


def format_violations(url: str, violations: list[dict]) -> str:
    lines = [f"axe-core: {len(violations)} accessibility violation(s) on {url}"]
    for v in violations:
        lines.append(f"- {v['id']} [{v.get('impact') or '?'}] {v['help']} ({v.get('helpUrl', '')})")
        for node in v.get("nodes", []):
            target = " ".join(str(t) for t in node.get("target", []))
            lines.append(f"    at {target}")
            summary = (node.get("failureSummary") or "").strip().replace("\n", "\n      ")
            if summary:
                lines.append(f"      {summary}")
    return "\n".join(lines)


def check_a11y(page) -> None:  # type: ignore[no-untyped-def]
    """Run axe-core (WCAG 2.0/2.1 A and AA) on the current page; fail with a readable list if it finds anything."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(content=_axe_source())
    result = page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target, failureSummary: n.failureSummary}))}));
        }""",
        AXE_TAGS,
    )
    if result:
        pytest.fail(format_violations(page.url, result), pytrace=False)


@dataclass
class Browse:
    """Moves a page through the app and runs axe on each document it lands on."""

    page: Any  # playwright.sync_api.Page
    loads: list[str] = field(default_factory=list)  # URL of every document loaded, in order
    checked: int = 0  # loads[:checked] have been accounted for
    unchecked: list[str] = field(default_factory=list)
    pages_checked: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("load", lambda p: self.loads.append(p.url))

    def visit(self, path: str):  # type: ignore[no-untyped-def]
        """Open ``path`` (relative to the live server), check it, return the response."""
        response = self.page.goto(path, wait_until="load")
        self.check()
        return response

    def submit(self, button) -> None:  # type: ignore[no-untyped-def]
        """Click a button (a Playwright locator) that submits a form, wait for the next page, check it."""
        with self.page.expect_navigation(wait_until="load"):
            button.click()
        self.check()

    def check(self) -> None:
        """Run axe on the current document (also what ``visit`` and ``submit`` do)."""
        page = self.page
        page.wait_for_load_state("load")
        # Any document loaded since the last check, other than this one, was never checked.
        self.unchecked.extend(self.loads[self.checked:-1])
        self.checked = len(self.loads)
        check_a11y(page)
        self.pages_checked.append(page.url)

    def assert_all_checked(self) -> None:
        missed = self.unchecked + self.loads[self.checked:]
        assert not missed, f"pages loaded but never checked with axe (use browse.visit/submit/check): {missed}"


@pytest.fixture
def browse(page, request: pytest.FixtureRequest) -> Iterator[Browse]:  # type: ignore[no-untyped-def]
    helper = Browse(page)
    yield helper
    if not getattr(request.node, "browser_call_failed", False):
        helper.assert_all_checked()
