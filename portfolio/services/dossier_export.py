"""Exports of a VAE dossier: the PDF (WeasyPrint), the archive (PDF + evidence + manifest), their check,
and the background job that builds them into the evidence store.

Everything works from a dossier *snapshot* (the schema in ``DossierVersion``'s docstring): a sent
version's frozen snapshot, or the draft's current one from ``vae.dossier_snapshot``.

The archive is a ZIP written entry by entry: each evidence file is copied from the store in chunks
(``storage.iter_chunks``) and hashed on the way, so memory does not grow with the files' size. Its
``manifest.json`` lists every file with its SHA-256, size and the competencies it supports, and
``manifest.txt`` says the same for a person; ``verify_archive`` checks an archive against it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from portfolio.services.errors import DomainError

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "portfolio-dossier-archive/1"
PDF_NAME = "dossier.pdf"
MANIFEST_JSON = "manifest.json"
MANIFEST_TXT = "manifest.txt"
CHUNK = 1024 * 1024
MAX_EXPORT_SIZE = 64 * 1024 ** 3  # what put_stream accepts for one export

#: Media types already compressed: stored as they are in the ZIP (deflating them costs time for nothing).
_COMPRESSED_TYPES = ("image/", "video/", "audio/")
_COMPRESSED_EXACT = {
    "application/zip", "application/gzip", "application/x-gzip", "application/x-bzip2", "application/x-xz",
    "application/x-7z-compressed", "application/x-rar-compressed", "application/vnd.rar", "application/pdf",
    "application/zstd", "application/epub+zip", "application/java-archive",
}
_COMPRESSED_PREFIXES = ("application/vnd.openxmlformats-officedocument.", "application/vnd.oasis.opendocument.")

INSTALL_HINT = ("installez les bibliothèques système de WeasyPrint : pango, harfbuzz, fontconfig et une police "
                "(Debian/Ubuntu : apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b "
                "libfontconfig1 fonts-dejavu-core ; macOS : brew install pango ; voir le README)")


class ExportUnavailable(DomainError):
    """The PDF cannot be produced on this machine (WeasyPrint's system libraries are missing)."""

    code = "export_unavailable"
    status = 503


class ExportError(DomainError):
    code = "export_failed"


ProgressCallback = Callable[[int], None]


# --- French typography ---------------------------------------------------------------------------

_NARROW_NBSP = "\u202f"
_NBSP = "\u00a0"
_BEFORE_HIGH_PUNCT = re.compile(r"[ \t\u00a0]+([;?!»])")
_BEFORE_COLON = re.compile(r"[ \t\u00a0]+:(?=\s|$)")
_AFTER_GUILLEMET = re.compile(r"«[ \t\u00a0]+")


def french_typography(text: str | None) -> str:
    """No-break spaces where French typography wants them: before ``: ; ? ! »``, after ``«``.

    Only a space the author typed is replaced (``http://`` or ``a:b`` are left alone).
    """
    if not text:
        return ""
    text = _BEFORE_HIGH_PUNCT.sub(_NARROW_NBSP + r"\1", text)
    text = _BEFORE_COLON.sub(_NBSP + ":", text)
    return _AFTER_GUILLEMET.sub("«" + _NARROW_NBSP, text)


def _size(n: int | None) -> str:
    n = int(n or 0)
    if n < 1024:
        return f"{n}{_NBSP}o"
    for unit in ("Kio", "Mio", "Gio"):
        n_f = n / 1024
        if n_f < 1024 or unit == "Gio":
            return f"{n_f:.1f}".replace(".", ",") + f"{_NBSP}{unit}"
        n = n_f  # type: ignore[assignment]
    raise AssertionError  # pragma: no cover


_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"]


def _french_date(value: str | date | datetime | None) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.date()
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {_MONTHS[value.month - 1]} {value.year}"


# --- the archive's plan --------------------------------------------------------------------------

@dataclass
class Entry:
    """One evidence file in the archive (a file used by several blocks has one entry per block)."""

    path: str
    storage_key: str
    sha256: str
    size: int
    media_type: str
    block: str
    evidence_id: int
    evidence_title: str
    filename: str
    competencies: list[str] = field(default_factory=list)


def safe_name(name: str, fallback: str = "fichier") -> str:
    """A file or folder name safe in any ZIP tool: ASCII letters, digits, ``.``, ``_``, ``-``."""
    ascii_name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_name).strip("-.")
    cleaned = re.sub(r"-{2,}", "-", cleaned)
    if len(cleaned) > 100:
        stem, dot, ext = cleaned.rpartition(".")
        cleaned = (stem[: 100 - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else cleaned[:100]
    return cleaned or fallback


def archive_plan(snapshot: dict) -> list[Entry]:
    """Every evidence file of the snapshot, once per block, with the competencies it supports there."""
    entries: dict[tuple[str, int, str], Entry] = {}
    used_paths: set[str] = set()
    for block in snapshot.get("blocks", []):
        folder = safe_name(str(block.get("code", "")), "bloc")
        for competency in block.get("competencies", []):
            for evidence in competency.get("evidence", []):
                for file in evidence.get("files", []):
                    ident = (folder, int(evidence["id"]), str(file["storage_key"]) + "\0" + str(file["filename"]))
                    entry = entries.get(ident)
                    if entry is None:
                        base = f"{folder}/{evidence['id']}-{safe_name(file['filename'])}"
                        path, n = base, 2
                        while path in used_paths:
                            stem, dot, ext = base.rpartition(".")
                            path = f"{stem}-{n}.{ext}" if dot and "/" not in ext else f"{base}-{n}"
                            n += 1
                        used_paths.add(path)
                        entry = entries[ident] = Entry(
                            path=path, storage_key=file["storage_key"], sha256=file["sha256"],
                            size=int(file.get("size") or 0), media_type=file.get("media_type") or "",
                            block=str(block.get("code", "")), evidence_id=int(evidence["id"]),
                            evidence_title=evidence.get("title", ""), filename=file["filename"])
                    if competency["code"] not in entry.competencies:
                        entry.competencies.append(competency["code"])
    return list(entries.values())


def _evidence_counts(snapshot: dict) -> tuple[int, int]:
    evidence: set[int] = set()
    files: set[tuple[int, str]] = set()
    for block in snapshot.get("blocks", []):
        for competency in block.get("competencies", []):
            for ev in competency.get("evidence", []):
                evidence.add(int(ev["id"]))
                files.update((int(ev["id"]), f["sha256"] + f["filename"]) for f in ev.get("files", []))
    return len(evidence), len(files)


# --- the PDF -------------------------------------------------------------------------------------

def _weasyprint_html():  # type: ignore[no-untyped-def]
    try:
        from weasyprint import HTML
    except OSError as exc:  # cffi could not load pango / gobject / harfbuzz
        raise ExportUnavailable(f"Export PDF indisponible sur ce serveur : {INSTALL_HINT}. (Détail : {exc})") from exc
    except ImportError as exc:
        raise ExportUnavailable(f"Export PDF indisponible : le paquet Python WeasyPrint n'est pas installé "
                                f"(pip install weasyprint), et {INSTALL_HINT}.") from exc
    return HTML


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict:
    # The PDF is built from our own template and sanitized Markdown: it never loads anything.
    raise ValueError(f"external resource refused: {url[:80]}")


_env = None


def _template():  # type: ignore[no-untyped-def]
    global _env
    if _env is None:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        folder = Path(__file__).resolve().parent.parent / "templates" / "dossier_export"
        _env = Environment(loader=FileSystemLoader(str(folder)), autoescape=select_autoescape(["html"]),
                           extensions=["jinja2.ext.loopcontrols"])
    return _env.get_template("pdf.html")


def dossier_html(snapshot: dict, *, draft: bool, entries: list[Entry] | None = None) -> str:
    """The dossier as the HTML WeasyPrint lays out (needs no application context)."""
    from portfolio.markdown import render_markdown

    entries = archive_plan(snapshot) if entries is None else entries
    experiences = {int(e["id"]): e for e in snapshot.get("experiences", [])}
    anchors: dict[tuple[str, str], str] = {}
    for i, block in enumerate(snapshot.get("blocks", []), 1):
        for j, competency in enumerate(block.get("competencies", []), 1):
            anchors[(block.get("code"), competency.get("code"))] = f"bloc-{i}-competence-{j}"
    version = snapshot.get("version")
    if draft or not version:
        version_line = "brouillon (version de travail, non transmise au jury)"
        status_line = "Brouillon"
    else:
        sent = _french_date(snapshot.get("sent_at"))
        version_line = f"version {version}" + (f", transmise au jury le {sent}" if sent else "")
        status_line = f"Version {version}" + (f" du {sent}" if sent else "")
    n_evidence, n_files = _evidence_counts(snapshot)

    def period(e: dict) -> str:
        start, end = _french_date(e.get("start")), _french_date(e.get("end"))
        return f"du {start} au {end}" if end else f"depuis le {start}"

    def basis(e: dict) -> str:
        return {"full_time": "temps plein", "part_time": "temps partiel"}.get(e.get("time_basis") or "", "")

    return _template().render(
        s=snapshot, draft=draft, entries=entries, anchors=anchors, version_line=version_line,
        status_line=status_line, evidence_count=n_evidence, file_count=n_files,
        generated_on=_french_date(datetime.now(UTC)), size=_size, period=period, basis=basis,
        fr=french_typography, md=lambda text: render_markdown(french_typography(text)),
        experiences_of=lambda b: [experiences[i] for i in b.get("experience_ids", []) if i in experiences])


def render_dossier_document(snapshot: dict, *, draft: bool, entries: list[Entry] | None = None):  # type: ignore[no-untyped-def]
    """The laid-out WeasyPrint document (its ``pages``), before writing the PDF."""
    html_class = _weasyprint_html()
    html = dossier_html(snapshot, draft=draft, entries=entries)
    return html_class(string=html, url_fetcher=_refuse_fetch).render()


def render_dossier_pdf(snapshot: dict, *, draft: bool) -> bytes:
    """The dossier as a PDF: cover page, table of contents, presentation, experiences, one section per
    block (activities, context, means, competencies with narratives and evidence with their SHA-256), an
    index of the files; "Page n / N" on every page, and *brouillon* on every page of a draft."""
    document = render_dossier_document(snapshot, draft=draft)
    title = f"Dossier de validation — {snapshot.get('candidate', {}).get('name', '')}"
    document.metadata.title = title
    document.metadata.authors = [snapshot.get("candidate", {}).get("name", "")]
    document.metadata.lang = "fr"
    return document.write_pdf()


# --- the archive ---------------------------------------------------------------------------------

def _compression(media_type: str) -> int:
    media_type = (media_type or "").lower()
    if (media_type.startswith(_COMPRESSED_TYPES) and media_type != "image/svg+xml") \
            or media_type in _COMPRESSED_EXACT or media_type.startswith(_COMPRESSED_PREFIXES):
        return zipfile.ZIP_STORED
    return zipfile.ZIP_DEFLATED


def manifest_text(manifest: dict) -> str:
    """The manifest for a person (plain UTF-8 text), derived from ``manifest.json``."""
    cert = manifest.get("certification", {})
    who = manifest.get("candidate", {})
    lines = [
        "Dossier de validation (VAE) — manifeste de l'archive",
        "",
        f"Candidat·e : {who.get('name', '')} ({who.get('email', '')})",
        f"Certification : {cert.get('code', '')} — {cert.get('title', '')}",
        "Version : " + ("brouillon" if manifest.get("draft") else str(manifest.get("version"))),
        f"Produit le : {manifest.get('generated_at', '')}",
        "",
        f"Dossier PDF : {manifest['pdf']['path']}",
        f"  SHA-256 : {manifest['pdf']['sha256']}",
        f"  Taille : {manifest['pdf']['size']} octets",
        "",
        f"Fichiers de preuve : {len(manifest.get('files', []))}",
    ]
    for item in manifest.get("files", []):
        lines += [
            "",
            item["path"],
            f"  SHA-256 : {item['sha256']}",
            f"  Taille : {item['size']} octets",
            f"  Preuve n° {item['evidence_id']} : {item['evidence_title']} (fichier « {item['filename']} »)",
            f"  Compétences : {', '.join(item['competencies'])}",
        ]
    lines += ["", "Vérification : flask --app wsgi dossier verify ARCHIVE (ou sha256sum sur chaque fichier).", ""]
    return "\n".join(lines)


def write_archive(snapshot: dict, pdf: bytes, storage, out: BinaryIO, *,  # type: ignore[no-untyped-def]
                  progress: ProgressCallback | None = None, draft: bool | None = None) -> dict:
    """Write the dossier's ZIP to ``out`` (any writable binary stream, seekable or not) and return its
    manifest. Evidence files are streamed from ``storage`` chunk by chunk and checked against their
    SHA-256: a file that changed in the store stops the export (``ExportError``)."""
    entries = archive_plan(snapshot)
    draft = (not snapshot.get("version")) if draft is None else draft
    total = sum(e.size for e in entries) or 1
    done = 0
    last_percent = -1

    def report(value: int) -> None:
        nonlocal last_percent
        percent = min(100, value * 100 // total)
        if progress is not None and percent != last_percent:
            last_percent = percent
            progress(percent)

    pdf_sha = hashlib.sha256(pdf).hexdigest()
    files: list[dict] = []
    report(0)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        archive.writestr(PDF_NAME, pdf, compress_type=zipfile.ZIP_DEFLATED)
        for entry in entries:
            info = zipfile.ZipInfo(entry.path, date_time=datetime.now(UTC).timetuple()[:6])
            info.compress_type = _compression(entry.media_type)
            info.external_attr = 0o644 << 16
            digest = hashlib.sha256()
            size = 0
            with archive.open(info, "w", force_zip64=entry.size >= 2 ** 31) as dest:
                for chunk in storage.iter_chunks(entry.storage_key, CHUNK):
                    digest.update(chunk)
                    dest.write(chunk)
                    size += len(chunk)
                    report(done + size)
            if digest.hexdigest() != entry.sha256:
                raise ExportError(f"Le fichier « {entry.filename} » (preuve n° {entry.evidence_id}) ne correspond "
                                  "plus à son empreinte SHA-256 dans le stockage : export interrompu.")
            done += entry.size
            files.append({"path": entry.path, "sha256": entry.sha256, "size": size, "block": entry.block,
                          "evidence_id": entry.evidence_id, "evidence_title": entry.evidence_title,
                          "filename": entry.filename, "media_type": entry.media_type,
                          "competencies": entry.competencies})
        manifest = {
            "format": MANIFEST_FORMAT,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "candidate": snapshot.get("candidate", {}),
            "certification": snapshot.get("certification", {}),
            "version": None if draft else snapshot.get("version"),
            "sent_at": None if draft else snapshot.get("sent_at"),
            "draft": draft,
            "pdf": {"path": PDF_NAME, "sha256": pdf_sha, "size": len(pdf)},
            "files": files,
        }
        archive.writestr(MANIFEST_JSON, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
        archive.writestr(MANIFEST_TXT, manifest_text(manifest))
    report(total)
    return manifest


# --- checking an archive -------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    kind: str  # "missing" | "added" | "altered" | "manifest"
    path: str
    detail: str = ""

    def __str__(self) -> str:
        label = {"missing": "manquant", "added": "ajouté", "altered": "modifié", "manifest": "manifeste"}[self.kind]
        return f"{label} : {self.path}" + (f" ({self.detail})" if self.detail else "")


def _hash_member(archive: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with archive.open(name) as member:
        while chunk := member.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def verify_archive(path: str | Path | BinaryIO) -> list[Problem]:
    """Compare an archive with its manifest: files missing, added, or altered (by SHA-256 and size).
    An empty list means the archive is intact."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        return [Problem("manifest", str(path), f"archive illisible : {exc}")]
    with archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if MANIFEST_JSON not in names:
            return [Problem("manifest", MANIFEST_JSON, "absent de l'archive")]
        try:
            manifest = json.loads(archive.read(MANIFEST_JSON).decode("utf-8"))
            expected = [manifest["pdf"], *manifest["files"]]
            expected_by_path = {str(item["path"]): (str(item["sha256"]), int(item["size"])) for item in expected}
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
            return [Problem("manifest", MANIFEST_JSON, f"illisible : {exc}")]
        problems: list[Problem] = []
        present = set(names)
        for item_path, (sha, size) in expected_by_path.items():
            if item_path not in present:
                problems.append(Problem("missing", item_path))
                continue
            try:
                actual_sha, actual_size = _hash_member(archive, item_path)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
                problems.append(Problem("altered", item_path, f"illisible : {exc}"))
                continue
            if actual_sha != sha or actual_size != size:
                problems.append(Problem("altered", item_path, f"SHA-256 {actual_sha}, attendu {sha}"))
        for name in names:
            if name not in expected_by_path and name not in (MANIFEST_JSON, MANIFEST_TXT):
                problems.append(Problem("added", name))
        if MANIFEST_TXT not in present:
            problems.append(Problem("missing", MANIFEST_TXT))
        else:
            try:
                text = archive.read(MANIFEST_TXT).decode("utf-8")
            except (zipfile.BadZipFile, UnicodeDecodeError, zlib.error) as exc:
                problems.append(Problem("altered", MANIFEST_TXT, f"illisible : {exc}"))
            else:
                if text != manifest_text(manifest):
                    problems.append(Problem("altered", MANIFEST_TXT, "ne correspond pas à manifest.json"))
        return problems


# --- the job -------------------------------------------------------------------------------------

def _snapshot_for(export) -> dict:  # type: ignore[no-untyped-def]
    from portfolio.extensions import db
    from portfolio.models import DossierVersion

    if export.version_id is not None:
        version = db.session.get(DossierVersion, export.version_id)
        if version is None:
            raise ExportError("La version demandée du dossier n'existe plus.")
        return version.snapshot
    from portfolio.models import Dossier
    from portfolio.services import vae

    dossier = db.session.get(Dossier, export.dossier_id)
    return vae.dossier_snapshot(dossier)


def _failure_message(exc: BaseException) -> str:
    from portfolio.storage import BlobNotFound, StorageError

    if isinstance(exc, DomainError):
        return exc.message
    if isinstance(exc, BlobNotFound):
        return f"Un fichier de preuve manque dans le stockage ({exc.key}) : export impossible."
    if isinstance(exc, StorageError):
        return f"Le stockage des preuves est indisponible : {exc}"
    if isinstance(exc, OSError):
        return f"Erreur d'écriture pendant l'export : {exc}"
    return f"Erreur inattendue pendant l'export ({type(exc).__name__}) : réessayez ou prévenez l'administrateur."


def _set_progress(export_id: int, percent: int) -> None:
    """Record progress in its own short transaction (the page polls it)."""
    from sqlalchemy import update

    from portfolio.extensions import db
    from portfolio.models import DossierExport

    db.session.execute(update(DossierExport).where(DossierExport.id == export_id).values(progress=percent))
    db.session.commit()


def export_filename(export, snapshot: dict | None = None) -> str:  # type: ignore[no-untyped-def]
    """The name offered when downloading an export."""
    from portfolio.models import ExportKind

    stem = "dossier-vae"
    if snapshot:
        stem += f"-{safe_name(snapshot.get('certification', {}).get('code', ''), 'certification')}"
        stem += f"-v{snapshot['version']}" if snapshot.get("version") and export.version_id else "-brouillon"
    return stem + (".pdf" if export.kind == ExportKind.PDF else ".zip")


def run_export(export_id: int) -> str:
    """Build one export (the background job) and keep it in the evidence store; return its status.

    Progress is committed as it goes; a failure leaves the export ``failed`` with a message for a person.
    Never raises for an export that fails (the message is on the row); logs unexpected errors.
    """
    from portfolio.extensions import db
    from portfolio.models import DossierExport, ExportKind, ExportStatus
    from portfolio.models.base import utcnow
    from portfolio.services.audit import record_event
    from portfolio.storage import get_storage

    export = db.session.get(DossierExport, export_id)
    if export is None:
        log.warning("dossier export %s: no such export", export_id)
        return "missing"
    if export.status in (ExportStatus.DONE, ExportStatus.RUNNING):
        return export.status.value
    export.status = ExportStatus.RUNNING
    export.progress = 0
    export.error = None
    db.session.commit()
    kind = export.kind
    draft = export.version_id is None
    try:
        snapshot = _snapshot_for(export)
        entries = archive_plan(snapshot)
        pdf = render_dossier_pdf(snapshot, draft=draft)
        storage = get_storage()
        if kind == ExportKind.PDF:
            _set_progress(export_id, 80)
            blob = storage.put_stream(io.BytesIO(pdf), max_size=MAX_EXPORT_SIZE, filename="dossier.pdf")
        else:
            _set_progress(export_id, 10)
            last = [10]

            def progress(percent: int) -> None:
                scaled = 10 + percent * 85 // 100
                if scaled >= last[0] + 5 or percent == 100:  # a commit every 5 % at most
                    last[0] = scaled
                    _set_progress(export_id, scaled)

            with tempfile.TemporaryFile(prefix="dossier-export-") as tmp:
                write_archive(snapshot, pdf, storage, tmp, progress=progress, draft=draft)
                tmp.seek(0)
                blob = storage.put_stream(tmp, max_size=MAX_EXPORT_SIZE, filename="dossier.zip")
        export = db.session.get(DossierExport, export_id)
        export.storage_key, export.sha256, export.size = blob.key, blob.sha256, blob.size
        export.status = ExportStatus.DONE
        export.progress = 100
        export.finished_at = utcnow()
        record_event("dossier.export_done", actor=None, subject_type="dossier", subject_id=export.dossier_id,
                     data={"export": export.id, "kind": kind.value, "version": export.version_id,
                           "sha256": blob.sha256, "size": blob.size, "files": len(entries)})
        db.session.commit()
        return ExportStatus.DONE.value
    except Exception as exc:  # noqa: BLE001 — every failure is recorded on the export
        db.session.rollback()
        message = _failure_message(exc)
        if not isinstance(exc, DomainError):
            log.exception("dossier export %s failed", export_id)
        export = db.session.get(DossierExport, export_id)
        export.status = ExportStatus.FAILED
        export.error = message[:2000]
        export.finished_at = utcnow()
        record_event("dossier.export_failed", actor=None, subject_type="dossier", subject_id=export.dossier_id,
                     data={"export": export.id, "kind": kind.value, "error": message[:500]})
        db.session.commit()
        return ExportStatus.FAILED.value


def enqueue_export(dossier, kind, version, actor):  # type: ignore[no-untyped-def]
    """Create the export row (queued) and audit the request, in the caller's transaction.

    After the caller commits, call ``dispatch_export(export.id)`` (alias ``run_pending_inline``): it
    puts the job on RQ when ``REDIS_URL`` is set, else runs it right there.
    """
    from portfolio.extensions import db
    from portfolio.models import DossierExport, ExportKind, ExportStatus
    from portfolio.services.audit import record_event

    kind = ExportKind(kind)
    if version is not None and version.dossier_id != dossier.id:
        raise DomainError("Cette version n'appartient pas à ce dossier.")
    export = DossierExport(dossier_id=dossier.id, version_id=version.id if version is not None else None,
                           requested_by_id=actor.id if actor is not None else None, kind=kind,
                           status=ExportStatus.QUEUED, progress=0)
    db.session.add(export)
    db.session.flush()
    record_event("dossier.export_request", actor=actor, subject_type="dossier", subject_id=dossier.id,
                 data={"export": export.id, "kind": kind.value,
                       "version": version.number if version is not None else None})
    return export


def dispatch_export(export_id: int) -> str:
    """Start a committed export: on the RQ queue when Redis is configured (returns "queued"), else
    inline, now (returns the final status). A Redis that cannot be reached fails the export clearly."""
    from flask import current_app

    if current_app.config.get("REDIS_URL"):
        from portfolio.jobs import enqueue_work_export

        try:
            enqueue_work_export(export_id)
        except Exception as exc:  # noqa: BLE001 — redis.ConnectionError and the like
            log.exception("could not queue dossier export %s", export_id)
            _mark_failed(export_id, f"La file des tâches (Redis) est injoignable : {exc}")
            return "failed"
        return "queued"
    return run_export(export_id)


run_pending_inline = dispatch_export


def _mark_failed(export_id: int, message: str) -> None:
    from portfolio.extensions import db
    from portfolio.models import DossierExport, ExportStatus
    from portfolio.models.base import utcnow

    db.session.rollback()
    export = db.session.get(DossierExport, export_id)
    if export is not None:
        export.status, export.error, export.finished_at = ExportStatus.FAILED, message[:2000], utcnow()
        db.session.commit()


def iter_export(export) -> Iterator[bytes]:  # type: ignore[no-untyped-def]
    """The stored bytes of a finished export, for a download view."""
    from portfolio.storage import get_storage

    if not export.storage_key:
        raise DomainError("Cet export n'est pas prêt.")
    return get_storage().iter_chunks(export.storage_key)
