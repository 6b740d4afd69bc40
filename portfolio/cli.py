"""Command-line interface: ``flask --app wsgi users|cohorts|frameworks|audit|demo ...``.

Each command refuses bad input with one clear line and a non-zero exit, and then changes nothing:
every command runs in one transaction committed only at its end.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from portfolio.extensions import db
from portfolio.models import MemberRole, Role
from portfolio.services import audit, cohorts, frameworks, users
from portfolio.services.errors import DomainError

users_cli = AppGroup("users", help="Manage accounts.")
cohorts_cli = AppGroup("cohorts", help="Manage cohorts (promotions).")
frameworks_cli = AppGroup("frameworks", help="Import and list certification frameworks.")
audit_cli = AppGroup("audit", help="Check the audit trail.")
tokens_cli = AppGroup("tokens", help="Personal access tokens for the API.")
storage_cli = AppGroup("storage", help="Check and clean the evidence store.")


def fail(message: str) -> None:
    click.echo(f"Erreur : {message}", err=True)
    sys.exit(1)


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Commit once at the end; on a refusal, roll back and exit non-zero with the message."""
    try:
        yield
    except DomainError as exc:
        db.session.rollback()
        fail(exc.message)
    except Exception:
        db.session.rollback()
        raise
    else:
        db.session.commit()


# --- users -----------------------------------------------------------------------------------------

@users_cli.command("create")
@click.argument("email")
@click.option("--name", help="Full name (defaults to the part of the e-mail before @).")
@click.option("--role", "roles", multiple=True, required=True,
              help="learner, vae_candidate, tutor, jury or admin; repeat for several.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--locale", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.option("--certification", "certification_code", default=None,
              help="For a vae_candidate: the certification they aim at, e.g. RNCP28754.")
@with_appcontext
def users_create(email: str, name: str | None, roles: tuple[str, ...], password_stdin: bool,
                 locale: str, certification_code: str | None) -> None:
    """Create an account."""
    from portfolio.services import vae

    with unit_of_work():
        parsed = users.parse_roles(roles)
        certification = None
        if certification_code is not None:
            if Role.VAE_CANDIDATE not in parsed:
                fail("--certification ne sert qu'à un compte vae_candidate.")
            certification = cohorts.current_certification(certification_code)
            if certification is None:
                fail(f"Certification inconnue : {certification_code} (flask frameworks import).")
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt("Mot de passe", hide_input=True, confirmation_prompt=True)
        user = users.create_user(email, name or email.split("@")[0], parsed, password=password, locale=locale)
        if certification is not None:
            vae.enrol_candidate(user, certification, actor=None)
        click.echo(f"Compte créé : {user.email} ({', '.join(sorted(r.value for r in parsed))})")
        if certification is not None:
            click.echo(f"Inscrit·e en VAE : {certification.code} — {certification.title}")


@users_cli.command("list")
@with_appcontext
def users_list() -> None:
    """List accounts with their roles."""
    for user in db.session.scalars(db.select(users.User).order_by(users.User.email)):
        state = "" if user.is_enabled else " [désactivé]"
        click.echo(f"{user.email}\t{user.name}\t{','.join(sorted(r.value for r in user.roles))}{state}")


@users_cli.command("token")
@click.argument("email")
@click.option("--name", default="ligne de commande", show_default=True, help="A name to recognise the token by.")
@with_appcontext
def users_token(email: str, name: str) -> None:
    """Create a personal access token for the API; the token alone is printed on the last line."""
    from portfolio.services import tokens

    with unit_of_work():
        user = users.find_user_by_email(email)
        if user is None:
            raise DomainError(f"Aucun compte pour {email}")
        _token, raw = tokens.create_token(user, name)
    click.echo(f"Jeton « {name} » créé pour {user.email} ; il ne sera plus affiché :", err=True)
    click.echo(raw)


# --- cohorts ---------------------------------------------------------------------------------------

@cohorts_cli.command("create")
@click.argument("name")
@click.option("--certification", required=True, help="Certification code, e.g. RNCP28754.")
@click.option("--year", type=int, required=True)
@with_appcontext
def cohorts_create(name: str, certification: str, year: int) -> None:
    """Create a cohort for a certification and a year."""
    with unit_of_work():
        cert = cohorts.current_certification(certification)
        if cert is None:
            raise DomainError(f"Certification inconnue : {certification} (importez-la d'abord).")
        cohort = cohorts.create_cohort(name, cert, year, actor=None)
        click.echo(f"Promotion créée : {cohort.name} ({cert.code}, {cohort.year})")


@cohorts_cli.command("add")
@click.argument("name")
@click.argument("email")
@click.option("--as", "as_", type=click.Choice(["learner", "tutor"]), required=True)
@with_appcontext
def cohorts_add(name: str, email: str, as_: str) -> None:
    """Add a learner or a tutor to a cohort."""
    with unit_of_work():
        cohort = cohorts.find_cohort(name)
        if cohort is None:
            raise DomainError(f"Promotion inconnue : {name}")
        user = users.find_user_by_email(email)
        if user is None:
            raise DomainError(f"Aucun compte pour {email}")
        cohorts.add_member(cohort, user, MemberRole(as_), actor=None)
        click.echo(f"{user.email} ajouté·e à {cohort.name} ({as_})")


@cohorts_cli.command("list")
@with_appcontext
def cohorts_list() -> None:
    """List cohorts with their member counts."""
    for cohort in db.session.scalars(db.select(cohorts.Cohort).order_by(cohorts.Cohort.name)):
        learners = len(cohort.members(MemberRole.LEARNER))
        tutors = len(cohort.members(MemberRole.TUTOR))
        click.echo(f"{cohort.name}\t{cohort.certification.code}\t{cohort.year}\t"
                   f"{learners} apprenant(s)\t{tutors} formateur(s)")


# --- frameworks ------------------------------------------------------------------------------------

@frameworks_cli.command("import")
@click.argument("source")
@click.option("--only", help="Comma-separated fiche codes to keep from a France Compétences export.")
@with_appcontext
def frameworks_import(source: str, only: str | None) -> None:
    """Import a framework file (our JSON, or a France Compétences XML/zip), or a shipped one by code."""
    from portfolio.frameworks.formats import (
        FrameworkFormatError,
        builtin_path,
        iter_france_competences,
        load_framework_file,
    )

    path = Path(source)
    if not path.exists():
        shipped = builtin_path(source)
        if shipped is None:
            fail(f"Fichier introuvable et aucun référentiel livré sous le code {source}.")
        path = shipped
    wanted = {code.strip() for code in only.split(",") if code.strip()} if only else None
    try:
        # Parse everything first: a bad file imports nothing.
        # --only filters a France Compétences export; our own format holds one certification.
        parsed = list(iter_france_competences(path, only=wanted)) if wanted else load_framework_file(path)
    except FrameworkFormatError as exc:
        fail(str(exc))
    if not parsed:
        fail("Aucune certification trouvée dans ce fichier" + (f" pour {only}." if only else "."))
    with unit_of_work():
        for data in parsed:
            result = frameworks.import_certification(data)
            state = "créée" if result.created else ("mise à jour" if result.changed else "inchangée")
            review = sum(c.needs_review for b in data.blocks for c in b.competencies)
            note = f", {review} compétence(s) à relire" if review else ""
            click.echo(f"{data.code} ({data.registration}) : {state} — {len(data.blocks)} bloc(s){note}")


@frameworks_cli.command("list")
@with_appcontext
def frameworks_list() -> None:
    """Print each certification with its blocks and their competency counts."""
    items = frameworks.list_certifications()
    if not items:
        click.echo("Aucune certification chargée.")
    for cert, blocks in items:
        state = "" if cert.is_active else " [inactive]"
        click.echo(f"{cert.code} ({cert.registration}) {cert.title}{state}")
        for block, count in blocks:
            click.echo(f"  {block.code}  {count:>3} compétence(s)  {block.title}")


# --- audit -----------------------------------------------------------------------------------------

@audit_cli.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Check the hash chain of audit events; exit 1 naming each broken event."""
    problems = list(audit.verify_chain())
    for problem in problems:
        click.echo(f"Événement {problem.event_id} : {problem.reason}", err=True)
    if problems:
        sys.exit(1)
    count = db.session.scalar(db.select(db.func.count()).select_from(audit.AuditEvent))
    click.echo(f"Journal d'audit intact ({count} événement(s)).")


# --- storage ---------------------------------------------------------------------------------------

@storage_cli.command("sweep")
@click.option("--grace", type=int, default=None, help="Seconds an orphan must be old before removal.")
@click.option("--dry-run", is_flag=True, help="List what would be removed, remove nothing.")
@with_appcontext
def storage_sweep(grace: int | None, dry_run: bool) -> None:
    """Remove stored objects no row refers to (left by a crash between the two writes)."""
    from datetime import timedelta

    from flask import current_app

    from portfolio.services.storage_maintenance import find_orphans
    from portfolio.storage import StorageError, get_storage

    grace_seconds = current_app.config["STORAGE_SWEEP_GRACE_SECONDS"] if grace is None else grace
    storage = get_storage()
    try:
        orphans = find_orphans(storage, timedelta(seconds=grace_seconds))
        for info in orphans:
            click.echo(f"{'à supprimer' if dry_run else 'supprimé'} : {info.key} ({info.size} octets)")
            if not dry_run:
                storage.delete(info.key)
        aborted = 0 if dry_run else storage.abort_stale_uploads(timedelta(seconds=grace_seconds))
    except StorageError as exc:
        fail(f"stockage indisponible : {exc}")
    click.echo(f"{len(orphans)} objet(s) orphelin(s){' (simulation)' if dry_run else ' supprimé(s)'}, "
               f"{aborted} envoi(s) multipart abandonné(s) annulé(s).")


@storage_cli.command("verify")
@with_appcontext
def storage_verify() -> None:
    """Re-read every stored blob; report any missing or whose SHA-256 differs. Exit 1 if any."""
    from portfolio.services.storage_maintenance import verify_blobs
    from portfolio.storage import get_storage

    checked = 0
    problems = 0
    for blob, problem in verify_blobs(get_storage()):
        checked += 1
        if problem:
            problems += 1
            click.echo(f"{blob.storage_key} : {problem}", err=True)
    click.echo(f"{checked} fichier(s) vérifié(s), {problems} problème(s).")
    if problems:
        sys.exit(1)


# --- demo ------------------------------------------------------------------------------------------

DEMO_ACCOUNTS: list[tuple[str, str, Role]] = [
    ("apprenant@demo.example.org", "Camille Martin", Role.LEARNER),
    ("candidat.vae@demo.example.org", "Dominique Bernard", Role.VAE_CANDIDATE),
    ("formateur@demo.example.org", "Sacha Petit", Role.TUTOR),
    ("jury@demo.example.org", "Claude Durand", Role.JURY),
    ("admin@demo.example.org", "Alex Moreau", Role.ADMIN),
]


# --- API tokens ------------------------------------------------------------------------------------

@tokens_cli.command("create")
@click.argument("email")
@click.argument("name")
@with_appcontext
def tokens_create(email: str, name: str) -> None:
    """Create a token for an account and print it (once: only its hash is kept)."""
    from portfolio.services import tokens

    with unit_of_work():
        user = users.find_user_by_email(email)
        if user is None:
            fail(f"aucun compte pour {email}")
        _token, raw = tokens.create_token(user, name)
    click.echo(raw)


@tokens_cli.command("list")
@click.argument("email")
@with_appcontext
def tokens_list(email: str) -> None:
    """List an account's tokens (id, prefix, name, last use, revocation)."""
    from portfolio.services import tokens

    user = users.find_user_by_email(email)
    if user is None:
        fail(f"aucun compte pour {email}")
    for token in tokens.list_tokens(user):
        used = token.last_used_at.isoformat(timespec="minutes") if token.last_used_at else "jamais"
        state = f"révoqué {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "actif"
        click.echo(f"{token.id}\tpft_{token.prefix}…\t{token.name}\t{used}\t{state}")


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
def tokens_revoke(token_id: int) -> None:
    """Revoke a token by its id (see ``tokens list``)."""
    from portfolio.models import ApiToken
    from portfolio.services import tokens

    with unit_of_work():
        token = db.session.get(ApiToken, token_id)
        if token is None:
            fail(f"aucun jeton n°{token_id}")
        tokens.revoke_token(token, actor=None)
    click.echo(f"Jeton n°{token_id} révoqué.")


@click.command("demo")
@with_appcontext
def demo() -> None:
    """Load RNCP 28754 and, on an empty database, create one demo account per role (passwords printed once)."""
    from portfolio.frameworks.formats import builtin_path, load_framework_file

    with unit_of_work():
        for data in load_framework_file(builtin_path("RNCP28754")):
            frameworks.import_certification(data)
        if db.session.scalar(db.select(db.func.count()).select_from(users.User)):
            click.echo("Comptes existants conservés (les mots de passe ne sont affichés qu'à la création).")
            return
        cert = cohorts.current_certification("RNCP28754")
        cohort = cohorts.create_cohort("Démo RNCP 28754", cert, 2026, actor=None)
        click.echo("Comptes de démonstration (mots de passe affichés une seule fois) :")
        for email, name, role in DEMO_ACCOUNTS:
            password = secrets.token_urlsafe(12)
            user = users.create_user(email, name, {role}, password=password)
            if role in (Role.LEARNER, Role.TUTOR):
                cohorts.add_member(cohort, user, MemberRole(role.value), actor=None)
            click.echo(f"  {cohorts.role_label(role):<22} {email:<36} {password}")


def init_app(app: Flask) -> None:
    from portfolio.cli_dossier import dossier_cli
    from portfolio.jobs import worker_command

    commands: list[Callable] = [users_cli, cohorts_cli, frameworks_cli, audit_cli, tokens_cli, storage_cli, demo,
                                dossier_cli, worker_command]
    for command in commands:
        app.cli.add_command(command)
