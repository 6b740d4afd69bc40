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

from sqlalchemy import inspect, text, update

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


def lock_name(name: str) -> None:
    """Make the current transaction the only one holding ``name`` until it ends (others wait for it).

    For work that has no row of its own to lock, e.g. one learner's score on one block, posted to a
    gradebook. PostgreSQL: a transaction-level advisory lock on the name's hash (a collision only makes
    two names wait for each other). SQLite: the database's write lock, taken by a write that changes
    nothing; reads made after it see everything committed before."""
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
        return
    session.execute(text("UPDATE users SET id = id WHERE 0 = 1"))
