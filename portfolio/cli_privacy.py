"""``flask --app wsgi privacy export|erase|requests|sweep``: the learner's own data from the command line."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup, with_appcontext

from portfolio import unit_of_work
from portfolio.extensions import db
from portfolio.formatting import count_fr
from portfolio.models.base import utcnow
from portfolio.services.errors import DomainError
from portfolio.services.privacy import erasure, retention
from portfolio.services.privacy.archive import write_personal_archive
from portfolio.services.privacy.records import personal_records
from portfolio.services.users import find_user_by_email
from portfolio.storage import get_storage

privacy_cli = AppGroup("privacy", help="Personal data: export, erasure, requests, retention sweep.")


def _fail(message: str) -> None:
    click.echo(f"Erreur : {message}", err=True)
    sys.exit(1)


def _user(email: str):
    user = find_user_by_email(email)
    if user is None:
        _fail(f"aucun compte pour {email}.")
    return user


@privacy_cli.command("export")
@click.argument("email")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder to write the archive to.")
@with_appcontext
def export_command(email: str, out_dir: Path) -> None:
    """Write the archive of everything EMAIL stored (the same as their 'Mes données' page)."""
    user = _user(email)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"donnees-{user.id}-{utcnow():%Y%m%d-%H%M%S}.zip"
    records = personal_records(user.id)
    with path.open("wb") as out:
        manifest = write_personal_archive(records, get_storage(), out)
    click.echo(f"{count_fr(records.count(), 'enregistrement')}, {count_fr(len(manifest['files']), 'fichier')}")
    click.echo(str(path))


@privacy_cli.command("erase")
@click.argument("email")
@click.option("--reason", required=True, help="Why (kept with the answer to the person).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def erase_command(email: str, reason: str, yes: bool) -> None:
    """Erase EMAIL's data now, keeping the pseudonymised records the certification requires."""
    user = _user(email)
    if not yes:
        click.confirm(f"Effacer définitivement les données de {user.email} ?", abort=True)
    try:
        with unit_of_work.command():
            if user.erased_at is not None:
                outcome: dict[str, Any] = {"already_erased": True}
            else:
                request = erasure.open_request(user) or erasure.request_erasure(user, "")
                outcome = erasure.handle_request(request, officer=None, approve=True, reason=reason)
    except DomainError as exc:
        _fail(exc.message)
    if outcome.get("already_erased"):
        click.echo("Compte déjà effacé : rien à faire.")
        return
    for name, count in outcome["removed"].items():
        click.echo(f"supprimé : {name} ({count})")
    for kept in outcome["kept"]:
        click.echo(f"conservé : {kept['kind']} ({kept['count']}) — {kept['why']}")
    click.echo(f"{count_fr(outcome['files_deleted'], 'fichier supprimé', 'fichiers supprimés')} du stockage.")


@privacy_cli.command("requests")
@with_appcontext
def requests_command() -> None:
    """List the open requests, the nearest deadline first."""
    now = utcnow()
    for item in erasure.open_requests():
        late = " (ÉCHÉANCE DÉPASSÉE)" if item.due_at < now else ""
        who = item.user.email if item.user else "—"
        click.echo(f"{item.id}\teffacement\t{who}\técheance {item.due_at:%Y-%m-%d}{late}")


@privacy_cli.command("sweep")
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.option("--now", "now_text", help="Apply the rules as of this ISO date (e.g. to look ahead).")
@with_appcontext
def sweep_command(dry_run: bool, now_text: str | None) -> None:
    """Delete what its retention period has expired (see the README for the periods)."""
    now = utcnow()
    if now_text:
        try:
            now = datetime.fromisoformat(now_text)
        except ValueError:
            _fail(f"date invalide : {now_text} (attendu : AAAA-MM-JJ ou AAAA-MM-JJTHH:MM).")
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
    with unit_of_work.command():
        lines = retention.sweep(now, dry_run=dry_run)
        if dry_run:
            db.session.rollback()
    for line in lines:
        verb = "à supprimer" if dry_run else ("supprimé" if line.count < 2 else "supprimés")
        click.echo(f"{line.key}\t{line.days} j\t{line.count} {verb}")
    if dry_run:
        click.echo("Simulation : rien n'a été supprimé.")
