"""The France Compétences export of RNCP/RS fiches (XML v4.1, published daily as a zip holding one
XML file of several hundred MB).

It is streamed fiche by fiche with ``defusedxml`` so that memory stays flat, and hostile files (DTD,
entities, zip bombs) are refused.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import iterparse

from portfolio.frameworks.formats.fiche_text import clean_text, split_competencies, squash
from portfolio.frameworks.model import (
    BLOCK_CODE_RE,
    CERT_CODE_RE,
    MAX_COMPRESSION_RATIO,
    MAX_XML_BYTES,
    ZIP_MAGIC,
    BlockData,
    CertificationData,
    CompetencyData,
    FrameworkFormatError,
    iso_date,
    normalize_code,
)

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
    return squash(clean_text(_inner_markup(elem)).replace("\n", " "))


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
    if not CERT_CODE_RE.match(code):
        raise FrameworkFormatError(
            f"Fiche refusée : numéro « {code[:40]} » invalide (attendu : RNCP ou RS suivi de chiffres)"
        )
    title = _plain(children.get("INTITULE"))
    if not title:
        raise FrameworkFormatError(f"Fiche {code} sans intitulé (INTITULE)")
    level = re.search(r"[1-8]", _plain(_find(children.get("NOMENCLATURE_EUROPE"), "NIVEAU")))
    start = _plain(children.get("DATE_EFFET", children.get("DATE_DEBUT_ENREGISTREMENT")))
    registered_until = iso_date(_plain(children.get("DATE_FIN_ENREGISTREMENT")))
    return CertificationData(
        code=code,
        registration=iso_date(start) or "unknown",
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
        if not BLOCK_CODE_RE.match(code):  # missing or not a code: number it like the fiche does
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
