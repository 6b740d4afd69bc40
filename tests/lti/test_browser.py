"""The happy paths through a real browser: headless Chromium, the tool inside the simulated platform's
iframe (another site: the platform is on ``localhost``, the tool on ``127.0.0.1``), CSP enforced."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import LtiPlatform
from tests.browser.conftest import CHROMIUM_ARGS, TIMEOUT_MS
from tests.lti.simulator import Platform

pytestmark = pytest.mark.browser


@pytest.fixture
def sim(app, live_server):  # type: ignore[no-untyped-def]
    sim = Platform(tool_url=live_server).start()
    sim.add_person("learner-1", "Lina Apprenante", ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
                   email="lina@example.org")
    sim.add_person("teacher-1", "Théa Enseignante",
                   ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"], email="thea@example.org")
    sim.members = [sim.member_entry(p) for p in sim.people.values()]
    yield sim
    sim.stop()


@pytest.fixture
def registered(app, sim):  # type: ignore[no-untyped-def]
    from sqlalchemy import delete

    from portfolio.models import LtiKey
    from portfolio.services.cohorts import current_certification
    from portfolio.services.lti.platforms import register_platform

    row = register_platform(**sim.registration(), certification=current_certification("RNCP28754"), actor=None)
    # The live server has its own secret: it makes (and seals) its own key on first need.
    db.session.execute(delete(LtiKey))
    db.session.commit()
    return row


#: The tool's frame goes tool → platform → tool (login, authorisation, launch): with site isolation each
#: step swaps the frame's renderer process, and on a loaded CI Playwright twice kept the frame at the
#: platform's /auth page while Chromium showed the launch's next page (2026-12-03). One process for all
#: sites keeps Playwright's view of the frame true; cookies, storage and postMessage, which these tests
#: are about, do not depend on the process model.
ONE_PROCESS_ARGS = ["--disable-site-isolation-trials", "--disable-features=IsolateOrigins,site-per-process"]


@pytest.fixture(scope="module")
def lti_browser(browser, chromium_path):  # type: ignore[no-untyped-def]
    launched = browser.browser_type.launch(executable_path=chromium_path, headless=True,
                                           args=[*CHROMIUM_ARGS, *ONE_PROCESS_ARGS])
    yield launched
    launched.close()


def new_page(browser, **options):  # type: ignore[no-untyped-def]
    """A fresh context as Playwright makes them: like a private window, it blocks third-party cookies."""
    context = browser.new_context(locale="fr-FR", **options)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context, context.new_page()


@pytest.fixture
def embedding(browser, chromium_path, tmp_path):  # type: ignore[no-untyped-def]
    """A regular profile that accepts third-party cookies (Chrome's setting "Allow third-party cookies")."""
    import json

    profile = tmp_path / "profile"
    (profile / "Default").mkdir(parents=True)
    (profile / "Default" / "Preferences").write_text(json.dumps({"profile": {
        "cookie_controls_mode": 0, "block_third_party_cookies": False}}))
    context = browser.browser_type.launch_persistent_context(
        str(profile), executable_path=chromium_path, headless=True, locale="fr-FR",
        args=[*CHROMIUM_ARGS, "--disable-site-isolation-trials",
              "--disable-features=TrackingProtection3pcd,ThirdPartyStoragePartitioning,IsolateOrigins,site-per-process"])
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield context, context.pages[0] if context.pages else context.new_page()
    finally:
        context.close()


def tool_frame_element(page, live_server: str, selector: str, timeout_s: float = 45.0):  # type: ignore[no-untyped-def]
    """The element ``selector`` in the tool's frame, looked up in every frame the page holds.

    The tool's frame moves between sites (tool, platform, tool) and so between renderer processes; on a
    loaded machine a ``frame_locator`` once kept waiting on the frame's element after the frame's last
    page had loaded (CI, 2026-12-03). Asking each frame the page knows avoids that mapping."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        for frame in page.frames:
            if frame.url.startswith(live_server) and not frame.is_detached():
                try:
                    element = frame.query_selector(selector)
                except Exception:  # noqa: BLE001 (the frame navigated away while asked: ask again)
                    element = None
                if element is not None and element.is_visible():
                    return element
        if time.monotonic() > deadline:
            frames = [(f.url, f.is_detached()) for f in page.frames]
            raise AssertionError(f"{selector} never appeared in the tool's frame; frames: {frames}")
        page.wait_for_timeout(200)


def test_learner_launch_inside_the_platform_iframe(embedding, sim, registered, live_server):
    context, page = embedding
    page.goto(sim.url("/course?sub=learner-1"))
    page.frame_locator("#tool").locator(".whoami", has_text="Lina Apprenante").wait_for()
    tool = next(f for f in page.frames if f.url.startswith(live_server))
    assert "/learners/" in tool.url and tool.url.endswith("/progress")
    cookies = {c["name"]: c for c in context.cookies(live_server)}
    assert cookies["session"]["sameSite"] == "None" and cookies["session"]["secure"]
    # The platform's page was allowed to frame us: frame-ancestors lists it.
    # A second page inside the frame keeps the session (the cookie goes back to the third-party frame).
    tool.goto(live_server + "/")
    assert "Lina Apprenante" in tool.content()


def test_teacher_adds_a_block_link_by_deep_linking_inside_the_iframe(embedding, sim, registered, live_server):
    sim.message_type = "LtiDeepLinkingRequest"
    context, page = embedding
    page.goto(sim.url("/course?sub=teacher-1"))
    frame = page.frame_locator("#tool")
    frame.locator("#target").select_option("block")
    frame.locator("#block").select_option("RNCP28754BC02")
    frame.locator("#lti-deep-link-submit").click()
    frame.locator("#dl-done").wait_for()
    [claims] = sim.deep_link_returns
    item = claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"][0]
    assert item["custom"]["block"] == "RNCP28754BC02"
    assert claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == "opaque-123"


def test_launch_in_a_new_window(lti_browser, sim, registered, live_server):
    sim.document_target = "window"
    context, page = new_page(lti_browser)
    try:
        page.goto(sim.url("/start?sub=learner-1"))
        page.wait_for_url(f"{live_server}/learners/*/progress")
        assert "Lina Apprenante" in page.content()
        cookies = {c["name"]: c for c in context.cookies(live_server)}
        assert cookies["session"]["sameSite"] == "Lax"
    finally:
        context.close()


def test_a_browser_blocking_third_party_cookies_still_gets_in(lti_browser, sim, registered, live_server):
    context, page = new_page(lti_browser)
    try:
        page.goto(sim.url("/course?sub=learner-1&storage=1"))
        button = tool_frame_element(page, live_server, "#lti-open-window")
        with context.expect_page() as popup_info:
            button.click()
        popup = popup_info.value
        popup.wait_for_url(f"{live_server}/learners/*/progress")
        assert "Lina Apprenante" in popup.content()
        # The state went through the platform's postMessage storage, not a cookie.
        assert any(k.startswith("state_") for k in page.evaluate("() => Object.keys(store)"))
    finally:
        context.close()


def test_dynamic_registration_in_the_platform(lti_browser, sim, app, live_server, make_user):
    """The administrator makes the registration URL on our admin page; the platform opens it in its
    iframe; the registration completes and the tool tells the platform to close the frame."""
    from urllib.parse import quote

    from tests.conftest import TEST_PASSWORD

    admin = make_user("admin@example.org", "admin")
    context, page = new_page(lti_browser)
    try:
        page.goto(live_server + "/login")
        page.fill("#email", admin.email)
        page.fill("#password", TEST_PASSWORD)
        page.locator("form button[type=submit]").last.click()
        page.wait_for_url(live_server + "/")
        page.goto(live_server + "/lti/admin/platforms?invite=1")
        url = page.locator("#lti-invitation").inner_text().strip()
        page.goto(sim.url("/tool_registration?url=" + quote(url, safe="")))
        page.frame_locator("#tool").locator("#lti-register").click()
        page.wait_for_function("() => document.title === 'closed'")
        row = db.session.scalar(select(LtiPlatform))
        assert row is not None and row.issuer == sim.issuer and row.client_id == sim.client_id
        assert [d.deployment_id for d in row.deployments] == [sim.deployment_id]
    finally:
        context.close()


def test_lti_pages_are_accessible(browse, page, make_user, sim, registered):
    """axe-core (WCAG 2.1 AA) on the administrator's LTI pages, the configuration and a refusal."""
    from tests.conftest import TEST_PASSWORD

    admin = make_user("admin@example.org", "admin")
    browse.visit("/login")
    page.locator("#email").fill(admin.email)
    page.locator("#password").fill(TEST_PASSWORD)
    browse.submit(page.get_by_role("button", name="Se connecter"))
    browse.visit("/lti/admin/platforms?invite=1")
    assert sim.issuer in page.content()
    browse.visit("/lti/config")
    response = browse.visit("/lti/login")
    assert response.status == 400 and "login_incomplete" in page.content()
