"""A supervisor's signature is the supervisor's: the learner is refused on their own sign-off link when
signed in, and in a browser where they once signed in (even signed out since); what an entry was signed
under is frozen with it; the signature is recorded only with the one-time code e-mailed to the address
the link was sent to, which the learner does not receive."""

from __future__ import annotations

import re
from datetime import date

import pytest

from portfolio import unit_of_work
from portfolio.extensions import db
from portfolio.models import EntryStatus, LogbookEntry
from portfolio.services import logbook as service
from portfolio.services.errors import DomainError
from tests.conftest import TEST_PASSWORD


def _pending(app, learner):  # type: ignore[no-untyped-def]
    internship = service.create_internship(learner, organisation="Acme", supervisor_name="Marc",
                                           supervisor_email="marc@acme.example", start_date=date(2026, 3, 2),
                                           end_date=date(2026, 5, 29))
    entry = service.add_entry(internship, actor=learner, day=date(2026, 3, 2), hours="7", activities="API")
    with app.test_request_context():
        link, url = service.send_for_signoff(internship, [entry], actor=learner)
    db.session.commit()
    unit_of_work.run_deferred()  # the outbox sends the link's e-mail after the commit
    return internship, entry.id, link, url.rsplit("/", 1)[-1]


def test_a_browser_that_has_been_the_learner_is_refused_even_signed_out(app, make_user):
    learner = make_user("lea@example.org", "learner")
    _internship, entry_id, _link, token = _pending(app, learner)
    browser = app.test_client()
    assert browser.post("/login", data={"email": learner.email, "password": TEST_PASSWORD}).status_code == 302
    assert browser.get(f"/signoff/{token}").status_code == 403
    browser.post("/logout")
    assert browser.get("/").status_code == 302  # signed out
    assert browser.get(f"/signoff/{token}").status_code == 403
    assert browser.post(f"/signoff/{token}", data={"entries": [entry_id], "name": "Marc"}).status_code == 403
    assert db.session.get(LogbookEntry, entry_id).status == EntryStatus.PENDING
    # A forged marker cookie is ignored; a fresh browser (the supervisor's) opens the link.
    fresh = app.test_client()
    fresh.set_cookie("portfolio_accounts_seen", "forged")
    assert fresh.get(f"/signoff/{token}").status_code == 200


def test_what_an_entry_was_signed_under_is_frozen_with_it(supervisor_sign, app, make_user):
    learner = make_user("leo@example.org", "learner")
    internship, entry_id, link, _token = _pending(app, learner)
    with app.test_request_context():
        supervisor_sign(link, [entry_id], name="Marc Maître")
    db.session.commit()
    service.update_internship(internship, actor=learner, organisation="Autre SA", supervisor_name="Zoé",
                              supervisor_email="zoe@autre.example", start_date=internship.start_date,
                              end_date=internship.end_date, expected_hours=10)
    db.session.commit()
    db.session.expire_all()
    entry = db.session.get(LogbookEntry, entry_id)
    assert (entry.signed_organisation, entry.signed_supervisor_name, entry.signed_supervisor_email) == (
        "Acme", "Marc", "marc@acme.example")
    assert entry.signed_minutes == 420 and entry.signed_expected_hours != 10


# --- the one-time code e-mailed to the supervisor ------------------------------------------------

def _nbsp(text: str) -> str:
    """French typography puts a no-break space before « : » in rendered text (and HTML escapes « ' »)."""
    import html

    return html.unescape(text).replace("\u202f", " ").replace("\u00a0", " ")


def _ask_code(app, token, entry_id, client=None):  # type: ignore[no-untyped-def]
    client = client or app.test_client()
    response = client.post(f"/signoff/{token}", data={"entries": [entry_id], "name": "Marc Maître"})
    assert response.status_code == 200 and 'name="code"' in response.get_data(as_text=True)
    return client


def _confirm(client, token, entry_id, code):  # type: ignore[no-untyped-def]
    return client.post(f"/signoff/{token}", data={"entries": [entry_id], "name": "Marc Maître", "code": code})


def _status(entry_id):  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return db.session.get(LogbookEntry, entry_id).status


def _attempts(link_id):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from portfolio.models import SignoffCode

    db.session.expire_all()
    return list(db.session.scalars(select(SignoffCode.attempts).where(SignoffCode.link_id == link_id)
                                   .order_by(SignoffCode.id)))


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_the_code_goes_to_the_link_address_and_only_its_hmac_is_kept(app, make_user, smtp):
    from portfolio.models import SignoffCode

    learner = make_user("lou@example.org", "learner")
    _internship, entry_id, link, token = _pending(app, learner)
    client = _ask_code(app, token, entry_id)
    assert _status(entry_id) == EntryStatus.PENDING  # asking for a code signs nothing
    link_mail, code_mail = smtp.to("marc@acme.example")  # the link, then the code
    assert "/signoff/" in link_mail.get_content() and "code" in code_mail["Subject"].lower()
    code = smtp.last_code("marc@acme.example")
    row = db.session.query(SignoffCode).one()
    assert code not in row.code_hash and len(row.code_hash) == 64
    assert row.expires_at - row.created_at == service.CODE_VALIDITY == service.timedelta(minutes=15)
    assert _confirm(client, token, entry_id, code).status_code == 303
    assert _status(entry_id) == EntryStatus.SIGNED
    assert db.session.get(SignoffCode, row.id).used_at is not None


def test_a_wrong_code_is_refused_and_counted(app, make_user, smtp):
    learner = make_user("lia@example.org", "learner")
    _internship, entry_id, link, token = _pending(app, learner)
    client = _ask_code(app, token, entry_id)
    code = smtp.last_code("marc@acme.example")
    response = _confirm(client, token, entry_id, _wrong(code))
    assert response.status_code == 422
    assert "Ce code n'est pas le bon :" in _nbsp(response.get_data(as_text=True))
    assert _status(entry_id) == EntryStatus.PENDING
    assert _attempts(link.id) == [1]  # committed despite the refusal
    assert _confirm(client, token, entry_id, "abc").status_code == 422
    assert _attempts(link.id) == [2]
    assert _confirm(client, token, entry_id, code).status_code == 303  # within the five tries
    assert _status(entry_id) == EntryStatus.SIGNED


def test_an_expired_code_is_refused(app, make_user, smtp, monkeypatch):
    learner = make_user("lya@example.org", "learner")
    _internship, entry_id, link, token = _pending(app, learner)
    client = _ask_code(app, token, entry_id)
    code = smtp.last_code("marc@acme.example")
    later = service.utcnow() + service.CODE_VALIDITY + service.timedelta(seconds=1)
    monkeypatch.setattr(service, "utcnow", lambda: later)
    response = _confirm(client, token, entry_id, code)
    assert response.status_code == 422 and "Ce code a expiré" in _nbsp(response.get_data(as_text=True))
    assert _status(entry_id) == EntryStatus.PENDING


def test_five_tries_per_code_then_it_is_dead_even_the_right_one(app, make_user, smtp):
    learner = make_user("lyn@example.org", "learner")
    _internship, entry_id, link, token = _pending(app, learner)
    client = _ask_code(app, token, entry_id)
    code = smtp.last_code("marc@acme.example")
    for _ in range(service.CODE_MAX_ATTEMPTS):
        assert _confirm(client, token, entry_id, _wrong(code)).status_code == 422
    assert _attempts(link.id) == [5]
    response = _confirm(client, token, entry_id, code)
    assert response.status_code == 422 and "Trop d'essais" in _nbsp(response.get_data(as_text=True))
    assert _attempts(link.id) == [5] and _status(entry_id) == EntryStatus.PENDING


def test_at_most_five_codes_per_link(app, make_user, smtp):
    learner = make_user("lys@example.org", "learner")
    _internship, entry_id, link, token = _pending(app, learner)
    client = app.test_client()
    for _ in range(service.CODES_PER_LINK):
        _ask_code(app, token, entry_id, client)
    response = client.post(f"/signoff/{token}", data={"entries": [entry_id], "name": "Marc Maître"})
    assert response.status_code == 422 and "Trop de codes" in response.get_data(as_text=True)
    assert len(smtp.to("marc@acme.example")) == 1 + service.CODES_PER_LINK  # the link's own e-mail, then 5


def test_the_code_of_another_link_is_refused(app, make_user, smtp):
    learner = make_user("lee@example.org", "learner")
    other = make_user("ola@example.org", "learner")
    _internship, entry_id, link, token = _pending(app, learner)
    _other_internship, other_entry, _other_link, other_token = _pending(app, other)
    client = _ask_code(app, other_token, other_entry)
    other_code = smtp.last_code("marc@acme.example")
    _ask_code(app, token, entry_id, client)
    mine = smtp.last_code("marc@acme.example")
    if other_code != mine:
        assert _confirm(client, token, entry_id, other_code).status_code == 422
        assert _status(entry_id) == EntryStatus.PENDING
    # Even the same digits: the code is bound to its link (its HMAC names the link).
    from portfolio.models import SignoffCode

    rows = db.session.query(SignoffCode).order_by(SignoffCode.id).all()
    with app.test_request_context():
        assert service._code_hash(link, other_code) != rows[0].code_hash


def test_without_smtp_signing_is_refused_and_said_plainly(app, make_user):
    learner = make_user("lou2@example.org", "learner")
    _internship, entry_id, link, token = _pending(app, learner)
    assert app.config.get("SMTP_URL") is None
    page = app.test_client().get(f"/signoff/{token}")
    text = _nbsp(page.get_data(as_text=True))
    assert page.status_code == 200
    assert "la signature ne peut pas se faire ici" in text and 'name="name"' not in text
    for data in ({"entries": [entry_id], "name": "Marc"}, {"entries": [entry_id], "name": "Marc", "code": "123456"}):
        response = app.test_client().post(f"/signoff/{token}", data=data)
        assert response.status_code == 403
        assert "la signature ne peut pas se faire ici" in _nbsp(response.get_data(as_text=True))
    assert _status(entry_id) == EntryStatus.PENDING
    with app.test_request_context(), pytest.raises(service.MailUnavailable):
        service.send_signoff_code(link, [entry_id], name="Marc")


def test_the_learner_cannot_complete_alone_from_a_fresh_browser(app, make_user, smtp):
    """The learner holds the link, but not the supervisor's mailbox: from a fresh browser (no marker) they
    can ask for a code, but it goes to the supervisor; guessing is bounded by five tries per code, five codes."""
    learner = make_user("lex@example.org", "learner")
    _internship, entry_id, link, token = _pending(app, learner)
    fresh = _ask_code(app, token, entry_id)
    assert smtp.to(learner.email) == []  # the learner receives nothing
    assert smtp.to("marc@acme.example")[-1]["To"] == "marc@acme.example"
    code = smtp.last_code("marc@acme.example")
    guesses = [g for g in ("000000", "123456", "111111", "999999", "654321") if g != code][:5]
    for guess in guesses:
        assert _confirm(fresh, token, entry_id, guess).status_code == 422
    assert _status(entry_id) == EntryStatus.PENDING


def test_the_learner_cannot_name_their_own_address_as_the_supervisor(app, make_user):
    learner = make_user("lou3@example.org", "learner")
    with pytest.raises(DomainError, match="ne peut pas être la vôtre") as caught:
        service.create_internship(learner, organisation="Acme", supervisor_name="Moi",
                                  supervisor_email="LOU3@example.org", start_date=date(2026, 3, 2),
                                  end_date=date(2026, 5, 29))
    assert caught.value.field == "supervisor_email"
    internship = service.create_internship(learner, organisation="Acme", supervisor_name="Marc",
                                           supervisor_email="marc@acme.example", start_date=date(2026, 3, 2),
                                           end_date=date(2026, 5, 29))
    with pytest.raises(DomainError, match="ne peut pas être la vôtre"):
        service.update_internship(internship, actor=learner, organisation="Acme", supervisor_name="Moi",
                                  supervisor_email=" lou3@example.org ", start_date=internship.start_date,
                                  end_date=internship.end_date)


def test_the_code_is_never_stored_in_clear_and_a_retry_still_sends_it(app, make_user, monkeypatch, caplog):
    """The outbox row of the code's e-mail holds a placeholder and the code sealed, never the code; a failed
    send is retried with the right code; once sent, nothing of the code is left in any outbox row (nor in
    the log)."""
    import logging
    from datetime import timedelta

    from sqlalchemy import select

    from portfolio.models import OutboxMessage
    from portfolio.models.base import utcnow
    from portfolio.services import outbox
    from tests.smtp_server import SmtpServer

    server = SmtpServer()  # refuses until told otherwise
    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{server.port}")
    caplog.set_level(logging.DEBUG)
    try:
        learner = make_user("lor@example.org", "learner")
        _internship, entry_id, link, token = _pending(app, learner)
        browser = app.test_client()
        assert browser.post(f"/signoff/{token}", data={"entries": [entry_id], "name": "Marc"}).status_code == 200
        db.session.expire_all()
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "signoff_code"))
        assert row.status == "failed" and row.next_attempt_at is not None
        assert outbox.placeholder("code") in row.body and row.secrets_encrypted.startswith("v1:")
        server.refuse = False
        with app.test_request_context():
            assert outbox.retry_due(now=utcnow() + timedelta(minutes=2)) == (2, 0)  # the link's, the code's
            db.session.commit()
        (_rcpt, sent), = [m for m in server.received if "Code de signature" in m[1]]
        code = re.search(r"\b(\d{6})\b", sent.replace("=\r\n", "")).group(1)
        db.session.expire_all()
        rows = db.session.scalars(select(OutboxMessage)).all()
        assert all(r.status == "sent" and not r.secrets_encrypted for r in rows)
        assert not [r.id for r in rows if code in (r.body + r.subject)]
        assert code not in caplog.text
        # The code that was sent works.
        assert _confirm(browser, token, entry_id, code).status_code == 303
        assert _status(entry_id) == EntryStatus.SIGNED
    finally:
        server.close()


def test_a_code_given_up_is_wiped_too(app, make_user, monkeypatch):
    from datetime import timedelta

    from sqlalchemy import select

    from portfolio.models import OutboxMessage
    from portfolio.models.base import utcnow
    from portfolio.services import outbox
    from tests.smtp_server import SmtpServer

    server = SmtpServer()
    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{server.port}")
    try:
        learner = make_user("lyn@example.org", "learner")
        _internship, entry_id, _link, token = _pending(app, learner)
        assert app.test_client().post(f"/signoff/{token}", data={"entries": [entry_id], "name": "Marc"}
                                      ).status_code == 200
        with app.test_request_context():
            for hours in range(1, outbox.MAX_ATTEMPTS):
                outbox.retry_due(now=utcnow() + timedelta(hours=3 * hours))
                db.session.commit()
        db.session.expire_all()
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "signoff_code"))
        assert row.attempts == outbox.MAX_ATTEMPTS and row.next_attempt_at is None
        assert row.secrets_encrypted == ""
        # An administrator's "try again now" does not send the placeholder instead of the code.
        server.refuse = False
        with app.test_request_context():
            assert outbox.retry_now(row) is False
            db.session.commit()
        assert row.last_error == "SecretWiped" and not [m for m in server.received if "Code de" in m[1]]
    finally:
        server.close()
