"""Background jobs on RQ (Redis): the queue, running a job in an application context, and
``flask --app wsgi worker``. The jobs themselves live with their services (``dossier_export.job``).

Without Redis (one laptop), work that must not hold the request runs on a thread of the process that
committed it (:func:`in_thread`), started from an after-commit callback; :func:`wait_for_threads`
waits for them (tests, and a clean shutdown).

Jobs run ``portfolio`` services inside an application context: the worker command's own (the forked
work horse inherits it and drops the database connections it inherited), or a fresh ``create_app()``
when a job runs in a process that has none. The package names its factory here as it is imported
(``use_app_factory``): this module does not import the package, which imports every service that
enqueues through this module.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask import Flask, current_app, has_app_context
from flask.cli import with_appcontext
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, Worker

from portfolio.extensions import db

log = logging.getLogger("portfolio")

QUEUE_NAME = "portfolio"
JOB_TIMEOUT = 3 * 3600  # an archive of several GiB on a slow store takes a while
RESULT_TTL = 24 * 3600
T = TypeVar("T")


def redis_connection(url: str | None = None):
    return Redis.from_url(url or current_app.config["REDIS_URL"])


def export_queue(url: str | None = None):
    return Queue(QUEUE_NAME, connection=redis_connection(url))


def enqueue(func: Callable[..., Any], *args: Any, description: str):
    """Put ``func(*args)`` on the queue (call it once the rows the job reads are committed)."""
    return export_queue().enqueue(func, *args, job_timeout=JOB_TIMEOUT, result_ttl=RESULT_TTL,
                                  failure_ttl=RESULT_TTL, description=description)


_THREADS = "portfolio.jobs.threads"
_threads_lock = threading.Lock()


def in_thread(func: Callable[..., Any], *args: Any, name: str, daemon: bool = False) -> threading.Thread:
    """Run ``func(*args)`` now on a thread of this process, in an application context of the current app
    and a database session of its own; an exception is logged. Call it once the rows it reads are
    committed. ``daemon=False`` (the default): the process waits for the thread before it exits (a
    worker stopping gracefully finishes the check it started); ``daemon=True`` for work that may sleep
    for long (retries an hour apart)."""
    # current_app is a LocalProxy, which Flask types as the Flask app it stands for.
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        with app.app_context():
            try:
                func(*args)
            except Exception:  # noqa: BLE001 (nobody else would see it: a thread's exception is lost)
                log.exception("background work %s failed", name)
            finally:
                db.session.remove()

    thread = threading.Thread(target=run, name=name, daemon=daemon)
    with _threads_lock:
        running = [t for t in app.extensions.get(_THREADS, []) if t.is_alive()]
        app.extensions[_THREADS] = [*running, thread]
    thread.start()
    return thread


def wait_for_threads(app: Flask, timeout: float = 30) -> None:
    """Wait for the threads :func:`in_thread` started in ``app`` (and those they started meanwhile)."""
    while True:
        with _threads_lock:
            running = [t for t in app.extensions.get(_THREADS, []) if t.is_alive()]
            app.extensions[_THREADS] = running
        if not running:
            return
        for thread in running:
            thread.join(timeout)
            if thread.is_alive():
                return  # stuck: the caller's own check says what it missed


_app_factory: list[Callable[[], Flask]] = []


def use_app_factory(factory: Callable[[], Flask]) -> None:
    """Called once by ``portfolio`` with ``create_app``: what builds an app for a job outside one."""
    _app_factory[:] = [factory]


@functools.cache
def _worker_app() -> Flask:
    if not _app_factory:  # pragma: no cover - importing portfolio.jobs imports the portfolio package first
        raise RuntimeError("portfolio.jobs: no application factory registered")
    return _app_factory[0]()


def in_app_context(func: Callable[..., T], *args: Any) -> T:
    """Run a job's function in an application context: the caller's, else the worker's own app."""
    if has_app_context():
        return func(*args)
    with _worker_app().app_context():
        return func(*args)


class AppWorker(Worker):
    """Forks a work horse per job, which first drops the pooled database connections it inherited
    (they belong to the parent: sharing a socket across processes corrupts both)."""

    def main_work_horse(self, job, queue):
        if has_app_context():
            for engine in db.engines.values():
                engine.dispose(close=False)
        return super().main_work_horse(job, queue)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run an RQ worker for the background jobs (dossier exports) on PORTFOLIO_REDIS_URL."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        click.echo("Erreur : PORTFOLIO_REDIS_URL n'est pas défini : sans Redis, les exports tournent dans le "
                   "processus web et aucun worker n'est nécessaire.", err=True)
        sys.exit(1)
    connection = redis_connection(url)
    try:
        connection.ping()
    except RedisConnectionError as exc:
        click.echo(f"Erreur : Redis injoignable ({url}) : {exc}", err=True)
        sys.exit(1)
    worker = AppWorker([QUEUE_NAME], connection=connection)
    worker.work(burst=burst, with_scheduler=False)
