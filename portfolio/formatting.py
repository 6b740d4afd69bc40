"""Numbers, sizes and dates as the reader writes them, through Babel (« 2,1 Kio » / « 2.1 KiB »,
« 1er décembre 2026 » / « December 1, 2026 »)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

from babel.dates import format_date as babel_format_date
from babel.numbers import format_decimal as babel_format_decimal
from flask import has_request_context
from flask_babel import get_locale, to_user_timezone

_SPACE = " "  # a plain space, as the messages that quote sizes always had
# Binary units, written as each language writes them.
_UNITS = {"fr": ("o", "Kio", "Mio", "Gio", "Tio"), "en": ("B", "KiB", "MiB", "GiB", "TiB")}


def current_locale() -> str:
    """The reader's language (``fr`` outside a request: the CLI and jobs speak French)."""
    if has_request_context():
        locale = get_locale()
        if locale is not None:
            return str(locale.language)
    return "fr"


def human_size(n: int | None, locale: str | None = None, *, space: str = _SPACE) -> str:
    """A size in binary units with one decimal in the reader's notation: ``2,1 Kio``, ``2.1 KiB``, ``12 o``
    (``space`` between the number and the unit: a no-break space in a PDF)."""
    locale = locale or current_locale()
    units = _UNITS.get(locale, _UNITS["en"])
    value = float(int(n or 0))
    if value < 1024:
        return f"{int(value)}{space}{units[0]}"
    index = 0
    while value >= 1024 and index < len(units) - 1:
        value /= 1024
        index += 1
    return f"{babel_format_decimal(value, format='#,##0.0', locale=locale)}{space}{units[index]}"


def ascii_fold(text: str) -> str:
    """``Émilie Ça`` → ``Emilie Ca``: accents dropped, what has no ASCII form left out."""
    return unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode("ascii")


def slugify(text: str, max_length: int = 60) -> str:
    """``Promo A 2026`` → ``promo-a-2026``: for file names; empty when nothing of ``text`` is ASCII."""
    return re.sub(r"[^a-z0-9]+", "-", ascii_fold(text).lower()).strip("-")[:max_length]


def date_long(value: date | datetime | str | None, locale: str | None = None) -> str:
    """``1er décembre 2026`` in French (the ordinal of the first day), ``December 1, 2026`` in English.
    An ISO date string (as kept in a frozen dossier version) is read as that date."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = (to_user_timezone(value) if has_request_context() else value).date()
    locale = locale or current_locale()
    if locale == "fr" and value.day == 1:
        return babel_format_date(value, "d'er' MMMM y", locale="fr")
    return babel_format_date(value, "long", locale=locale)


def date_short(value: date | datetime | None, locale: str | None = None) -> str:
    """``01/12/2026`` in French, ``12/1/26`` in English."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return babel_format_date(value, "short", locale=locale or current_locale())


def count_fr(n: int, singular: str, plural: str | None = None) -> str:
    """``1 fichier``, ``0 fichier``, ``3 fichiers``: French plural rule, for the French-only command line."""
    return f"{n} {singular if n < 2 else (plural or singular + 's')}"
