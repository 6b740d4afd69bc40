"""Background jobs on RQ (Redis): the queue, running a job in an application context, and
``flask --app wsgi worker``. The jobs themselves live with their services (``dossier_export.job``).

Jobs run ``portfolio`` services inside an application context: the worker command's own (the forked
work horse inherits it and drops the database connections it inherited), or a fresh ``create_app()``
when a job runs in a process that has none. The package names its factory here as it is imported
(``use_app_factory``): this module does not import the package, which imports every service that
enqueues through this module.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask import Flask, current_app, has_app_context
from flask.cli import with_appcontext
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, Worker

from portfolio.extensions import db

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
