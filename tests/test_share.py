"""Share links: a secret, expiring, revocable, read-only link to one block, the progress page or a sent VAE
dossier version; nothing outside the selection is reachable through it; every opening is logged."""

from __future__ import annotations

import contextlib
import io
import re
from datetime import date, timedelta
from html import unescape

import pytest
from sqlalchemy import func, select

from portfolio.extensions import db
from portfolio.models import AuditEvent, Evidence, EvidenceFile, ShareLink, ShareView
from portfolio.models.base import utcnow
from portfolio.services import assessment, login_limits
from portfolio.services import share as service
from portfolio.services.errors import DomainError
from portfolio.services.evidence import Upload, create_evidence, tag_evidence

BC01, BC02 = "RNCP28754BC01", "RNCP28754BC02"


def words(response) -> str:  # type: ignore[no-untyped-def]
    """The page's text with HTML entities read (« n&#39;existe » is « n'existe »)."""
    return unescape(response.get_data(as_text=True))


def _piece(owner, title: str, codes: list[str], *, submit: bool = True, data: bytes = b"print(1)\n",
           name: str = "main.py") -> Evidence:
    item = create_evidence(owner, title=title, kind="code", context="project", occurred_on=date(2026, 2, 1),
                           description=f"*{title}*", uploads=[Upload(name, io.BytesIO(data))])
    for code in codes:
        tag_evidence(item, code, f"Justification {title}", actor=owner)
    if submit:
        assessment.submit_evidence(item, actor=owner)
    db.session.flush()
    return item


@pytest.fixture
def portfolio(app, world):  # type: ignore[no-untyped-def]
    """world.learner's evidence: in BC01 a submitted piece (assessed by the tutor) and a draft; in BC02 a
    submitted piece; and another learner's piece in BC01."""
    learner = world.learner
    with app.test_request_context():  # the assessment's notification names its page
        shown = _piece(learner, "API de réservation", [f"{BC01}-C01"], data=b"def api(): pass\n", name="api.py")
        assessment.record_assessment(shown, f"{BC01}-C01", "acquired", "Solide.", assessor=world.tutor)
        draft = _piece(learner, "Brouillon secret", [f"{BC01}-C02"], submit=False, data=b"draft\n", name="draft.py")
        other_block = _piece(learner, "Guide d'installation", [f"{BC02}-C01"], data=b"guide\n", name="guide.txt")
        stranger = _piece(world.other_learner, "Preuve d'Omar", [f"{BC01}-C01"], data=b"omar\n", name="omar.py")
        db.session.commit()
    return {"shown": shown, "draft": draft, "other_block": other_block, "stranger": stranger}


def _create(owner, target: str, *, days: int = 30, password: str = "", label: str = "") -> tuple[ShareLink, str]:
    link, token = service.create_share_link(owner, target=target, days=days, password=password, label=label)
    db.session.commit()
    return link, token


# --- the service ------------------------------------------------------------------------------------

def test_token_is_stored_hashed_and_shown_once(app, world, portfolio):
    link, token = _create(world.learner, f"block:{BC01}")
    assert len(token) >= 43
    assert link.token_hash == service.hash_token(token) != token
    assert token not in str([getattr(link, c.name) for c in ShareLink.__table__.columns])
    assert link.expires_at - link.created_at == timedelta(days=30)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "share.create"))
    assert event.actor_id == world.learner.id and event.data["kind"] == "block"


@pytest.mark.parametrize(("kwargs", "field", "words"), [
    ({"target": "block:RNCP99999BC01"}, "target", "Choisissez ce que vous partagez"),
    ({"target": "version:1"}, "target", "Choisissez ce que vous partagez"),
    ({"days": 365}, "days", "durée de validité"),
    ({"days": 0}, "days", "durée de validité"),
    ({"password": "court"}, "password", "au moins 8 caractères"),
    ({"password": "x" * 201}, "password", "ne doit pas dépasser 200"),
    ({"label": "n" * 121}, "label", "ne doit pas dépasser 120"),
])
def test_creation_refusals_are_in_french_and_name_the_field(app, world, kwargs, field, words):
    arguments = {"target": "progress", "days": 30, "password": "", "label": ""} | kwargs
    with pytest.raises(DomainError) as refused:
        service.create_share_link(world.learner, **arguments)
    assert refused.value.field == field
    assert words in refused.value.message


def test_what_each_person_may_share(app, world, vae_version):
    learner = {t.value for t in service.share_targets(world.learner)}
    assert "progress" in learner and f"block:{BC01}" in learner and not any(v.startswith("version:") for v in learner)
    vae = {t.value for t in service.share_targets(world.vae)}
    assert vae == {f"version:{vae_version.id}"}
    # Someone else's version cannot be chosen.
    with pytest.raises(DomainError):
        service.create_share_link(world.learner, target=f"version:{vae_version.id}", days=30)


def test_a_block_link_reaches_only_the_blocks_sent_evidence(app, world, portfolio):
    link, _token = _create(world.learner, f"block:{BC01}")
    assert service.shared_evidence_ids(link) == {portfolio["shown"].id}
    progress, _ = _create(world.learner, "progress")
    assert service.shared_evidence_ids(progress) == set()
    for name, item in portfolio.items():
        for file in item.files:
            assert service.reaches_file(link, file) is (name == "shown"), name
            assert service.reaches_file(progress, file) is False


def test_a_new_sent_version_replaces_the_old_one_on_the_block(app, world, portfolio):
    link, _token = _create(world.learner, f"block:{BC01}")
    newer = assessment.new_version(portfolio["shown"], actor=world.learner)
    db.session.commit()
    assert service.shared_evidence_ids(link) == {portfolio["shown"].id}  # the new version is still a draft
    with app.test_request_context():
        assessment.submit_evidence(newer, actor=world.learner)
    db.session.commit()
    assert service.shared_evidence_ids(link) == {newer.id}


def test_network_and_browser_are_cut_down(app):
    assert service.network_of("203.0.113.77") == "203.0.113.0/24"
    assert service.network_of("2001:db8:abcd:12:3456::1") == "2001:db8:abcd::/48"
    assert service.network_of("::ffff:198.51.100.9") == "198.51.100.0/24"
    assert service.network_of("not an address") == ""
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
    assert service.agent_family(chrome) == "Chrome"
    assert service.agent_family(chrome + " Edg/120.0") == "Edge"
    assert service.agent_family("Mozilla/5.0 (X11; rv:121.0) Gecko/20100101 Firefox/121.0") == "Firefox"
    assert service.agent_family("Mozilla/5.0 (compatible; Googlebot/2.1)") == "Robot"
    assert service.agent_family("") == ""


# --- the shared pages -------------------------------------------------------------------------------

PRIVATE_HEADERS = {"X-Robots-Tag": "noindex, nofollow", "Referrer-Policy": "no-referrer",
                   "Cache-Control": "private, no-store"}


def _assert_private(response) -> None:  # type: ignore[no-untyped-def]
    for name, value in PRIVATE_HEADERS.items():
        assert response.headers.get(name) == value, name


def test_block_page_shows_the_selection_and_nothing_else(app, world, portfolio, client):
    link, token = _create(world.learner, f"block:{BC01}")
    response = client.get(f"/s/{token}")
    assert response.status_code == 200
    _assert_private(response)
    html = words(response)
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert "API de réservation" in html and "Justification API de réservation" in html
    assert "Acquis" in html  # the tutor's level, in words
    assert "Brouillon secret" not in html and "Guide d'installation" not in html and "Omar" not in html
    # No link into the signed-in app: only the shared page's own files, the language switch and the privacy page.
    hrefs = set(re.findall(r'href="([^"#]+)', html))
    allowed = (f"/s/{token}", "/lang/", "/privacy", "/static/")
    assert all(h.startswith(allowed) for h in hrefs), hrefs
    assert "/evidence/" not in html and "/learners/" not in html
    assert "learner@example.org" not in html


def test_every_file_outside_the_selection_answers_404(app, world, portfolio, client):
    link, token = _create(world.learner, f"block:{BC01}")
    shown = portfolio["shown"].files[0]
    response = client.get(f"/s/{token}/files/{shown.id}")
    assert response.status_code == 200
    _assert_private(response)
    assert response.get_data() == b"def api(): pass\n"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["Content-Disposition"].startswith("inline")  # text/plain: shown
    download = client.get(f"/s/{token}/files/{shown.id}?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment")
    every_file = db.session.scalars(select(EvidenceFile.id)).all()
    last = max(every_file)
    for file_id in [*every_file, last + 1, last + 1000]:
        if file_id == shown.id:
            continue
        response = client.get(f"/s/{token}/files/{file_id}")
        assert response.status_code == 404, file_id
        _assert_private(response)
        assert "ne fait pas partie de ce qui vous a été partagé" in words(response)


def test_a_progress_link_shows_levels_and_reaches_no_file(app, world, portfolio, client):
    _link, token = _create(world.learner, "progress")
    response = client.get(f"/s/{token}")
    assert response.status_code == 200
    _assert_private(response)
    html = words(response)
    assert "Progression de Lina Apprenante" in html and BC01 in html and BC02 in html
    assert "Solide." not in html  # the tutor's comments stay inside the app
    assert "API de réservation" not in html
    for item in portfolio.values():
        assert client.get(f"/s/{token}/files/{item.files[0].id}").status_code == 404


def test_unknown_expired_and_revoked_links(app, world, portfolio, client):
    link, token = _create(world.learner, f"block:{BC01}")
    unknown = client.get("/s/" + "A" * 43)
    assert unknown.status_code == 404
    _assert_private(unknown)
    assert "n'existe pas" in words(unknown)
    assert client.get("/s/x").status_code == 404
    assert client.get("/s/" + "y" * 500).status_code == 404
    file_id = portfolio["shown"].files[0].id

    link.created_at = utcnow() - timedelta(days=31)
    link.expires_at = utcnow() - timedelta(days=1)
    db.session.commit()
    for path in (f"/s/{token}", f"/s/{token}/files/{file_id}"):
        expired = client.get(path)
        assert expired.status_code == 410
        _assert_private(expired)
        assert "a expiré le" in words(expired)

    other, other_token = _create(world.learner, f"block:{BC01}")
    service.revoke_share_link(other, actor=world.learner)
    db.session.commit()
    for path in (f"/s/{other_token}", f"/s/{other_token}/files/{file_id}"):
        revoked = client.get(path)
        assert revoked.status_code == 410
        assert "a été retiré" in words(revoked)


def test_a_disabled_owner_shares_nothing(app, world, portfolio, client):
    _link, token = _create(world.learner, f"block:{BC01}")
    world.learner.is_enabled = False
    db.session.commit()
    assert client.get(f"/s/{token}").status_code == 410


def test_password_is_asked_checked_and_tries_are_limited(app, world, portfolio, client):
    _link, token = _create(world.learner, f"block:{BC01}", password="mot de passe partagé")
    file_id = portfolio["shown"].files[0].id
    asked = client.get(f"/s/{token}")
    assert asked.status_code == 200
    _assert_private(asked)
    html = words(asked)
    assert "protégé ce partage par un mot de passe" in html and "API de réservation" not in html
    assert client.get(f"/s/{token}/files/{file_id}").status_code == 303  # the file waits for the password too
    wrong = client.post(f"/s/{token}", data={"password": "pas le bon"})
    assert wrong.status_code == 422
    assert "n'est pas celui du lien" in words(wrong)
    empty = client.post(f"/s/{token}", data={"password": ""})
    assert empty.status_code == 422 and "Saisissez le mot de passe" in words(empty)
    right = client.post(f"/s/{token}", data={"password": "mot de passe partagé"})
    assert right.status_code == 303
    assert "API de réservation" in words(client.get(f"/s/{token}"))
    assert client.get(f"/s/{token}/files/{file_id}").status_code == 200


def test_password_tries_stop_past_the_limit_even_with_the_right_password(app, world, portfolio, make_user):
    from flask.testing import FlaskClient

    link, token = _create(world.learner, f"block:{BC01}", password="mot de passe partagé")
    limit = 5  # SHARE_PASSWORD_RATE_LIMIT: 5 per minute
    for n in range(limit):
        # Each try from a fresh browser: the limit is the link's, not the visitor's.
        visitor = FlaskClient(app, app.response_class)
        assert visitor.post(f"/s/{token}", data={"password": f"essai {n}"}).status_code == 422
    visitor = FlaskClient(app, app.response_class)
    refused = visitor.post(f"/s/{token}", data={"password": "mot de passe partagé"})
    assert refused.status_code == 422
    assert "Trop d'essais de mot de passe" in words(refused)
    assert login_limits.attempts_count(login_limits.SHARE, str(link.id)) == limit + 1


def test_openings_are_logged_for_the_owner_without_full_addresses(app, world, portfolio, client, login):
    link, token = _create(world.learner, f"block:{BC01}")
    file = portfolio["shown"].files[0]
    agent = "Mozilla/5.0 (X11; rv:121.0) Gecko/20100101 Firefox/121.0"
    client.get(f"/s/{token}", headers={"User-Agent": agent}, environ_base={"REMOTE_ADDR": "203.0.113.77"})
    client.get(f"/s/{token}/files/{file.id}", headers={"User-Agent": agent},
               environ_base={"REMOTE_ADDR": "203.0.113.77"})
    views = db.session.scalars(select(ShareView).where(ShareView.link_id == link.id).order_by(ShareView.id)).all()
    assert [(v.opened.value, v.network, v.agent, v.filename) for v in views] == [
        ("page", "203.0.113.0/24", "Firefox", ""), ("file", "203.0.113.0/24", "Firefox", "api.py")]
    read = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "share.download"))
    assert read.actor_id is None and read.data == {"share_link": link.id, "file": file.id}
    # The owner's own openings are not counted; they see the log on the link's page.
    login(world.learner)
    own = words(client.get(f"/s/{token}"))
    assert "votre propre lien" in own
    assert db.session.scalar(select(func.count()).select_from(ShareView)) == 2
    page = words(client.get(f"/me/shares/{link.id}"))
    assert "203.0.113.0/24" in page and "203.0.113.77" not in page and "api.py" in page and "Firefox" in page


def test_a_sent_dossier_version_is_shown_as_the_jury_received_it(app, world, vae_version, client):
    from portfolio.services.evidence import claims_by_competency  # noqa: F401 (the dossier's evidence is tagged)

    _link, token = _create(world.vae, f"version:{vae_version.id}")
    response = client.get(f"/s/{token}")
    assert response.status_code == 200
    _assert_private(response)
    html = words(response)
    assert "version 1" in html and "Développeur depuis 2020." in html and "Récit " in html
    snapshot_file = vae_version.snapshot["blocks"][0]["competencies"][0]["evidence"][0]["files"][0]
    assert snapshot_file["sha256"] in html
    cited = db.session.scalars(select(EvidenceFile).join(Evidence).where(Evidence.owner_id == world.vae.id)).all()
    reached = [f for f in cited if client.get(f"/s/{token}/files/{f.id}").status_code == 200]
    assert [f.filename for f in reached] == ["rapport.txt"]
    # A piece of the candidate's evidence that the version does not cite stays out of reach.
    from tests.factories import own_evidence

    extra = own_evidence(world.vae, title="Hors dossier", data=b"hors dossier")
    db.session.commit()
    assert client.get(f"/s/{token}/files/{extra.files[0].id}").status_code == 404


# --- the owner's page -------------------------------------------------------------------------------

def test_create_list_and_revoke_through_the_pages(app, world, portfolio, client, login):
    login(world.learner)
    page = client.get("/me/shares")
    assert page.status_code == 200 and "Aucun lien pour l'instant." in words(page)
    refused = client.post("/me/shares", data={"target": f"block:{BC01}", "days": "365"})
    assert refused.status_code == 422
    assert "Choisissez une durée de validité" in words(refused)
    assert db.session.scalar(select(func.count()).select_from(ShareLink)) == 0
    created = client.post("/me/shares", data={"target": f"block:{BC01}", "days": "7", "label": "Acme"})
    assert created.status_code == 200
    html = words(created)
    url = re.search(r'id="share-url" value="([^"]+)"', html).group(1)
    assert "il ne sera plus jamais affiché" in html
    link = db.session.scalar(select(ShareLink))
    assert link.label == "Acme" and link.expires_at - link.created_at == timedelta(days=7)
    token = url.rsplit("/", 1)[-1]
    assert link.token_hash == service.hash_token(token)
    # The list never shows the address again.
    listing = words(client.get("/me/shares"))
    assert token not in listing and "Acme" in listing and "Actif jusqu" in listing
    assert token not in words(client.get(f"/me/shares/{link.id}"))
    revoked = client.post(f"/me/shares/{link.id}/revoke")
    assert revoked.status_code == 302
    assert client.get(f"/s/{token}").status_code == 410
    assert "Retiré le" in words(client.get("/me/shares"))
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "share.revoke")).actor_id == world.learner.id


def test_nobody_else_sees_or_revokes_a_link(app, world, portfolio, client, login):
    link, token = _create(world.learner, f"block:{BC01}")
    for person in (world.other_learner, world.tutor, world.admin):
        client.post("/logout")
        login(person)
        assert client.get(f"/me/shares/{link.id}").status_code == 404
        assert client.post(f"/me/shares/{link.id}/revoke").status_code == 404
    db.session.expire_all()
    assert db.session.get(ShareLink, link.id).revoked_at is None
    assert client.get(f"/s/{token}").status_code == 200


@pytest.fixture
def vae_version(app, world):  # type: ignore[no-untyped-def]
    from portfolio.services import vae
    from tests.factories import complete_block, own_evidence

    vae.enrol_candidate(world.vae, world.certification, actor=None)
    dossier = vae.get_or_create_dossier(world.vae)
    complete_block(dossier, own_evidence(world.vae))
    version = vae.send_dossier(dossier, actor=world.vae)
    db.session.commit()
    return version


def test_closed_links_and_their_log_go_after_the_retention_period(app, world, portfolio, client):
    from portfolio.services.privacy import retention

    closed, token = _create(world.learner, f"block:{BC01}", days=1)
    client.get(f"/s/{token}")
    _open, _ = _create(world.learner, f"block:{BC01}", days=90)
    service.revoke_share_link(closed, actor=world.learner)
    db.session.commit()
    soon = {line.key: line.count for line in retention.sweep(utcnow() + timedelta(days=60), dry_run=True)}
    assert soon["share_links"] == 0
    later = utcnow() + timedelta(days=95)
    assert {line.key: line.count for line in retention.sweep(later, dry_run=True)}["share_links"] == 1
    retention.sweep(later, dry_run=False)
    db.session.commit()
    assert db.session.scalars(select(ShareLink.id)).all() == [_open.id]
    assert db.session.scalar(select(func.count()).select_from(ShareView)) == 0


def test_known_or_unknown_a_token_costs_one_hash_and_one_lookup(app, world, portfolio):
    """No timing hint without measuring time: whatever the token (real, unknown, too short, too long), opening
    it runs the same single indexed query on share_links before deciding."""
    from sqlalchemy import event

    _link, token = _create(world.learner, f"block:{BC01}")
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "share_links" in statement:
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        seen = []
        for candidate in (token, "B" * 43, "x", "y" * 500):
            statements.clear()
            db.session.expire_all()
            with contextlib.suppress(service.ShareUnknown):
                service.open_share_link(candidate)
            seen.append([s.split(" WHERE ")[-1] for s in statements])
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len({tuple(s) for s in seen}) == 1 and len(seen[0]) == 1, seen


def test_a_credential_link_shows_the_badge_and_offers_its_files(app, world, client):
    """A badge of a validated block: its facts, and the signed badge's files through the link; once the badge
    is revoked the link says so and gives no file."""
    from portfolio.models import CredentialSource
    from portfolio.services.credentials import issue

    with app.test_request_context("/", base_url="http://localhost"):
        block = assessment.find_block(world.certification.id, BC01)
        codes = [c.code for c in block.competencies]
        item = _piece(world.learner, "API de réservation", codes)
        for code in codes:
            assessment.record_assessment(item, code, "acquired", "", assessor=world.tutor)
        assessment.validate_block(world.learner, block, actor=world.tutor, comment="Bravo.")
        credential = issue.claim_credential(world.learner, block.id, "tutor", subject="email_hash")
        db.session.commit()
    assert f"credential:{credential.id}" in {t.value for t in service.share_targets(world.learner)}
    link, token = _create(world.learner, f"credential:{credential.id}")
    page = client.get(f"/s/{token}")
    assert page.status_code == 200
    _assert_private(page)
    text = words(page)
    assert f"Badge du bloc {BC01}" in text and "non révoqué" in text
    png = client.get(f"/s/{token}/badge.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    _assert_private(png)
    assert png.headers["Content-Disposition"].startswith("attachment")
    assert client.get(f"/s/{token}/badge.jwt").get_data(as_text=True) == credential.token
    assert client.get(f"/s/{token}/badge.exe").status_code == 404
    assert client.get(f"/s/{token}/files/{item.files[0].id}").status_code == 404  # no evidence file through it
    views = db.session.scalars(select(ShareView.filename).where(ShareView.link_id == link.id)
                               .order_by(ShareView.id)).all()
    assert views[0] == "" and views[1].endswith(".png")
    with app.test_request_context("/", base_url="http://localhost"):
        issue.revoke_credentials(world.learner, block, source=CredentialSource.TUTOR, actor=world.tutor,
                                 reason="Erreur")
        db.session.commit()
    assert "a été révoqué" in words(client.get(f"/s/{token}"))
    assert client.get(f"/s/{token}/badge.png").status_code == 410
