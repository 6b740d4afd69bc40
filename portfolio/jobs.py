"""Background jobs on RQ (Redis): the queue, the job entry points and ``flask --app wsgi worker``.

Jobs run ``portfolio`` services inside an application context: the worker command's own (the forked
work horse inherits it and drops the database connections it inherited), or a fresh ``create_app()``
when a job runs in a process that has none.
"""

from __future__ import annotations

import functools
import sys

import click
from flask import Flask, current_app, has_app_context
from flask.cli import with_appcontext

QUEUE_NAME = "portfolio"
JOB_TIMEOUT = 3 * 3600  # an archive of several GiB on a slow store takes a while
RESULT_TTL = 24 * 3600


def redis_connection(url: str | None = None):  # type: ignore[no-untyped-def]
    from redis import Redis

    return Redis.from_url(url or current_app.config["REDIS_URL"])


def export_queue(url: str | None = None):  # type: ignore[no-untyped-def]
    from rq import Queue

    return Queue(QUEUE_NAME, connection=redis_connection(url))


def enqueue_work_export(export_id: int):  # type: ignore[no-untyped-def]
    """Put the build of one dossier export on the queue (call it after the export row is committed)."""
    return export_queue().enqueue(work_export, export_id, job_timeout=JOB_TIMEOUT, result_ttl=RESULT_TTL,
                                  failure_ttl=RESULT_TTL, description=f"dossier export {export_id}")


@functools.cache
def _worker_app() -> Flask:
    from portfolio import create_app

    return create_app()


def work_export(export_id: int) -> str:
    """The RQ job: build the export in an application context (see ``dossier_export.run_export``)."""
    from portfolio.services.dossier_export import run_export

    if has_app_context():
        return run_export(export_id)
    with _worker_app().app_context():
        return run_export(export_id)


def _worker_class():  # type: ignore[no-untyped-def]
    from rq import Worker

    class AppWorker(Worker):
        """Forks a work horse per job, which first drops the pooled database connections it inherited
        (they belong to the parent: sharing a socket across processes corrupts both)."""

        def main_work_horse(self, job, queue):  # type: ignore[no-untyped-def]
            from portfolio.extensions import db

            if has_app_context():
                for engine in db.engines.values():
                    engine.dispose(close=False)
            return super().main_work_horse(job, queue)

    return AppWorker


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
    from redis.exceptions import ConnectionError as RedisConnectionError

    connection = redis_connection(url)
    try:
        connection.ping()
    except RedisConnectionError as exc:
        click.echo(f"Erreur : Redis injoignable ({url}) : {exc}", err=True)
        sys.exit(1)
    worker = _worker_class()([QUEUE_NAME], connection=connection)
    worker.work(burst=burst, with_scheduler=False)
