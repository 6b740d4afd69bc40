"""The archive of a VAE dossier: its plan (every evidence file, once per block), the ZIP (the PDF, the
evidence files, ``manifest.json`` and ``manifest.txt``) and its check.

The archive is a ZIP written entry by entry: each evidence file is copied from the store in chunks
(``storage.iter_chunks``) and hashed on the way, so memory does not grow with the files' size. Its
``manifest.json`` lists every file with its SHA-256, size and the competencies it supports, and
``manifest.txt`` says the same for a person; ``verify_archive`` checks an archive against it.
Everything works from a dossier *snapshot* (the schema in ``DossierVersion``'s docstring).
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from portfolio.formatting import ascii_fold
from portfolio.services.errors import DomainError

MANIFEST_FORMAT = "portfolio-dossier-archive/1"
PDF_NAME = "dossier.pdf"
MANIFEST_JSON = "manifest.json"
MANIFEST_TXT = "manifest.txt"
CHUNK = 1024 * 1024

#: Media types already compressed: stored as they are in the ZIP (deflating them costs time for nothing).
_COMPRESSED_TYPES = ("image/", "video/", "audio/")
_COMPRESSED_EXACT = {
    "application/zip", "application/gzip", "application/x-gzip", "application/x-bzip2", "application/x-xz",
    "application/x-7z-compressed", "application/x-rar-compressed", "application/vnd.rar", "application/pdf",
    "application/zstd", "application/epub+zip", "application/java-archive",
}
_COMPRESSED_PREFIXES = ("application/vnd.openxmlformats-officedocument.", "application/vnd.oasis.opendocument.")


class ExportError(DomainError):
    code = "export_failed"


ProgressCallback = Callable[[int], None]

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
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_fold(name)).strip("-.")
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


def evidence_counts(snapshot: dict) -> tuple[int, int]:
    evidence: set[int] = set()
    files: set[tuple[int, str]] = set()
    for block in snapshot.get("blocks", []):
        for competency in block.get("competencies", []):
            for ev in competency.get("evidence", []):
                evidence.add(int(ev["id"]))
                files.update((int(ev["id"]), f["sha256"] + f["filename"]) for f in ev.get("files", []))
    return len(evidence), len(files)

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


def write_archive(snapshot: dict, pdf: bytes, storage, out: BinaryIO, *,
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
