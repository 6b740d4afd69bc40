"""The database holds its own rules: the CHECKs the models declare exist in the migrated schema and
refuse what the rules forbid, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import CheckConstraint, exc, inspect, update

import portfolio.models  # noqa: F401
from portfolio.extensions import db
from tests.security.rows import insert_row


def _model_checks() -> set[tuple[str, str]]:
    return {(t.name, c.name) for t in db.metadata.sorted_tables for c in t.constraints
            if isinstance(c, CheckConstraint)}


def test_the_database_has_every_check_the_models_declare(app):
    inspector = inspect(db.engine)
    in_database = {(table, check["name"]) for table in db.metadata.tables
                   for check in inspector.get_check_constraints(table)}
    assert _model_checks() == in_database
    # Every enum column is covered.
    enums = {(t.name, c.type.name) for t in db.metadata.sorted_tables for c in t.columns
             if isinstance(c.type, db.Enum)}
    assert {(t, f"ck_{t}_{name}") for t, name in enums} <= in_database


REFUSED = [
    ("evidence", {"status": "published"}),
    ("user_roles", {"role": "superuser"}),
    ("assessments", {"level": "excellent"}),
    ("internships", {"end_date": date(2025, 1, 1)}),
    ("internships", {"expected_hours": 0}),
    ("logbook_entries", {"minutes": 0}),
    ("logbook_entries", {"minutes": 24 * 60 + 1}),
    ("logbook_entries", {"status": "signed", "signed_by_name": None}),
    ("experiences", {"end_date": date(2000, 1, 1)}),
    ("dossier_exports", {"progress": 101}),
    ("dossier_exports", {"progress": -1}),
    ("dossier_exports", {"status": "done", "storage_key": None}),
    ("dossier_versions", {"number": 0}),
    ("blobs", {"size": 0}),
    ("cohorts", {"year": 1999}),
    ("competencies", {"position": 0}),
]


@pytest.mark.parametrize(("table_name", "change"), REFUSED, ids=[f"{t}-{'-'.join(c)}" for t, c in REFUSED])
def test_the_database_refuses_what_the_rules_forbid(app, table_name, change):
    table = db.metadata.tables[table_name]
    with db.engine.begin() as conn:
        row = insert_row(conn, table)
    key = table.primary_key.columns[0]
    with pytest.raises(exc.IntegrityError), db.engine.begin() as conn:
        conn.execute(update(table).where(key == row[key.name]).values(**change))


def test_a_legal_row_passes_the_same_checks(app):
    table = db.metadata.tables["logbook_entries"]
    with db.engine.begin() as conn:
        row = insert_row(conn, table)
        conn.execute(update(table).where(table.c.id == row["id"]).values(
            status="signed", signed_by_name="Sam Tuteur", signed_at=datetime(2026, 1, 5, tzinfo=UTC), minutes=1440))
