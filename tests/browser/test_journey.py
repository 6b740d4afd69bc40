"""First browser journeys: sign in, see one's blocks, switch to English, sign out; admin pages.

Every page a journey lands on is checked with axe-core (WCAG 2.0/2.1 A and AA) by ``browse``.
Assertions rely on ids, roles and ``lang``, not on English wording (the catalogue is still moving).
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

BLOCKS = [f"RNCP28754BC0{n}" for n in range(1, 6)]


def html_lang(page) -> str | None:  # type: ignore[no-untyped-def]
    return page.locator("html").get_attribute("lang")


def test_learner_signs_in_sees_blocks_switches_to_english_and_signs_out(browse, learner, live_server):  # type: ignore[no-untyped-def]
    page = browse.page

    sign_in(browse, learner.email)
    assert page.url == f"{live_server}/"
    assert html_lang(page) == "fr"
    assert page.locator("h1").inner_text() == f"Bonjour, {learner.name}"
    assert page.locator("#cert-heading").inner_text().startswith("RNCP28754")
    assert page.locator("ol.blocks > li h3 .code").all_inner_texts() == BLOCKS

    # The language switch in the header: a plain link, back on the same page, in English.
    assert page.locator("#language-link").get_attribute("hreflang") == "en"
    browse.submit(page.locator("#language-link"))
    assert page.url == f"{live_server}/"
    assert html_lang(page) == "en"
    assert page.locator("#language-link").get_attribute("hreflang") == "fr"
    assert page.locator("ol.blocks > li h3 .code").all_inner_texts() == BLOCKS

    # Sign out with the header's logout button: back on the login page, signed out.
    browse.submit(page.locator("header form[action$='/logout'] button[type=submit]"))
    assert page.url == f"{live_server}/login"
    assert page.locator("#email").is_visible()
    assert page.locator("header form[action$='/logout']").count() == 0
    assert page.locator(".flashes[role=status] .alert--success").count() == 1

    assert browse.pages_checked == [f"{live_server}/login", f"{live_server}/", f"{live_server}/",
                                    f"{live_server}/login"]


def test_wrong_password_shows_the_error_accessibly(browse, learner, live_server):  # type: ignore[no-untyped-def]
    page = browse.page

    sign_in(browse, learner.email, "not the password")
    assert page.url == f"{live_server}/login"
    assert page.locator("#form-errors[role=alert]").is_visible()
    assert page.locator("#password-error").inner_text() == "Adresse e-mail ou mot de passe incorrect."
    assert page.locator("#password").get_attribute("aria-invalid") == "true"
    assert "password-error" in (page.locator("#password").get_attribute("aria-describedby") or "")
    # The e-mail address typed is kept, the password is not.
    assert page.locator("#email").input_value() == learner.email
    assert page.locator("#password").input_value() == ""
    assert page.locator("header form[action$='/logout']").count() == 0


def test_admin_pages_are_accessible(browse, world, live_server):  # type: ignore[no-untyped-def]
    page = browse.page
    sign_in(browse, world.admin.email)
    assert page.url == f"{live_server}/"

    for path in ("/admin/", "/admin/users/", f"/admin/cohorts/{world.cohort.id}", "/admin/cohorts/"):
        response = browse.visit(path)
        assert response is not None and response.status == 200, path
        assert page.locator("h1").count() == 1

    assert page.locator("table.table tbody tr").count() == 2  # the world's two cohorts

    # The user creation form, sent with a name but a bad address and no role nor password.
    browse.visit("/admin/users/new")
    page.locator("#email").fill("not-an-address")
    page.locator("#name").fill("Nina Nouvelle")
    browse.submit(page.locator("main form button[type=submit]"))
    assert page.url == f"{live_server}/admin/users/new"
    assert page.locator("#form-errors[role=alert]").is_visible()
    for field_id in ("email", "password"):
        assert page.locator(f"#{field_id}-error").is_visible(), field_id
        assert page.locator(f"#{field_id}").get_attribute("aria-invalid") == "true", field_id
    assert page.locator("#roles-error").is_visible()
    assert page.locator("#name").input_value() == "Nina Nouvelle"
    assert re.search(r"/admin/users/new$", browse.pages_checked[-1])


def test_the_axe_check_reports_violations(browse, live_server):  # type: ignore[no-untyped-def]
    """The harness itself: a broken page must fail the check with a readable report (never a silent pass)."""
    page = browse.page
    browse.visit("/login")
    page.evaluate("""() => {
        document.querySelector('label[for=email]').remove();
        document.documentElement.removeAttribute('lang');
    }""")
    with pytest.raises(pytest.fail.Exception) as failure:
        browse.check()
    report = str(failure.value)
    assert f"on {live_server}/login" in report
    assert "- html-has-lang [serious]" in report
    assert re.search(r"- label \[critical\] .*\n    at #email\n", report), report
