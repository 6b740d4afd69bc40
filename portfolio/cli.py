"""Command-line interface: ``flask --app wsgi users|cohorts|frameworks|audit|demo ...``.

Each command refuses bad input with one clear line and a non-zero exit, and then changes nothing:
every command runs in one transaction committed only at its end.

Over 400 lines: the commands of several areas, each a few lines over a service (the dossier, LTI,
privacy and outbox commands have their own modules already).
"""

from __future__ import annotations

import json
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from portfolio.cli_credentials import credentials_cli
from portfolio.cli_dossier import dossier_cli
from portfolio.cli_lti import lti_cli
from portfolio.cli_outbox import outbox_cli
from portfolio.cli_privacy import privacy_cli
from portfolio.cli_support import fail, transaction
from portfolio.extensions import db
from portfolio.formatting import count_fr
from portfolio.frameworks.case import export_case
from portfolio.frameworks.formats import (
    FrameworkFormatError,
    builtin_path,
    iter_france_competences,
    load_framework_file,
    normalize_code,
)
from portfolio.jobs import worker_command
from portfolio.models import ApiToken, Certification, MemberRole, Role
from portfolio.services import audit, cohorts, frameworks, pending_files, succession, tokens, users, vae
from portfolio.services.errors import DomainError
from portfolio.services.storage_maintenance import find_orphans, verify_blobs
from portfolio.storage import StorageError, get_storage

users_cli = AppGroup("users", help="Manage accounts.")
cohorts_cli = AppGroup("cohorts", help="Manage cohorts (promotions).")
frameworks_cli = AppGroup("frameworks", help="Import and list certification frameworks.")
audit_cli = AppGroup("audit", help="Check the audit trail.")
tokens_cli = AppGroup("tokens", help="Personal access tokens for the API.")
storage_cli = AppGroup("storage", help="Check and clean the evidence store.")


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

    with transaction():
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

    with transaction():
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
    with transaction():
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
    with transaction():
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
                   f"{count_fr(learners, 'apprenant')}\t{count_fr(tutors, 'formateur')}")


# --- frameworks ------------------------------------------------------------------------------------

@frameworks_cli.command("import")
@click.argument("source")
@click.option("--only", help="Comma-separated fiche codes to keep from a France Compétences export.")
@with_appcontext
def frameworks_import(source: str, only: str | None) -> None:
    """Import a framework file (our JSON, a CASE 1.0 CFPackage, a France Compétences XML/zip), or a shipped one."""

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
    with transaction():
        for data in parsed:
            result = frameworks.import_certification(data)
            state = "créée" if result.created else ("mise à jour" if result.changed else "inchangée")
            review = sum(c.needs_review for b in data.blocks for c in b.competencies)
            note = f", {count_fr(review, 'compétence')} à relire" if review else ""
            click.echo(f"{data.code} ({data.registration}) : {state} — {count_fr(len(data.blocks), 'bloc')}{note}")


@frameworks_cli.command("export")
@click.argument("code")
@click.option("--format", "fmt", type=click.Choice(["case"]), default="case", show_default=True,
              help="case: a 1EdTech CASE 1.0 CFPackage (JSON).")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write to this file instead of stdout.")
@with_appcontext
def frameworks_export(code: str, fmt: str, out: str | None) -> None:
    """Export the latest registration of a certification (by code) as a CASE CFPackage."""
    cert = frameworks.find_certification(normalize_code(code))
    if cert is None:
        fail(f"Certification inconnue : {code} (flask frameworks import).")
    package = export_case(frameworks.certification_data(cert), changed_at=cert.created_at)
    text = json.dumps(package, ensure_ascii=False, indent=2) + "\n"
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"{cert.code} exporté au format CASE : {out}", err=True)
    else:
        click.echo(text, nl=False)


def _registration(text: str) -> Certification:
    """``RNCP35340`` (its latest registration) or ``RNCP35340@2021-03-01``."""
    code, _, registration = text.partition("@")
    code = normalize_code(code)
    if registration:
        cert = db.session.scalar(db.select(Certification).where(Certification.code == code,
                                                                 Certification.registration == registration))
    else:
        cert = frameworks.find_certification(code)
    if cert is None:
        fail(f"Certification inconnue : {text} (flask frameworks import ; CODE ou CODE@AAAA-MM-JJ).")
    assert cert is not None  # fail() exits
    return cert


@frameworks_cli.command("successor")
@click.argument("old")
@click.argument("new")
@click.option("--suggest", is_flag=True,
              help="Save the suggested correspondences as the mapping when none is saved yet.")
@click.option("--apply", "apply_", is_flag=True,
              help="Move the cohorts of OLD to NEW, carrying tags and levels through the saved mapping.")
@with_appcontext
def frameworks_successor(old: str, new: str, suggest: bool, apply_: bool) -> None:
    """Map the competencies of OLD to those of its next version NEW (codes, or CODE@registration)."""
    with transaction():
        old_cert, new_cert = _registration(old), _registration(new)
        pair = succession.load_pair(old_cert.id, new_cert.id)
        if pair is None:
            fail("Une version ne peut pas succéder à elle-même.")
        old_cert, new_cert = pair
        mapping = succession.find_mapping(old_cert, new_cert)
        if suggest and mapping is None:
            mapping = succession.save_suggestions(old_cert, new_cert, actor=None)
        view = succession.mapping_view(old_cert, new_cert)
        state = "enregistrée" if view.mapping else "suggérée, non enregistrée (--suggest pour l'enregistrer)"
        click.echo(f"{old_cert.code} ({old_cert.registration}) → {new_cert.code} ({new_cert.registration}) : "
                   f"correspondance {state}")
        for row in view.rows:
            names = ", ".join(t.code if t else "aucune correspondance" for t in row.targets)
            score = f" ({row.score})" if row.score is not None else ""
            click.echo(f"  {row.old.code} → {names}{score}")
        if not apply_:
            return
        if mapping is None:
            fail("Aucune correspondance enregistrée : lancez d'abord --suggest, ou enregistrez-la dans "
                 "l'administration.")
        result = succession.migrate_cohorts(old_cert, new_cert, actor=None)
        if result.nothing_to_do:
            click.echo(f"Rien à migrer : aucune promotion n'est plus sur {old_cert.code} ({old_cert.registration}).")
            return
        click.echo(f"{count_fr(len(result.cohorts), 'promotion')} vers {new_cert.code} ({', '.join(result.cohorts)}) : "
                   f"{count_fr(result.learners, 'apprenant·e', 'apprenant·es')}, "
                   f"{count_fr(result.tags, 'rattachement copié', 'rattachements copiés')}, "
                   f"{count_fr(result.levels, 'niveau repris', 'niveaux repris')}.")


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
            click.echo(f"  {block.code}  {count:>3} {'compétence ' if count < 2 else 'compétences'}  {block.title}")


# --- audit -----------------------------------------------------------------------------------------

@audit_cli.command("verify")
@click.option("--limit", default=20, show_default=True, help="Show at most this many problems.")
@with_appcontext
def audit_verify(limit: int) -> None:
    """Check the audit chain (keyed MACs, positions, head, checkpoint); exit 1 saying what is wrong."""
    report = audit.verify_report()
    for problem in report.problems[:limit]:
        where = f"Événement {problem.event_id}" if problem.event_id is not None else "Chaîne"
        position = f" (n° {problem.seq})" if problem.seq is not None else ""
        click.echo(f"{where}{position} : {problem.reason}", err=True)
    if len(report.problems) > limit:
        click.echo(f"… et {count_fr(len(report.problems) - limit, 'autre problème', 'autres problèmes')}.", err=True)
    for note in report.notes:
        click.echo(f"Note : {note}", err=True)
    if report.problems:
        first = report.problems[0]
        click.echo(f"Journal d'audit NON intègre : {count_fr(len(report.problems), 'problème')}, le premier "
                   f"{'à l’événement ' + str(first.event_id) if first.event_id is not None else 'en fin de chaîne'} "
                   f"(clé actuelle {report.key_id}).", err=True)
        sys.exit(1)
    click.echo(f"Journal d'audit intact ({count_fr(report.events, 'événement')}, jusqu'au n° {report.last_seq}, "
               f"clé {report.key_id}).")


# --- storage ---------------------------------------------------------------------------------------

@storage_cli.command("sweep")
@click.option("--grace", type=int, default=None, help="Seconds an orphan must be old before removal.")
@click.option("--dry-run", is_flag=True, help="List what would be removed, remove nothing.")
@with_appcontext
def storage_sweep(grace: int | None, dry_run: bool) -> None:
    """Remove stored objects no row refers to (left by a crash between the two writes)."""

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
    n = len(orphans)
    done = " (simulation)" if dry_run else (" supprimé" if n < 2 else " supprimés")
    click.echo(f"{count_fr(n, 'objet orphelin', 'objets orphelins')}{done}, "
               f"{count_fr(aborted, 'envoi multipart abandonné annulé', 'envois multipart abandonnés annulés')}.")


@storage_cli.command("recheck")
@click.option("--older-than", "older_than", type=click.IntRange(min=0), default=None,
              help="Seconds a file must have been pending (default PORTFOLIO_PENDING_RECHECK_SECONDS).")
@click.option("--dry-run", is_flag=True, help="List the files that would be checked, check nothing.")
@with_appcontext
def storage_recheck(older_than: int | None, dry_run: bool) -> None:
    """Check again the files sent straight to the bucket whose check never ended (exit 1 if the store fails)."""
    seconds = current_app.config["PENDING_RECHECK_SECONDS"] if older_than is None else older_than
    stale = pending_files.stale(timedelta(seconds=seconds))
    if dry_run:
        for pending in stale:
            click.echo(f"à vérifier : « {pending.filename} » ({pending.size} octets) de la preuve "
                       f"{pending.evidence_id}, en attente depuis le {pending.created_at:%d/%m/%Y %H:%M} UTC")
        click.echo(f"{count_fr(len(stale), 'fichier en attente', 'fichiers en attente')} (simulation).")
        return
    outcomes = pending_files.verify_all([pending.id for pending in stale])
    left = outcomes[pending_files.STILL_PENDING]
    gone = outcomes[pending_files.GONE]  # its evidence deleted, or checked meanwhile by another run
    click.echo(f"{count_fr(len(stale), 'fichier en attente vérifié', 'fichiers en attente vérifiés')} : "
               f"{count_fr(outcomes[pending_files.VERIFIED], 'accepté')}, "
               f"{count_fr(outcomes[pending_files.REJECTED], 'refusé')}"
               + (f", {count_fr(gone, 'déjà traité')}" if gone else "") + f", {left} toujours en attente.")
    if left:
        fail(f"stockage indisponible pour {count_fr(left, 'fichier')} : ils restent en attente, "
             "relancez la commande plus tard.")


@storage_cli.command("verify")
@with_appcontext
def storage_verify() -> None:
    """Re-read every stored blob; report any missing or whose SHA-256 differs. Exit 1 if any."""

    checked = 0
    problems = 0
    for blob, problem in verify_blobs(get_storage()):
        checked += 1
        if problem:
            problems += 1
            click.echo(f"{blob.storage_key} : {problem}", err=True)
    click.echo(f"{count_fr(checked, 'fichier vérifié', 'fichiers vérifiés')}, {count_fr(problems, 'problème')}.")
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

    with transaction():
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

    with transaction():
        token = db.session.get(ApiToken, token_id)
        if token is None:
            fail(f"aucun jeton n°{token_id}")
        tokens.revoke_token(token, actor=None)
    click.echo(f"Jeton n°{token_id} révoqué.")


@click.command("demo")
@with_appcontext
def demo() -> None:
    """Load RNCP 28754 and, on an empty database, create one demo account per role (passwords printed once)."""

    with transaction():
        shipped = builtin_path("RNCP28754")
        assert shipped is not None, "RNCP28754.json ships with the package"
        for data in load_framework_file(shipped):
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
    commands: list[click.Command] = [users_cli, cohorts_cli, frameworks_cli, audit_cli, tokens_cli, storage_cli, demo,
                                dossier_cli, privacy_cli, worker_command, lti_cli, outbox_cli, credentials_cli]
    for command in commands:
        app.cli.add_command(command)
