"""The evidence list (cards and table) shows each piece's state as a badge with words, and competency
codes sit in no-wrap elements, never broken across lines."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from portfolio.extensions import db
from portfolio.models import EvidenceStatus
from portfolio.services import evidence as service

C1, C2 = "RNCP28754BC01-C01", "RNCP28754BC01-C02"
CSS = Path(__file__).resolve().parent.parent / "portfolio" / "static" / "app.css"


@pytest.fixture
def three(app, world):  # type: ignore[no-untyped-def]
    items = {}
    for title, status in (("Brouillon A", EvidenceStatus.DRAFT), ("Soumise B", EvidenceStatus.SUBMITTED),
                          ("Évaluée C", EvidenceStatus.ASSESSED)):
        item = service.create_evidence(world.learner, title=title, kind="link", context="project",
                                       occurred_on=date(2026, 1, 5), url="https://example.org/x")
        for code in (C1, C2):
            service.tag_evidence(item, code, "Justification.", actor=world.learner)
        item.status = status
        items[status] = item
    db.session.commit()
    return items


def rule(selector: str) -> str:
    """The declarations of the CSS rules whose selector list names exactly ``selector``."""
    css = re.sub(r"/\*.*?\*/", "", CSS.read_text(encoding="utf-8"), flags=re.S)
    bodies = [body for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css)
              if selector in [part.strip() for part in selectors.split(",")]]
    assert bodies, selector
    return " ".join(bodies)


@pytest.mark.parametrize("view", ["", "?view=table"])
def test_each_piece_shows_its_state_in_words_and_unbroken_codes(app, world, login, client, three, view):
    login(world.learner)
    page = client.get(f"/evidence/{view}").get_data(as_text=True)
    for status, label in ((EvidenceStatus.DRAFT, "Brouillon"), (EvidenceStatus.SUBMITTED, "Soumise"),
                          (EvidenceStatus.ASSESSED, "Évaluée")):
        item = three[status]
        # The row or card of this piece carries the badge of its own state, with its words.
        if view:
            chunk = page.split(f'/evidence/{item.id}"', 1)[1].split("</tr>", 1)[0]
        else:
            chunk = page.split(f'id="evidence-{item.id}"', 1)[1].split('id="evidence-', 1)[0]
        badge = re.search(r'<span class="status status--(\w+)">([^<]+)</span>', chunk)
        assert badge and badge.groups() == (status.value, label)
        codes = re.findall(r'<span class="(?:tag )?code">([^<]+)</span>', chunk)
        assert codes == [C1, C2]
    assert "white-space: nowrap" in rule(".code")
    assert "white-space: nowrap" in rule(".status")


def test_states_in_english(app, world, login, client, three):
    world.learner.locale = "en"
    db.session.commit()
    login(world.learner)
    page = client.get("/evidence/").get_data(as_text=True)
    found = set(re.findall(r'<span class="status status--\w+">([^<]+)</span>', page))
    assert {"Draft", "Submitted", "Assessed"} <= found
