"""Exports of a VAE dossier: the PDF (``pdf``), the archive and its check (``archive``), and the
background job that builds them into the evidence store (``job``). This face hands their names on."""

from portfolio.pdf import INSTALL_HINT, ExportUnavailable
from portfolio.services.dossier_export.archive import (
    MANIFEST_FORMAT,
    MANIFEST_JSON,
    MANIFEST_TXT,
    PDF_NAME,
    Entry,
    ExportError,
    Problem,
    archive_plan,
    manifest_text,
    safe_name,
    verify_archive,
    write_archive,
)
from portfolio.services.dossier_export.job import (
    MAX_EXPORT_SIZE,
    dispatch_after_commit,
    dispatch_export,
    enqueue_export,
    export_filename,
    iter_export,
    run_export,
    run_pending_inline,
    work_export,
)
from portfolio.services.dossier_export.pdf import (
    dossier_html,
    french_typography,
    render_dossier_document,
    render_dossier_pdf,
)

__all__ = [
    "INSTALL_HINT", "MANIFEST_FORMAT", "MANIFEST_JSON", "MANIFEST_TXT", "MAX_EXPORT_SIZE", "PDF_NAME", "Entry",
    "ExportError", "ExportUnavailable", "Problem", "archive_plan", "dispatch_after_commit", "dispatch_export",
    "dossier_html", "enqueue_export", "export_filename", "french_typography", "iter_export", "manifest_text",
    "render_dossier_document", "render_dossier_pdf", "run_export", "run_pending_inline", "safe_name",
    "verify_archive", "work_export", "write_archive",
]
