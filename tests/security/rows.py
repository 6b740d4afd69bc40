"""Rows of any table of the metadata, built from the schema alone (Core inserts, no service).

``insert_row(conn, table)`` fills every NOT NULL column with a value its type and CHECKs accept and
creates, for each foreign key, a fresh parent row the same way. The tests of deletion walk every
foreign key with it, so a table added tomorrow is covered without writing a builder for it.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Enum, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.engine import Connection

_counter = itertools.count(1)

# Values a CHECK of the schema requires beyond what the type says.
OVERRIDES: dict[tuple[str, str], Any] = {
    ("cohorts", "year"): 2026,
    ("certification_links", "kind"): "predecessor",
    ("login_attempts", "scope"): "address",
    ("outbox_messages", "status"): "queued",
    ("signoff_codes", "expires_at"): datetime(2026, 1, 5, 9, 15, tzinfo=UTC),  # after created_at
    ("credential_status_lists", "size"): 131072,  # the Bitstring Status List minimum
    ("credential_status_lists", "next_index"): 0,
    ("credential_status_lists", "bits"): bytes(131072 // 8),
    ("share_links", "expires_at"): datetime(2026, 2, 4, 9, 0, tzinfo=UTC),  # after created_at
}
# Columns a CHECK ties to the references the row got: table -> the values, from the row so far.
DERIVED: dict[str, Any] = {
    "share_links": lambda row: {"kind": "dossier_version" if row.get("dossier_version_id")
                                else "credential" if row.get("credential_id")
                                else "block" if row.get("block_id") else "progress"},
}
# Nullable references a CHECK needs one of: table -> the alternatives (the first is filled).
ONE_OF: dict[str, tuple[str, ...]] = {"comments": ("evidence_id", "dossier_id")}


def _value(table: Table, column) -> Any:  # type: ignore[no-untyped-def]
    if (table.name, column.name) in OVERRIDES:
        return OVERRIDES[(table.name, column.name)]
    kind = column.type
    if isinstance(kind, Enum):
        return kind.enums[0]
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, Integer):
        unique = column.unique or any(column.name in c.columns for c in table.constraints
                                      if isinstance(c, UniqueConstraint))
        return next(_counter) if unique else 1
    if isinstance(kind, DateTime) or isinstance(getattr(kind, "impl", None), DateTime):
        return datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    if isinstance(kind, Date):
        return date(2026, 1, 5)
    if isinstance(kind, JSON):
        return {}
    if isinstance(kind, String | Text):
        text = f"v{next(_counter)}"
        length = getattr(kind, "length", None)
        return text[-length:] if length else text
    raise AssertionError(f"no test value for {table.name}.{column.name} ({kind!r})")


def insert_row(conn: Connection, table: Table, **given: Any) -> dict[str, Any]:
    """Insert one row of ``table`` (``given`` columns as passed) and return its primary key values."""
    values: dict[str, Any] = dict(given)
    for column in table.columns:
        if column.name in values:
            continue
        fks = list(column.foreign_keys)
        if fks:
            alternatives = ONE_OF.get(table.name, ())
            needed = alternatives[:1] == (column.name,) and not any(a in given for a in alternatives)
            if column.nullable and not column.primary_key and not needed:
                continue
            parent = fks[0].column
            values[column.name] = insert_row(conn, parent.table)[parent.name]
            continue
        if column.primary_key and column.autoincrement in (True, "auto") and isinstance(column.type, Integer) \
                and len(table.primary_key.columns) == 1:
            continue
        if column.nullable:
            continue
        values[column.name] = _value(table, column)
    if table.name in DERIVED:
        values.update(DERIVED[table.name](values))
    result = conn.execute(table.insert().values(**values))
    keys = dict(zip([c.name for c in table.primary_key.columns], result.inserted_primary_key, strict=True))
    return {**values, **keys}


def pk_clause(table: Table, row: dict[str, Any]):  # type: ignore[no-untyped-def]
    from sqlalchemy import and_

    return and_(*(c == row[c.name] for c in table.primary_key.columns))
