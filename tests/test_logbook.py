"""The internship logbook: internships and entries, the supervisor's sign-off link (and everything it must
refuse), weekly totals, the PDF and the logbook as evidence, every route with every role, the audit trail."""

from __future__ import annotations

import re
import zlib
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import AuditEvent, Claim, EntryStatus, Evidence, EvidenceKind, LogbookEntry, SignoffLink
from portfolio.models.base import utcnow
from portfolio.services import logbook as service
from portfolio.services.errors import DomainError, NotFound

C1, C2, C3 = "RNCP28754BC01-C01", "RNCP28754BC01-C02", "RNCP28754BC05-C01"
START, END = date(2026, 3, 2), date(2026, 5, 29)  # Monday 2 March (ISO week 10) to Friday 29 May 2026


@pytest.fixture
def req(app):  # type: ignore[no-untyped-def]
    """A request context: sending builds the link's absolute URL with url_for."""
    with app.test_request_context():
        yield


@pytest.fixture
def internship(world):  # type: ignore[no-untyped-def]
    item = service.create_internship(world.learner, organisation="Acme SARL", supervisor_name="Marc Maître",
                                     supervisor_email="marc@acme.example", start_date=START, end_date=END)
    db.session.commit()
    return item


def entry(internship, day: date, hours="7", text: str = "Développement d'une API REST.",  # type: ignore[no-untyped-def]
          codes=(C1,)) -> LogbookEntry:
    return service.add_entry(internship, actor=internship.learner, day=day, hours=hours, activities=text,
                             competency_codes=codes)


def send(internship, *entries, **kwargs) -> tuple[SignoffLink, str]:  # type: ignore[no-untyped-def]
    link, url = service.send_for_signoff(internship, list(entries), actor=internship.learner, **kwargs)
    db.session.commit()
    return link, url.rsplit("/", 1)[-1]


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


# --- internships and entries ---------------------------------------------------------------------

def test_internship_expected_hours_default_to_seven_hours_per_working_day(app, world, internship):
    # 2 March – 29 May 2026: 13 whole weeks, 65 working days.
    assert service.working_days(START, END) == 65
    assert internship.expected_hours == 65 * 7
    other = service.create_internship(world.learner, organisation="B", supervisor_name="S",
                                      supervisor_email="s@b.example", start_date=date(2026, 3, 5),
                                      end_date=date(2026, 3, 9), expected_hours=120)
    assert other.expected_hours == 120
    assert service.working_days(date(2026, 3, 5), date(2026, 3, 9)) == 3  # Thu, Fri, Mon
    assert "logbook.internship_create" in actions()


@pytest.mark.parametrize(("changes", "field"), [
    ({"end_date": date(2026, 3, 1)}, "end_date"),
    ({"supervisor_email": "pas-une-adresse"}, "supervisor_email"),
    ({"supervisor_email": ""}, "supervisor_email"),
    ({"organisation": "  "}, "organisation"),
    ({"supervisor_name": ""}, "supervisor_name"),
    ({"expected_hours": 0}, "expected_hours"),
])
def test_internship_validation(app, world, changes, field):
    data = {"organisation": "Acme", "supervisor_name": "Marc", "supervisor_email": "marc@acme.example",
            "start_date": START, "end_date": END} | changes
    with pytest.raises(DomainError) as caught:
        service.create_internship(world.learner, **data)
    assert caught.value.field == field


def test_update_internship_keeps_entries_inside_and_is_audited(app, world, internship):
    entry(internship, date(2026, 3, 3))
    with pytest.raises(DomainError, match="hors de ces dates"):
        service.update_internship(internship, actor=world.learner, organisation="Acme", supervisor_name="Marc",
                                  supervisor_email="marc@acme.example", start_date=date(2026, 3, 4), end_date=END)
    service.update_internship(internship, actor=world.learner, organisation="Acme SAS", supervisor_name="Marc Maître",
                              supervisor_email="marc@acme.example", start_date=START, end_date=END,
                              expected_hours=400)
    assert (internship.organisation, internship.expected_hours) == ("Acme SAS", 400)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "logbook.internship_update"))
    assert event.data["changed"]["organisation"] == ["Acme SARL", "Acme SAS"]


@pytest.mark.parametrize(("typed", "minutes"), [
    ("7", 420), ("7,5", 450), ("7.25", 435), ("7h30", 450), ("7 h 30", 450), ("7h", 420), ("7:05", 425),
    ("24", 1440), (3, 180), ("0,5", 30),
])
def test_hours_as_people_type_them(typed, minutes):
    assert service.parse_hours(typed) == minutes


@pytest.mark.parametrize("typed", ["0", "24,5", "25", "-1", "abc", "7h75", "", None, "1e3", True])
def test_hours_out_of_bounds_are_refused(app, typed):
    with app.test_request_context(), pytest.raises(DomainError) as caught:
        service.parse_hours(typed)
    assert caught.value.field == "hours"


def test_entry_rules(app, world, internship):
    e = entry(internship, date(2026, 3, 3), "7,5", codes=[C1, C2.lower()])
    assert (e.minutes, e.status, [c.code for c in e.competencies]) == (450, EntryStatus.DRAFT, [C1, C2])
    for day, field in [(date(2026, 3, 1), "day"), (date(2026, 5, 30), "day")]:
        with pytest.raises(DomainError) as caught:
            entry(internship, day)
        assert caught.value.field == field
    with pytest.raises(DomainError, match="plus de 24"):
        entry(internship, date(2026, 3, 3), "17")  # 7 h 30 already that day
    entry(internship, date(2026, 3, 3), "16,5")  # exactly 24 h
    with pytest.raises(DomainError) as caught:
        entry(internship, date(2026, 3, 4), codes=["RNCP99999BC01-C01"])
    assert caught.value.field == "competencies"
    with pytest.raises(DomainError) as caught:
        entry(internship, date(2026, 3, 4), text="  ")
    assert caught.value.field == "activities"
    future = service.create_internship(world.learner, organisation="Futur", supervisor_name="S",
                                       supervisor_email="s@f.example", start_date=utcnow().date(),
                                       end_date=utcnow().date() + timedelta(days=30))
    with pytest.raises(DomainError, match="à venir"):
        entry(future, utcnow().date() + timedelta(days=5))
    service.update_entry(e, actor=world.learner, day=date(2026, 3, 5), hours="6", activities="Tests.",
                         competency_codes=[C3])
    assert (e.day, e.minutes, [c.code for c in e.competencies]) == (date(2026, 3, 5), 360, [C3])
    service.delete_entry(e, actor=world.learner)
    db.session.commit()
    assert db.session.get(LogbookEntry, e.id) is None
    assert {"logbook.entry_add", "logbook.entry_update", "logbook.entry_delete"} <= set(actions())


def test_weekly_totals_are_exact(app, world, internship):
    entry(internship, date(2026, 3, 2), "7")       # week 10
    entry(internship, date(2026, 3, 6), "7h30")    # week 10
    entry(internship, date(2026, 3, 8), "0,25")    # Sunday: still week 10
    entry(internship, date(2026, 3, 9), "8")       # week 11
    entry(internship, date(2026, 5, 29), "3,5")    # week 22
    weeks = service.weekly_totals(internship)
    assert len(weeks) == 13
    assert [(w.year, w.week) for w in weeks][:2] == [(2026, 10), (2026, 11)]
    by_week = {w.week: (w.minutes, w.entries) for w in weeks}
    assert by_week[10] == (420 + 450 + 15, 3)
    assert by_week[11] == (480, 1)
    assert by_week[22] == (210, 1)
    assert all(by_week[w] == (0, 0) for w in range(12, 22))
    assert weeks[0].monday == date(2026, 3, 2) and weeks[0].sunday == date(2026, 3, 8)
    progress = service.logbook_progress(internship)
    assert (progress.total_minutes, progress.signed_minutes, progress.expected_minutes) == (1575, 0, 455 * 60)
    assert progress.percent == 1575 * 100 // (455 * 60)
    assert service.format_minutes(1575) == "26\u00a0h\u00a015"


def test_weekly_totals_across_a_year_boundary(app, world):
    item = service.create_internship(world.learner, organisation="Hiver", supervisor_name="S",
                                     supervisor_email="s@h.example", start_date=date(2025, 12, 29),
                                     end_date=date(2026, 1, 9))
    entry(item, date(2025, 12, 31), "4", codes=())
    entry(item, date(2026, 1, 2), "5", codes=())
    weeks = service.weekly_totals(item)
    assert [(w.year, w.week, w.minutes) for w in weeks] == [(2026, 1, 540), (2026, 2, 0)]


# --- sign-off ------------------------------------------------------------------------------------

def test_send_sign_and_the_mail(supervisor_sign, app, world, internship, req, smtp):
    e1, e2 = entry(internship, date(2026, 3, 2)), entry(internship, date(2026, 3, 3), codes=(C2,))
    link, url = service.send_for_signoff(internship, [e1, e2], actor=world.learner)
    assert smtp.messages == []  # nothing leaves before the commit
    db.session.commit()
    from portfolio import unit_of_work
    unit_of_work.run_deferred()  # the send is a database-using step after the commit (the outbox row)
    assert url.startswith("http://") and "/signoff/" in url
    token = url.rsplit("/", 1)[-1]
    sent = smtp.messages
    assert [m["To"] for m in sent] == ["marc@acme.example"]
    assert url in sent[0].get_content() and "Lina Apprenante" in sent[0]["Subject"]
    # Only the nonce's hash is stored; the token is not in the database.
    assert len(link.nonce_hash) == 64 and token not in link.nonce_hash
    assert link.expires_at - link.created_at == timedelta(days=14)
    assert (e1.status, e2.status) == (EntryStatus.PENDING, EntryStatus.PENDING)
    with pytest.raises(service.EntryLocked):
        service.update_entry(e1, actor=world.learner, day=e1.day, hours="1", activities="x")

    assert service.load_link(token).id == link.id
    with pytest.raises(DomainError) as caught:
        supervisor_sign(link, [e1.id], name="  ")
    assert caught.value.field == "name"
    supervisor_sign(link, [e1.id], name="Marc Maître", comment="Très bon travail.")
    db.session.commit()
    assert e1.status == EntryStatus.SIGNED and e1.signed_by_name == "Marc Maître" and e1.signed_at is not None
    assert service.load_link(token).id == link.id  # e2 still pending
    supervisor_sign(link, [e2.id], name="Marc Maître")
    db.session.commit()
    with pytest.raises(service.LinkUsed, match="ont été signées"):
        service.load_link(token)
    assert {"logbook.send", "logbook.sign"} <= set(actions())
    sign = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "logbook.sign").order_by(AuditEvent.seq))
    # The signer's name is on the entry; the audit event carries ids only (no personal data in the trail).
    assert sign.actor_id is None and sign.data["entries"] == [e1.id] and "name" not in sign.data


def test_a_signed_entry_never_changes(supervisor_sign, app, world, internship, req):
    e = entry(internship, date(2026, 3, 2))
    link, token = send(internship, e)
    supervisor_sign(link, [e.id], name="Marc")
    db.session.commit()
    for attempt in (
        lambda: service.update_entry(e, actor=world.learner, day=e.day, hours="2", activities="Autre"),
        lambda: service.delete_entry(e, actor=world.learner),
        lambda: service.send_for_signoff(internship, [e], actor=world.learner),
    ):
        with pytest.raises(service.EntryLocked):
            attempt()
    db.session.rollback()
    with pytest.raises(NotFound):
        supervisor_sign(link, [e.id], name="Autre nom")
    with pytest.raises(service.LinkRefused):
        service.load_link(token)
    assert service.locked_reason(e) is not None
    db.session.refresh(e)
    assert (e.minutes, e.signed_by_name, e.status) == (420, "Marc", EntryStatus.SIGNED)


def test_return_then_edit_and_send_again(app, world, internship, req):
    e = entry(internship, date(2026, 3, 2))
    link, token = send(internship, e)
    with pytest.raises(DomainError) as caught:
        service.return_entry(link, e.id, remark=" ")
    assert caught.value.field == "remark"
    service.return_entry(link, e.id, remark="Précisez la technologie utilisée.")
    db.session.commit()
    assert e.status == EntryStatus.RETURNED and e.returned_remark.startswith("Précisez")
    with pytest.raises(service.LinkUsed):
        service.load_link(token)  # nothing left to sign through it
    service.update_entry(e, actor=world.learner, day=e.day, hours="7", activities="API REST en Flask.")
    new_link, new_token = send(internship, e)
    assert service.load_link(new_token).id == new_link.id
    assert "logbook.return" in actions()


def test_resending_moves_pending_entries_to_the_new_link(supervisor_sign, app, world, internship, req):
    e = entry(internship, date(2026, 3, 2))
    old, old_token = send(internship, e)
    new, new_token = send(internship, e)
    with pytest.raises(service.LinkUsed):
        service.load_link(old_token)
    with pytest.raises(NotFound):
        supervisor_sign(old, [e.id], name="Marc")
    assert [x.id for x in service.signable_entries(new)] == [e.id]


def test_revoked_link_is_refused_and_its_entries_go_back_to_draft(app, world, internship, req):
    e = entry(internship, date(2026, 3, 2))
    link, token = send(internship, e)
    service.revoke_link(link, actor=world.learner)
    db.session.commit()
    with pytest.raises(service.LinkRevoked, match="révoqué"):
        service.load_link(token)
    assert e.status == EntryStatus.DRAFT and e.current_link_id is None
    assert "logbook.link_revoke" in actions()
    assert service.link_state(link) == "revoked"


def test_expired_link_is_refused(app, world, internship, req, monkeypatch):
    e = entry(internship, date(2026, 3, 2))
    link, token = send(internship, e)
    later = utcnow() + timedelta(days=14, seconds=1)
    monkeypatch.setattr(service, "utcnow", lambda: later)
    with pytest.raises(service.LinkExpired, match="expiré"):
        service.load_link(token)
    assert service.link_state(link) == "expired"


def test_token_signed_in_the_past_is_refused_even_if_the_row_says_otherwise(app, world, internship, req,
                                                                            monkeypatch):
    import itsdangerous.timed

    e = entry(internship, date(2026, 3, 2))
    link, _token = send(internship, e)
    nonce = "n" * 32
    link.nonce_hash = service._hash(nonce)
    db.session.commit()
    real_time = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real_time() - 15 * 24 * 3600)
    old_token = service._serializer().dumps([link.id, nonce])
    monkeypatch.undo()
    with pytest.raises(service.LinkExpired):
        service.load_link(old_token)
    fresh = service._serializer().dumps([link.id, nonce])
    assert service.load_link(fresh).id == link.id


def test_tampered_unknown_and_foreign_tokens_are_refused(app, world, internship, req):
    from itsdangerous import URLSafeTimedSerializer

    e = entry(internship, date(2026, 3, 2))
    link, token = send(internship, e)
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    forged_other_secret = URLSafeTimedSerializer("another secret", salt=service.TOKEN_SALT).dumps([link.id, "x"])
    other_salt = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="other").dumps([link.id, "x"])
    wrong_nonce = service._serializer().dumps([link.id, "not the nonce"])
    unknown = service._serializer().dumps([link.id + 1000, "x"])
    bad_shape = service._serializer().dumps({"l": link.id})
    for bad in (flipped, forged_other_secret, other_salt, wrong_nonce, unknown, bad_shape, "", "x" * 600,
                token + "x"):
        with pytest.raises(service.LinkInvalid):
            service.load_link(bad)
    assert service.load_link(token).id == link.id


def test_a_link_never_opens_another_internship_or_another_link(supervisor_sign, app, world, internship, req):
    mine = entry(internship, date(2026, 3, 2), text="Mes activités")
    mine_later = entry(internship, date(2026, 3, 3), text="Entrée gardée en brouillon")
    other_internship = service.create_internship(world.other_learner, organisation="Globex",
                                                 supervisor_name="G", supervisor_email="g@globex.example",
                                                 start_date=START, end_date=END)
    theirs = entry(other_internship, date(2026, 3, 2), text="Activités de quelqu'un d'autre", codes=())
    link, token = send(internship, mine)
    other_link, _ = send(other_internship, theirs)
    second_link, _ = send(internship, entry(internship, date(2026, 3, 4), text="Entrée du second lien"))
    assert [e.id for e in service.signable_entries(link)] == [mine.id]
    for foreign in (theirs.id, mine_later.id, second_link.entries[0].id, 999_999):
        with pytest.raises(NotFound):
            supervisor_sign(link, [mine.id, foreign], name="Marc")
        with pytest.raises(NotFound):
            service.return_entry(link, foreign, remark="Non")
    db.session.rollback()
    assert theirs.status == EntryStatus.PENDING and mine.status == EntryStatus.PENDING
    assert other_link.id != link.id


# --- the supervisor's page -----------------------------------------------------------------------

def test_signoff_page_shows_only_the_link_entries_and_signs(app, world, internship, req, client, smtp):
    mine = entry(internship, date(2026, 3, 2), text="Conception **UML** du module")
    entry(internship, date(2026, 3, 3), text="Brouillon secret")
    other = service.create_internship(world.other_learner, organisation="Globex", supervisor_name="G",
                                      supervisor_email="g@globex.example", start_date=START, end_date=END)
    theirs = entry(other, date(2026, 3, 2), text="Activités de Globex", codes=())
    link, token = send(internship, mine)
    send(other, theirs)
    page = client.get(f"/signoff/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<strong>UML</strong>" in html and "Brouillon secret" not in html and "Globex" not in html
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    # Another link's entry, slipped into the form, is refused and nothing is signed.
    response = client.post(f"/signoff/{token}", data={"entries": [mine.id, theirs.id], "name": "Marc"})
    assert response.status_code == 422
    response = client.post(f"/signoff/{token}/entries/{theirs.id}/return",
                           data={f"return-{theirs.id}-remark": "Non"})
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(LogbookEntry, mine.id).status == EntryStatus.PENDING
    assert db.session.get(LogbookEntry, theirs.id).status == EntryStatus.PENDING
    # No name: refused with the field's message.
    response = client.post(f"/signoff/{token}", data={"entries": [mine.id], "name": ""})
    assert response.status_code == 422 and "Indiquez votre nom" in response.get_data(as_text=True)
    # The signature form e-mails a code to the link's address; nothing is signed yet.
    form = {"entries": [mine.id], "name": "Marc Maître", "comment": "Parfait"}
    response = client.post(f"/signoff/{token}", data=form)
    assert response.status_code == 200 and 'name="code"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(LogbookEntry, mine.id).status == EntryStatus.PENDING
    code = smtp.last_code("marc@acme.example")
    response = client.post(f"/signoff/{token}", data={**form, "code": code})
    assert response.status_code == 303
    db.session.expire_all()
    signed = db.session.get(LogbookEntry, mine.id)
    assert (signed.status, signed.signed_by_name, signed.supervisor_comment) == (EntryStatus.SIGNED, "Marc Maître",
                                                                                "Parfait")
    after = client.get(f"/signoff/{token}")
    assert after.status_code == 410 and "ont été signées" in after.get_data(as_text=True)
    # The learner is told in the app.
    from portfolio.models import Notification

    assert db.session.scalar(select(Notification.message).where(Notification.user_id == world.learner.id))


def test_the_learner_cannot_sign_their_own_link(app, world, internship, req, login, client):
    e = entry(internship, date(2026, 3, 2))
    _link, token = send(internship, e)
    login(world.learner)
    assert client.get(f"/signoff/{token}").status_code == 403
    assert client.post(f"/signoff/{token}", data={"entries": [e.id], "name": "Lina"}).status_code == 403
    assert client.post(f"/signoff/{token}/entries/{e.id}/return",
                       data={f"return-{e.id}-remark": "x"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(LogbookEntry, e.id).status == EntryStatus.PENDING


def test_signoff_page_returns_an_entry(app, world, internship, req, client):
    e = entry(internship, date(2026, 3, 2))
    link, token = send(internship, e)
    empty = client.post(f"/signoff/{token}/entries/{e.id}/return", data={f"return-{e.id}-remark": ""})
    assert empty.status_code == 422
    response = client.post(f"/signoff/{token}/entries/{e.id}/return",
                           data={f"return-{e.id}-remark": "Ajoutez les tests."})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(LogbookEntry, e.id).status == EntryStatus.RETURNED


@pytest.mark.parametrize("case", ["tampered", "revoked", "expired", "unknown"])
def test_signoff_page_refuses_dead_links(app, world, internship, req, client, monkeypatch, case):
    e = entry(internship, date(2026, 3, 2))
    link, token = send(internship, e)
    if case == "tampered":
        token = token[:10] + ("x" if token[10] != "x" else "y") + token[11:]
    elif case == "revoked":
        service.revoke_link(link, actor=world.learner)
        db.session.commit()
    elif case == "expired":
        later = utcnow() + timedelta(days=15)
        monkeypatch.setattr(service, "utcnow", lambda: later)
    else:
        token = "nothing-here"
    for response in (client.get(f"/signoff/{token}"),
                     client.post(f"/signoff/{token}", data={"entries": [e.id], "name": "Marc"}),
                     client.post(f"/signoff/{token}/entries/{e.id}/return", data={f"return-{e.id}-remark": "x"})):
        assert response.status_code == (404 if case in ("tampered", "unknown") else 410)
        assert "Acme" not in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(LogbookEntry, e.id).status != EntryStatus.SIGNED


def test_signoff_form_is_csrf_protected(app, world, internship, req, database_url, tmp_path, smtp):
    from tests.conftest import make_config, new_app

    e = entry(internship, date(2026, 3, 2))
    _link, token = send(internship, e)
    protected = new_app(make_config(database_url, tmp_path, WTF_CSRF_ENABLED=True,
                                    SECRET_KEY=app.config["SECRET_KEY"], SMTP_URL=smtp.url))
    client = protected.test_client()
    response = client.post(f"/signoff/{token}", data={"entries": [e.id], "name": "Marc"})
    assert response.status_code == 400
    page = client.get(f"/signoff/{token}")
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post(f"/signoff/{token}", data={"entries": [e.id], "name": "Marc", "csrf_token": csrf})
    assert response.status_code == 200
    code = smtp.last_code("marc@acme.example")
    response = client.post(f"/signoff/{token}", data={"entries": [e.id], "name": "Marc", "code": code})
    assert response.status_code == 400  # the confirmation is protected too
    response = client.post(f"/signoff/{token}", data={"entries": [e.id], "name": "Marc", "code": code,
                                                      "csrf_token": csrf})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(LogbookEntry, e.id).status == EntryStatus.SIGNED


# --- the learner's pages -------------------------------------------------------------------------

def test_learner_pages_create_add_send_and_see_the_link_once(app, world, login, client):
    login(world.learner)
    response = client.post("/internships/new", data={
        "organisation": "Initech", "supervisor_name": "Bill Lumbergh", "supervisor_email": "bill@initech.example",
        "start_date": "2026-03-02", "end_date": "2026-03-27"})
    assert response.status_code == 302
    internship_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    bad = client.post(f"/internships/{internship_id}/entries/new",
                      data={"day": "2026-04-01", "hours": "7", "activities": "Hors stage"})
    assert bad.status_code == 422 and "compris dans le stage" in bad.get_data(as_text=True)
    response = client.post(f"/internships/{internship_id}/entries/new", data={
        "day": "2026-03-02", "hours": "7,5", "activities": "Mise en place de l'**intégration continue**.",
        "competencies": [C1, C3]})
    assert response.status_code == 302
    entry_row = db.session.scalar(select(LogbookEntry).where(LogbookEntry.internship_id == internship_id))
    assert entry_row.minutes == 450 and [c.code for c in entry_row.competencies] == [C1, C3]
    page = client.get(f"/internships/{internship_id}").get_data(as_text=True)
    assert "7\u00a0h\u00a030" in page and "<strong>intégration continue</strong>" in page
    response = client.post(f"/internships/{internship_id}/signoff", data={"entries": [entry_row.id]})
    assert response.status_code == 302
    page = client.get(f"/internships/{internship_id}").get_data(as_text=True)
    url = re.search(r'id="signoff-url" value="([^"]+)"', page).group(1)
    assert "/signoff/" in url
    # No SMTP here: the page says no e-mail leaves, and never that one does; nor that the link can be signed
    # (the signature is confirmed by a code e-mailed to the supervisor).
    assert 'id="no-mail"' in page and "Un e-mail" not in page
    notice = re.search(r'<p class="alert alert--info" id="no-mail">(.*?)</p>', page, re.S).group(1)
    assert "pas encore les signer" in notice and "configurer l'envoi d'e-mails" in notice
    again = client.get(f"/internships/{internship_id}").get_data(as_text=True)
    assert 'id="signoff-url"' not in again  # opened once after sending
    link_id = int(re.search(r'href="[^"]*\?link=(\d+)#new-link"', again).group(1))
    shown = client.get(f"/internships/{internship_id}?link={link_id}").get_data(as_text=True)
    url_again = re.search(r'id="signoff-url" value="([^"]+)"', shown).group(1)  # shown again, later
    for token in (url.rsplit("/", 1)[-1], url_again.rsplit("/", 1)[-1]):
        with app.test_request_context():
            assert service.load_link(token).internship_id == internship_id


def test_signed_entry_cannot_change_through_the_pages(supervisor_sign, app, world, internship, req, login, client):
    e = entry(internship, date(2026, 3, 2))
    link, _ = send(internship, e)
    supervisor_sign(link, [e.id], name="Marc")
    db.session.commit()
    login(world.learner)
    edit = client.get(f"/internships/{internship.id}/entries/{e.id}/edit")
    assert edit.status_code == 302
    client.post(f"/internships/{internship.id}/entries/{e.id}/edit",
                data={"day": "2026-03-02", "hours": "1", "activities": "Réécrit"})
    client.post(f"/internships/{internship.id}/entries/{e.id}/delete")
    response = client.post(f"/internships/{internship.id}/signoff", data={"entries": [e.id]})
    assert response.status_code == 302
    db.session.expire_all()
    row = db.session.get(LogbookEntry, e.id)
    assert (row.minutes, row.activities, row.status) == (420, "Développement d'une API REST.", EntryStatus.SIGNED)
    assert db.session.scalar(select(db.func.count()).select_from(SignoffLink)) == 1


def test_revoke_through_the_page(app, world, internship, req, login, client):
    e = entry(internship, date(2026, 3, 2))
    link, token = send(internship, e)
    login(world.learner)
    assert client.post(f"/internships/{internship.id}/links/{link.id}/revoke").status_code == 302
    assert client.get(f"/signoff/{token}").status_code == 410


@pytest.mark.parametrize("role", ["other_learner", "tutor", "other_tutor", "admin", "jury"])
def test_only_the_learner_writes(app, world, internship, req, login, client, role):
    e = entry(internship, date(2026, 3, 2))
    link, _ = send(internship, entry(internship, date(2026, 3, 3)))
    db.session.commit()
    login(getattr(world, role))
    base = f"/internships/{internship.id}"
    for path, data in [
        (f"{base}/edit", {"organisation": "Pirate", "supervisor_name": "X", "supervisor_email": "x@x.example",
                          "start_date": "2026-03-02", "end_date": "2026-05-29"}),
        (f"{base}/entries/new", {"day": "2026-03-04", "hours": "7", "activities": "Intrus"}),
        (f"{base}/entries/{e.id}/edit", {"day": "2026-03-02", "hours": "1", "activities": "Intrus"}),
        (f"{base}/entries/{e.id}/delete", {}),
        (f"{base}/signoff", {"entries": [e.id]}),
        (f"{base}/links/{link.id}/revoke", {}),
        (f"{base}/evidence", {}),
    ]:
        response = client.post(path, data=data)
        assert response.status_code == (403 if role in ("tutor", "admin") else 404), (role, path)
    db.session.expire_all()
    assert db.session.get(LogbookEntry, e.id).activities == "Développement d'une API REST."
    assert db.session.get(SignoffLink, link.id).revoked_at is None
    assert len(db.session.get(type(internship), internship.id).entries) == 2


# --- PDF and evidence ----------------------------------------------------------------------------

def pdf_objects(pdf: bytes) -> bytes:
    """The PDF's objects, object streams decompressed (WeasyPrint compresses them)."""
    chunks = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            chunks.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(chunks)


def page_count(pdf: bytes) -> int:
    return max(int(n) for n in re.findall(rb"/Type /Pages\b[^>]*?/Count (\d+)", pdf_objects(pdf)))


def signed_logbook(internship, supervisor_sign):  # type: ignore[no-untyped-def]
    entries = [entry(internship, date(2026, 3, 2), "7", "Analyse des **besoins**", (C1, C3)),
               entry(internship, date(2026, 3, 3), "7,5", "Développement", (C1,)),
               entry(internship, date(2026, 3, 10), "6", "Tests", (C2,)),
               entry(internship, date(2026, 4, 1), "7", "Hors période", (C2,))]
    draft = entry(internship, date(2026, 3, 4), "7", "Pas signé", (C3,))
    link, _ = send(internship, *entries)
    supervisor_sign(link, [e.id for e in entries], name="Marc Maître", comment="Sérieux et rigoureux")
    db.session.commit()
    return entries, draft


def test_logbook_becomes_evidence_with_a_pdf_and_tags(supervisor_sign, app, world, internship, req):
    from portfolio.storage import get_storage

    signed_logbook(internship, supervisor_sign)
    evidence = service.logbook_to_evidence(internship, actor=world.learner, start=date(2026, 3, 1),
                                           end=date(2026, 3, 31))
    db.session.commit()
    evidence = db.session.get(Evidence, evidence.id)
    assert evidence.kind == EvidenceKind.LOGBOOK and evidence.context.value == "internship"
    assert evidence.owner_id == world.learner.id and "Acme SARL" in evidence.title
    assert evidence.occurred_on == date(2026, 3, 10)
    (file,) = evidence.files
    assert file.filename == "journal-de-stage-acme-sarl-20260301-20260331.pdf"
    assert file.blob.media_type == "application/pdf"
    pdf = b"".join(get_storage().iter_chunks(file.blob.storage_key))
    assert pdf.startswith(b"%PDF-") and len(pdf) > 5000
    assert page_count(pdf) >= 2  # a title page, then the table
    assert b"/Lang (fr)" in pdf_objects(pdf)
    claims = {c.competency.code: c.justification for c in db.session.scalars(
        select(Claim).where(Claim.evidence_id == evidence.id))}
    # C3 is named by a signed entry; the draft entry (C3 too) and the April one (C2) do not count twice.
    assert claims == {
        C1: "Pratiquée lors du stage chez Acme SARL (2 entrées signées).",
        C2: "Pratiquée lors du stage chez Acme SARL (1 entrée signée).",
        C3: "Pratiquée lors du stage chez Acme SARL (1 entrée signée).",
    }
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "logbook.export_evidence"))
    assert event.data["evidence"] == evidence.id and len(event.data["entries"]) == 3


def test_evidence_needs_signed_entries_and_the_learner(app, world, internship, req):
    entry(internship, date(2026, 3, 2))
    with pytest.raises(DomainError, match="Aucune entrée signée"):
        service.logbook_to_evidence(internship, actor=world.learner)
    with pytest.raises(DomainError):
        service.logbook_to_evidence(internship, actor=world.tutor)
    with pytest.raises(DomainError):
        service.logbook_to_evidence(internship, actor=world.learner, start=END, end=START)


def test_pdf_download_and_evidence_pages(supervisor_sign, app, world, internship, req, login, client):
    signed_logbook(internship, supervisor_sign)
    login(world.learner)
    response = client.get(f"/internships/{internship.id}/logbook.pdf?pdf-start=2026-03-01&pdf-end=2026-03-31")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-") and page_count(response.data) >= 2
    assert "journal-de-stage-acme-sarl-20260301-20260331.pdf" in response.headers["Content-Disposition"]
    empty = client.get(f"/internships/{internship.id}/logbook.pdf?pdf-start=2026-05-01&pdf-end=2026-05-02")
    assert empty.status_code == 302
    response = client.post(f"/internships/{internship.id}/evidence",
                           data={"evidence-start": "2026-03-01", "evidence-end": "2026-03-31"})
    assert response.status_code == 302 and "/evidence/" in response.headers["Location"]
    assert db.session.scalar(select(db.func.count()).select_from(Evidence)) == 1
    assert "logbook.pdf" in actions()


# --- every route with every role -----------------------------------------------------------------

ROLES = ["anonymous", "learner", "other_learner", "tutor", "other_tutor", "vae", "jury", "admin"]
L, OK, NF, FB, NA = "login", 200, 404, 403, 405


def _only(allowed: dict, others: int | str = FB) -> dict:
    return {role: allowed.get(role, L if role == "anonymous" else others) for role in ROLES}


# Internship of world.learner: the learner, their tutor and administrators read it (404 for anyone
# else); only the learner writes (403 for the readers). The supervisor's page needs no login.
ROUTES: dict[str, tuple[str, dict]] = {
    "logbook.index": ("/internships/", _only({"learner": OK, "other_learner": OK, "vae": OK})),
    "logbook.create": ("/internships/new", _only({"learner": OK, "other_learner": OK, "vae": OK})),
    "logbook.learner_internships": ("/learners/{learner_id}/internships",
                                    _only({"learner": OK, "tutor": OK, "admin": OK}, NF)),
    "logbook.detail": ("/internships/{internship}", _only({"learner": OK, "tutor": OK, "admin": OK}, NF)),
    "logbook.edit": ("/internships/{internship}/edit", _only({"learner": OK, "tutor": FB, "admin": FB}, NF)),
    "logbook.add_entry": ("/internships/{internship}/entries/new",
                          _only({"learner": OK, "tutor": FB, "admin": FB}, NF)),
    "logbook.edit_entry": ("/internships/{internship}/entries/{entry}/edit",
                           _only({"learner": OK, "tutor": FB, "admin": FB}, NF)),
    "logbook.delete_entry": ("/internships/{internship}/entries/{entry}/delete", _only({}, NA) | {"anonymous": NA}),
    "logbook.send": ("/internships/{internship}/signoff", _only({}, NA) | {"anonymous": NA}),
    "logbook.revoke": ("/internships/{internship}/links/{link}/revoke", _only({}, NA) | {"anonymous": NA}),
    "logbook.to_evidence": ("/internships/{internship}/evidence", _only({}, NA) | {"anonymous": NA}),
    # No signed entry yet: the owner and readers are sent back to the page with a message.
    "logbook.pdf": ("/internships/{internship}/logbook.pdf", _only({"learner": 302, "tutor": 302, "admin": 302}, NF)),
    # The learner's own link turns them away (403): the signature is the supervisor's.
    "logbook.signoff": ("/signoff/{token}", _only({"learner": FB}, OK) | {"anonymous": OK}),
    "logbook.return_entry": ("/signoff/{token}/entries/{entry}/return", _only({}, NA) | {"anonymous": NA}),
    "logbook.static": ("/static/logbook/copy.js", _only({}, OK) | {"anonymous": OK}),
}


def test_every_logbook_route_is_in_the_table(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("logbook.")}
    assert endpoints == ROUTES.keys()


@pytest.fixture
def route_objects(world, internship, req):  # type: ignore[no-untyped-def]
    e = entry(internship, date(2026, 3, 2))
    link, token = send(internship, entry(internship, date(2026, 3, 3)))
    return {"internship": internship.id, "entry": e.id, "link": link.id, "token": token,
            "learner_id": world.learner.id}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_route_matrix(app, world, route_objects, login, client, endpoint, role):
    path, expected = ROUTES[endpoint]
    if role != "anonymous":
        login(getattr(world, role))
    response = client.get(path.format(**route_objects))
    response.close()
    want = expected[role]
    if want == L:
        assert response.status_code == 302 and "/login" in response.headers["Location"], (role, path)
    else:
        assert response.status_code == want, (role, path)


def test_audit_trail_of_a_whole_logbook(supervisor_sign, app, world, internship, req):
    e1, e2 = entry(internship, date(2026, 3, 2)), entry(internship, date(2026, 3, 3))
    service.update_entry(e2, actor=world.learner, day=e2.day, hours="6", activities="Corrigé")
    link, _ = send(internship, e1, e2)
    service.return_entry(link, e2.id, remark="À préciser")
    supervisor_sign(link, [e1.id], name="Marc")
    again, _ = send(internship, e2)
    service.revoke_link(again, actor=world.learner)
    service.delete_entry(e2, actor=world.learner)
    service.logbook_pdf(internship, actor=world.tutor)
    service.logbook_to_evidence(internship, actor=world.learner)
    db.session.commit()
    logbook_actions = [a for a in actions() if a.startswith("logbook.")]
    assert logbook_actions == [
        "logbook.internship_create", "logbook.entry_add", "logbook.entry_add", "logbook.entry_update",
        "logbook.send", "logbook.return", "logbook.code_sent", "logbook.sign", "logbook.send", "logbook.link_revoke",
        "logbook.entry_delete", "logbook.pdf", "logbook.export_evidence",
    ]
    from portfolio.services.audit import verify_chain

    assert list(verify_chain()) == []


def test_the_link_is_derived_again_only_while_it_is_open(app, world, internship, req):  # type: ignore[no-untyped-def]
    link, _url = send(internship, entry(internship, START))
    again = service.link_url(link)
    assert again is not None and again.rsplit("/", 1)[-1] != ""
    assert service.load_link(again.rsplit("/", 1)[-1]).id == link.id
    # A link whose nonce was not derived (made before, or under another secret) is never shown again.
    link.nonce_hash = "0" * 64
    assert service.link_url(link) is None
