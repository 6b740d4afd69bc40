"""Dates people read are long dates through Babel: « 1er décembre 2026 » in French, « December 1, 2026 » in
English, on the logbook pages and in a frozen VAE version (whose dates are kept as ISO strings)."""

from __future__ import annotations

import re
from datetime import date

import pytest

from portfolio.extensions import db
from portfolio.services import logbook as service


def plain(html: str) -> str:
    return re.sub(r"\s+", " ", html.replace("\u202f", " ").replace("\u00a0", " "))


@pytest.fixture
def december(app, world):  # type: ignore[no-untyped-def]
    with app.test_request_context():
        item = service.create_internship(world.learner, organisation="Acme", supervisor_name="Marc",
                                         supervisor_email="marc@acme.example", start_date=date(2026, 12, 1),
                                         end_date=date(2026, 12, 18))
        service.add_entry(item, actor=world.learner, day=date(2026, 12, 1), hours="7", activities="Tests.")
    db.session.commit()
    return item.id


@pytest.mark.parametrize(("locale", "start", "end"), [("fr", "du 1er décembre 2026 au 18 décembre 2026",
                                                        "Entre le 1er décembre 2026 et le 18 décembre 2026."),
                                                       ("en", "from December 1, 2026 to December 18, 2026",
                                                        "Between December 1, 2026 and December 18, 2026.")])
def test_logbook_pages_show_long_dates(app, world, login, client, december, locale, start, end):
    world.learner.locale = locale
    db.session.commit()
    login(world.learner)
    for path in ("/internships/", f"/internships/{december}"):
        page = plain(client.get(path).get_data(as_text=True))
        assert start in page and "01/12/2026" not in page, path
    form = plain(client.get(f"/internships/{december}/entries/new").get_data(as_text=True))
    assert end in form


@pytest.mark.parametrize(("locale", "text"), [("fr", "depuis le 6 janvier 2020"), ("en", "since January 6, 2020")])
def test_vae_version_and_experiences_show_long_dates(app, world, login, client, vae_case,
                                                    locale, text):
    world.vae.locale = locale
    db.session.commit()
    login(world.vae)
    version = plain(client.get(f"/vae/versions/{vae_case['version']}").get_data(as_text=True))
    assert text in version and "2020-01-06" not in version
    experiences = plain(client.get("/vae/experiences/").get_data(as_text=True))
    assert text in experiences and "06/01/2020" not in experiences
