"""CASE 1.0 CFPackage export and import (portfolio/frameworks/case.py, ``flask frameworks export|import``)."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from portfolio.extensions import db
from portfolio.frameworks.case import SCHEMA_PATH, case_identifier, export_case, parse_case
from portfolio.frameworks.formats import FrameworkFormatError, builtin_path, load_framework_file
from portfolio.models import AuditEvent, Block, Certification, Competency

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "frameworks"
FOREIGN = FIXTURES / "case_foreign_rncp35340.json"


def shipped_package() -> dict[str, Any]:
    return export_case(load_framework_file(builtin_path("RNCP28754"))[0])


def tree() -> list[tuple[str, str, list[tuple[str, str]]]]:
    cert = db.session.scalars(db.select(Certification).where(Certification.code == "RNCP28754")).one()
    return [(b.code, b.title, [(c.code, c.statement) for c in b.competencies]) for b in cert.blocks]


def identifiers(package: dict[str, Any]) -> dict[str, str]:
    ids = {item["humanCodingScheme"]: item["identifier"] for item in package["CFItems"]}
    ids["document"] = package["CFDocument"]["identifier"]
    return ids


def test_export_is_valid_against_the_shipped_schema_and_shaped_as_a_tree():
    package = shipped_package()
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert not list(Draft202012Validator(schema).iter_errors(package))
    doc = package["CFDocument"]
    assert doc["identifier"] == case_identifier("RNCP28754", "2018-08-05")
    assert doc["officialSourceURL"].endswith("/rncp/28754/")
    items = {item["identifier"]: item for item in package["CFItems"]}
    block = next(i for i in items.values() if i["humanCodingScheme"] == "RNCP28754BC01")
    assert block["CFItemType"] == "Bloc de compétences" and block["fullStatement"] == "Développement des applications"
    comp = next(i for i in items.values() if i["humanCodingScheme"] == "RNCP28754BC01-C01")
    assert comp["CFItemType"] == "Compétence" and comp["fullStatement"]
    parent = {a["originNodeURI"]["identifier"]: a["destinationNodeURI"]["identifier"]
              for a in package["CFAssociations"] if a["associationType"] == "isChildOf"}
    assert parent[comp["identifier"]] == block["identifier"] and parent[block["identifier"]] == doc["identifier"]
    assert len(parent) == len(items) == 5 + 21
    # Deterministic: a second export gives the same identifiers.
    assert identifiers(shipped_package()) == identifiers(package)


def test_round_trip_through_an_empty_database_keeps_tree_codes_and_uuids(app, runner, tmp_path):
    before = tree()
    out = tmp_path / "case.json"
    result = runner.invoke(args=["frameworks", "export", "rncp28754", "--format", "case", "--out", str(out)])
    assert result.exit_code == 0, result.output
    first = json.loads(out.read_text(encoding="utf-8"))
    stdout = runner.invoke(args=["frameworks", "export", "RNCP28754"])
    assert json.loads(stdout.output) == first

    db.session.execute(db.delete(Certification))
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count()).select_from(Competency)) == 0

    result = runner.invoke(args=["frameworks", "import", str(out)])
    assert result.exit_code == 0, result.output
    assert "RNCP28754 (2018-08-05) : créée — 5 blocs" in result.output
    db.session.expire_all()
    assert tree() == before
    again = runner.invoke(args=["frameworks", "export", "RNCP28754"])
    assert identifiers(json.loads(again.output)) == identifiers(first)
    # Importing the same file once more changes nothing.
    assert "inchangée" in runner.invoke(args=["frameworks", "import", str(out)]).output


def test_foreign_case_file_is_read_in_sequence_order_and_imported(app, runner):
    data = load_framework_file(FOREIGN)[0]
    assert (data.code, data.registration, data.source) == ("RNCP35340", "2021-02-18", "case")
    assert data.authority == "Ministère du Travail"
    assert [(b.code, b.title[:20]) for b in data.blocks] == [
        ("RNCP35340BC01", "Concevoir et dévelop"), ("RNCP35340BC02", "Concevoir et dévelop")]
    assert [(c.code, c.statement) for c in data.blocks[0].competencies] == [
        ("RNCP35340BC01-C01", "Développer une interface utilisateur de type desktop"),
        ("RNCP35340BC01-C02", "Maquetter une application"),
    ]
    result = runner.invoke(args=["frameworks", "import", str(FOREIGN)])
    assert result.exit_code == 0, result.output
    assert "RNCP35340 (2021-02-18) : créée — 2 blocs" in result.output
    assert db.session.scalar(db.select(db.func.count()).select_from(Block).join(Certification)
                             .where(Certification.code == "RNCP35340")) == 2


def _mutate(change) -> bytes:  # type: ignore[no-untyped-def]
    package = copy.deepcopy(json.loads(FOREIGN.read_text(encoding="utf-8")))
    change(package)
    return json.dumps(package).encode()


def _cycle(p: dict) -> None:
    # BC1 becomes its own grandchild: its parent is now its child BC1.1.
    p["CFAssociations"][0]["destinationNodeURI"]["identifier"] = p["CFItems"][2]["identifier"]


REFUSALS = [
    (b"{\"CFDocument\": ", "JSON mal formé"),
    (b'{"CFDocument": {}, "CFItems": [], "CFAssociations": []}', "non conforme au schéma CASE 1.0"),
    (b'{"CFDocument": ' + b"[" * 5000 + b"]" * 5000 + b"}", "imbrication JSON trop profonde"),
    (b'{"CFItems": [], "CFItems": [], "CFAssociations": [], "CFDocument": {}}', "en double"),
    (_mutate(lambda p: p["CFItems"][0].update(identifier="not-a-uuid")), "non conforme au schéma"),
    (_mutate(lambda p: p["CFAssociations"][0].update(associationType="isParentOf")), "non conforme au schéma"),
    (_mutate(lambda p: p["CFItems"][1].pop("fullStatement")), "non conforme au schéma"),
    (_mutate(lambda p: p["CFDocument"].pop("officialSourceURL")), "aucun code RNCP"),
    (_mutate(lambda p: p["CFItems"].append(dict(p["CFItems"][0]))), "en double"),
    (_mutate(lambda p: p["CFAssociations"].pop(4)), "n'a aucune compétence"),
    (_mutate(lambda p: p["CFAssociations"][1]["originNodeURI"].update(
        identifier="99999999-9999-4999-8999-999999999999")), "élément inconnu"),
    (_mutate(_cycle), "cycle"),
    (b"\xff\xfe{", "UTF-8"),
]


@pytest.mark.parametrize(("raw", "message"), REFUSALS)
def test_malformed_or_hostile_case_files_are_refused_in_one_french_line(raw, message):
    with pytest.raises(FrameworkFormatError) as info:
        parse_case(io.BytesIO(raw))
    text = str(info.value)
    assert text.startswith("Fichier CASE refusé") and message in text and "\n" not in text and len(text) < 300


def test_a_refused_case_file_imports_nothing(app, runner, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(_mutate(lambda p: p["CFAssociations"].pop(4)))
    before = (db.session.scalar(db.select(db.func.count()).select_from(Certification)),
              db.session.scalar(db.select(db.func.count()).select_from(AuditEvent)))
    result = runner.invoke(args=["frameworks", "import", str(bad)])
    assert result.exit_code == 1 and "Fichier CASE refusé" in result.output
    assert result.output.strip().count("\n") == 0
    assert (db.session.scalar(db.select(db.func.count()).select_from(Certification)),
            db.session.scalar(db.select(db.func.count()).select_from(AuditEvent))) == before


def test_export_of_an_unknown_code_is_refused(app, runner):
    result = runner.invoke(args=["frameworks", "export", "RNCP00000"])
    assert result.exit_code == 1 and "Certification inconnue" in result.output


# --- identifiers of a file made elsewhere ------------------------------------------------------------------

def _foreign_shaped() -> dict[str, Any]:
    """The foreign fixture with identifiers in upper case for some items and extra fields we do not read."""
    package = copy.deepcopy(json.loads(FOREIGN.read_text(encoding="utf-8")))
    upper = {item["identifier"]: item["identifier"].upper() for item in package["CFItems"][::2]}
    for item in package["CFItems"]:
        item["identifier"] = upper.get(item["identifier"], item["identifier"])
        item["educationLevel"] = ["06"]
        item["conceptKeywords"] = ["informatique"]
    for association in package["CFAssociations"]:
        for end in ("originNodeURI", "destinationNodeURI"):
            ident = association[end]["identifier"]
            association[end]["identifier"] = upper.get(ident, ident)
    package["CFDocument"]["subject"] = ["Développement"]
    package["CFDefinitions"] = {"CFItemTypes": []}
    return package


def _foreign_ids(package: dict[str, Any]) -> dict[str, str]:
    """Statement -> identifier as written, plus the document's."""
    ids = {item["fullStatement"]: item["identifier"] for item in package["CFItems"]}
    ids["document"] = package["CFDocument"]["identifier"]
    return ids


def _import(runner, package: dict[str, Any], tmp_path: Path, name: str = "foreign.json") -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(json.dumps(package, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(args=["frameworks", "import", str(path)])
    assert result.exit_code == 0, result.output
    return result.output


def _export(runner, code: str = "RNCP35340") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["frameworks", "export", code])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_export_of_an_imported_foreign_file_keeps_every_foreign_identifier_as_written(app, runner, tmp_path):
    foreign = _foreign_shaped()
    assert any(i["identifier"] != i["identifier"].lower() for i in foreign["CFItems"])  # the test is meaningful
    _import(runner, foreign, tmp_path)
    cert = db.session.scalars(db.select(Certification).where(Certification.code == "RNCP35340")).one()
    assert cert.case_identifier == foreign["CFDocument"]["identifier"]
    assert all(b.case_identifier for b in cert.blocks) and all(c.case_identifier for b in cert.blocks
                                                               for c in b.competencies)
    exported = _export(runner)
    assert _foreign_ids(exported) == _foreign_ids(foreign)
    # Still a valid CFPackage whose tree uses those identifiers.
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert not list(Draft202012Validator(schema).iter_errors(exported))
    parents = {a["originNodeURI"]["identifier"] for a in exported["CFAssociations"]}
    assert parents == {item["identifier"] for item in foreign["CFItems"]}
    # export(import(export(import(foreign)))) in an empty database: the same identifiers again.
    db.session.execute(db.delete(Certification))
    db.session.commit()
    _import(runner, exported, tmp_path, "again.json")
    assert _foreign_ids(_export(runner)) == _foreign_ids(foreign)


def test_reimporting_a_foreign_file_updates_by_identifier_even_when_its_items_move(app, runner, tmp_path):
    foreign = _foreign_shaped()
    _import(runner, foreign, tmp_path)
    cert = db.session.scalars(db.select(Certification).where(Certification.code == "RNCP35340")).one()
    rows_before = {c.case_identifier: c.id for b in cert.blocks for c in b.competencies}
    code_before = {c.case_identifier: c.code for b in cert.blocks for c in b.competencies}
    assert "inchangée" in _import(runner, foreign, tmp_path)

    # The other tool swaps the order of the first block's two competencies and rewords one: same items.
    changed = copy.deepcopy(foreign)
    first_block = changed["CFItems"][0]["identifier"]
    children = [a for a in changed["CFAssociations"]
                if a["destinationNodeURI"]["identifier"] == first_block]
    children[0]["sequenceNumber"], children[1]["sequenceNumber"] = (children[1]["sequenceNumber"],
                                                                    children[0]["sequenceNumber"])
    moved_id = children[0]["originNodeURI"]["identifier"]
    moved = next(i for i in changed["CFItems"] if i["identifier"] == moved_id)
    moved["fullStatement"] += " (reformulé)"
    output = _import(runner, changed, tmp_path, "changed.json")
    assert "mise à jour" in output
    db.session.expire_all()
    certs = db.session.scalars(db.select(Certification).where(Certification.code == "RNCP35340")).all()
    assert len(certs) == 1
    rows_after = {c.case_identifier: c.id for b in certs[0].blocks for c in b.competencies}
    assert rows_after == rows_before  # no duplicate, no row replaced: what refers to them survives
    row = db.session.scalars(db.select(Competency).where(Competency.case_identifier == moved_id)).one()
    # Its code follows its new place (codes are numbered in sequence order), its row stays the same.
    assert row.statement.endswith("(reformulé)") and row.code != code_before[moved_id]
    assert {c.case_identifier: c.code for b in certs[0].blocks for c in b.competencies}[moved_id] == row.code
    assert _foreign_ids(_export(runner)) == _foreign_ids(changed)


def test_our_own_identifiers_are_not_stored_and_stay_derived(app, runner, tmp_path):
    package = shipped_package()
    db.session.execute(db.delete(Certification))
    db.session.commit()
    _import(runner, package, tmp_path, "ours.json")
    cert = db.session.scalars(db.select(Certification).where(Certification.code == "RNCP28754")).one()
    assert cert.case_identifier is None
    assert all(b.case_identifier is None for b in cert.blocks)
    assert identifiers(_export(runner, "RNCP28754")) == identifiers(package)


def test_reimporting_a_foreign_file_whose_blocks_swapped_keeps_every_row(app, runner, tmp_path):
    foreign = _foreign_shaped()
    _import(runner, foreign, tmp_path)
    cert = db.session.scalars(db.select(Certification).where(Certification.code == "RNCP35340")).one()
    before = {b.case_identifier: (b.id, b.code, {c.case_identifier: c.id for c in b.competencies}) for b in cert.blocks}
    swapped = copy.deepcopy(foreign)
    doc = swapped["CFDocument"]["identifier"]
    tops = [a for a in swapped["CFAssociations"] if a["destinationNodeURI"]["identifier"] == doc]
    tops[0]["sequenceNumber"], tops[1]["sequenceNumber"] = tops[1]["sequenceNumber"], tops[0]["sequenceNumber"]
    assert "mise à jour" in _import(runner, swapped, tmp_path, "swapped.json")
    db.session.expire_all()
    cert = db.session.scalars(db.select(Certification).where(Certification.code == "RNCP35340")).one()
    after = {b.case_identifier: (b.id, b.code, {c.case_identifier: c.id for c in b.competencies}) for b in cert.blocks}
    assert {k: (v[0], v[2]) for k, v in after.items()} == {k: (v[0], v[2]) for k, v in before.items()}
    assert {k: v[1] for k, v in after.items()} != {k: v[1] for k, v in before.items()}  # codes follow the order
    assert [b.code for b in cert.blocks] == ["RNCP35340BC01", "RNCP35340BC02"]
    assert all(c.code.startswith(b.code + "-") for b in cert.blocks for c in b.competencies)
