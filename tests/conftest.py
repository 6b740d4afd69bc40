"""Shared fixtures: one schema per run built from the migrations, a clean database for each test.

The database is SQLite by default; set ``PORTFOLIO_TEST_DATABASE_URL=postgresql://...`` to run the
same suite on PostgreSQL (a fresh schema is created for the run and dropped at its end).
Each test starts from the migrated schema holding only the shipped RNCP 28754 framework: rows the
previous test committed are deleted (tables are never dropped), the framework's rows are kept while
no test changed them (else it is imported again). Tests go through the real commit points, and the
browser tests' live server sees the same data. The ``world`` fixture is built through the services once
per framework import, then its rows are inserted back as they were.

Tests that only read may share one world per module instead (``shared_world`` below, with the marker
``@pytest.mark.shared_world``): it is built once, and built again only when a test in between emptied the
database; a shared-world test that changes a row fails.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, func, literal, select, text, union_all
from sqlalchemy.engine import Engine

from portfolio import create_app
from portfolio.extensions import db, limiter
from portfolio.jobs import wait_for_threads

pytest_plugins = ["tests.storage_fixtures"]

TEST_PASSWORD = "correct horse battery staple"  # noqa: S105
#: One audit key for the whole run: apps a test makes for itself verify the chain the others wrote.
AUDIT_KEY = secrets.token_urlsafe(32)


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """Argon2id with minimal cost: hundreds of accounts are created and signed in during a run. The
    strength check (zxcvbn, a pure function of the password and the person's name and e-mail) is
    remembered: the same few accounts are created again in nearly every test."""
    from functools import lru_cache

    from argon2 import PasswordHasher

    from portfolio.services import passwords

    original, original_weakness = passwords._hasher, passwords.password_weakness
    remembered = lru_cache(maxsize=4096)(original_weakness)

    def password_weakness(password: str, user_inputs: list[str] | tuple[str, ...] = ()) -> str | None:
        return remembered(password, tuple(user_inputs))

    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    passwords.password_weakness = password_weakness
    yield
    passwords._hasher, passwords.password_weakness = original, original_weakness


@event.listens_for(Engine, "connect")
def _sqlite_no_fsync(dbapi_connection, connection_record) -> None:  # type: ignore[no-untyped-def]
    """The test databases are thrown away: SQLite need not wait for the disk at each commit (locking,
    and so what concurrent writers see, is unchanged)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()


#: Seconds per test module in a whole run (``tools/test_costs.py`` writes it from a JUnit report).
MODULE_COSTS: dict[str, float] = json.loads((Path(__file__).parent / "module_costs.json").read_text("utf-8"))


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    # Tests that use the database carry the `db` marker, so `make test-db` can re-run exactly them.
    for item in items:
        if "app" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
    # The costliest modules first: with `--dist loadfile` a module runs whole in one process, and a long
    # one handed out last keeps the run going while the other processes wait. Within a module the order
    # is unchanged; a module not in the file counts as one second.
    rank = {}
    for position, item in enumerate(items):
        module = Path(str(item.path)).relative_to(config.rootpath).as_posix()
        rank.setdefault(module, (-MODULE_COSTS.get(module, 1.0), position))
    items.sort(key=lambda item: rank[Path(str(item.path)).relative_to(config.rootpath).as_posix()])


@contextmanager
def scratch_database(directory: Path, name: str = "test") -> Iterator[str]:
    """The URL of an empty database of its own, removed afterwards: a SQLite file in ``directory``, or a
    fresh schema ``<name>_<random>`` on the server of ``PORTFOLIO_TEST_DATABASE_URL`` when it is set."""
    url = os.environ.get("PORTFOLIO_TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{directory / f'{name}.sqlite3'}"
        return
    from portfolio.config import normalise_database_url

    url = normalise_database_url(url)
    schema = f"{name}_{uuid.uuid4().hex[:12]}"
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


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The run's database (migrated once by ``app``)."""
    with scratch_database(tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's own, for migration tests (the run's one is already at head)."""
    with scratch_database(tmp_path, "mig") as url:
        yield url


def make_config(database_url: str, tmp: Path, **extra: object) -> dict:
    config = {
        "ENV": "testing",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATABASE_URL": database_url,
        "STORAGE_URL": f"file://{tmp / 'evidence'}",
        "WTF_CSRF_ENABLED": False,
        "LOGIN_RATE_LIMIT": "10000 per minute",
        "LOGIN_ACCOUNT_RATE_LIMIT": "10000 per minute",
        "SERVER_NAME": None,
        "AUDIT_KEY": AUDIT_KEY,
        "AUDIT_CHECKPOINT_PATH": str(tmp / "audit-checkpoint.json"),
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
#: How many times the database was emptied; a shared world is valid for the generation it was built in.
_DATABASE = {"generation": 0}
_SHARED_WORLDS: dict[tuple, tuple] = {}


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty every table before a database test, then load RNCP 28754 again (not before a test that
    reads a shared world: ``shared_world`` does it when it builds the world)."""
    if "app" not in request.fixturenames:
        yield
        return
    application = request.getfixturevalue("app")
    shared = request.node.get_closest_marker("shared_world") is not None
    with application.app_context():
        if not shared:
            _reset_database()
        yield
        # Work the test's requests started on threads (no Redis) ends before the next test empties the
        # database under it.
        wait_for_threads(application)
        db.session.remove()
        if shared:
            _check_shared_world_unchanged(request.node.nodeid)


#: What the shipped framework's import leaves in the database (tables of the framework, and its one
#: audit event with the chain's head and checkpoint): kept between tests while nothing changed them.
FRAMEWORK_TABLES = ("certifications", "certification_links", "blocks", "competencies")
_BASELINE: dict = {}


def _framework_rows(conn) -> tuple:  # type: ignore[no-untyped-def]
    """Every row of the framework's tables and the import's audit event, as values."""
    tables = db.metadata.tables
    rows = [tuple(tuple(r) for r in conn.execute(select(tables[name]).order_by(*tables[name].primary_key.columns)))
            for name in FRAMEWORK_TABLES]
    events = tables["audit_events"]
    rows.append(tuple(tuple(r) for r in conn.execute(select(events).where(events.c.id == _BASELINE["event_id"]))))
    return tuple(rows)


def _reset_database() -> None:
    """Back to the migrated schema holding only RNCP 28754, as if it had just been imported.

    The fast way, when the framework's rows and the import's audit event are what the last import
    left: empty the other tables that hold rows, put the chain's head and its checkpoint back where the
    import left them. Otherwise, empty every table and import the framework again (and remember what it
    left)."""
    from flask import current_app

    _DATABASE["generation"] += 1
    db.session.remove()
    checkpoint = Path(current_app.config["AUDIT_CHECKPOINT_PATH"])
    tables = db.metadata.sorted_tables
    with db.engine.begin() as conn:
        if _BASELINE.get("url") == str(db.engine.url) and _framework_rows(conn) == _BASELINE["rows"]:
            held = union_all(*(select(literal(t.name).label("name")).where(select(literal(1)).select_from(t)
                                                                          .exists()) for t in tables))
            nonempty = set(conn.scalars(held))
            events, head = db.metadata.tables["audit_events"], db.metadata.tables["audit_head"]
            for table in reversed(tables):
                if table.name in FRAMEWORK_TABLES or table.name not in nonempty:
                    continue
                if table is events:
                    conn.execute(events.delete().where(events.c.id != _BASELINE["event_id"]))
                else:
                    conn.execute(table.delete())
            conn.execute(head.insert().values(**_BASELINE["head"]))
            checkpoint.write_text(_BASELINE["checkpoint"])
            limiter.reset()
            return
    _import_framework_afresh(checkpoint)


def _import_framework_afresh(checkpoint: Path) -> None:
    from portfolio.frameworks.formats import builtin_path, load_framework_file
    from portfolio.services.frameworks import import_certification

    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
    # The audit chain starts again: so does its checkpoint outside the database.
    checkpoint.unlink(missing_ok=True)
    for data in load_framework_file(builtin_path("RNCP28754")):
        import_certification(data)
    db.session.commit()
    db.session.remove()
    limiter.reset()
    events = db.metadata.tables["audit_events"]
    with db.engine.connect() as conn:
        ids = list(conn.scalars(select(events.c.id)))
        assert len(ids) == 1, f"the framework's import wrote {len(ids)} audit events, the fast reset keeps one"
        _BASELINE.update(url=str(db.engine.url), event_id=ids[0], checkpoint=checkpoint.read_text(),
                         version=_BASELINE.get("version", 0) + 1)
        _BASELINE["rows"] = _framework_rows(conn)
        heads = [dict(r._mapping) for r in conn.execute(select(db.metadata.tables["audit_head"]))]
        assert len(heads) == 1
        _BASELINE["head"] = heads[0]
    # Nothing else may hold rows: what the fast reset keeps is exactly this.
    assert {name for name, n in _row_counts().items() if n} <= set(FRAMEWORK_TABLES)


#: Tables a read may write to (the audit of a read, ``unit_of_work.read_audit``, and the chain's head).
#: Written by a read (inside ``unit_of_work.read_audit``): the audit chain, and the log of a share link's openings.
READ_AUDIT_TABLES = frozenset({"audit_events", "audit_head", "share_views"})


def _row_counts() -> dict[str, int]:
    tables = [t for t in db.metadata.sorted_tables if t.name not in READ_AUDIT_TABLES]
    query = union_all(*(select(literal(t.name).label("name"), func.count().label("n")).select_from(t)
                        for t in tables))
    with db.engine.connect() as conn:
        return {name: n for name, n in conn.execute(query)}


def shared_world(request: pytest.FixtureRequest, build):  # type: ignore[no-untyped-def]
    """What ``build()`` returns, built on an emptied database once for the module, and reused by the
    tests of the module marked ``@pytest.mark.shared_world`` (they must not write: each is checked).

    The world is built again when a test in between emptied the database. Return plain values (ids,
    e-mail addresses, cookies): the ORM objects of one test's session are not the next test's.
    """
    key = (request.node.module.__name__, build.__qualname__)
    cached = _SHARED_WORLDS.get(key)
    if cached is None or cached[0] != _DATABASE["generation"]:
        _reset_database()
        value = build()
        db.session.commit()
        db.session.remove()
        cached = _SHARED_WORLDS[key] = (_DATABASE["generation"], value, _row_counts())
    _DATABASE["shared"] = cached
    return cached[1]


def _check_shared_world_unchanged(nodeid: str) -> None:
    cached = _DATABASE.pop("shared", None)
    if cached is None or cached[0] != _DATABASE["generation"]:
        return
    counts = _row_counts()
    if counts != cached[2]:
        _DATABASE["generation"] += 1  # the next test builds its world again
        changed = {name: (cached[2][name], n) for name, n in counts.items() if cached[2].get(name) != n}
        pytest.fail(f"{nodeid} wrote to its shared world (rows before, after): {changed}", pytrace=False)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def runner(app):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


def create_test_user(email: str | None = None, *roles: str, name: str | None = None, locale: str = "fr"):  # type: ignore[no-untyped-def]
    """Create (and commit) a user with the given roles (learner by default); password is TEST_PASSWORD."""
    from portfolio.services.users import create_user, parse_roles

    email = email or f"user-{uuid.uuid4().hex[:8]}@example.org"
    user = create_user(email, name or email.split("@")[0].title(), parse_roles(roles or ("learner",)),
                       password=TEST_PASSWORD, locale=locale)
    db.session.commit()
    return user


@pytest.fixture
def make_user(app):  # type: ignore[no-untyped-def]
    """Create (and commit) a user with the given roles; password is TEST_PASSWORD."""
    return create_test_user


@pytest.fixture
def login(client):  # type: ignore[no-untyped-def]
    """Sign a user in through the real login form."""

    def do_login(user, password: str = TEST_PASSWORD):  # type: ignore[no-untyped-def]
        response = client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return response

    return do_login


def build_world():  # type: ignore[no-untyped-def]
    """RNCP 28754, two cohorts, a learner and a tutor in each, plus other roles (committed)."""
    from types import SimpleNamespace

    from portfolio.models import MemberRole
    from portfolio.services.cohorts import add_member, create_cohort, current_certification

    make_user = create_test_user
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


#: The rows ``build_world`` adds to the framework's baseline, taken the first time it runs on that
#: baseline and put back as they were (same ids, same audit chain) by the next tests that ask for it.
_WORLD_ROWS: dict = {}
_WORLD_PEOPLE = ("learner", "other_learner", "tutor", "other_tutor", "vae", "jury", "admin")


def _world_rows(conn) -> list[tuple]:  # type: ignore[no-untyped-def]
    """(table, rows as dicts) for every table holding rows beyond the framework's baseline, parents first."""
    events = db.metadata.tables["audit_events"]
    taken = []
    for table in db.metadata.sorted_tables:
        if table.name in FRAMEWORK_TABLES:
            continue
        query = select(table)
        if table is events:
            query = query.where(events.c.id != _BASELINE["event_id"])
        rows = [dict(r._mapping) for r in conn.execute(query)]
        if rows:
            taken.append((table, rows))
    return taken


def _at_baseline() -> bool:
    """Whether the database holds exactly what the framework's import left (no row beyond it), as the
    test's session sees it (what an earlier fixture added, committed or not, counts)."""
    if _BASELINE.get("url") != str(db.engine.url):
        return False
    events, head = db.metadata.tables["audit_events"], db.metadata.tables["audit_head"]
    kept = (*FRAMEWORK_TABLES, "audit_events", "audit_head")
    held = [select(literal(t.name)).where(select(literal(1)).select_from(t).exists())
            for t in db.metadata.sorted_tables if t.name not in kept]
    held.append(select(literal("audit_events")).where(
        select(literal(1)).select_from(events).where(events.c.id != _BASELINE["event_id"]).exists()))
    if list(db.session.scalars(union_all(*held))):
        return False
    return [dict(r._mapping) for r in db.session.execute(select(head))] == [_BASELINE["head"]]


@pytest.fixture
def world(app, make_user):  # type: ignore[no-untyped-def]
    """A small world: RNCP 28754, two cohorts, a learner and a tutor in each, plus other roles.

    Built through the services once per framework baseline; afterwards its rows (audit chain and
    checkpoint included) are inserted back as they were, which is what building it again would give."""
    from types import SimpleNamespace

    from flask import current_app

    from portfolio.models import Certification, Cohort, User

    checkpoint = Path(current_app.config["AUDIT_CHECKPOINT_PATH"])
    saved = _WORLD_ROWS.get("taken")
    if not _at_baseline():  # another fixture wrote first: build it through the services, keep nothing
        return build_world()
    if saved is None or saved["baseline"] != _BASELINE.get("version"):
        people = build_world()
        ids = {name: getattr(people, name).id for name in (*_WORLD_PEOPLE, "cohort", "other_cohort")}
        certification = people.certification.id
        _WORLD_ROWS["taken"] = {"baseline": _BASELINE.get("version"), "rows": _world_rows(db.session.connection()),
                                "checkpoint": checkpoint.read_text(), "ids": ids, "certification": certification}
        db.session.commit()
    else:
        db.session.execute(db.metadata.tables["audit_head"].delete())
        for table, rows in saved["rows"]:
            db.session.execute(table.insert(), rows)
        db.session.commit()
        checkpoint.write_text(saved["checkpoint"])
    taken = _WORLD_ROWS["taken"]
    ids = taken["ids"]
    people = SimpleNamespace(**{name: db.session.get(User, ids[name]) for name in _WORLD_PEOPLE})
    people.cohort = db.session.get(Cohort, ids["cohort"])
    people.other_cohort = db.session.get(Cohort, ids["other_cohort"])
    people.certification = db.session.get(Certification, taken["certification"])
    return people


def signed_in_cookie(application, email: str, password: str = TEST_PASSWORD) -> str:  # type: ignore[no-untyped-def]
    """Sign in through the real login form; return the session cookie's value (for ``with_session``)."""
    client = application.test_client()
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    cookie = client.get_cookie(application.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return cookie.value


def with_session(application, cookie: str | None) -> FlaskClient:  # type: ignore[no-untyped-def]
    """A new test client carrying a session cookie from ``signed_in_cookie`` (None: signed out)."""
    client = application.test_client()
    if cookie is not None:
        client.set_cookie(application.config["SESSION_COOKIE_NAME"], cookie)
    return client


@pytest.fixture
def bearer(app):  # type: ignore[no-untyped-def]
    """Create an API token for a user; return the request headers that carry it."""
    from portfolio.services import tokens

    def make(user, name: str = "test") -> dict[str, str]:  # type: ignore[no-untyped-def]
        _, raw = tokens.create_token(user, name)
        db.session.commit()
        return {"Authorization": f"Bearer {raw}"}

    return make


@pytest.fixture
def enrolled(app, world):  # type: ignore[no-untyped-def]
    """world.vae enrolled on RNCP 28754 as a VAE candidate."""
    from portfolio.services import vae

    vae.enrol_candidate(world.vae, world.certification, actor=None)
    db.session.commit()
    return world.vae


@pytest.fixture
def vae_case(app, world, enrolled):  # type: ignore[no-untyped-def]
    """world.vae: a complete BC01 sent as version 1, assigned to a jury with world.jury; adviser world.tutor."""
    from portfolio.services import vae
    from tests.factories import complete_block, own_evidence

    vae.set_adviser(world.vae, world.tutor, actor=world.admin)
    evidence = own_evidence(world.vae)
    dossier = vae.get_or_create_dossier(world.vae)
    experience = complete_block(dossier, evidence)
    version = vae.send_dossier(dossier, actor=world.vae)
    jury = vae.create_jury("Jury CDA", [world.jury], actor=world.admin)
    vae.assign_version(version, jury, actor=world.admin)
    db.session.commit()
    return {"dossier": dossier.id, "version": version.id, "experience": experience.id, "jury": jury.id,
            "vae_evidence": evidence.id, "jury_member": world.jury.id}


@pytest.fixture
def smtp(app, monkeypatch):  # type: ignore[no-untyped-def]
    """A real SMTP server on loopback, configured as the app's ``SMTP_URL``; ``smtp.messages`` holds
    what it received."""
    from tests.smtp_server import LoopbackSMTP

    server = LoopbackSMTP()
    monkeypatch.setitem(app.config, "SMTP_URL", server.url)
    yield server
    server.close()


@pytest.fixture
def supervisor_sign(app, smtp):  # type: ignore[no-untyped-def]
    """Sign as the supervisor does: the code is e-mailed to the link's address, read from the message
    received, then given with the signature (commits the code's sending, not the signature)."""
    from portfolio import unit_of_work
    from portfolio.services import logbook

    def sign(link, entry_ids, *, name, comment=""):  # type: ignore[no-untyped-def]
        with app.test_request_context():
            logbook.send_signoff_code(link, entry_ids, name=name, comment=comment)
            db.session.commit()
            unit_of_work.run_deferred()  # the outbox sends after the commit
        return logbook.sign_entries(link, entry_ids, name=name, comment=comment,
                                    code=smtp.last_code(link.sent_to))

    return sign
