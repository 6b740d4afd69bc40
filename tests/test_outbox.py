"""The e-mail outbox against a real SMTP server on loopback: written with the transaction, sent after the
commit, a failure recorded (no address in it) and shown to the learner, retried with back-off."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portfolio import unit_of_work
from portfolio.extensions import db
from portfolio.models import LogbookEntry, OutboxMessage
from portfolio.models.base import utcnow
from portfolio.services import logbook as service
from portfolio.services import outbox
from tests.smtp_server import SmtpServer


@pytest.fixture
def smtp(app, monkeypatch):  # type: ignore[no-untyped-def]
    server = SmtpServer()
    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{server.port}")
    yield server
    server.close()


def plain(html: str) -> str:
    return re.sub(r"\s+", " ", html.replace("\u202f", " ").replace("\u00a0", " "))


def test_refused_then_retried_visible_to_the_learner_and_counted(app, world, smtp, login, client, caplog):
    login(world.learner)
    response = client.post("/internships/new", data={
        "organisation": "Initech", "supervisor_name": "Bill Lumbergh", "supervisor_email": "bill@initech.example",
        "start_date": "2026-03-02", "end_date": "2026-03-27"})
    internship_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    client.post(f"/internships/{internship_id}/entries/new", data={"day": "2026-03-02", "hours": "7",
                                                                     "activities": "Revue de code."})
    entry_id = db.session.scalar(select(LogbookEntry.id).where(LogbookEntry.internship_id == internship_id))
    assert client.post(f"/internships/{internship_id}/signoff", data={"entries": [entry_id]}).status_code == 302

    message = db.session.scalar(select(OutboxMessage))
    link_id = message.subject_id
    assert (message.kind, message.user_id, message.recipient) == ("signoff_link", world.learner.id,
                                                                  "bill@initech.example")
    # Sent right after the commit, refused: failed, one attempt, next try in a minute, no address logged.
    assert smtp.connections == 1 and smtp.received == []
    assert (message.status, message.attempts) == ("failed", 1)
    assert message.next_attempt_at - message.created_at <= timedelta(minutes=1, seconds=5)
    assert "bill@initech.example" not in (message.last_error or "") and "bill@" not in caplog.text
    page = plain(client.get(f"/internships/{internship_id}").get_data(as_text=True))
    assert 'data-state="retrying"' in page and "n'a pas pu partir (1 tentative)" in page
    assert 'id="signoff-url"' in page  # the link to copy meanwhile
    assert 'class="mail-state" data-state="retrying"' in page

    # Not due yet: the retry sends nothing.
    with app.app_context(), unit_of_work.command():
        assert outbox.retry_due() == (0, 0)
    # Due, still refused: second failure, next try five minutes later.
    later = message.next_attempt_at
    with unit_of_work.command():
        assert outbox.retry_due(now=later) == (0, 1)
    db.session.refresh(message)
    assert message.attempts == 2 and message.next_attempt_at == later + timedelta(minutes=5)
    # The server accepts now: the cron command sends it, once.
    smtp.refuse = False
    message.next_attempt_at = utcnow() - timedelta(seconds=1)  # its time has come
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["outbox", "retry"])
    assert result.exit_code == 0, result.output
    assert "envoyés : 1" in result.output
    db.session.expire_all()
    message = db.session.get(OutboxMessage, message.id)
    assert (message.status, message.attempts, message.last_error) == ("sent", 3, None)
    assert len(smtp.received) == 1 and smtp.received[0][0] == ["bill@initech.example"]
    assert "/signoff/" in smtp.received[0][1]
    assert app.test_cli_runner().invoke(args=["outbox", "retry"]).output.count("envoyés : 0") == 1
    shown = plain(client.get(f"/internships/{internship_id}?link={link_id}").get_data(as_text=True))
    assert 'id="mail-state" data-state="sent"' in shown and 'class="mail-state" data-state="sent"' in shown


def test_back_off_then_give_up(app, world, smtp):
    with app.test_request_context():
        internship = service.create_internship(world.learner, organisation="Acme", supervisor_name="Marc",
                                               supervisor_email="marc@acme.example", start_date=date(2026, 3, 2),
                                               end_date=date(2026, 3, 27))
        entry = service.add_entry(internship, actor=world.learner, day=date(2026, 3, 2), hours="7",
                                  activities="Tests.")
        link, _url = service.send_for_signoff(internship, [entry], actor=world.learner)
    db.session.commit()
    assert smtp.connections == 0  # a database-using step runs after the owner's commit, not inside it
    unit_of_work.run_deferred()
    assert smtp.connections == 1
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.subject_id == link.id))
    assert message.attempts == 1 and message.next_attempt_at - message.created_at < timedelta(minutes=1, seconds=5)
    waits = []
    for _ in range(outbox.MAX_ATTEMPTS - 1):
        now = message.next_attempt_at + timedelta(seconds=1)
        with unit_of_work.command():
            assert outbox.retry_due(now=now) == (0, 1)
        db.session.refresh(message)
        if message.next_attempt_at is not None:
            waits.append(message.next_attempt_at - now)
    assert waits == list(outbox.BACKOFF[1:]) and smtp.connections == outbox.MAX_ATTEMPTS
    assert (message.status, message.attempts, message.next_attempt_at) == ("failed", 5, None)
    assert outbox.mail_state(message) == "failed"
    smtp.refuse = False
    with unit_of_work.command():
        assert outbox.retry_due(now=now + timedelta(days=1)) == (0, 0)  # given up: never sent again
    assert smtp.received == []


def test_rollback_writes_and_sends_nothing(app, world, smtp):
    with app.test_request_context():
        outbox.queue_email(db.session, "x@example.org", "Sujet", "Corps", user_id=world.learner.id)
    db.session.rollback()
    unit_of_work.run_deferred()
    assert db.session.scalar(select(OutboxMessage)) is None and smtp.connections == 0


def test_a_notification_mail_that_fails_is_shown_to_its_person_and_to_the_admin(app, world, smtp, login,
                                                                                client):
    from portfolio.models import Notification
    from portfolio.services import assessment

    with app.test_request_context():
        assessment.notify(world.learner, "BC01.C1 évaluée « acquis » par Théo Tuteur.", "/progress",
                          email_subject="Nouvelle évaluation")
    db.session.commit()
    unit_of_work.run_deferred()  # sent after the commit: refused by the server
    notification = db.session.scalar(select(Notification).where(Notification.user_id == world.learner.id))
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "notification"))
    assert (message.subject_id, message.status, message.attempts) == (notification.id, "failed", 1)

    login(world.learner)
    page = plain(client.get("/notifications").get_data(as_text=True))
    assert f'id="notification-{notification.id}"' in page
    assert 'class="mail-state alert alert--error" data-state="retrying"' in page
    assert "L'e-mail de cette notification n'a pas pu partir ; un nouvel essai est prévu le" in page
    client.post("/logout")

    login(world.admin)
    assert "1 e-mail non remis" in plain(client.get("/admin/").get_data(as_text=True))
    home = plain(client.get("/").get_data(as_text=True))
    assert 'id="admin-waiting"' in home and "1 e-mail non remis" in home  # what waits for the admin
    listing = plain(client.get("/admin/emails/").get_data(as_text=True))
    assert 'data-state="retrying"' in listing and "échec (1 tentative)" in listing
    assert "Nouvelle évaluation" in listing and world.learner.email in listing and "SMTP" in listing
    assert "BC01.C1 évaluée" not in listing  # the admin sees the envelope, not the body
    # Still refused: a retry now counts a second attempt and says so.
    response = client.post(f"/admin/emails/{message.id}/retry", follow_redirects=True)
    assert "n'a toujours pas pu partir (SMTPConnectError 554)" in html.unescape(response.get_data(as_text=True))
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message.id).attempts == 2
    # Accepted: sent, and the page and the learner's notification say nothing more.
    smtp.refuse = False
    response = client.post(f"/admin/emails/{message.id}/retry", follow_redirects=True)
    body = html.unescape(plain(response.get_data(as_text=True)))
    assert "L'e-mail est parti." in body and 'id="no-emails"' in body
    assert len(smtp.received) == 1 and smtp.received[0][0] == [world.learner.email]
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message.id).status == "sent"
    client.post("/logout")
    login(world.learner)
    assert "mail-state" not in client.get("/notifications").get_data(as_text=True)


def test_a_given_up_mail_can_be_tried_once_more_by_the_admin(app, world, smtp):
    with app.test_request_context():
        message = outbox.queue_email(db.session, "x@example.org", "Sujet", "Corps", user_id=world.learner.id)
    db.session.commit()
    unit_of_work.run_deferred()  # the first try, refused
    assert smtp.connections == 1
    message.status, message.attempts, message.next_attempt_at = "failed", outbox.MAX_ATTEMPTS, None
    db.session.commit()
    with unit_of_work.command():
        assert outbox.retry_now(message) is False  # still refused: given up again after one more try
    assert (message.attempts, message.next_attempt_at, outbox.mail_state(message)) == (outbox.MAX_ATTEMPTS,
                                                                                     None, "failed")
    assert outbox.count_by_state() == {"sent": 0, "queued": 0, "retrying": 0, "failed": 1}
    smtp.refuse = False
    with unit_of_work.command():
        assert outbox.retry_now(message) is True
    assert outbox.count_by_state()["sent"] == 1 and outbox.retry_now(message) is False
