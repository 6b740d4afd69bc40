"""Shared fixtures: one schema per run built from the migrations, a clean database for each test.

The database is SQLite by default; set ``PORTFOLIO_TEST_DATABASE_URL=postgresql://...`` to run the
same suite on PostgreSQL (a fresh schema is created for the run and dropped at its end).
Each test starts from the migrated schema holding only the shipped RNCP 28754 framework: rows the
previous test committed are deleted (tables are never dropped). Tests go through the real commit
points, and the browser tests' live server sees the same data.
"""

from __future__ import annotations

import importlib.util  # TEMP
import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from portfolio import create_app
from portfolio.extensions import db, limiter

pytest_plugins = ["tests.storage_fixtures"] if importlib.util.find_spec("tests.storage_fixtures") else []  # TEMP

TEST_PASSWORD = "correct horse battery staple"  # noqa: S105


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """Argon2id with minimal cost: hundreds of accounts are created and signed in during a run."""
    from argon2 import PasswordHasher

    from portfolio.services import passwords

    original = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._hasher = original


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    # Tests that use the database carry the `db` marker, so `make test-db` can re-run exactly them.
    for item in items:
        if "app" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("PORTFOLIO_TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        return
    from portfolio.config import normalise_database_url

    url = normalise_database_url(url)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_config(database_url: str, tmp: Path, **extra: object) -> dict:
    config = {
        "ENV": "testing",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATABASE_URL": database_url,
        "STORAGE_URL": f"file://{tmp / 'evidence'}",
        "WTF_CSRF_ENABLED": False,
        "LOGIN_RATE_LIMIT": "10000 per minute",
        "SERVER_NAME": None,
    }
    config.update(extra)
    return config


class FreshContextClient(FlaskClient):
    """Each request runs in its own application context, with its own session and ``g``, as in
    production, even though the test itself holds an application context for its own queries."""

    def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        with self.application.app_context():
            return super().open(*args, **kwargs)


_EXTRA_APPS: list = []


def new_app(config: dict):  # type: ignore[no-untyped-def]
    application = create_app(config)
    application.test_client_class = FreshContextClient
    _EXTRA_APPS.append(application)
    return application


@pytest.fixture(autouse=True)
def _dispose_extra_apps() -> Iterator[None]:
    """Close the connection pools of apps a test made for itself (PostgreSQL warns otherwise)."""
    yield
    while _EXTRA_APPS:
        application = _EXTRA_APPS.pop()
        if getattr(application, "_session_app", False):
            continue
        with application.app_context():
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The application on a schema built once from the migrations."""
    from flask_migrate import upgrade

    application = new_app(make_config(database_url, tmp_path_factory.mktemp("instance")))
    application._session_app = True
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        for engine in db.engines.values():
            engine.dispose()


TABLES_KEPT: set[str] = set()


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty every table before a database test, then load RNCP 28754 again."""
    if "app" not in request.fixturenames:
        yield
        return
    application = request.getfixturevalue("app")
    with application.app_context():
        _reset_database()
        yield
        db.session.remove()


def _reset_database() -> None:
    from portfolio.frameworks.formats import builtin_path, load_framework_file
    from portfolio.services.frameworks import import_certification

    db.session.remove()
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
    for data in load_framework_file(builtin_path("RNCP28754")):
        import_certification(data)
    db.session.commit()
    limiter.reset()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def runner(app):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):  # type: ignore[no-untyped-def]
    """Create (and commit) a user with the given roles; password is TEST_PASSWORD."""
    from portfolio.services.users import create_user, parse_roles

    def factory(email: str | None = None, *roles: str, name: str | None = None, locale: str = "fr"):  # type: ignore[no-untyped-def]
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.org"
        user = create_user(email, name or email.split("@")[0].title(), parse_roles(roles or ("learner",)),
                           password=TEST_PASSWORD, locale=locale)
        db.session.commit()
        return user

    return factory


@pytest.fixture
def login(client):  # type: ignore[no-untyped-def]
    """Sign a user in through the real login form."""

    def do_login(user, password: str = TEST_PASSWORD):  # type: ignore[no-untyped-def]
        response = client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return response

    return do_login


@pytest.fixture
def world(app, make_user):  # type: ignore[no-untyped-def]
    """A small world: RNCP 28754, two cohorts, a learner and a tutor in each, plus other roles."""
    from types import SimpleNamespace

    from portfolio.models import MemberRole
    from portfolio.services.cohorts import add_member, create_cohort, current_certification

    cert = current_certification("RNCP28754")
    people = SimpleNamespace(
        learner=make_user("learner@example.org", "learner", name="Lina Apprenante"),
        other_learner=make_user("other@example.org", "learner", name="Omar Autre"),
        tutor=make_user("tutor@example.org", "tutor", name="Théo Formateur"),
        other_tutor=make_user("other.tutor@example.org", "tutor", name="Olga Formatrice"),
        vae=make_user("vae@example.org", "vae_candidate", name="Victor Candidat"),
        jury=make_user("jury@example.org", "jury", name="Judith Jury"),
        admin=make_user("admin@example.org", "admin", name="Ada Admin"),
    )
    people.cohort = create_cohort("Promo A 2026", cert, 2026, actor=None)
    people.other_cohort = create_cohort("Promo B 2026", cert, 2026, actor=None)
    add_member(people.cohort, people.learner, MemberRole.LEARNER, actor=None)
    add_member(people.cohort, people.tutor, MemberRole.TUTOR, actor=None)
    add_member(people.other_cohort, people.other_learner, MemberRole.LEARNER, actor=None)
    add_member(people.other_cohort, people.other_tutor, MemberRole.TUTOR, actor=None)
    people.certification = cert
    db.session.commit()
    return people
