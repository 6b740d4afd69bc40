"""Read certification frameworks: our JSON format and the France Compétences open-data export.

Two inputs are understood, both turned into the same plain dataclasses:

* ``portfolio-framework/1``: our JSON, one certification per file, validated strictly (the files
  shipped next to this module, such as ``RNCP28754.json``, use it);
* the France Compétences export of RNCP/RS fiches (XML v4.1, published daily as a zip holding one
  XML file of several hundred MB). It is streamed fiche by fiche with ``defusedxml`` so that memory
  stays flat, and hostile files (DTD, entities, zip bombs) are refused.

Every refusal raises :class:`FrameworkFormatError`, whose message is one French sentence that can
be shown to the administrator as is. Nothing here touches Flask or the database.

One module per format: ``portfolio_json`` (with its document described at its top),
``france_competences`` (and ``fiche_text``, the cutting of its free text into statements), and
``portfolio.frameworks.case`` for CASE 1.0; the data they all read into is ``portfolio.frameworks.model``.
This package re-exports their public names and picks the reader of a file by its content.
"""

from __future__ import annotations

import os
from typing import IO

from portfolio.frameworks.case import is_case_document, parse_case
from portfolio.frameworks.formats.fiche_text import clean_text, split_competencies
from portfolio.frameworks.formats.france_competences import iter_france_competences
from portfolio.frameworks.formats.portfolio_json import parse_portfolio_json
from portfolio.frameworks.model import (
    FORMAT_ID,
    FRAMEWORKS_DIR,
    MAX_COMPRESSION_RATIO,
    MAX_JSON_BYTES,
    MAX_STATEMENT_CHARS,
    MAX_UNSPLIT_CHARS,
    MAX_XML_BYTES,
    ZIP_MAGIC,
    BlockData,
    CertificationData,
    CompetencyData,
    FrameworkFormatError,
    builtin_path,
    normalize_code,
)

__all__ = [
    "FORMAT_ID",
    "FRAMEWORKS_DIR",
    "MAX_COMPRESSION_RATIO",
    "MAX_JSON_BYTES",
    "MAX_STATEMENT_CHARS",
    "MAX_UNSPLIT_CHARS",
    "MAX_XML_BYTES",
    "ZIP_MAGIC",
    "BlockData",
    "CertificationData",
    "CompetencyData",
    "FrameworkFormatError",
    "builtin_path",
    "clean_text",
    "iter_france_competences",
    "load_framework_file",
    "normalize_code",
    "parse_portfolio_json",
    "split_competencies",
]

# --------------------------------------------------------------------------------------------
# Entry point: any supported file
# --------------------------------------------------------------------------------------------


def load_framework_file(path: str | os.PathLike[str]) -> list[CertificationData]:
    """Read a framework file whatever its kind (our JSON, CASE 1.0 JSON, France Compétences XML or ZIP).

    The kind is sniffed from the content, not the name. Raises FrameworkFormatError.
    """
    try:
        with open(path, "rb") as fp:
            kind = _sniff(fp)
            if kind == "json":
                if is_case_document(fp.read(512)):
                    fp.seek(0)
                    return [parse_case(fp)]
                fp.seek(0)
                return [parse_portfolio_json(fp)]
            certifications = list(iter_france_competences(fp))
    except OSError as exc:
        raise FrameworkFormatError(f"Fichier illisible : {exc.strerror or exc}") from exc
    if not certifications:
        raise FrameworkFormatError("Aucune fiche de certification trouvée dans le fichier")
    return certifications


def _sniff(fp: IO[bytes]) -> str:
    """Return "json", "xml" or "zip" from the first bytes of a seekable binary file."""
    head = fp.read(512)
    fp.seek(0)
    if head.startswith(ZIP_MAGIC):
        return "zip"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"{"):
        return "json"
    if text.startswith(b"<") or head.startswith((b"\xff\xfe<\x00", b"\xfe\xff\x00<")):
        return "xml"
    raise FrameworkFormatError("Format de référentiel inconnu : ni JSON, ni XML, ni ZIP")
