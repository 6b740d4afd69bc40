"""Notifications behave like notifications: opening one marks it read and leads to its page, « tout marquer
comme lu », and the header's count follows; nobody opens another person's notification."""

from __future__ import annotations

import re

from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import Notification
from portfolio.services.assessment import notify


def header_count(page: str) -> int:
    link = re.search(r'id="nav-notifications".*?</a>', page, re.S).group(0)
    match = re.search(r'<span class="count">(\d+)', link)
    return int(match.group(1)) if match else 0


def test_opening_marks_read_and_the_count_follows(app, client, world, login):  # type: ignore[no-untyped-def]
    notify(world.learner, "Première", f"/learners/{world.learner.id}/progress")
    notify(world.learner, "Deuxième", "//evil.example/x")
    notify(world.learner, "Troisième", None)
    db.session.commit()
    ids = [n.id for n in db.session.scalars(select(Notification).order_by(Notification.id))]
    login(world.learner)
    page = client.get("/notifications").get_data(as_text=True)
    assert header_count(page) == 3 and 'id="mark-read"' in page

    response = client.post(f"/notifications/{ids[0]}/open")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/learners/{world.learner.id}/progress")
    assert header_count(client.get("/notifications").get_data(as_text=True)) == 2
    # A link that leaves the app is never followed: back to the list.
    response = client.post(f"/notifications/{ids[1]}/open")
    assert response.headers["Location"].endswith(f"/notifications#notification-{ids[1]}")

    response = client.post("/notifications/read", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert header_count(page) == 0 and 'id="mark-read"' not in page


def test_nobody_opens_another_persons_notification(app, client, world, login):  # type: ignore[no-untyped-def]
    notify(world.learner, "À moi", "/evidence/")
    db.session.commit()
    item = db.session.scalar(select(Notification))
    login(world.other_learner)
    assert client.post(f"/notifications/{item.id}/open").status_code == 404
    db.session.expire_all()
    assert db.session.get(Notification, item.id).read_at is None
