"""Files are what they say: a program (Windows PE, ELF, Mach-O, a shebang script named as a document) is
refused whatever kind of evidence it is uploaded as, by its content, with a French message; an archive
that holds one says so."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import date

import pytest
from sqlalchemy import func, select

from portfolio.extensions import db
from portfolio.models import Blob, EvidenceFile
from portfolio.services.errors import DomainError
from portfolio.services.evidence import Upload, create_evidence
from portfolio.storage.sniff import ELF, MACHO, PE, SCRIPT, executable_kind, sniff_media_type

PE_BYTES = b"MZ" + b"\0" * 58 + (64).to_bytes(4, "little") + b"PE\0\0" + b"\0" * 200
ELF_BYTES = b"\x7fELF\x02\x01\x01" + b"\0" * 100
MACHO_BYTES = b"\xcf\xfa\xed\xfe" + b"\0" * 100
SCRIPT_BYTES = b"#!/bin/sh\nrm -rf ~\n"


@pytest.mark.parametrize(("data", "name", "expected"), [
    (PE_BYTES, "rapport.pdf", PE), (ELF_BYTES, "notes.txt", ELF), (MACHO_BYTES, "app", MACHO),
    (b"\xca\xfe\xba\xbe\x00\x00\x00\x02" + b"\0" * 50, "universal", MACHO),
    (SCRIPT_BYTES, "rapport.pdf", SCRIPT), (SCRIPT_BYTES, "capture.PNG", SCRIPT),
    (SCRIPT_BYTES, "deploy.sh", None), (SCRIPT_BYTES, "deploy", None),
    (b"\xca\xfe\xba\xbe\x00\x00\x00\x37" + b"\0" * 50, "Main.class", None),  # a Java class file
    (b"MZ est un texte", "a.txt", None), (b"%PDF-1.7\n", "a.pdf", None),
])
def test_programs_are_recognised_by_their_bytes(data, name, expected):  # type: ignore[no-untyped-def]
    assert executable_kind(data, name) == expected
    if expected:
        assert sniff_media_type(data, name) == expected


@pytest.mark.parametrize("kind", ["code", "document", "other", "uml"])
@pytest.mark.parametrize(("data", "name", "what"), [
    (PE_BYTES, "setup.exe", "exécutable Windows"), (PE_BYTES, "rapport.pdf", "exécutable Windows"),
    (ELF_BYTES, "main.py", "exécutable Linux (ELF)"), (MACHO_BYTES, "app", "exécutable macOS (Mach-O)"),
    (SCRIPT_BYTES, "cv.docx", "script exécutable déguisé en document"),
])
def test_an_executable_is_refused_whatever_its_kind(app, world, kind, data, name, what):  # type: ignore[no-untyped-def]
    from portfolio.storage import get_storage

    with pytest.raises(DomainError) as refused:
        create_evidence(world.learner, title="Mon programme", kind=kind, context="project",
                        occurred_on=date(2026, 1, 5), uploads=[Upload(name, io.BytesIO(data))])
    assert f"« {name} » est un programme ({what}), pas une preuve" in refused.value.message
    assert refused.value.field == "files"
    db.session.rollback()
    assert db.session.scalar(select(func.count(EvidenceFile.id))) == 0
    assert db.session.scalar(select(func.count(Blob.id))) == 0
    sha = hashlib.sha256(data).hexdigest()
    assert [o.key for o in get_storage().iter_objects() if sha in o.key] == []  # nothing left in the store


def test_a_script_named_as_code_is_kept(app, world):  # type: ignore[no-untyped-def]
    item = create_evidence(world.learner, title="Script de déploiement", kind="code", context="project",
                           occurred_on=date(2026, 1, 5), uploads=[Upload("deploy.sh", io.BytesIO(SCRIPT_BYTES))])
    assert item.files[0].blob.media_type == "text/plain"


def test_the_upload_page_says_it_in_french(app, client, world, login):  # type: ignore[no-untyped-def]
    login(world.learner)
    response = client.post("/evidence/new", data={
        "title": "Outil", "kind": "code", "context": "project", "occurred_on": "2026-01-05",
        "files": [(io.BytesIO(ELF_BYTES), "outil.txt")]}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "est un programme (exécutable Linux (ELF)), pas une preuve" in response.get_data(as_text=True)


def test_an_archive_lists_the_programs_it_holds(app):  # type: ignore[no-untyped-def]
    from portfolio.analysis.archives import inspect_archive

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("src/app.py", "print('hello')\n")
        zf.writestr("bin/tool.exe", PE_BYTES)
        zf.writestr("docs/lisez-moi.pdf", SCRIPT_BYTES)
        zf.writestr("scripts/build.sh", SCRIPT_BYTES)
    buffer.seek(0)
    report = inspect_archive(buffer, filename="projet.zip")
    assert report.ok and report.executables == ["bin/tool.exe", "docs/lisez-moi.pdf"]
    assert report.summary()["executables"] == ["bin/tool.exe", "docs/lisez-moi.pdf"]
