"""LTI fixtures: a platform simulator on loopback, registered with the tool, and a launch helper."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import LtiUserLink, User
from tests.browser.conftest import browse, browser, chromium_path, live_server, page  # noqa: F401 (browser fixtures)
from tests.lti.simulator import INSTRUCTOR, LEARNER, Platform, login_redirect

TOOL = "http://localhost"  # the Flask test client's origin


@pytest.fixture
def platform(app) -> Iterator[Platform]:  # type: ignore[no-untyped-def]
    from portfolio.services.lti import keys

    def tool_jwks() -> dict:
        with app.app_context():
            return keys.jwks()

    sim = Platform(tool_url=TOOL, tool_jwks=tool_jwks).start()
    sim.add_person("learner-1", "Lina Apprenante", [LEARNER], email="lina@example.org")
    sim.add_person("learner-2", "Léo Second", [LEARNER], email="leo@example.org")
    sim.add_person("teacher-1", "Théa Enseignante", [INSTRUCTOR], email="thea@example.org")
    yield sim
    sim.stop()


@pytest.fixture
def registered(app, platform):  # type: ignore[no-untyped-def]
    """The simulator registered by hand, courses mapped to RNCP 28754 by default."""
    from portfolio.services.cohorts import current_certification
    from portfolio.services.lti.platforms import register_platform

    row = register_platform(**platform.registration(), certification=current_certification("RNCP28754"), actor=None)
    db.session.commit()
    return row


def start_login(client, platform: Platform, sub: str, **extra: str):  # type: ignore[no-untyped-def]
    response = client.post("/lti/login", data=platform.login_params(sub, **extra))
    assert response.status_code == 302, response.get_data(as_text=True)
    return login_redirect(response.headers["Location"])


def launch(client, platform: Platform, sub: str, *, token=None, state=None, **overrides):  # type: ignore[no-untyped-def]
    """Login initiation, then the platform's post of a signed id_token (``overrides`` change its claims)."""
    query = start_login(client, platform, sub)
    id_token = token(query) if callable(token) else platform.id_token(nonce=query["nonce"], sub=sub, **overrides)
    return client.post("/lti/launch", data={"id_token": id_token, "state": state or query["state"]})


@pytest.fixture
def do_launch(client, platform, registered):  # type: ignore[no-untyped-def]
    def run(sub: str = "learner-1", **kwargs):  # type: ignore[no-untyped-def]
        return launch(client, platform, sub, **kwargs)

    return run


def linked_user(platform, sub: str) -> User | None:  # type: ignore[no-untyped-def]
    """The account linked to the platform's person ``sub``, read afresh (None when not linked)."""
    db.session.expire_all()
    link = db.session.scalar(select(LtiUserLink).where(LtiUserLink.issuer == platform.issuer,
                                                       LtiUserLink.subject == sub))
    return link.user if link else None


__all__ = ["INSTRUCTOR", "LEARNER", "launch", "linked_user", "start_login"]

