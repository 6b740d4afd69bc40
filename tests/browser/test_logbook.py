"""Browser journeys of the internship logbook: a learner records an internship and its entries, sends them
for sign-off and copies the link; the supervisor, in another browser with no account, opens it and signs
(or sends an entry back). Every page is checked with axe-core by ``browse``."""

from __future__ import annotations

import re

import pytest

from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser

C1, C3 = "RNCP28754BC01-C01", "RNCP28754BC05-C01"


@pytest.fixture
def live_server(app, database_url, tmp_path, smtp):  # type: ignore[no-untyped-def]
    """This module's live server sends e-mail to a real SMTP server on loopback (``smtp``): the
    supervisor's signature is confirmed by the code it receives."""
    import threading

    from werkzeug.serving import make_server

    from portfolio.extensions import db
    from tests.conftest import make_config, new_app

    served = new_app(make_config(database_url, tmp_path, WTF_CSRF_ENABLED=True, SMTP_URL=smtp.url))
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
def learner(make_user):  # type: ignore[no-untyped-def]
    from portfolio.extensions import db
    from portfolio.models import MemberRole
    from portfolio.services.cohorts import add_member, create_cohort, current_certification

    user = make_user("lina@example.org", "learner", name="Lina Apprenante")
    cohort = create_cohort("Promo A 2026", current_certification("RNCP28754"), 2026, actor=None)
    add_member(cohort, user, MemberRole.LEARNER, actor=None)
    db.session.commit()
    return user


@pytest.fixture
def supervisor(other_browse):  # type: ignore[no-untyped-def]
    """The supervisor's own browser: no account, no cookie shared with the learner."""
    return other_browse


def sign_in(browse, email: str) -> None:  # type: ignore[no-untyped-def]
    page = browse.page
    browse.visit("/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(TEST_PASSWORD)
    browse.submit(page.locator("main form button[type=submit]"))


def add_entry(browse, day: str, hours: str, activities: str, codes: list[str]) -> None:  # type: ignore[no-untyped-def]
    page = browse.page
    browse.submit(page.locator("#entries a.button"))  # "Ajouter une entrée"
    page.locator("#day").fill(day)
    page.locator("#hours").fill(hours)
    page.locator("#activities").fill(activities)
    for code in codes:
        page.locator(f"input[name=competencies][value='{code}']").check()
    browse.submit(page.locator("main form button[type=submit]"))


def learner_sends_two_entries(browse, learner, live_server: str) -> str:  # type: ignore[no-untyped-def]
    """Create an internship with two entries, send them, copy the link; return it."""
    page = browse.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    sign_in(browse, learner.email)
    browse.visit("/internships/")
    browse.submit(page.locator("main a.button[href$='/internships/new']"))
    page.locator("#organisation").fill("Acme SARL")
    page.locator("#supervisor_name").fill("Marc Maître")
    page.locator("#supervisor_email").fill("marc@acme.example")
    page.locator("#start_date").fill("2026-03-02")
    page.locator("#end_date").fill("2026-05-29")
    browse.submit(page.locator("main form button[type=submit]"))
    assert re.search(r"/internships/\d+$", page.url)
    assert page.locator("h1").inner_text().endswith("Acme SARL")

    add_entry(browse, "2026-03-02", "7,5", "Analyse des **besoins** avec l'équipe.", [C1])
    add_entry(browse, "2026-03-03", "7h", "Développement de l'API.", [C1, C3])
    assert page.locator("table.entries tbody tr").count() == 2
    assert "14\u00a0h\u00a030" in page.locator("#progress-text").inner_text()
    assert page.locator("input[form=send-form]:checked").count() == 2

    browse.submit(page.locator("#send-form button[type=submit]"))
    url = page.locator("#signoff-url").input_value()
    assert url.startswith(f"{live_server}/signoff/")
    page.locator("button[data-copy=signoff-url]").click()
    page.locator("#copy-status", has_text="Lien copié").wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == url
    return url


def test_learner_sends_entries_and_the_supervisor_signs(browse, supervisor, learner, live_server, smtp):  # type: ignore[no-untyped-def]
    url = learner_sends_two_entries(browse, learner, live_server)
    detail = browse.page.url.split("#")[0]

    # The supervisor opens the link in their own browser, without signing in.
    response = supervisor.visit(url)
    spage = supervisor.page
    assert response.status == 200
    assert spage.locator("header form[action$='/logout']").count() == 0
    assert spage.locator("ol.blocks > li").count() == 2
    assert spage.locator("ol.blocks strong", has_text="besoins").count() == 1
    assert spage.locator("#name").input_value() == "Marc Maître"
    spage.locator("#comment").fill("Travail sérieux.")
    supervisor.submit(spage.locator("#sign-form button[type=submit]"))
    # A code is e-mailed to the supervisor's address; the signature waits for it, and the eye goes there.
    assert spage.locator("#code").count() == 1
    spage.wait_for_function("document.activeElement && document.activeElement.id === 'code-step'")
    assert spage.locator("#comment").input_value() == "Travail sérieux."
    spage.locator("#code").fill(smtp.last_code("marc@acme.example"))
    supervisor.submit(spage.locator("#sign-form button[type=submit]"))
    assert spage.locator(".alert--success").count() == 1
    assert "ont été signées" in spage.locator("main").inner_text()

    # The learner sees both entries signed, then turns the logbook into a piece of evidence.
    page = browse.page
    browse.visit(detail)
    assert page.locator("table.entries tbody tr", has_text="Marc Maître").count() == 2
    assert page.locator("#links td", has_text="terminé").count() == 1
    browse.submit(page.locator("form[action$='/evidence'] button[type=submit]"))
    assert re.search(r"/evidence/\d+$", page.url)
    assert page.locator("a", has_text=re.compile(r"journal-de-stage-acme-sarl-.*\.pdf")).count() == 1
    assert page.locator("#tags ~ ul .code").all_inner_texts() == [C1, C3]


def test_supervisor_sends_an_entry_back_with_a_remark(browse, supervisor, learner, live_server, smtp):  # type: ignore[no-untyped-def]
    url = learner_sends_two_entries(browse, learner, live_server)
    detail = browse.page.url.split("#")[0]

    supervisor.visit(url)
    spage = supervisor.page
    first = spage.locator("ol.blocks > li").first
    first.locator("summary").click()
    first.locator("textarea").fill("Précisez les besoins recueillis.")
    supervisor.submit(first.locator("form button[type=submit]"))
    assert spage.locator("ol.blocks > li").count() == 1
    supervisor.submit(spage.locator("#sign-form button[type=submit]"))
    spage.locator("#code").fill(smtp.last_code("marc@acme.example"))
    supervisor.submit(spage.locator("#sign-form button[type=submit]"))
    assert "plus d'entrée à signer" in spage.locator("main").inner_text()

    page = browse.page
    browse.visit(detail)
    returned = page.locator("table.entries tbody tr").first
    assert "Précisez les besoins recueillis." in returned.inner_text()
    browse.submit(returned.locator("a", has_text="Modifier"))
    assert page.locator("[role=note]", has_text="Précisez").count() == 1
    page.locator("#activities").fill("Analyse des besoins : trois entretiens avec les utilisateurs.")
    browse.submit(page.locator("main form button[type=submit]"))
    # Only the returned entry is offered again; the signed one is no longer selectable.
    assert page.locator("input[form=send-form]").count() == 1
    assert "2 mars 2026" in page.locator("table.entries tbody tr").first.inner_text()  # date_long
