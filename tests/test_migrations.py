"""The migrations build exactly the models' schema (on SQLite, and on PostgreSQL in CI)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portfolio.extensions import db


def test_migrations_and_models_agree(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_every_table_comes_from_a_migration(app):
    from sqlalchemy import inspect

    with db.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    assert set(db.metadata.tables) <= tables
    assert "alembic_version" in tables
