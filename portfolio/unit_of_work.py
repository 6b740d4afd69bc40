"""One unit of work per request, per command and per job: the one place that commits.

Views and services write through ``db.session`` and flush; they never commit. When the request ends:

* an unsafe request (POST, PUT, PATCH, DELETE) whose response is not an error (status < 400) is
  committed, unless the view called :func:`rollback` (a refused form re-rendered with 200);
* everything else is rolled back: error responses, exceptions, refusals;
* a safe request (GET, HEAD, OPTIONS) writes nothing, with one documented exception: the audit events
  of a read (``record_read`` in ``services/audit``, written inside :func:`read_audit`), which are
  committed by this same mechanism. A GET
  that leaves any other pending change is a bug: it is rolled back and logged (raised in testing).

Work that must wait for the commit (deleting released objects, e-mail, queueing a job) is registered
with :func:`after_commit` and runs only if the commit succeeds; a rollback drops it. A callback that
itself uses the database (an inline job) passes ``uses_database=True``: SQLAlchemy forbids SQL inside
its ``after_commit`` event, so those run right after the commit of the unit of work that owns it
(the request, the command, the job), in a fresh transaction of their own.
CLI commands use :func:`command` and background jobs :func:`job`, with the same rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

from portfolio.extensions import db

log = logging.getLogger("portfolio")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CALLBACKS = "portfolio.after_commit"
_DB_CALLBACKS = "portfolio.after_commit_db"
_READY = "portfolio.after_commit_ready"
_READ_AUDIT = "portfolio.read_audit"
_FLUSHED = "portfolio.flushed_writes"  # the transaction wrote (on SQLite: it holds the write lock)
_WROTE = "portfolio.wrote_beyond_read_audit"  # ... and not only inside read_audit()
_IN_READ_AUDIT = "portfolio.in_read_audit"


class WriteOnSafeRequest(RuntimeError):
    """A GET or HEAD left pending changes other than read audit events."""


def init_app(app: Flask) -> None:
    app.after_request(_finish_request)
    app.teardown_request(_teardown_request)


def rollback() -> None:
    """Undo this request's writes now and commit nothing at its end (a refusal shown on a form)."""
    db.session.rollback()
    g.portfolio_rollback = True


def commit_despite_error() -> None:
    """Commit this request's writes even though its response is an error: the audit event of a
    refusal (an LTI launch refused), recorded after the refused work was rolled back."""
    g.portfolio_commit_error = True
    allow_read_audit()


def after_commit(callback: Callable[[], object], session: Session | scoped_session[Any] | None = None, *,
                 uses_database: bool = False) -> None:
    """Run ``callback`` once the current transaction commits; dropped if it rolls back."""
    key = _DB_CALLBACKS if uses_database else _CALLBACKS
    (session or db.session()).info.setdefault(key, []).append(callback)


def run_deferred(session: Session | None = None) -> None:
    """Run the committed transaction's database-using callbacks (called by the owner after its commit)."""
    session = session or db.session()
    while session.info.get(_READY):
        callback = session.info[_READY].pop(0)
        try:
            callback()
        except Exception:  # the commit happened; a failed follow-up is logged, never undone
            log.exception("after-commit step failed")
            session.rollback()


def allow_read_audit(session: Session | None = None) -> None:
    """Mark this transaction's pending writes as the audit events of a read (allowed on GET)."""
    (session or db.session()).info[_READ_AUDIT] = True


@contextmanager
def read_audit(session: Session | None = None) -> Iterator[None]:
    """The writes flushed inside this block are the audit of a read (allowed on GET), and only they:
    a write flushed before or after it still counts as a write of the safe request."""
    session = session or db.session()
    session.flush()
    session.info[_IN_READ_AUDIT] = True
    try:
        yield
        session.flush()
    finally:
        session.info.pop(_IN_READ_AUDIT, None)


def _finish_request(response):
    session = db.session()
    if request.method in SAFE_METHODS:
        if _has_changes(session) and not session.info.get(_READ_AUDIT):
            session.rollback()
            message = f"{request.method} {request.path} left pending writes: a safe request never writes"
            if current_app.testing:
                raise WriteOnSafeRequest(message)
            log.error(message)
            return response
        if response.status_code < 400 or g.get("portfolio_commit_error"):
            session.commit()
            run_deferred(session)
        else:
            session.rollback()
        return response
    if (response.status_code < 400 and not g.get("portfolio_rollback")) or g.get("portfolio_commit_error"):
        session.commit()  # a failing commit propagates: the error handler answers 500
        run_deferred(session)
    else:
        session.rollback()
    return response


def _teardown_request(exc: BaseException | None) -> None:
    if exc is not None:
        db.session.rollback()


def _has_changes(session: Session) -> bool:
    if session.new or session.dirty or session.deleted:
        session.flush()
    return bool(session.info.get(_WROTE))


@contextmanager
def command() -> Iterator[None]:
    """A CLI command's unit of work: commit at the end, roll back on any exception (re-raised)."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    else:
        db.session.commit()
        run_deferred()


job = command  # a background job has its own unit of work, with the same rules


@event.listens_for(Session, "after_flush")
def _remember_flush(session: Session, _context) -> None:
    # A flushed write is no longer in session.new/dirty: remember that the transaction wrote.
    session.info[_FLUSHED] = True
    if not session.info.get(_IN_READ_AUDIT):
        session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(_CALLBACKS, [])
    session.info.setdefault(_READY, []).extend(session.info.pop(_DB_CALLBACKS, []))
    session.info.pop(_READ_AUDIT, None)
    session.info.pop(_FLUSHED, None)
    session.info.pop(_WROTE, None)
    for callback in callbacks:
        try:
            callback()
        except Exception:  # the commit happened; a failed follow-up is logged, never undone
            log.exception("after-commit step failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction, not a savepoint
        session.info.pop(_CALLBACKS, None)
        session.info.pop(_DB_CALLBACKS, None)
        session.info.pop(_READ_AUDIT, None)
        session.info.pop(_FLUSHED, None)
        session.info.pop(_WROTE, None)
