"""Deleted rows leave nothing behind, and their ids are never given to new rows.

Walks every foreign key of the metadata (evidence, users, blocks, competencies and all the rest):
deleting the row it points at either deletes the referring row (CASCADE), empties the reference
(SET NULL) or is refused (RESTRICT) — by the database itself, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Integer, exc, select

import portfolio.models  # noqa: F401  (every table in the metadata)
from portfolio.extensions import db
from tests.security.rows import insert_row, pk_clause

FOREIGN_KEYS = sorted(
    ((fk.parent.table.name, fk.parent.name, fk) for table in db.metadata.sorted_tables for fk in table.foreign_keys),
    key=lambda item: (item[0], item[1]),
)
WATCHED = {"evidence", "users", "blocks", "competencies"}
ID_TABLES = [t for t in db.metadata.sorted_tables
             if len(t.primary_key.columns) == 1 and isinstance(t.primary_key.columns[0].type, Integer)
             and not t.primary_key.columns[0].foreign_keys
             and t.name != "audit_head"]  # one row by design (CHECK id = 1)


def test_every_foreign_key_says_what_happens_on_delete():
    vague = [f"{table}.{column}" for table, column, fk in FOREIGN_KEYS
             if (fk.ondelete or "").upper() not in ("CASCADE", "RESTRICT", "SET NULL")]
    assert vague == []
    # SET NULL only where the column may be empty (else the database refuses the delete anyway).
    impossible = [f"{table}.{column}" for table, column, fk in FOREIGN_KEYS
                  if fk.ondelete.upper() == "SET NULL" and not fk.parent.nullable]
    assert impossible == []
    # Every table that refers to evidence, users, blocks and competencies is in the walk below.
    referring = {table for table, _c, fk in FOREIGN_KEYS if fk.column.table.name in WATCHED}
    assert {"claims", "comments", "dossier_narratives", "experience_evidence", "assessments",
            "competency_states", "notifications", "jury_members", "dossier_sections"} <= referring


@pytest.mark.parametrize(("table_name", "column_name", "fk"), FOREIGN_KEYS,
                         ids=[f"{t}.{c}" for t, c, _ in FOREIGN_KEYS])
def test_deleting_what_a_row_refers_to(app, table_name, column_name, fk):
    child = db.metadata.tables[table_name]
    parent = fk.column.table
    with db.engine.begin() as conn:
        target = insert_row(conn, parent)
        row = insert_row(conn, child, **{column_name: target[fk.column.name]})
    delete = parent.delete().where(pk_clause(parent, target))
    rule = fk.ondelete.upper()
    if rule == "RESTRICT":
        with pytest.raises(exc.IntegrityError), db.engine.begin() as conn:
            conn.execute(delete)
        with db.engine.connect() as conn:
            assert conn.execute(select(parent).where(pk_clause(parent, target))).first() is not None
            assert conn.execute(select(child).where(pk_clause(child, row))).first() is not None
        return
    with db.engine.begin() as conn:
        assert conn.execute(delete).rowcount == 1
    with db.engine.connect() as conn:
        left = conn.execute(select(child).where(pk_clause(child, row))).mappings().first()
    if rule == "CASCADE":
        assert left is None, f"{table_name} row survived the {parent.name} row it pointed at"
    else:
        assert left is not None and left[column_name] is None


@pytest.mark.parametrize("table", ID_TABLES, ids=[t.name for t in ID_TABLES])
def test_ids_are_never_reused(app, table):
    with db.engine.begin() as conn:
        first = insert_row(conn, table)
    key = table.primary_key.columns[0]
    with db.engine.begin() as conn:
        # The newest row goes: this is where SQLite without AUTOINCREMENT hands its id out again.
        conn.execute(table.delete().where(key >= first[key.name]))
    with db.engine.begin() as conn:
        second = insert_row(conn, table)
    assert second[key.name] > first[key.name]
