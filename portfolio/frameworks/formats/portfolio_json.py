"""Our own ``portfolio-framework/1`` JSON format: one certification per file, validated strictly.

The document (unknown keys are refused, to catch typos)::

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

import json
import re
from collections.abc import Iterable
from typing import IO, Any

from portfolio.frameworks.model import (
    CERT_CODE_RE,
    FORMAT_ID,
    MAX_JSON_BYTES,
    BlockData,
    CertificationData,
    CompetencyData,
    FrameworkFormatError,
    iso_date,
)

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
    if not CERT_CODE_RE.match(code):
        raise _invalid("", f"code de certification « {code} » invalide (attendu : RNCP suivi de chiffres)")
    registration = _text(doc, "registration", code)
    if registration != "unknown" and iso_date(registration) != registration:
        raise _invalid(code, "« registration » doit être une date AAAA-MM-JJ ou « unknown »")
    registered_until = _optional_text(doc, "registered_until", code)
    if registered_until is not None and iso_date(registered_until) != registered_until:
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

