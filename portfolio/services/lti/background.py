"""Background work for LTI (grade posts, roster synchronisation): RQ when Redis is configured, else a
thread of this process. Either way it starts after the commit and never holds the user's request.

A job is a function name and plain arguments; it runs in an application context with its own unit of
work. It raises :class:`Retry` to be tried again after the next delay of ``LTI_AGS_RETRY_DELAYS``.
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

from flask import current_app, has_app_context
from rq import Retry as RqRetry
from rq import get_current_job

from portfolio import unit_of_work
from portfolio.jobs import _worker_app, export_queue, in_thread

log = logging.getLogger("portfolio")


class Retry(RuntimeError):
    """The job failed in a way worth trying again (platform unreachable, 5xx)."""


class RetryLater:
    """What a job returns to be tried again: its unit of work is committed first (the attempt is kept)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _resolve(name: str):
    module, _sep, attr = name.rpartition(".")
    # lazy: a job is named by its dotted path (as RQ names its jobs); its module is imported when it runs
    return getattr(importlib.import_module(module), attr)


def run_job(name: str, *args: Any, attempt: int = 1, last: bool = True) -> Any:
    """Run one attempt of the job in its own unit of work (in the current application context)."""
    with unit_of_work.job():
        result = _resolve(name)(*args, attempt=attempt, last=last)
    if isinstance(result, RetryLater):
        raise Retry(result.reason)
    return result


def rq_entry(name: str, *args: Any) -> Any:
    """The RQ job: RQ's own Retry counts attempts; on the final failure the job is marked failed."""
    job = get_current_job()
    retries_left = job.retries_left if job is not None and job.retries_left is not None else 0
    attempt = 1 + (len(_delays()) - retries_left) if job is not None else 1

    def go() -> Any:
        try:
            return run_job(name, *args, attempt=attempt, last=retries_left == 0)
        except Retry as exc:
            raise RuntimeError(str(exc)) from exc

    if has_app_context():
        return go()
    with _worker_app().app_context():
        return go()


def _delays() -> list[int]:
    return [int(d) for d in current_app.config.get("LTI_AGS_RETRY_DELAYS", [30, 120, 600, 3600])]


def dispatch(name: str, *args: Any) -> None:
    """Start the job now (call it from an after-commit callback)."""
    delays = _delays()
    if current_app.config.get("REDIS_URL"):
        export_queue().enqueue(rq_entry, name, *args, retry=RqRetry(max=len(delays), interval=delays or 0),
                               job_timeout=300, description=f"lti {name.rsplit('.', 1)[-1]}")
        return
    in_thread(_run_inline, name, args, delays, name=f"lti-{name.rsplit('.', 1)[-1]}", daemon=True)


def _run_inline(name: str, args: tuple, delays: list[int]) -> None:
    for attempt in range(1, len(delays) + 2):
        last = attempt > len(delays)
        try:
            run_job(name, *args, attempt=attempt, last=last)
            return
        except Retry:
            if last:
                log.warning("LTI job %s%r failed after %d attempts", name, args, attempt)
                return
            time.sleep(delays[attempt - 1])
