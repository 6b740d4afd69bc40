"""What every command group shares: one clear line and a non-zero exit on a refusal, one transaction."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click

from portfolio import unit_of_work
from portfolio.services.errors import DomainError


def fail(message: str) -> NoReturn:
    click.echo(f"Erreur : {message}", err=True)
    sys.exit(1)


@contextmanager
def transaction() -> Iterator[None]:
    """The command's unit of work (``portfolio.unit_of_work.command``: committed once at the end, rolled
    back on any error); a refusal exits non-zero with its message."""
    try:
        with unit_of_work.command():
            yield
    except DomainError as exc:
        fail(exc.message)
