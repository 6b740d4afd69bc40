"""Row locks: the database, not a status read earlier in the request, decides who goes first.

``lock(row)`` makes the current transaction the only one that may change ``row`` until it ends, and
reloads the row as it is now (the request may have read it before another one committed). Rules are
checked after the lock, on fresh values:

* PostgreSQL: ``SELECT … FOR NO KEY UPDATE`` of that row; others wait for it at their own lock;
* SQLite: the database has one writer at a time; a no-op ``UPDATE`` of the row takes the write lock
  (other writers wait, up to the busy timeout set on every connection), and reads made after it see
  everything committed before.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import inspect, update

from portfolio.extensions import db

T = TypeVar("T")


def lock(row: T) -> T:
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        # FOR NO KEY UPDATE: foreign-key checks of rows inserted meanwhile (an audit event naming this
        # user) take KEY SHARE, which this does not block, so they cannot deadlock with the lock.
        session.refresh(row, with_for_update={"key_share": True})
        return row
    mapper = inspect(row).mapper
    table = mapper.local_table
    key = mapper.primary_key[0]
    session.execute(update(table).where(key == getattr(row, key.key)).values({key.name: key}))
    session.refresh(row)
    return row
