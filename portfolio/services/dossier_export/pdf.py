"""The PDF of a VAE dossier (WeasyPrint): cover page, contents, presentation, experiences, one section
per block, an index of the files; French typography. Needs no application context (the bench uses it)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from portfolio.formatting import human_size
from portfolio.markdown import render_markdown
from portfolio.pdf import html_document
from portfolio.services.dossier_export.archive import Entry, archive_plan, evidence_counts

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
    """« 2,1 Kio » with a no-break space: the PDF is in French, its number and unit kept on one line."""
    return human_size(n, "fr", space=_NBSP)


_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"]


def _french_date(value: str | date | datetime | None) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, datetime):
        value = value.date()
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {_MONTHS[value.month - 1]} {value.year}"


_env = None


def _template():
    global _env
    if _env is None:
        folder = Path(__file__).resolve().parents[2] / "templates" / "dossier_export"
        _env = Environment(loader=FileSystemLoader(str(folder)), autoescape=select_autoescape(["html"]),
                           extensions=["jinja2.ext.loopcontrols"])
    return _env.get_template("pdf.html")


def dossier_html(snapshot: dict, *, draft: bool, entries: list[Entry] | None = None) -> str:
    """The dossier as the HTML WeasyPrint lays out (needs no application context)."""
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
    n_evidence, n_files = evidence_counts(snapshot)

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


def render_dossier_document(snapshot: dict, *, draft: bool, entries: list[Entry] | None = None):
    """The laid-out WeasyPrint document (its ``pages``), before writing the PDF."""
    return html_document(lambda: dossier_html(snapshot, draft=draft, entries=entries)).render()


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
