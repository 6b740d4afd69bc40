"""The data every framework format reads into, its limits and its one error.

Shared by the readers of ``portfolio.frameworks.formats`` and by ``portfolio.frameworks.case``, so
that none of them imports another. Pure Python: nothing here touches Flask or the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

FORMAT_ID = "portfolio-framework/1"
FRAMEWORKS_DIR = Path(__file__).resolve().parent  # the shipped <CODE>.json files sit beside this module

# Our JSON files are a few tens of kB; anything far larger is not one of them.
MAX_JSON_BYTES = 10 * 1024 * 1024
# The real export is hundreds of MB of XML, and text XML compresses far less than 200:1; these
# limits leave ample room while refusing archives built to exhaust the importer's CPU or memory.
MAX_XML_BYTES = 2 * 1024**3
MAX_COMPRESSION_RATIO = 200
# Beyond these lengths a "competency" is a paragraph that the splitter failed to cut.
MAX_STATEMENT_CHARS = 500
MAX_UNSPLIT_CHARS = 250

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


class FrameworkFormatError(ValueError):
    """A framework file was refused; ``str(error)`` is one French line for the end user."""


@dataclass
class CompetencyData:
    """One competency statement of a block, in fiche order."""

    code: str
    statement: str
    needs_review: bool = False


@dataclass
class BlockData:
    """A competency block (``RNCP28754BC01``) and its ordered competencies."""

    code: str
    title: str
    description: str
    assessment_methods: str
    competencies: list[CompetencyData]


@dataclass
class CertificationData:
    """One registration (version) of a certification, as read from a file."""

    code: str
    registration: str  # ISO date the registration took effect, or "unknown"
    title: str
    level: str | None  # European level, "1".."8"
    is_active: bool
    source: str  # "portfolio" or "france_competences"
    authority: str | None
    predecessors: list[str]
    successors: list[str]
    blocks: list[BlockData]
    registered_until: str | None = None  # ISO date, when known


# --------------------------------------------------------------------------------------------
# Codes and dates
# --------------------------------------------------------------------------------------------

CERT_CODE_RE = re.compile(r"^(?:RNCP|RS)\d+$")
BLOCK_CODE_RE = re.compile(r"^[A-Z0-9]{1,32}$")
_ISO_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?$")
_FR_DATE_RE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def normalize_code(code: str) -> str:
    """Uppercase a certification or block code and drop its spaces; bare digits mean RNCP."""
    code = re.sub(r"\s+", "", code).upper()
    return f"RNCP{code}" if code.isdigit() else code


def iso_date(text: str | None) -> str | None:
    """Turn ``05/08/2018`` or ``2018-08-05[T...]`` into ``2018-08-05``; None if not a date."""
    text = (text or "").strip()
    if match := _ISO_DATE_RE.match(text):
        year, month, day = match.groups()
    elif match := _FR_DATE_RE.match(text):
        day, month, year = match.groups()
    else:
        return None
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None


def builtin_path(code: str) -> Path | None:
    """Path of the framework file shipped for ``code`` (``RNCP28754``, ``rncp28754``, ``28754``)."""
    code = normalize_code(code)
    # The code becomes a file name: only a well-formed code may reach the file system.
    if not CERT_CODE_RE.match(code):
        return None
    path = FRAMEWORKS_DIR / f"{code}.json"
    return path if path.is_file() else None
