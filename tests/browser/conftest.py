"""Browser test harness: Debian's headless Chromium driven by Playwright, with axe-core checks.

* No browser is ever downloaded: Playwright drives the system Chromium through ``executable_path``
  (``PORTFOLIO_CHROMIUM``, else ``/usr/bin/chromium``, else ``chromium`` on the PATH). Without it the
  tests are skipped, or fail when ``PORTFOLIO_REQUIRE_BROWSER=1`` (CI).
* ``live_server`` serves a second application instance on the test database (CSRF enabled, as in
  production) from a thread, on a free port of 127.0.0.1.
* ``browse`` is how a journey moves: ``browse.visit(path)`` and ``browse.submit(button)`` wait for the
  new page and run axe-core on it (WCAG 2.0/2.1 A and AA rules). Every document the page loads is
  counted, and the test fails at teardown if one was never checked, so no page escapes the check.
* Every check runs axe at two widths, a phone (390 × 844) and a laptop (1366 × 900), and fails if the
  page scrolls sideways on the smallest phone (320 px): phone first, on every page a journey visits.
  The page is left at the laptop width, where journeys click.
* axe-core is vendored in ``vendor/axe.min.js`` (see ``vendor/README.md``); node is not needed here.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.conftest import TEST_PASSWORD, make_config, new_app

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
PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 320, "height": 640}
DESKTOP = {"width": 1366, "height": 900}


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


#: One Playwright and one Chromium per test process, shared by every package that uses the fixture
#: (tests/lti imports it into its own conftest: pytest then holds two session fixtures, and two
#: sync_playwright() instances cannot run at once in one thread).
_SHARED: dict = {"users": 0}


@pytest.fixture(scope="session")
def browser(chromium_path: str):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    if _SHARED["users"] == 0:
        playwright = sync_playwright().start()
        try:
            _SHARED["chromium"] = playwright.chromium.launch(executable_path=chromium_path, headless=True,
                                                            args=CHROMIUM_ARGS)
        except Exception:
            playwright.stop()
            raise
        _SHARED["playwright"] = playwright
    _SHARED["users"] += 1
    try:
        yield _SHARED["chromium"]
    finally:
        _SHARED["users"] -= 1
        if _SHARED["users"] == 0:
            _SHARED.pop("chromium").close()
            _SHARED.pop("playwright").stop()


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


@contextmanager
def fresh_context(browser, live_server: str) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """A French-speaking browser context of its own (no cookie shared with any other); CSP is bypassed
    only so that axe can be injected."""
    context = browser.new_context(locale="fr-FR", base_url=live_server, bypass_csp=True, viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser, live_server: str):  # type: ignore[no-untyped-def]
    with fresh_context(browser, live_server) as context:
        yield context.new_page()


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


def horizontal_overflow(page) -> list[str]:  # type: ignore[no-untyped-def]
    """What sticks out sideways (the page scrolls horizontally), as short CSS paths; [] when nothing does.

    Content that scrolls inside its own box (a wide table in ``.table-scroll``, a code view) is fine.
    """
    return page.evaluate(
        """() => {
            const root = document.documentElement;
            if (root.scrollWidth <= root.clientWidth + 1) return [];
            const limit = root.clientWidth + 1, found = [];
            const scrolls = (el) => {
                for (let p = el.parentElement; p; p = p.parentElement) {
                    const o = getComputedStyle(p).overflowX;
                    if (o === 'auto' || o === 'scroll' || o === 'hidden') return true;
                }
                return false;
            };
            for (const el of document.body.querySelectorAll('*')) {
                const r = el.getBoundingClientRect();
                if (r.width && r.right > limit && !scrolls(el)) {
                    const path = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                        (el.classList.length ? '.' + [...el.classList].join('.') : '');
                    found.push(path + ' (right=' + Math.round(r.right) + ')');
                    if (found.length >= 8) break;
                }
            }
            return found.length ? found : ['document ' + root.scrollWidth + 'px wide'];
        }"""
    )


def words_broken_in_tables(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Words of table cells that the layout splits across two lines ("Brouill|on", "2 ma|rs 20|26"), [] if none.

    A table too wide for a phone must scroll inside its box, not squeeze its columns letter by letter.
    Words over 30 characters (hashes, long addresses) may break; so may words in a code view, and a
    line may break after a hyphen or a slash (identifiers such as « tool-client-1 »).
    """
    return page.evaluate(
        r"""() => {
            const found = [];
            for (const cell of document.querySelectorAll('main td, main th')) {
                const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
                for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                    const parent = node.parentElement;
                    if (parent.closest('pre, .code-view') || !parent.checkVisibility()) continue;
                    for (const m of node.data.matchAll(/[^\s\-/]{2,30}/g)) {
                        const range = document.createRange();
                        range.setStart(node, m.index);
                        range.setEnd(node, m.index + m[0].length);
                        const tops = new Set([...range.getClientRects()].filter(r => r.width > 0)
                                             .map(r => Math.round(r.top)));
                        if (tops.size > 1) { found.push(m[0]); if (found.length >= 8) return found; }
                    }
                }
            }
            return found;
        }"""
    )


def check_page(page) -> None:  # type: ignore[no-untyped-def]
    """axe on a phone and on a laptop, no sideways scrolling at 320 px, no word of a table split across
    lines on a phone; ends at the laptop width."""
    page.set_viewport_size(SMALL_PHONE)
    overflow = horizontal_overflow(page)
    if overflow:
        pytest.fail(f"{page.url} scrolls sideways at 320 px: " + ", ".join(overflow), pytrace=False)
    page.set_viewport_size(PHONE)
    broken = words_broken_in_tables(page)
    if broken:
        pytest.fail(f"{page.url} splits words of its tables across lines at 390 px: " + ", ".join(broken),
                    pytrace=False)
    check_a11y(page)
    page.set_viewport_size(DESKTOP)
    check_a11y(page)


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
        check_page(page)
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


@pytest.fixture
def other_browse(browser, live_server: str, request: pytest.FixtureRequest) -> Iterator[Browse]:  # type: ignore[no-untyped-def]
    """A second person's browser (a supervisor, an employer): no account, no cookie shared with ``browse``."""
    with fresh_context(browser, live_server) as context:
        helper = Browse(context.new_page())
        yield helper
        if not getattr(request.node, "browser_call_failed", False):
            helper.assert_all_checked()


def sign_in(browse: Browse, email: str, password: str = TEST_PASSWORD) -> None:
    """Sign in through the login form (each page checked by ``browse``)."""
    page = browse.page
    browse.visit("/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    browse.submit(page.locator("main form button[type=submit]"))


@pytest.fixture
def learner(make_user):  # type: ignore[no-untyped-def]
    """A learner in a cohort on RNCP 28754 (one account: cheaper than the whole ``world``)."""
    from portfolio.extensions import db
    from portfolio.models import MemberRole
    from portfolio.services.cohorts import add_member, create_cohort, current_certification

    user = make_user("lina@example.org", "learner", name="Lina Apprenante")
    cohort = create_cohort("Promo A 2026", current_certification("RNCP28754"), 2026, actor=None)
    add_member(cohort, user, MemberRole.LEARNER, actor=None)
    db.session.commit()
    return user
