"""Rendering HTML to PDF with WeasyPrint, guarded the same way for every export (dossier, logbook).

WeasyPrint is imported when a PDF is made (an optional heavy dependency that needs system libraries):
a machine without them still runs the application, and says clearly why a PDF cannot be made. A
document never fetches anything: it is built from our own templates and sanitized Markdown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from portfolio.services.errors import DomainError

INSTALL_HINT = ("installez les bibliothèques système de WeasyPrint : pango, harfbuzz, fontconfig et une police "
                "(Debian/Ubuntu : apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b "
                "libfontconfig1 fonts-dejavu-core ; macOS : brew install pango ; voir le README)")


class ExportUnavailable(DomainError):
    """The PDF cannot be produced on this machine (WeasyPrint's system libraries are missing)."""

    code = "export_unavailable"
    status = 503


def refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict:
    # The PDF is built from our own template and sanitized Markdown: it never loads anything.
    raise ValueError(f"external resource refused: {url[:80]}")


def weasyprint_html():
    """WeasyPrint's ``HTML`` class, or :class:`ExportUnavailable` saying what to install."""
    try:
        from weasyprint import HTML  # lazy: 2.6 s to import and needs system libraries (pango): only when a PDF is made
    except OSError as exc:  # cffi could not load pango / gobject / harfbuzz
        raise ExportUnavailable(f"Export PDF indisponible sur ce serveur : {INSTALL_HINT}. (Détail : {exc})") from exc
    except ImportError as exc:
        raise ExportUnavailable(f"Export PDF indisponible : le paquet Python WeasyPrint n'est pas installé "
                                f"(pip install weasyprint), et {INSTALL_HINT}.") from exc
    return HTML


def html_document(html: str | Callable[[], str]):
    """The WeasyPrint document of ``html`` (or of what ``html()`` renders, once WeasyPrint is known to
    load), fetching nothing."""
    html_class = weasyprint_html()
    return html_class(string=html if isinstance(html, str) else html(), url_fetcher=refuse_fetch)
