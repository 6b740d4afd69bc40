"""``flask outbox retry``: send the e-mails whose next try is due (run it from cron every minute)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from portfolio.cli_support import transaction
from portfolio.services import outbox


@click.group("outbox")
def outbox_cli() -> None:
    """E-mail waiting to leave."""


@outbox_cli.command("retry")
@with_appcontext
def retry_command() -> None:
    """Send the e-mails whose next try is due (back-off 1 min, 5 min, 30 min, 2 h, then given up)."""
    with transaction():
        sent, failed = outbox.retry_due()
    click.echo(f"E-mails envoyés : {sent}, en échec : {failed}.")
