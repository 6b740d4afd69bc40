"""Every record about one person, found by following the schema's foreign keys (right of access).

Starting from the person's ``users`` row, a row belongs to their data when one of its foreign keys
points at a row that does: their evidence, its files, tags and comments, the assessments they received
or gave, their logbooks and signatures, their dossier, its versions and the jury's decisions on them…
The walk reads the schema itself, so a table added later is exported without anyone remembering to
(``tests/test_privacy.py`` checks that every table that can reach ``users`` is covered). Audit events
whose subject is the person are added to those they caused. Secrets (password and token hashes,
encrypted keys) are never exported.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, and_, or_, select

from portfolio.extensions import db

#: Columns never exported: secrets, or values that would let someone act as the person.
SECRET_COLUMNS = frozenset({"password_hash", "token_hash", "nonce_hash", "code_hash", "session_token",
                            "alternative_id", "private_key", "secret"})
SECRET_SUFFIXES = ("_encrypted", "_secret", "_nonce_hash", "_code_hash", "_token_hash")
#: Chunk of ids per ``IN (…)``: well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 500


@dataclass
class PersonalRecords:
    """Rows per table (each a dict of its exportable columns), in the schema's dependency order."""

    user_id: int
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def count(self) -> int:
        return sum(len(rows) for rows in self.tables.values())


def exportable_columns(table: Table) -> list[str]:
    return [c.name for c in table.columns
            if c.name not in SECRET_COLUMNS and not c.name.endswith(SECRET_SUFFIXES)]


def json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _single_key(table: Table) -> str | None:
    keys = list(table.primary_key.columns)
    return keys[0].name if len(keys) == 1 else None


def reachable_tables() -> set[str]:
    """The tables whose rows can belong to a person: those with a foreign-key path to ``users``."""
    reach = {"users"}
    grown = True
    while grown:
        grown = False
        for table in db.metadata.sorted_tables:
            if table.name in reach:
                continue
            if any(fk.column.table.name in reach for fk in table.foreign_keys):
                reach.add(table.name)
                grown = True
    return reach


def personal_records(user_id: int) -> PersonalRecords:
    """Every row that belongs to the person, table by table (see the module's docstring)."""
    tables = {t.name: t for t in db.metadata.sorted_tables}
    keys: dict[str, set[Any]] = {"users": {user_id}}  # primary keys found, per table with a single key
    rows: dict[str, dict[Any, dict[str, Any]]] = {}
    users = tables["users"]
    _collect(users, users.c.id == user_id, rows, keys)
    grown = True
    while grown:  # to a fixed point: tables may refer to each other in cycles (versions, supersedes)
        grown = False
        for table in db.metadata.sorted_tables:
            if table.name == "users":
                continue
            for fk in table.foreign_keys:
                parent = fk.column.table.name
                known = keys.get(parent)
                if not known:
                    continue
                column = fk.parent
                for batch in _chunks(sorted(known, key=str)):
                    grown |= _collect(table, column.in_(batch), rows, keys)
    audit = tables.get("audit_events")
    if audit is not None:  # what was done to the person, not only by them
        _collect(audit, and_(audit.c.subject_type == "user", audit.c.subject_id == str(user_id)), rows, keys)
    result = PersonalRecords(user_id=user_id)
    for table in db.metadata.sorted_tables:
        found = rows.get(table.name)
        if found:
            result.tables[table.name] = [found[k] for k in sorted(found, key=_sort_key)]
    return result


def _sort_key(key: Any) -> tuple:
    return key if isinstance(key, tuple) else (key,)


def _collect(table: Table, where: Any, rows: dict[str, dict[Any, dict[str, Any]]],
             keys: dict[str, set[Any]]) -> bool:
    """Add the rows of ``table`` matching ``where``; return whether any was new."""
    columns = exportable_columns(table)
    pk = [c.name for c in table.primary_key.columns]
    wanted = list(dict.fromkeys(columns + pk))
    found = rows.setdefault(table.name, {})
    single = _single_key(table)
    new = False
    for row in db.session.execute(select(*[table.c[name] for name in wanted]).where(where)).mappings():
        key = tuple(row[name] for name in pk) if len(pk) != 1 else row[pk[0]]
        if key in found:
            continue
        found[key] = {name: json_value(row[name]) for name in columns}
        if single is not None:
            keys.setdefault(table.name, set()).add(row[single])
        new = True
    return new


def stored_files(records: PersonalRecords) -> list[dict[str, Any]]:
    """The stored files of the person's evidence: one entry per evidence file, with its blob."""
    tables = {t.name: t for t in db.metadata.sorted_tables}
    files = records.tables.get("evidence_files", [])
    if not files:
        return []
    blobs = tables["blobs"]
    by_id: dict[int, Any] = {}
    for batch in _chunks(sorted({f["blob_id"] for f in files})):
        for row in db.session.execute(select(blobs).where(blobs.c.id.in_(batch))).mappings():
            by_id[row["id"]] = row
    result = []
    for f in files:
        blob = by_id.get(f["blob_id"])
        if blob is not None:
            result.append({"file_id": f["id"], "evidence_id": f["evidence_id"], "filename": f["filename"],
                           "storage_key": blob["storage_key"], "sha256": blob["sha256"], "size": blob["size"],
                           "media_type": blob["media_type"]})
    return result


def involving(user_id: int, table: Table) -> Any:
    """A WHERE clause: rows of ``table`` that refer to the user directly (any column pointing at users)."""
    columns = [fk.parent for fk in table.foreign_keys if fk.column.table.name == "users"]
    return or_(*[c == user_id for c in columns]) if columns else None
