"""Browser journey of a share link: the learner shares block BC01 with a password and copies the link; an
employer, in another browser with no account, opens it, types the password, reads the block and opens a
file; the learner sees the opening in the log and withdraws the link, which then says so. Every page is
checked with axe-core at 390 and 1366 px by ``browse``."""

from __future__ import annotations

import io
from datetime import date

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

BC01 = "RNCP28754BC01"


@pytest.fixture
def learner(app, make_user, tmp_path):  # type: ignore[no-untyped-def]
    """A learner of RNCP 28754 with one piece of evidence of BC01 sent for assessment, and a draft."""
    from portfolio.extensions import db
    from portfolio.models import MemberRole
    from portfolio.services import assessment
    from portfolio.services.cohorts import add_member, create_cohort, current_certification
    from portfolio.services.evidence import Upload, create_evidence, tag_evidence
    from portfolio.storage import LocalStorage

    user = make_user("lina@example.org", "learner", name="Lina Apprenante")
    cohort = create_cohort("Promo A 2026", current_certification("RNCP28754"), 2026, actor=None)
    add_member(cohort, user, MemberRole.LEARNER, actor=None)
    with app.test_request_context():
        for title, submit in (("API de réservation", True), ("Brouillon secret", False)):
            item = create_evidence(user, title=title, kind="code", context="project", occurred_on=date(2026, 2, 1),
                                   description="Une **API** REST.",
                                   uploads=[Upload("notes.txt", io.BytesIO(f"{title}\n".encode()))])
            tag_evidence(item, f"{BC01}-C01", "Conçue et testée par moi.", actor=user)
            if submit:
                assessment.submit_evidence(item, actor=user)
            # The live server keeps its blobs under tmp_path/evidence (see live_server): the same bytes go there.
            LocalStorage(tmp_path / "evidence").put_stream(io.BytesIO(f"{title}\n".encode()))
    db.session.commit()
    return user


@pytest.fixture
def employer(other_browse):  # type: ignore[no-untyped-def]
    """The employer's own browser: no account, no cookie shared with the learner."""
    return other_browse


def test_share_a_block_open_it_elsewhere_then_withdraw_it(browse, employer, learner, live_server):  # type: ignore[no-untyped-def]
    page = browse.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    sign_in(browse, learner.email)
    browse.visit("/me/shares")
    assert page.locator("#links-h").count() == 1
    page.locator("#target").select_option(f"block:{BC01}")
    page.locator("#days").select_option("7")
    page.locator("#password").fill("sésame ouvre-toi")
    page.locator("#label").fill("Entreprise Acme")
    browse.submit(page.locator("#share-form button[type=submit]"))
    url = page.locator("#share-url").input_value()
    assert url.startswith(f"{live_server}/s/")
    page.locator("button[data-copy=share-url]").click()
    page.locator("#copy-status", has_text="Lien copié").wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == url

    # The employer, in a fresh browser: the password first, then the block, read-only.
    response = employer.visit(url)
    epage = employer.page
    assert response.status == 200
    assert response.headers["x-robots-tag"] == "noindex, nofollow"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert epage.locator("meta[name=robots]").get_attribute("content") == "noindex, nofollow"
    epage.locator("#password").fill("pas le bon")
    employer.submit(epage.locator("#share-password button[type=submit]"))
    assert "n'est pas celui du lien" in epage.locator("#password-error").inner_text()
    epage.locator("#password").fill("sésame ouvre-toi")
    employer.submit(epage.locator("#share-password button[type=submit]"))
    assert BC01 in epage.locator("h1").inner_text()
    assert epage.locator("article h3", has_text="API de réservation").count() == 1
    assert epage.locator("text=Brouillon secret").count() == 0
    assert epage.locator("header nav, form[action$='/logout']").count() == 0
    with epage.expect_download() as download:
        epage.locator("a", has_text="Télécharger").first.click()
    assert download.value.suggested_filename == "notes.txt"

    # The learner sees both openings, then withdraws the link.
    browse.visit("/me/shares")
    assert "Entreprise Acme" in page.locator("table").inner_text()
    browse.submit(page.locator("table a[href*='/me/shares/']").first)
    log = page.locator("#views tbody").inner_text()
    assert "127.0.0.0/24" in log and "notes.txt" in log and "127.0.0.1" not in log
    browse.submit(page.locator("#revoke-form button[type=submit]"))
    assert page.locator(".alert--success").count() == 1

    gone = employer.visit(url)
    assert gone.status == 410
    assert "a été retiré" in epage.locator("#share-refused").inner_text()
