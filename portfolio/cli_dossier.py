"""``flask --app wsgi dossier export|verify``: a VAE dossier's PDF and archive, and the archive's check."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from portfolio.cli_support import transaction
from portfolio.extensions import db
from portfolio.formatting import count_fr
from portfolio.models import Certification, Dossier
from portfolio.services.audit import record_event
from portfolio.services.dossier_export import (
    MANIFEST_JSON,
    MANIFEST_TXT,
    render_dossier_pdf,
    verify_archive,
    write_archive,
)
from portfolio.services.errors import DomainError
from portfolio.services.users import find_user_by_email
from portfolio.services.vae import dossier_snapshot
from portfolio.storage import StorageError, get_storage

dossier_cli = AppGroup("dossier", help="Export VAE dossiers and check their archives.")


def _find_dossier(email: str, certification: str | None):

    user = find_user_by_email(email)
    if user is None:
        raise DomainError(f"Aucun compte pour {email}.")
    query = select(Dossier).where(Dossier.candidate_id == user.id).order_by(Dossier.id)
    if certification:
        query = query.join(Certification).where(Certification.code == certification.strip().upper())
    dossiers = list(db.session.scalars(query))
    if not dossiers:
        raise DomainError(f"{user.email} n'a pas de dossier de validation"
                          + (f" pour {certification}." if certification else "."))
    if len(dossiers) > 1:
        codes = ", ".join(d.certification.code for d in dossiers)
        raise DomainError(f"{user.email} a plusieurs dossiers ({codes}) : précisez --certification.")
    return dossiers[0]


def _snapshot(dossier, version: str | None) -> tuple[dict, bool, str]:
    if version is None:
        return dossier_snapshot(dossier), True, "brouillon"
    if not dossier.versions:
        raise DomainError("Ce dossier n'a encore jamais été envoyé : exportez le brouillon (sans --version).")
    if version == "latest":
        chosen = dossier.versions[-1]
    else:
        try:
            number = int(version)
        except ValueError:
            raise DomainError(f"--version attend un numéro ou « latest », pas {version!r}.") from None
        chosen = next((v for v in dossier.versions if v.number == number), None)
        if chosen is None:
            sent = ", ".join(str(v.number) for v in dossier.versions)
            raise DomainError(f"Pas de version {number} de ce dossier (versions envoyées : {sent}).")
    return chosen.snapshot, False, f"version {chosen.number}"


@dossier_cli.command("export")
@click.argument("email")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write dossier.pdf and dossier.zip into (created if needed).")
@click.option("--version", "version", default=None,
              help="A sent version's number, or 'latest'; without it, the current draft.")
@click.option("--certification", default=None, help="Certification code, when the candidate has several dossiers.")
def dossier_export(email: str, out: Path, version: str | None, certification: str | None) -> None:
    """Write a candidate's dossier (PDF and archive) into a folder."""

    with transaction():
        dossier = _find_dossier(email, certification)
        snapshot, draft, label = _snapshot(dossier, version)
        pdf = render_dossier_pdf(snapshot, draft=draft)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DomainError(f"Impossible de créer {out} : {exc.strerror}") from None
        pdf_path, zip_path = out / "dossier.pdf", out / "dossier.zip"
        partial = out / ".dossier.zip.partial"
        try:
            pdf_path.write_bytes(pdf)
            with open(partial, "wb") as stream:
                manifest = write_archive(snapshot, pdf, get_storage(), stream, draft=draft)
            os.replace(partial, zip_path)
        except StorageError as exc:
            raise DomainError(f"Le stockage des preuves est indisponible : {exc}") from None
        except OSError as exc:
            raise DomainError(f"Écriture impossible dans {out} : {exc.strerror or exc}") from None
        finally:
            partial.unlink(missing_ok=True)
        record_event("dossier.export_cli", actor=None, subject_type="dossier", subject_id=dossier.id,
                     data={"version": None if draft else snapshot.get("version"), "files": len(manifest["files"]),
                           "pdf_sha256": manifest["pdf"]["sha256"]})
    click.echo(f"Dossier de {email} ({label}) : {count_fr(len(manifest['files']), 'fichier', 'fichiers')} de preuve")
    click.echo(str(pdf_path))
    click.echo(str(zip_path))


@dossier_cli.command("verify")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
def dossier_verify(archive: Path) -> None:
    """Check an archive against its manifest; exit 1 naming every missing, added or altered file."""

    if not archive.is_file():
        click.echo(f"Erreur : pas de fichier {archive}", err=True)
        raise SystemExit(1)
    problems = verify_archive(archive)
    if problems:
        for problem in problems:
            click.echo(str(problem))
        click.echo(f"archive altérée : {count_fr(len(problems), 'problème')}", err=True)
        raise SystemExit(1)
    with zipfile.ZipFile(archive) as zf:
        count = sum(1 for n in zf.namelist() if not n.endswith("/") and n not in (MANIFEST_JSON, MANIFEST_TXT))
    click.echo(f"archive intacte ({count} fichiers)")
