"""``flask --app wsgi credentials ...``: verify a badge file, the credentials signing keys."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from flask_babel import force_locale
from flask_babel import gettext as _

from portfolio.cli_support import transaction
from portfolio.extensions import db
from portfolio.formatting import date_long
from portfolio.models import KeyPurpose, LtiKey
from portfolio.services.credentials import verify as verifier
from portfolio.services.lti import keys

credentials_cli = AppGroup("credentials", help="Open Badges 3.0 credentials: verification, signing keys.")
keys_cli = AppGroup("keys", help="The keys that sign badges, published at /credentials/jwks.")
credentials_cli.add_command(keys_cli)


def _locale(explicit: str | None) -> str:
    if explicit:
        return explicit
    language = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
    return "en" if language.lower().startswith("en") else "fr"


def _base() -> str | None:
    configured = current_app.config.get("CREDENTIALS_BASE_URL")
    if configured:
        return str(configured).rstrip("/")
    server = current_app.config.get("SERVER_NAME")
    return f"https://{server}" if server else None


@credentials_cli.command("verify")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--locale", type=click.Choice(["fr", "en"]), default=None,
              help="Language of the report (default: from LANG).")
@with_appcontext
def verify_command(path: Path, locale: str | None) -> None:
    """Verify a badge file (JWT, JSON, baked PNG or SVG): exit 0 if valid, 1 otherwise, saying why."""
    with current_app.test_request_context("/"), force_locale(_locale(locale)):
        try:
            result = verifier.verify(path.read_bytes()[:verifier.MAX_INPUT + 1], base=_base())
        except verifier.Unreadable as exc:
            click.echo(_("Non valide : %(reason)s", reason=exc.message), err=True)
            sys.exit(1)
        if result.credential:
            click.echo(_("Émetteur : %(name)s", name=result.issuer_name))
            click.echo(_("Bloc : %(code)s — %(name)s", code=result.block_code, name=result.block_name))
            if result.learner_name:
                click.echo(_("Titulaire : %(name)s", name=result.learner_name))
            if result.valid_from:
                click.echo(_("Émis le : %(date)s", date=date_long(result.valid_from)))
        if result.valid:
            click.echo(_("Badge valide : signature vérifiée, non révoqué, non expiré."))
            return
        for reason in verifier.reasons(result):
            click.echo(_("Non valide : %(reason)s", reason=reason), err=True)
        sys.exit(1)


@keys_cli.command("rotate")
@click.option("--overlap", type=int, default=None,
              help="Seconds the retired key stays published (default: for good, so issued badges still verify).")
@with_appcontext
def keys_rotate(overlap: int | None) -> None:
    """Make a new signing key for badges; the old one stays published."""
    with transaction():
        new, retired = keys.rotate_keys(overlap_seconds=overlap, purpose=KeyPurpose.CREDENTIALS)
        new_kid, retired_kids = new.kid, [k.kid for k in retired]
    click.echo(f"Nouvelle clé active : {new_kid}")
    for kid in retired_kids:
        click.echo(f"Clé retirée (toujours publiée) : {kid}")


@keys_cli.command("list")
@with_appcontext
def keys_list() -> None:
    """List the badge signing keys and whether they are published."""
    published = {k.kid for k in keys.published_keys(KeyPurpose.CREDENTIALS)}
    for k in db.session.scalars(db.select(LtiKey).where(LtiKey.purpose == KeyPurpose.CREDENTIALS).order_by(LtiKey.id)):
        click.echo(f"{k.kid}\t{k.algorithm}\t{k.status.value}\t{'publiée' if k.kid in published else 'expirée'}")
