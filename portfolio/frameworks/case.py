"""1EdTech CASE 1.0 ``CFPackage`` JSON: export a certification, read one (ours or made elsewhere).

Mapping (both ways)::

    CFDocument  = the fiche: title, officialSourceURL (France Compétences page, which names the code),
                  statusStartDate = the registration date, statusEndDate, publisher = the authority
    CFItem      = a block (CFItemType "Bloc de compétences") or a competency ("Compétence"), with
                  humanCodingScheme = our code and fullStatement = the block title or competency statement
    CFAssociation "isChildOf": competency -> block -> document, sequenceNumber = order in the fiche

Identifiers are UUIDs derived with uuid5 from a fixed namespace, the certification code, its
registration and the item code: exporting the same certification again, or after an import into
another database, gives the same identifiers. A file made elsewhere keeps its own: the CFDocument and CFItem
identifiers that are not the derived ones are carried by :class:`CaseCertificationData` and friends,
stored at import and written back unchanged at export. A file is validated against the schema shipped beside
this module (``case-cfpackage.schema.json``, the subset of CASE 1.0 that is read) before anything
is read from it; every refusal is a :class:`FrameworkFormatError` with one French line.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import IO, Any

from jsonschema import Draft202012Validator

from portfolio.frameworks.model import (
    MAX_JSON_BYTES,
    BlockData,
    CertificationData,
    CompetencyData,
    FrameworkFormatError,
    normalize_code,
)

__all__ = ["CASE_NAMESPACE", "CaseBlockData", "CaseCertificationData", "CaseCompetencyData", "case_identifier",
           "export_case", "is_case_document", "parse_case"]

SCHEMA_PATH = Path(__file__).resolve().parent / "case-cfpackage.schema.json"
# Fixed forever: changing it would change every identifier ever exported.
CASE_NAMESPACE = uuid.UUID("6f2b8a52-35c1-5d0e-9a7e-2f1c0b6d4e11")
BLOCK_TYPE = "Bloc de compétences"
COMPETENCY_TYPE = "Compétence"
MAX_DEPTH = 64  # JSON nesting accepted before parsing (a CFPackage needs 4)

_RNCP_URL_RE = re.compile(r"/(rncp|rs)/(\d+)(?:/|$)", re.I)
_CERT_PREFIX_RE = re.compile(r"^((?:RNCP|RS)\d+)BC\d+", re.I)


@dataclass
class CaseCompetencyData(CompetencyData):
    """A competency read from (or written to) CASE: ``case_identifier`` is the CFItem identifier of a file
    made elsewhere, as it was written (None when it is ours, derived from the codes)."""

    case_identifier: str | None = None


@dataclass
class CaseBlockData(BlockData):
    case_identifier: str | None = None


@dataclass
class CaseCertificationData(CertificationData):
    case_identifier: str | None = None  # the CFDocument's


def _foreign(identifier: str, derived: str) -> str | None:
    """``identifier`` as written when it is not the one we would derive, else None (ours stay derived)."""
    return None if identifier.lower() == derived else identifier


def _given(data: object, derived: str) -> str:
    """The identifier to export: the foreign one stored at import, else the derived one."""
    return getattr(data, "case_identifier", None) or derived


def case_identifier(cert_code: str, registration: str, item_code: str | None = None) -> str:
    """The stable UUID of the document (``item_code`` None) or of one of its items."""
    name = f"{cert_code}@{registration}" + (f"/{item_code}" if item_code else "")
    return str(uuid.uuid5(CASE_NAMESPACE, name))


def _official_url(code: str) -> str:
    kind = "rs" if code.startswith("RS") else "rncp"
    return f"https://www.francecompetences.fr/recherche/{kind}/{code.removeprefix(kind.upper())}/"


def export_case(data: CertificationData, *, changed_at: datetime | None = None) -> dict[str, Any]:
    """Build the CFPackage of one certification (a JSON-ready dict)."""
    stamp = (changed_at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc_id = _given(data, case_identifier(data.code, data.registration))
    document: dict[str, Any] = {
        "identifier": doc_id,
        "uri": f"urn:uuid:{doc_id}",
        "creator": data.authority or data.code,
        "title": data.title,
        "lastChangeDateTime": stamp,
        "officialSourceURL": _official_url(data.code),
        "language": "fr",
        "adoptionStatus": "Adopted" if data.is_active else "Deprecated",
    }
    if data.authority:
        document["publisher"] = data.authority
    if data.registration != "unknown":
        document["statusStartDate"] = data.registration
    if data.registered_until:
        document["statusEndDate"] = data.registered_until
    if data.level:
        document["notes"] = f"Niveau {data.level} (cadre européen)"
    doc_link = {"title": data.title, "identifier": doc_id, "uri": document["uri"]}
    document["CFPackageURI"] = dict(doc_link)

    items: list[dict[str, Any]] = []
    associations: list[dict[str, Any]] = []

    def add(source: object, code: str, kind: str, statement: str, parent: dict[str, str], position: int,
            notes: str = "") -> dict:
        identifier = _given(source, case_identifier(data.code, data.registration, code))
        item = {"identifier": identifier, "uri": f"urn:uuid:{identifier}", "fullStatement": statement,
                "humanCodingScheme": code, "CFItemType": kind, "listEnumeration": str(position),
                "language": "fr", "lastChangeDateTime": stamp, "CFDocumentURI": dict(doc_link)}
        if notes:
            item["notes"] = notes
        items.append(item)
        link = {"title": code, "identifier": identifier, "uri": item["uri"]}
        association_id = case_identifier(data.code, data.registration, f"{code}>isChildOf>{parent['identifier']}")
        associations.append({
            "identifier": association_id, "uri": f"urn:uuid:{association_id}", "associationType": "isChildOf",
            "sequenceNumber": position, "originNodeURI": link, "destinationNodeURI": dict(parent),
            "lastChangeDateTime": stamp, "CFDocumentURI": dict(doc_link),
        })
        return link

    for block_position, block in enumerate(data.blocks, start=1):
        block_link = add(block, block.code, BLOCK_TYPE, block.title, doc_link, block_position, block.description)
        for position, competency in enumerate(block.competencies, start=1):
            add(competency, competency.code, COMPETENCY_TYPE, competency.statement, block_link, position)
    return {"CFDocument": document, "CFItems": items, "CFAssociations": associations}


# --------------------------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------------------------


def is_case_document(head: bytes) -> bool:
    """Whether the first bytes of a JSON file look like a CFPackage (its first key is a CF part)."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return text.startswith(b"{") and re.match(rb'\{\s*"CF(Document|Items|Associations|PackageURI)"', text) is not None


@cache
def _validator() -> Any:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _refuse(problem: str) -> FrameworkFormatError:
    return FrameworkFormatError(f"Fichier CASE refusé : {problem}")


def _too_deep(raw: bytes) -> bool:
    """Nesting depth of the JSON text beyond MAX_DEPTH (checked before json.loads recurses)."""
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _refuse(f"clé « {key[:40]} » en double")
        result[key] = value
    return result


def parse_case(fp: IO[bytes]) -> CertificationData:
    """Read and validate one CFPackage; blocks are the document's children, competencies theirs."""
    raw = fp.read(MAX_JSON_BYTES + 1)
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > MAX_JSON_BYTES:
        raise _refuse("il dépasse 10 Mo")
    if _too_deep(raw):
        raise _refuse("imbrication JSON trop profonde")
    try:
        package = json.loads(raw, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise _refuse(f"JSON mal formé (ligne {exc.lineno}) : {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise _refuse("il doit être encodé en UTF-8") from exc
    error = next(iter(sorted(_validator().iter_errors(package), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "racine"
        raise _refuse(f"non conforme au schéma CASE 1.0 ({where[:80]}) : {error.message[:120]}")
    return _certification(package)


def _certification_code(document: dict[str, Any], items: list[dict[str, Any]]) -> str:
    """The fiche code: humanCodingScheme of the document, else its France Compétences URL, else the blocks'."""
    candidates = [document.get("humanCodingScheme", "")]
    if match := _RNCP_URL_RE.search(document.get("officialSourceURL", "")):
        candidates.append(match.group(1) + match.group(2))
    candidates += [m.group(1) for item in items if (m := _CERT_PREFIX_RE.match(item.get("humanCodingScheme", "")))]
    for candidate in candidates:
        code = normalize_code(candidate) if candidate else ""
        if re.fullmatch(r"(?:RNCP|RS)\d+", code):
            return code
    raise _refuse("aucun code RNCP ou RS (humanCodingScheme ou officialSourceURL du CFDocument)")


def _certification(package: dict[str, Any]) -> CertificationData:
    document = package["CFDocument"]
    items = package["CFItems"]
    doc_id = document["identifier"].lower()
    by_id: dict[str, dict[str, Any]] = {}
    for item in items:
        identifier = item["identifier"].lower()
        if identifier in by_id or identifier == doc_id:
            raise _refuse(f"identifiant « {identifier} » en double")
        by_id[identifier] = item

    children: dict[str, list[tuple[int, int, str]]] = {}
    parent_of: dict[str, str] = {}
    for index, association in enumerate(package["CFAssociations"]):
        if association["associationType"] != "isChildOf":
            continue
        child = association["originNodeURI"]["identifier"].lower()
        parent = association["destinationNodeURI"]["identifier"].lower()
        if child not in by_id:
            raise _refuse(f"association vers un élément inconnu « {child[:40]} »")
        if parent != doc_id and parent not in by_id:
            raise _refuse(f"association vers un parent inconnu « {parent[:40]} »")
        if child in parent_of:
            raise _refuse(f"l'élément « {child} » a plusieurs parents")
        parent_of[child] = parent
        children.setdefault(parent, []).append((association.get("sequenceNumber", index), index, child))

    code = _certification_code(document, items)
    registration = document.get("statusStartDate", "unknown")
    blocks: list[BlockData] = []
    seen_blocks: set[str] = set()
    for block_number, (_, _, block_id) in enumerate(sorted(children.get(doc_id, [])), start=1):
        item = by_id[block_id]
        block_code = normalize_code(item.get("humanCodingScheme", ""))
        if not re.fullmatch(rf"{re.escape(code)}BC\d{{2,}}", block_code) or block_code in seen_blocks:
            block_code = f"{code}BC{block_number:02d}"
        seen_blocks.add(block_code)
        competencies: list[CompetencyData] = []
        for number, (_, _, comp_id) in enumerate(sorted(children.get(block_id, [])), start=1):
            if children.get(comp_id):
                raise _refuse("plus de deux niveaux sous le document (bloc puis compétence attendus)")
            comp = by_id[comp_id]
            comp_code = comp.get("humanCodingScheme", "")
            if not re.fullmatch(rf"{re.escape(block_code)}-C\d{{2,}}", comp_code) or any(
                c.code == comp_code for c in competencies
            ):
                comp_code = f"{block_code}-C{number:02d}"
            competencies.append(CaseCompetencyData(
                code=comp_code, statement=comp["fullStatement"].strip(),
                case_identifier=_foreign(comp["identifier"], case_identifier(code, registration, comp_code))))
        if not competencies:
            raise _refuse(f"le bloc « {item['fullStatement'][:60]} » n'a aucune compétence")
        blocks.append(CaseBlockData(code=block_code, title=item["fullStatement"].strip(),
                                    description=item.get("notes", "").strip(), assessment_methods="",
                                    competencies=competencies,
                                    case_identifier=_foreign(item["identifier"],
                                                             case_identifier(code, registration, block_code))))
    if not blocks:
        raise _refuse("aucun bloc rattaché au CFDocument par une association isChildOf")
    orphans = set(by_id) - set(parent_of)
    if orphans:
        count = len(orphans)
        raise _refuse(f"{count} élément rattaché à aucun parent" if count == 1
                      else f"{count} éléments rattachés à aucun parent")
    # Elements attached below something that is not reachable from the document were never visited.
    reached = {b for _, _, b in children.get(doc_id, [])}
    reached |= {c for b in list(reached) for _, _, c in children.get(b, [])}
    if set(by_id) - reached:
        raise _refuse("des éléments ne sont pas rattachés au document (cycle ou arbre trop profond)")

    level = re.search(r"Niveau ([1-8])", document.get("notes", ""))
    end = document.get("statusEndDate")
    return CaseCertificationData(
        case_identifier=_foreign(document["identifier"], case_identifier(code, registration)),
        code=code,
        registration=registration,
        title=document["title"].strip(),
        level=level.group(1) if level else None,
        is_active=document.get("adoptionStatus", "Adopted") != "Deprecated",
        source="case",
        authority=(document.get("publisher") or "").strip() or None,
        predecessors=[],
        successors=[],
        blocks=blocks,
        registered_until=end,
    )
