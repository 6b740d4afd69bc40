"""Read certification frameworks: our JSON format and the France Compétences open-data export.

Two inputs are understood, both turned into the same plain dataclasses:

* ``portfolio-framework/1``: our JSON, one certification per file, validated strictly (the files
  shipped next to this module, such as ``RNCP28754.json``, use it);
* the France Compétences export of RNCP/RS fiches (XML v4.1, published daily as a zip holding one
  XML file of several hundred MB). It is streamed fiche by fiche with ``defusedxml`` so that memory
  stays flat, and hostile files (DTD, entities, zip bombs) are refused.

Every refusal raises :class:`FrameworkFormatError`, whose message is one French sentence that can
be shown to the administrator as is. Nothing here touches Flask or the database.

The ``portfolio-framework/1`` JSON document (unknown keys are refused, to catch typos)::

    {
      "format": "portfolio-framework/1",          required, this exact value
      "code": "RNCP28754",                         required, RNCP or RS followed by digits
      "registration": "2018-08-05",                required, date the registration took effect
                                                   (AAAA-MM-JJ) or "unknown"
      "registered_until": "2021-12-27",            optional date
      "title": "...",                              required
      "level": "5",                                optional European level "1".."8"
      "authority": "...",                          optional certifying body
      "is_active": true,                           optional, default true
      "predecessors": ["..."], "successors": [],   optional codes or free-text labels
      "blocks": [                                  required, non-empty
        {"code": "RNCP28754BC01",                  <certification code>BCnn, unique
         "title": "...", "description": "...", "assessment_methods": "...",  (texts may be "")
         "competencies": [                         required, non-empty, in fiche order
           {"code": "RNCP28754BC01-C01",           <block code>-Cnn, unique
            "statement": "...",                    required, non-empty
            "needs_review": false}]}]              optional, default false
    }
"""

from __future__ import annotations

import html
import json
import os
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import iterparse

__all__ = [
    "FORMAT_ID",
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

FORMAT_ID = "portfolio-framework/1"
FRAMEWORKS_DIR = Path(__file__).resolve().parent

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

_CERT_CODE_RE = re.compile(r"^(?:RNCP|RS)\d+$")
_BLOCK_CODE_RE = re.compile(r"^[A-Z0-9]{1,32}$")
_ISO_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?$")
_FR_DATE_RE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def normalize_code(code: str) -> str:
    """Uppercase a certification or block code and drop its spaces; bare digits mean RNCP."""
    code = re.sub(r"\s+", "", code).upper()
    return f"RNCP{code}" if code.isdigit() else code


def _iso_date(text: str | None) -> str | None:
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
    if not _CERT_CODE_RE.match(code):
        return None
    path = FRAMEWORKS_DIR / f"{code}.json"
    return path if path.is_file() else None


# --------------------------------------------------------------------------------------------
# Entry point: any supported file
# --------------------------------------------------------------------------------------------


def load_framework_file(path: str | os.PathLike[str]) -> list[CertificationData]:
    """Read a framework file whatever its kind (our JSON, France Compétences XML or ZIP).

    The kind is sniffed from the content, not the name. Raises FrameworkFormatError.
    """
    try:
        with open(path, "rb") as fp:
            kind = _sniff(fp)
            if kind == "json":
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


# --------------------------------------------------------------------------------------------
# Our JSON format
# --------------------------------------------------------------------------------------------

_TOP_KEYS = {
    "format", "code", "registration", "registered_until", "title", "level", "authority",
    "is_active", "predecessors", "successors", "blocks",
}  # fmt: skip
_BLOCK_KEYS = {"code", "title", "description", "assessment_methods", "competencies"}
_COMPETENCY_KEYS = {"code", "statement", "needs_review"}


def parse_portfolio_json(fp: IO[bytes] | IO[str]) -> CertificationData:
    """Parse and strictly validate one ``portfolio-framework/1`` document read from ``fp``."""
    raw = fp.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise FrameworkFormatError("Fichier JSON refusé : il dépasse 10 Mo")
    try:
        document = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise FrameworkFormatError(f"Fichier JSON mal formé (ligne {exc.lineno}) : {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise FrameworkFormatError("Fichier JSON illisible : il doit être encodé en UTF-8") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT_ID:
        found = document.get("format") if isinstance(document, dict) else None
        suffix = f" « {found} »" if isinstance(found, str) else ""
        raise FrameworkFormatError(f"Format de référentiel inconnu{suffix} (attendu : {FORMAT_ID})")
    return _certification_from_json(document)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json object hook: a key given twice is a mistake that plain json.loads would hide."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise FrameworkFormatError(f"Référentiel invalide : clé « {key} » en double")
        result[key] = value
    return result


def _invalid(where: str, problem: str) -> FrameworkFormatError:
    """Build the one-line message of a validation failure located at ``where``."""
    location = f" ({where})" if where else ""
    return FrameworkFormatError(f"Référentiel invalide{location} : {problem}")


def _check_keys(obj: Any, allowed: set[str], required: Iterable[str], where: str) -> dict[str, Any]:
    """Check that ``obj`` is an object with all ``required`` keys and no unknown one."""
    if not isinstance(obj, dict):
        raise _invalid(where, "un objet JSON est attendu")
    for key in required:
        if key not in obj:
            raise _invalid(where, f"champ « {key} » manquant")
    # Unknown keys are refused: a misspelt "competences" must not silently empty a block.
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise _invalid(where, f"champ « {unknown[0]} » inconnu")
    return obj


def _text(obj: dict[str, Any], key: str, where: str, *, empty: bool = False) -> str:
    """Return the required string at ``key``, stripped; refuse it empty unless ``empty``."""
    value = obj.get(key)
    if not isinstance(value, str):
        raise _invalid(where, f"« {key} » doit être un texte")
    value = value.strip()
    if not value and not empty:
        raise _invalid(where, f"« {key} » est vide")
    return value


def _optional_text(obj: dict[str, Any], key: str, where: str) -> str | None:
    """Return the optional string at ``key``: None when absent or null, never empty."""
    return None if obj.get(key) is None else _text(obj, key, where)


def _labels(obj: dict[str, Any], key: str, where: str) -> list[str]:
    """Return the optional list of non-empty strings at ``key`` (predecessors, successors)."""
    value = obj.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _invalid(where, f"« {key} » doit être une liste de textes non vides")
    return [v.strip() for v in value]


def _certification_from_json(doc: dict[str, Any]) -> CertificationData:
    """Validate the top level of a JSON framework and build its CertificationData."""
    _check_keys(doc, _TOP_KEYS, ("format", "code", "registration", "title", "blocks"), "")
    code = _text(doc, "code", "")
    if not _CERT_CODE_RE.match(code):
        raise _invalid("", f"code de certification « {code} » invalide (attendu : RNCP suivi de chiffres)")
    registration = _text(doc, "registration", code)
    if registration != "unknown" and _iso_date(registration) != registration:
        raise _invalid(code, "« registration » doit être une date AAAA-MM-JJ ou « unknown »")
    registered_until = _optional_text(doc, "registered_until", code)
    if registered_until is not None and _iso_date(registered_until) != registered_until:
        raise _invalid(code, "« registered_until » doit être une date AAAA-MM-JJ")
    level = _optional_text(doc, "level", code)
    if level is not None and not re.fullmatch(r"[1-8]", level):
        raise _invalid(code, "« level » doit être un niveau européen de 1 à 8")
    is_active = doc.get("is_active", True)
    if not isinstance(is_active, bool):
        raise _invalid(code, "« is_active » doit valoir true ou false")
    blocks_json = doc["blocks"]
    if not isinstance(blocks_json, list) or not blocks_json:
        raise _invalid(code, "« blocks » doit être une liste non vide")

    blocks: list[BlockData] = []
    seen: set[str] = set()
    for index, block_json in enumerate(blocks_json, start=1):
        block = _block_from_json(block_json, code, f"bloc {index}")
        for item_code in [block.code, *(c.code for c in block.competencies)]:
            if item_code in seen:
                raise _invalid(code, f"code « {item_code} » en double")
            seen.add(item_code)
        blocks.append(block)

    return CertificationData(
        code=code,
        registration=registration,
        title=_text(doc, "title", code),
        level=level,
        is_active=is_active,
        source="portfolio",
        authority=_optional_text(doc, "authority", code),
        predecessors=_labels(doc, "predecessors", code),
        successors=_labels(doc, "successors", code),
        blocks=blocks,
        registered_until=registered_until,
    )


def _block_from_json(obj: Any, cert_code: str, where: str) -> BlockData:
    """Validate one block object; its code must extend the certification code (``...BC01``)."""
    _check_keys(obj, _BLOCK_KEYS, sorted(_BLOCK_KEYS), where)
    code = _text(obj, "code", where)
    if not re.fullmatch(rf"{re.escape(cert_code)}BC\d{{2,}}", code):
        raise _invalid(where, f"code de bloc « {code} » invalide (attendu : {cert_code}BC01, ...)")
    competencies_json = obj["competencies"]
    if not isinstance(competencies_json, list) or not competencies_json:
        raise _invalid(code, "« competencies » doit être une liste non vide")
    competencies = [
        _competency_from_json(item, code, f"{code}, compétence {index}")
        for index, item in enumerate(competencies_json, start=1)
    ]
    return BlockData(
        code=code,
        title=_text(obj, "title", code),
        description=_text(obj, "description", code, empty=True),
        assessment_methods=_text(obj, "assessment_methods", code, empty=True),
        competencies=competencies,
    )


def _competency_from_json(obj: Any, block_code: str, where: str) -> CompetencyData:
    """Validate one competency object: code ``<BLOCK>-Cnn`` and a non-empty statement."""
    _check_keys(obj, _COMPETENCY_KEYS, ("code", "statement"), where)
    code = _text(obj, "code", where)
    if not re.fullmatch(rf"{re.escape(block_code)}-C\d{{2,}}", code):
        raise _invalid(where, f"code de compétence « {code} » invalide (attendu : {block_code}-C01, ...)")
    needs_review = obj.get("needs_review", False)
    if not isinstance(needs_review, bool):
        raise _invalid(where, "« needs_review » doit valoir true ou false")
    return CompetencyData(code=code, statement=_text(obj, "statement", where), needs_review=needs_review)


# --------------------------------------------------------------------------------------------
# Free text of the fiches: HTML, bullets and separators
# --------------------------------------------------------------------------------------------

_DROPPED_MARKUP_RE = re.compile(r"<!--.*?-->|<(script|style)\b.*?</\1\s*>", re.I | re.S)
_LI_OPEN_RE = re.compile(r"<li\b[^>]*>", re.I)
_BREAK_TAG_RE = re.compile(
    r"</?(?:p|div|br|li|ul|ol|h[1-6]|tr|td|th|table|dl|dt|dd|section|blockquote)\b[^>]*>", re.I
)
# A tag starts right after "<": "a < b et c > d" in plain text is left alone.
_ANY_TAG_RE = re.compile(r"</?[a-zA-Z][^<>]*>")
# Unambiguous bullet glyphs, which may also start items in the middle of a flattened line.
_INLINE_BULLETS = "•●▪■►▶➢➤✓✔◆◦○"
_INLINE_BULLET_RE = re.compile(rf"\s*[{_INLINE_BULLETS}]\s*")
# The fiches separate items with runs of spaces; two spaces count only after punctuation, so
# that an accidental double space inside a sentence does not cut it.
_SPACE_RUN_RE = re.compile(r" {3,}|(?<=[.;:!?]) {2,}")
_BULLET_RE = re.compile(
    r"^(?:"
    rf"[-–—‐‑−*{_INLINE_BULLETS}▸▹‣⁃→]+"  # dashes, stars and bullet glyphs
    r"|[·o](?=\s)"  # Word's bullets; "·" alone, as it also writes inclusive French (apprenant·e)
    r"|\(?\d{1,2}(?:\.\d{1,2})+\.?(?=\s)"  # 1.2  1.2.
    r"|\(?\d{1,2}\s?[.)°\-–](?=\s|$)"  # 1.  1)  1°  1 -
    r"|\d{1,2}[.)](?=[A-ZÀ-Ý])"  # 1.Analyser
    r"|\(\d{1,2}\)"  # (1)
    r"|\(?(?:[a-zA-Z]|ii|iii|iv|vi|vii|viii|ix)[.)](?=\s)"  # a)  a.  (a)  ii)
    r")\s*"
)
_ENUM_START_RE = re.compile(r"^\(?(\d{1,2}|[a-zA-Z])([.)])\s")
_INLINE_DASH_RE = re.compile(r"\s[-–]\s+(?=[A-ZÀ-ÖØ-Ý][a-zà-öø-ÿ])")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=[«\"(]?[A-ZÀ-ÖØ-Ý])|(?<=;)\s+")
_ENDS_ITEM_RE = re.compile(r"[.;!?]$")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_SPACES = dict.fromkeys(map(ord, "\t\u00a0\u2007\u202f\u2009\u200a\u3000"), " ")


def _html_to_lines(text: str) -> list[str]:
    """Turn fiche text (plain, HTML, or HTML escaped once more) into its non-empty raw lines.

    Block-level tags and runs of spaces become line breaks, ``<li>`` opens a bulleted line,
    other tags vanish; whitespace inside a line is left for the callers to collapse.
    """
    if "&" in text:
        # After XML parsing, escaped HTML (&lt;li&gt;) is still escaped once; entities too.
        text = html.unescape(text)
    text = _DROPPED_MARKUP_RE.sub(" ", text)
    text = _LI_OPEN_RE.sub("\n• ", text)
    text = _BREAK_TAG_RE.sub("\n", text)
    text = _ANY_TAG_RE.sub("", text)
    text = text.translate(_INVISIBLE).translate(_SPACES).replace("\r\n", "\n").replace("\r", "\n")
    text = _INLINE_BULLET_RE.sub(lambda m: f"\n{m.group().strip()} ", text)
    lines: list[str] = []
    for line in text.split("\n"):
        lines.extend(piece.strip() for piece in _SPACE_RUN_RE.split(line) if piece.strip())
    return lines


def _squash(text: str) -> str:
    """Collapse every whitespace run to one space."""
    return " ".join(text.split())


def clean_text(text: str | None) -> str:
    """Plain text of a fiche field: no HTML, one item per line, single spaces inside lines."""
    return "\n".join(_squash(line) for line in _html_to_lines(text or ""))


def _next_marker(marker: str) -> str:
    """The enumeration marker after ``marker``: 1 → 2, a → b."""
    return str(int(marker) + 1) if marker.isdigit() else chr(ord(marker) + 1)


def _split_enumeration(line: str) -> list[str]:
    """Cut ``1. A 2. B 3. C`` (or ``a) A b) B``) written on one line at its successive markers.

    Only the next expected marker is looked for, so a "2." inside a sentence is left alone
    unless the line really started an enumeration at 1.
    """
    match = _ENUM_START_RE.match(line)
    if not match:
        return [line]
    marker, terminator = match.groups()
    pieces: list[str] = []
    start = 0
    while True:
        marker = _next_marker(marker)
        found = re.compile(rf"\s\(?{re.escape(marker)}{re.escape(terminator)}\s").search(line, start + 1)
        if not found:
            break
        pieces.append(line[start : found.start()])
        start = found.start() + 1
    pieces.append(line[start:])
    return pieces


def _split_inline(line: str) -> list[str]:
    """Cut one raw line into the items that were flattened onto it (enumerations, dash lists)."""
    pieces = _split_enumeration(line)
    if len(pieces) == 1 and line[:1] in "-–" and _INLINE_DASH_RE.search(line):
        # "- Analyser X - Concevoir Y": a dash list that lost its line breaks.
        pieces = [f"- {piece}" for piece in _INLINE_DASH_RE.split(line)]
    return pieces


def _strip_bullet(piece: str) -> tuple[bool, str]:
    """Remove the leading bullet(s) of ``piece``; tell whether there was one."""
    bulleted = False
    for _ in range(2):  # "- 1. Analyser" carries two markers
        match = _BULLET_RE.match(piece)
        if not match or not match.group():
            break
        bulleted = True
        piece = piece[match.end() :]
    return bulleted, piece


def _tidy(content: str) -> str:
    """Collapse spaces and drop the list punctuation an item ends with (``;``, ``,``)."""
    return _squash(content).rstrip(" ;,")


def _collect_items(lines: list[str]) -> list[str]:
    """Gather raw lines into competency statements (bullets, headings, continuations)."""
    items: list[str] = []
    pending_bullet = False  # a bullet alone on its line introduces the next line
    can_continue = False  # the previous line may go on on the next one
    for line in lines:
        for piece in _split_inline(line):
            bulleted, content = _strip_bullet(piece.strip())
            ended = bool(_ENDS_ITEM_RE.search(content.strip()))
            content = _tidy(content)
            if not any(ch.isalpha() for ch in content):
                pending_bullet = pending_bullet or bulleted
                continue
            if content.endswith(":"):
                # "Compétences :", "Le titulaire est capable de :": an introduction, not an item.
                pending_bullet = can_continue = False
                continue
            is_bullet = bulleted or pending_bullet
            pending_bullet = False
            if not is_bullet and can_continue and items and content[0].islower():
                items[-1] = f"{items[-1]} {content}"
            else:
                items.append(content)
            can_continue = not ended
    return items


def split_competencies(text: str | None) -> tuple[list[str], bool]:
    """Split a ``LISTE_COMPETENCES`` text into competency statements.

    Tolerates the bullet styles found in the fiches (``-``, ``*``, ``•``, ``o``, ``–``, ``1.``,
    ``1)``, ``a)``), HTML lists and paragraphs (even escaped), runs of spaces used as separators,
    headings ending with ``:`` and lines wrapped mid-sentence. A text with no visible structure is
    cut into sentences. Returns ``(items, ok)``; when ``ok`` is False the text could not be split
    sensibly: ``items`` then holds the whole cleaned text as one item, or nothing at all when the
    text has no statement (empty, or only headings and bullets).
    """
    lines = _html_to_lines(text or "")
    items = _collect_items(lines)
    if len(items) == 1:
        sentences = [_tidy(s) for s in _SENTENCE_END_RE.split(items[0])]
        sentences = [s for s in sentences if any(ch.isalpha() for ch in s)]
        if len(sentences) > 1:
            items = sentences
        elif len(items[0]) > MAX_UNSPLIT_CHARS:
            return [clean_text(text)], False
    if not items:
        return [], False
    if any(len(item) > MAX_STATEMENT_CHARS for item in items):
        return [clean_text(text)], False
    return items, True


# --------------------------------------------------------------------------------------------
# France Compétences export (XML v4.1, possibly zipped)
# --------------------------------------------------------------------------------------------

_EXPAT_MESSAGES = {
    "mismatched tag": "balise fermante inattendue",
    "not well-formed (invalid token)": "caractère ou balise invalide",
    "no element found": "fichier vide ou tronqué",
    "unclosed token": "élément non fermé",
    "junk after document element": "contenu après l'élément racine",
    "undefined entity": "entité non définie",
    "syntax error": "erreur de syntaxe",
    "unbound prefix": "préfixe d'espace de noms non déclaré",
    "duplicate attribute": "attribut en double",
}


def iter_france_competences(
    source: str | os.PathLike[str] | IO[bytes], only: Iterable[str] | None = None
) -> Iterator[CertificationData]:
    """Stream the certifications of a France Compétences export (``.xml`` or ``.zip``).

    ``source`` is a path or a binary file object (seekable if it is a zip). ``only`` keeps the
    fiches whose NUMERO_FICHE is listed (``RNCP35340`` or ``35340``); iteration stops once all
    were found. Raises FrameworkFormatError, possibly after some fiches were yielded: callers
    must consume the whole iteration before storing anything.
    """
    if isinstance(only, str):
        only = {only}
    wanted = {normalize_code(code) for code in only} if only is not None else None
    try:
        with _open_export(source) as stream:
            yield from _iter_fiches(stream, wanted)
    except ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        reason = str(exc).split(":", 1)[0]
        where = f"ligne {line}, colonne {column + 1}"
        raise FrameworkFormatError(
            f"Fichier XML mal formé ({where}) : {_EXPAT_MESSAGES.get(reason, reason)}"
        ) from exc
    except (DTDForbidden, EntitiesForbidden) as exc:
        raise FrameworkFormatError("Fichier refusé : entités XML interdites (DTD)") from exc
    except ExternalReferenceForbidden as exc:
        raise FrameworkFormatError("Fichier refusé : références externes interdites") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise FrameworkFormatError("Archive ZIP corrompue : le fichier XML ne peut pas être lu") from exc


@contextmanager
def _open_export(source: str | os.PathLike[str] | IO[bytes]) -> Iterator[IO[bytes]]:
    """Yield a binary stream of the export's XML, opening the file and the zip as needed."""
    if isinstance(source, str | os.PathLike):
        try:
            fp = open(source, "rb")  # noqa: SIM115 - closed by the with below, around the yield
        except OSError as exc:
            raise FrameworkFormatError(f"Fichier illisible : {exc.strerror or exc}") from exc
        with fp, _xml_stream(fp) as stream:
            yield stream
    else:
        with _xml_stream(source) as stream:
            yield stream


def _peek(fp: IO[bytes], size: int) -> bytes:
    """Read the first bytes of ``fp`` without consuming them (empty if that is impossible)."""
    peek = getattr(fp, "peek", None)
    if peek is not None:
        return bytes(peek(size)[:size])
    if fp.seekable():
        position = fp.tell()
        head = fp.read(size)
        fp.seek(position)
        return head
    return b""


@contextmanager
def _xml_stream(fp: IO[bytes]) -> Iterator[IO[bytes]]:
    """Yield ``fp`` itself, or the stream of the single XML member if ``fp`` is a zip."""
    if not _peek(fp, 4).startswith(ZIP_MAGIC):
        yield fp
        return
    try:
        archive = zipfile.ZipFile(fp)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FrameworkFormatError("Archive ZIP illisible") from exc
    with archive:
        member = _single_xml_member(archive)
        # Streamed, never extracted: zipfile stops at the declared size and checks the CRC.
        with archive.open(member) as stream:
            yield stream


def _single_xml_member(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    """Return the one XML member of the export zip after checking it is safe to decompress."""
    members = [
        info
        for info in archive.infolist()
        if not info.is_dir()
        and info.filename.lower().endswith(".xml")
        and not info.filename.startswith("__MACOSX/")
    ]
    if len(members) != 1:
        raise FrameworkFormatError(
            f"Archive ZIP refusée : elle doit contenir exactement un fichier XML (trouvés : {len(members)})"
        )
    member = members[0]
    if member.flag_bits & 0x1:
        raise FrameworkFormatError("Archive ZIP refusée : fichier chiffré")
    if member.file_size > MAX_XML_BYTES:
        raise FrameworkFormatError("Archive ZIP refusée : le fichier XML dépasse 2 Gio une fois décompressé")
    if member.file_size > MAX_COMPRESSION_RATIO * max(member.compress_size, 1):
        raise FrameworkFormatError(
            "Archive ZIP refusée : taux de compression anormal (bombe de décompression ?)"
        )
    return member


def _local(tag: Any) -> str:
    """Element name without its namespace (the export has none today; be ready if it gains one)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _iter_fiches(stream: IO[bytes], wanted: set[str] | None) -> Iterator[CertificationData]:
    """Parse ``stream`` incrementally, yielding each wanted FICHE and dropping it from the tree."""
    remaining = set(wanted) if wanted is not None else None
    open_elements: list[Element] = []
    for event, elem in iterparse(stream, events=("start", "end"), forbid_dtd=True):
        if event == "start":
            if not open_elements and (root := _local(elem.tag)) != "FICHES":
                raise FrameworkFormatError(
                    f"Format de référentiel inconnu : élément racine « {root} » au lieu de « FICHES »"
                )
            open_elements.append(elem)
            continue
        open_elements.pop()
        is_fiche = _local(elem.tag) == "FICHE"
        certification = _fiche_if_wanted(elem, wanted) if is_fiche else None
        if open_elements and (is_fiche or len(open_elements) == 1):
            # Forget what was read, so memory stays flat over a file of hundreds of MB.
            elem.clear()
            open_elements[-1].remove(elem)
        if certification is not None:
            yield certification
            if remaining is not None:
                remaining.discard(certification.code)
                if not remaining:
                    return


def _child_map(elem: Element) -> dict[str, Element]:
    """Direct children of ``elem`` by local name (first occurrence wins)."""
    children: dict[str, Element] = {}
    for child in elem:
        children.setdefault(_local(child.tag), child)
    return children


def _find(elem: Element | None, name: str) -> Element | None:
    """The direct child ``name`` of ``elem``, or ``elem`` itself when it has no such child."""
    if elem is None:
        return None
    return _child_map(elem).get(name, elem)


def _inner_markup(elem: Element | None) -> str:
    """Text of ``elem``, keeping embedded child elements as tags so that HTML structure survives."""
    if elem is None:
        return ""
    parts = [elem.text or ""]
    for child in elem:
        name = _local(child.tag)
        parts.append(f"<{name}>{_inner_markup(child)}</{name}>{child.tail or ''}")
    return "".join(parts)


def _plain(elem: Element | None) -> str:
    """One-line plain text of an element (titles, names, codes)."""
    return _squash(clean_text(_inner_markup(elem)).replace("\n", " "))


def _fiche_codes(fiche: Element, tag: str) -> list[str]:
    """Fiche codes found in every ``tag`` element of a fiche, wherever the export nests them."""
    codes: list[str] = []
    for elem in fiche.iter():
        if _local(elem.tag) != tag:
            continue
        text = _plain(elem)
        found = re.findall(r"\b(?:RNCP|RS)\s*\d+\b", text, re.I) or ([text] if text.isdigit() else [])
        codes.extend(code for code in map(normalize_code, found) if code not in codes)
    return codes


def _is_active(children: dict[str, Element], registered_until: str | None) -> bool:
    """ACTIF (Oui/Non) when given, else whether the registration has not yet ended."""
    if "ACTIF" in children:
        return _plain(children["ACTIF"]).lower() in {"oui", "true", "1", "active", "actif"}
    return registered_until is None or registered_until >= date.today().isoformat()


def _authority(certificateurs: Element | None) -> str | None:
    """Names of the certifying bodies (NOM_CERTIFICATEUR), joined with " ; " when several."""
    names: list[str] = []
    for elem in certificateurs.iter() if certificateurs is not None else ():
        if _local(elem.tag) == "NOM_CERTIFICATEUR" and (name := _plain(elem)) and name not in names:
            names.append(name)
    return " ; ".join(names) or None


def _fiche_if_wanted(fiche: Element, wanted: set[str] | None) -> CertificationData | None:
    """Build the CertificationData of a FICHE element, or None if ``wanted`` excludes it."""
    children = _child_map(fiche)
    code = normalize_code(_plain(children.get("NUMERO_FICHE")))
    if wanted is not None:
        if code not in wanted:
            return None
    elif not code:
        raise FrameworkFormatError("Fiche sans NUMERO_FICHE dans le fichier")
    if not _CERT_CODE_RE.match(code):
        raise FrameworkFormatError(
            f"Fiche refusée : numéro « {code[:40]} » invalide (attendu : RNCP ou RS suivi de chiffres)"
        )
    title = _plain(children.get("INTITULE"))
    if not title:
        raise FrameworkFormatError(f"Fiche {code} sans intitulé (INTITULE)")
    level = re.search(r"[1-8]", _plain(_find(children.get("NOMENCLATURE_EUROPE"), "NIVEAU")))
    start = _plain(children.get("DATE_EFFET", children.get("DATE_DEBUT_ENREGISTREMENT")))
    registered_until = _iso_date(_plain(children.get("DATE_FIN_ENREGISTREMENT")))
    return CertificationData(
        code=code,
        registration=_iso_date(start) or "unknown",
        title=title,
        level=level.group() if level else None,
        is_active=_is_active(children, registered_until),
        source="france_competences",
        authority=_authority(children.get("CERTIFICATEURS")),
        predecessors=_fiche_codes(fiche, "ANCIENNE_CERTIFICATION"),
        successors=_fiche_codes(fiche, "NOUVELLE_CERTIFICATION"),
        blocks=_fiche_blocks(code, children.get("BLOCS_COMPETENCES")),
        registered_until=registered_until,
    )


def _fiche_blocks(cert_code: str, blocks_elem: Element | None) -> list[BlockData]:
    """The BLOC_COMPETENCES of a fiche, with codes normalised and made unique."""
    if blocks_elem is None:
        return []
    blocks: list[BlockData] = []
    seen: set[str] = set()
    for index, bloc in enumerate((b for b in blocks_elem if _local(b.tag) == "BLOC_COMPETENCES"), start=1):
        fields = _child_map(bloc)
        code = normalize_code(_plain(fields.get("CODE")))
        if not _BLOCK_CODE_RE.match(code):  # missing or not a code: number it like the fiche does
            code = f"{cert_code}BC{index:02d}"
        if code in seen:  # a repeated code must neither merge two blocks nor drop one
            code = f"{code}-{index}"
        seen.add(code)
        title = _plain(fields.get("LIBELLE")).rstrip(" .") or f"Bloc {code}"
        raw_list = _inner_markup(fields.get("LISTE_COMPETENCES"))
        blocks.append(
            BlockData(
                code=code,
                title=title,
                description=clean_text(raw_list),
                assessment_methods=clean_text(_inner_markup(fields.get("MODALITES_EVALUATION"))),
                competencies=_block_competencies(code, title, raw_list),
            )
        )
    return blocks


def _block_competencies(block_code: str, title: str, raw_list: str) -> list[CompetencyData]:
    """Competencies of an imported block; an unsplittable list becomes one item to review."""
    statements, ok = split_competencies(raw_list)
    if not statements:
        # An empty list still needs something to tag evidence against: the block title.
        statements, ok = [title], False
    return [
        CompetencyData(code=f"{block_code}-C{number:02d}", statement=statement, needs_review=not ok)
        for number, statement in enumerate(statements, start=1)
    ]
