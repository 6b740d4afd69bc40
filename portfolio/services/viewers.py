"""How an evidence file is shown in the page, and what reading it tells (test reports, archives).

* :func:`file_view` decides, from the sniffed media type and the file name, how to show one file:
  an image, an SVG (only ever as an ``<img>``), highlighted code, an archive's tree, a test report's
  tables, a PlantUML or Mermaid source, a PDF to open, or a plain download; it never raises on a bad
  file (a broken archive or report is *said* to be so).
* :func:`file_analyses` returns the summaries the API and the tutor's queue show (a report's counts,
  an archive's languages). Computing one reads the blob, so it is done once per blob and kept in
  ``blob_analyses``; callers commit (a GET view commits after rendering, the API after the request).
* :func:`report_digests` sums them per piece of evidence, for the queue.
* :func:`archive_entry` reads one file of an archive, highlighted.

Everything is bounded: code views read at most :data:`CODE_VIEW_BYTES`, reports at most the parser's
limit, archives go through :mod:`portfolio.analysis.archives` and its limits.

Over 400 lines: how each kind of file is shown, and the analyses kept for them; the kinds could become modules.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from portfolio.analysis.archives import ArchiveRefused, EntryNotFound, inspect_archive, read_entry
from portfolio.analysis.code import highlight, language_of, looks_binary
from portfolio.analysis.reports import (
    MAX_REPORT_BYTES,
    Case,
    Report,
    Suite,
    TestReport,
    UnreadableReport,
    parse_report,
)
from portfolio.extensions import db
from portfolio.models import AnalysisKind, Blob, BlobAnalysis, Evidence, EvidenceFile
from portfolio.models.base import utcnow
from portfolio.storage import StorageError, get_storage

__all__ = [
    "ANALYSIS_VERSION",
    "CASES_SHOWN",
    "CODE_VIEW_BYTES",
    "IMAGE_TYPES",
    "Analysis",
    "ArchiveView",
    "EntryView",
    "FileView",
    "ReportDigest",
    "SuiteRows",
    "TreeNode",
    "ViewKind",
    "api_summaries",
    "archive_entry",
    "build_tree",
    "case_status",
    "file_analyses",
    "file_view",
    "refusal_message",
    "report_digests",
    "report_rows",
]

#: Bump when what the analysers return changes: older rows are then computed again.
ANALYSIS_VERSION = 2  # 2: archives list the programs they contain
#: Code, PlantUML and Mermaid views show at most this much of a file (the download has it all).
CODE_VIEW_BYTES = 512 * 1024
#: Test cases listed in a report's tables (failures first); the summary still counts them all.
CASES_SHOWN = 1_000

RASTER_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
SVG_TYPE = "image/svg+xml"
IMAGE_TYPES = RASTER_TYPES | {SVG_TYPE}
ARCHIVE_TYPES = frozenset({"application/zip", "application/gzip", "application/x-gzip", "application/x-tar"})
XML_TYPES = frozenset({"application/xml", "text/xml"})
TEXT_APPLICATION_TYPES = frozenset({"application/json", "application/xml", "application/javascript"})
MERMAID_SUFFIXES = frozenset({".mmd", ".mermaid"})
PLANTUML_SUFFIXES = frozenset({".puml", ".plantuml", ".pu", ".iuml", ".wsd"})


class ViewKind(enum.StrEnum):
    IMAGE = "image"
    SVG = "svg"
    CODE = "code"
    ARCHIVE = "archive"
    REPORT = "report"
    PLANTUML = "plantuml"
    MERMAID = "mermaid"
    PDF = "pdf"
    DOWNLOAD = "download"


@dataclass
class TreeNode:
    name: str
    path: str
    is_dir: bool
    size: int = 0
    children: list[TreeNode] = field(default_factory=list)


@dataclass
class ArchiveView:
    summary: dict[str, Any]  # the API's ``archive`` object
    tree: list[TreeNode]
    format: str | None = None

    @property
    def refused(self) -> str | None:
        return self.summary.get("refused")


@dataclass
class SuiteRows:
    suite: Suite
    cases: list[Case]
    hidden: int  # cases of the suite not listed


@dataclass
class FileView:
    file: EvidenceFile
    kind: ViewKind
    code: Markup | None = None  # highlighted HTML (code, PlantUML, Mermaid source)
    language: str | None = None
    truncated: bool = False  # only the first CODE_VIEW_BYTES are shown
    source: str | None = None  # Mermaid source, for the renderer
    report: Report | None = None
    suites: list[SuiteRows] = field(default_factory=list)  # a test report's tables
    archive: ArchiveView | None = None
    unavailable: bool = False  # the store could not be read: the file is still listed

    @property
    def report_type(self) -> str | None:
        """``junit``, ``coverage`` or ``unreadable`` for a report view."""
        if self.report is None:
            return None
        if isinstance(self.report, TestReport):
            return "junit"
        return "unreadable" if isinstance(self.report, UnreadableReport) else "coverage"


@dataclass
class EntryView:
    path: str
    size: int
    code: Markup | None
    language: str | None
    truncated: bool
    binary: bool


@dataclass(frozen=True)
class Analysis:
    kind: AnalysisKind
    summary: dict[str, Any] | None


@dataclass
class ReportDigest:
    """A piece of evidence's test reports, summed: what the tutor's queue shows."""

    tests: int = 0
    passed: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    coverage: float | None = None
    has_tests: bool = False  # at least one JUnit report
    unreadable: int = 0  # reports that could not be read

    @property
    def empty(self) -> bool:
        return not self.has_tests and self.coverage is None and not self.unreadable


# --------------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------------


def refusal_message(code: str) -> str:
    """What a person reads first when an archive is refused (the analyser's French detail follows)."""
    messages = {
        "zip_bomb": _("Archive refusée : bombe de décompression. Rien n'en a été extrait."),
        "too_many_entries": _("Archive refusée : elle contient trop d'entrées."),
        "too_large": _("Archive refusée : son contenu décompressé est trop volumineux."),
        "entry_too_large": _("Archive refusée : l'un de ses fichiers est trop volumineux."),
        "too_deep": _("Archive refusée : ses dossiers sont trop profondément imbriqués."),
        "path_too_long": _("Archive refusée : l'un de ses chemins est trop long."),
        "unsafe_path": _("Archive refusée : chemin dangereux (absolu, ou qui remonte hors de l'archive)."),
        "duplicate_entry": _("Archive refusée : une entrée y figure deux fois."),
        "link": _("Archive refusée : elle contient des liens symboliques ou physiques."),
        "special_file": _("Archive refusée : elle contient des fichiers spéciaux (périphériques, tubes)."),
        "encrypted": _("Archive refusée : elle est protégée par un mot de passe."),
        "unsupported": _("Archive refusée : ce format de compression n'est pas pris en charge."),
        "corrupt": _("Archive refusée : elle est endommagée."),
        "not_an_archive": _("Ce fichier n'est pas une archive ZIP, TAR ou TAR.GZ lisible."),
    }
    return messages.get(code, _("Archive refusée."))


def case_status(status: str) -> str:
    """A test case's outcome, in words (never only a colour)."""
    return {"passed": _("Réussi"), "failed": _("Échec"), "error": _("Erreur"), "skipped": _("Ignoré")}.get(
        status, status)


# --------------------------------------------------------------------------------------------
# Deciding
# --------------------------------------------------------------------------------------------


def _suffix(filename: str) -> str:
    return PurePosixPath(filename.replace("\\", "/")).suffix.lower()


def _is_text(media_type: str) -> bool:
    return media_type.startswith("text/") or media_type in TEXT_APPLICATION_TYPES


def _analysis_kind(file: EvidenceFile) -> AnalysisKind | None:
    """Which analysis a file gets, from what is known without reading it."""
    media_type = file.blob.media_type
    if media_type in ARCHIVE_TYPES:
        return AnalysisKind.ARCHIVE
    # A JUnit report whose failure text quotes "<form" or "<script" is sniffed as HTML: the name decides.
    if media_type in XML_TYPES or (_suffix(file.filename) == ".xml" and _is_text(media_type)):
        return AnalysisKind.REPORT
    return None


# --------------------------------------------------------------------------------------------
# Reading the store
# --------------------------------------------------------------------------------------------


def _read(blob: Blob, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    with get_storage().open(blob.storage_key) as reader:
        while size < limit:
            piece = reader.read(min(1 << 20, limit - size))
            if not piece:
                break
            chunks.append(piece)
            size += len(piece)
    return b"".join(chunks)


def _whole_lines(data: bytes, complete: bool) -> bytes:
    """``data`` cut after its last full line when it is only the head of a file."""
    if complete:
        return data
    cut = data.rfind(b"\n")
    return data[: cut + 1] if cut > 0 else data


# --------------------------------------------------------------------------------------------
# Analyses (cached per blob)
# --------------------------------------------------------------------------------------------


def _report_summary(report: Report | None) -> dict[str, Any] | None:
    return report.summary() if report is not None else None


def _archive_summary(file: EvidenceFile) -> dict[str, Any]:
    with get_storage().open(file.blob.storage_key) as reader:
        report = inspect_archive(reader, filename=file.filename)
    summary = report.summary()
    summary["format"] = report.format
    if report.ok:
        # The listing, kept so that the page can draw the tree without reading the archive again.
        summary["tree"] = [[e.path, e.size, e.is_dir] for e in report.entries]
    return summary


def _compute(file: EvidenceFile, kind: AnalysisKind) -> Analysis:
    if kind is AnalysisKind.ARCHIVE:
        return Analysis(kind, _archive_summary(file))
    return Analysis(kind, _report_summary(parse_report(_read(file.blob, MAX_REPORT_BYTES + 1))))


def _store(blob_id: int, analysis: Analysis) -> None:
    """Insert or refresh the row; a concurrent request storing the same blob is not an error."""
    values = {"blob_id": blob_id, "kind": analysis.kind, "summary": analysis.summary,
              "version": ANALYSIS_VERSION}
    dialect = db.session.get_bind().dialect.name
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(BlobAnalysis).values(**values, created_at=utcnow())
    elif dialect == "sqlite":
        statement = sqlite.insert(BlobAnalysis).values(**values, created_at=utcnow())
    else:  # pragma: no cover - the two supported databases are above
        db.session.merge(BlobAnalysis(**values))
        db.session.flush()
        return
    statement = statement.on_conflict_do_update(
        index_elements=[BlobAnalysis.blob_id],
        set_={key: statement.excluded[key] for key in ("kind", "summary", "version", "created_at")})
    db.session.execute(statement)


def file_analyses(files: Iterable[EvidenceFile], *, keep: bool = False) -> dict[int, Analysis]:
    """Blob id → analysis, for the files that are test reports or archives (others are left out).

    Kept analyses are read in one query; missing ones are computed (reading the blob), and stored in
    the session's transaction only with ``keep`` (when files are added: pages, which are GETs, never
    write). A file the store cannot read right now is left out, and tried again next time.
    """
    wanted: dict[int, tuple[EvidenceFile, AnalysisKind]] = {}
    for file in files:
        kind = _analysis_kind(file)
        if kind is not None:
            wanted.setdefault(file.blob_id, (file, kind))
    if not wanted:
        return {}
    found = {row.blob_id: Analysis(row.kind, row.summary)
             for row in db.session.scalars(select(BlobAnalysis).where(BlobAnalysis.blob_id.in_(wanted)))
             if row.version == ANALYSIS_VERSION and row.kind == wanted[row.blob_id][1]}
    for blob_id, (file, kind) in wanted.items():
        if blob_id in found:
            continue
        try:
            analysis = _compute(file, kind)
        except (StorageError, OSError):
            continue
        if keep:
            _store(blob_id, analysis)
        found[blob_id] = analysis
    return found


def keep_analyses(files: Iterable[EvidenceFile]) -> None:
    """Analyse the test reports and archives among newly added files and keep the results, so that
    the pages that show them only read."""
    file_analyses(files, keep=True)


def api_summaries(file: EvidenceFile, analyses: dict[int, Analysis]) -> dict[str, Any]:
    """The ``report`` and ``archive`` members of a file's API representation."""
    analysis = analyses.get(file.blob_id)
    report = archive = None
    if analysis is not None and analysis.summary is not None:
        if analysis.kind is AnalysisKind.REPORT:
            report = dict(analysis.summary)
        else:
            archive = {k: v for k, v in analysis.summary.items() if k not in ("tree", "format")}
    return {"report": report, "archive": archive}


def report_digests(items: Sequence[Evidence]) -> dict[int, ReportDigest]:
    """Evidence id → its test reports summed (only evidence that has at least one report)."""
    analyses = file_analyses(f for item in items for f in item.files if _analysis_kind(f) is AnalysisKind.REPORT)
    digests: dict[int, ReportDigest] = {}
    for item in items:
        digest = ReportDigest()
        for file in item.files:
            analysis = analyses.get(file.blob_id)
            if analysis is None or analysis.kind is not AnalysisKind.REPORT or not analysis.summary:
                continue
            summary = analysis.summary
            if summary.get("unreadable"):
                digest.unreadable += 1
            elif "tests" in summary:
                digest.has_tests = True
                for key in ("tests", "passed", "failures", "errors", "skipped"):
                    setattr(digest, key, getattr(digest, key) + int(summary.get(key) or 0))
            elif summary.get("coverage") is not None and digest.coverage is None:
                digest.coverage = summary["coverage"]
        if not digest.empty:
            digests[item.id] = digest
    return digests


# --------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------


def build_tree(entries: Iterable[Sequence[Any]]) -> list[TreeNode]:
    """Nested nodes from a flat listing of ``[path, size, is_dir]``; folders first, then by name."""
    root = TreeNode("", "", True)
    folders = {"": root}

    def folder(path: str) -> TreeNode:
        if path not in folders:
            parent, _, name = path.rpartition("/")
            node = TreeNode(name, path, True)
            folder(parent).children.append(node)
            folders[path] = node
        return folders[path]

    for path, size, is_dir in entries:
        if is_dir:
            folder(path)
        else:
            parent, _, name = path.rpartition("/")
            folder(parent).children.append(TreeNode(name, path, False, int(size)))

    def order(node: TreeNode) -> None:
        node.children.sort(key=lambda n: (not n.is_dir, n.name.lower(), n.name))
        for child in node.children:
            order(child)

    order(root)
    return root.children


def _highlight(data: bytes, filename: str, anchor_prefix: str = "") -> Markup:
    """Pygments' HTML (it escapes the text); line anchors renamed so that several views share a page."""
    html = highlight(data, filename)
    if anchor_prefix:
        # Attribute values come from Pygments, never from the file (whose quotes are escaped).
        for attribute in ('id="L-', 'name="L-', 'href="#L-'):
            html = html.replace(attribute, attribute.replace("L-", f"{anchor_prefix}L-"))
    return Markup(html)  # noqa: S704 - escaped by Pygments


def _code_view(file: EvidenceFile, kind: ViewKind, data: bytes, complete: bool) -> FileView:
    shown = _whole_lines(data, complete)
    if kind is ViewKind.CODE:
        code, language = _highlight(shown, file.filename, f"f{file.id}-"), language_of(file.filename, data[:8192])
    else:  # Pygments has no lexer for diagrams (it would guess one): plain text
        code = _highlight(shown, "diagram.txt", f"f{file.id}-")
        language = "Mermaid" if kind is ViewKind.MERMAID else "PlantUML"
    view = FileView(file, kind, code=code, language=language, truncated=not complete)
    if kind is ViewKind.MERMAID:
        view.source = shown.decode("utf-8", errors="replace")
    return view


def file_view(file: EvidenceFile) -> FileView:
    """How to show ``file`` in the evidence page (reads at most a bounded head of it)."""
    blob = file.blob
    media_type = blob.media_type
    suffix = _suffix(file.filename)
    if media_type in RASTER_TYPES:
        return FileView(file, ViewKind.IMAGE)
    if media_type == SVG_TYPE:
        return FileView(file, ViewKind.SVG)
    if media_type == "application/pdf":
        return FileView(file, ViewKind.PDF)
    analysis_kind = _analysis_kind(file)
    if analysis_kind is None and not _is_text(media_type):
        return FileView(file, ViewKind.DOWNLOAD)
    try:
        if analysis_kind is AnalysisKind.ARCHIVE:
            return _archive_view(file)
        if analysis_kind is AnalysisKind.REPORT:
            data = _read(blob, MAX_REPORT_BYTES + 1)
            report = parse_report(data)
            if report is not None:
                suites = report_rows(report) if isinstance(report, TestReport) else []
                return FileView(file, ViewKind.REPORT, report=report, suites=suites)
            data = data[:CODE_VIEW_BYTES]  # XML, but not a report: shown as code
        else:
            data = _read(blob, CODE_VIEW_BYTES)
    except (StorageError, OSError):
        return FileView(file, ViewKind.DOWNLOAD, unavailable=True)
    complete = blob.size <= len(data)
    if looks_binary(data):
        return FileView(file, ViewKind.DOWNLOAD)
    if suffix in MERMAID_SUFFIXES:
        return _code_view(file, ViewKind.MERMAID, data, complete)
    if suffix in PLANTUML_SUFFIXES or data.lstrip()[:9] == b"@startuml":
        return _code_view(file, ViewKind.PLANTUML, data, complete)
    return _code_view(file, ViewKind.CODE, data, complete)


def report_rows(report: TestReport, limit: int = CASES_SHOWN) -> list[SuiteRows]:
    """The cases to list per suite: every failure and error first, then the others in order, up to ``limit``."""
    problems = [case for suite in report.suites for case in suite.cases if case.status in ("failed", "error")]
    kept = {id(case) for case in problems[:limit]}
    room = limit - len(kept)
    for suite in report.suites:
        for case in suite.cases:
            if room <= 0:
                break
            if id(case) not in kept:
                kept.add(id(case))
                room -= 1
    rows = []
    for suite in report.suites:
        cases = [case for case in suite.cases if id(case) in kept]
        rows.append(SuiteRows(suite, cases, max(0, suite.tests - len(cases))))
    return rows


def _archive_view(file: EvidenceFile) -> FileView:
    analysis = file_analyses([file]).get(file.blob_id)
    if analysis is None or analysis.summary is None:
        return FileView(file, ViewKind.DOWNLOAD, unavailable=True)
    summary = analysis.summary
    archive = ArchiveView(
        summary={k: v for k, v in summary.items() if k not in ("tree", "format")},
        tree=build_tree(summary.get("tree") or []),
        format=summary.get("format"),
    )
    return FileView(file, ViewKind.ARCHIVE, archive=archive)


def archive_entry(file: EvidenceFile, path: str) -> EntryView:
    """One file of an archive, highlighted. Raises :class:`EntryNotFound` for a path that is not one
    of its files, :class:`ArchiveRefused` when the archive is refused, :class:`StorageError`."""
    if _analysis_kind(file) is not AnalysisKind.ARCHIVE:
        raise EntryNotFound(path)
    analysis = file_analyses([file]).get(file.blob_id)
    if analysis is None:
        raise StorageError("the archive could not be read")
    summary = analysis.summary or {}
    if summary.get("refused"):
        raise ArchiveRefused(summary["refused"], summary.get("reason") or "")
    listing = {p: int(size) for p, size, is_dir in summary.get("tree") or [] if not is_dir}
    if path not in listing:
        raise EntryNotFound(path)
    with get_storage().open(file.blob.storage_key) as reader:
        data = read_entry(reader, filename=file.filename, path=path, max_bytes=CODE_VIEW_BYTES)
    size = listing[path]
    complete = size <= len(data)
    if looks_binary(data):
        return EntryView(path, size, None, None, not complete, binary=True)
    code = _highlight(_whole_lines(data, complete), path)
    return EntryView(path, size, code, language_of(path, data[:8192]), not complete, binary=False)

