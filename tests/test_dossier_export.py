"""Dossier exports: the PDF, the archive and its manifest, ``verify``, the CLI, and the background job
(inline and on RQ with a real Redis)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tempfile
import tracemalloc
import types
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from portfolio.extensions import db
from portfolio.models import (
    Blob,
    Claim,
    Dossier,
    DossierExport,
    DossierNarrative,
    DossierSection,
    DossierVersion,
    Evidence,
    EvidenceFile,
)
from portfolio.services import dossier_export as dx
from portfolio.storage import LocalStorage, StorageUnavailable, get_storage


class RandomReader:
    """``size`` random bytes, produced as they are read (never held in memory)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


def _snapshot_of(dossier: Dossier, version: int | None = None, sent_at: str | None = None) -> dict:
    """The snapshot schema of ``DossierVersion``, built from the models (as vae.dossier_snapshot does)."""
    experiences = {e.id: e for s in dossier.sections for e in s.experiences}
    narratives = {n.competency_id: n.narrative for n in dossier.narratives}
    tags: dict[int, list[Claim]] = {}
    for claim in db.session.scalars(db.select(Claim).join(Evidence).where(Evidence.owner_id == dossier.candidate_id)
                                    .order_by(Claim.evidence_id)):
        tags.setdefault(claim.competency_id, []).append(claim)
    blocks = []
    for section in sorted(dossier.sections, key=lambda s: s.block.position):
        if not section.is_applied:
            continue
        competencies = []
        for competency in section.block.competencies:
            evidence = [
                {"id": c.evidence.id, "title": c.evidence.title, "kind": str(c.evidence.kind),
                 "files": [{"filename": f.filename, "sha256": f.blob.sha256, "size": f.blob.size,
                            "media_type": f.blob.media_type, "storage_key": f.blob.storage_key}
                           for f in c.evidence.files]}
                for c in tags.get(competency.id, [])]
            competencies.append({"code": competency.code, "statement": competency.statement,
                                 "narrative": narratives.get(competency.id, ""), "evidence": evidence})
        blocks.append({"code": section.block.code, "title": section.block.title, "activities": section.activities,
                       "context": section.context, "means": section.means,
                       "experience_ids": [e.id for e in section.experiences], "competencies": competencies})
    return {"candidate": {"name": dossier.candidate.name, "email": dossier.candidate.email},
            "certification": {"code": dossier.certification.code, "title": dossier.certification.title,
                              "registration": dossier.certification.registration},
            "presentation": dossier.presentation, "version": version, "sent_at": sent_at,
            "experiences": [{"id": e.id, "organisation": e.organisation, "sector": e.sector,
                             "job_title": e.job_title, "start": e.start_date.isoformat(),
                             "end": e.end_date.isoformat() if e.end_date else None,
                             "time_basis": str(e.time_basis), "volunteer": e.is_volunteer,
                             "activities": e.activities, "tools": e.tools} for e in experiences.values()],
            "blocks": blocks}


def _evidence(owner, title: str, files: list[tuple[str, bytes]]) -> Evidence:  # type: ignore[no-untyped-def]
    storage = get_storage()
    evidence = Evidence(owner=owner, title=title, kind="document", context="professional",
                        occurred_on=date(2024, 5, 1))
    for filename, data in files:
        stored = storage.put_stream(io.BytesIO(data), filename=filename)
        blob = db.session.scalar(db.select(Blob).where(Blob.sha256 == stored.sha256))
        if blob is None:
            blob = Blob(sha256=stored.sha256, size=stored.size, media_type=stored.media_type,
                        storage_key=stored.key)
            db.session.add(blob)
        evidence.files.append(EvidenceFile(blob=blob, filename=filename))
    db.session.add(evidence)
    db.session.flush()
    return evidence


@pytest.fixture
def dossier(app, make_user):  # type: ignore[no-untyped-def]
    """A candidate's dossier on two blocks of RNCP 28754, one piece of evidence used by both blocks,
    and a sent version 1."""
    from portfolio.models import Experience
    from portfolio.services.cohorts import current_certification

    candidate = make_user("vae@example.org", "vae_candidate", name="Victor Candidat")
    cert = current_certification("RNCP28754")
    b1, b2 = cert.blocks[0], cert.blocks[1]
    experience = Experience(candidate=candidate, organisation="ACME", sector="Industrie", job_title="Développeur",
                            start_date=date(2015, 1, 1), end_date=None, time_basis="full_time",
                            activities="Développement d'applications : web, API !", tools="Python, PostgreSQL")
    db.session.add(experience)
    shared = _evidence(candidate, "Cahier des charges", [("cahier des charges é.txt", b"cahier " * 300)])
    code = _evidence(candidate, "Code source", [("app.py", b"print('hello')\n"), ("schema.sql", b"create table t;\n")])
    d = Dossier(candidate=candidate, certification=cert, presentation="Je suis développeur depuis 2015 ; voici.")
    d.sections = [
        DossierSection(block=b1, is_applied=True, activities="Analyse du besoin", context="PME",
                       means="Entretiens", experiences=[experience]),
        DossierSection(block=b2, is_applied=True, activities="Conception", context="Équipe de 5",
                       means="UML", experiences=[experience]),
    ]
    d.narratives = [
        DossierNarrative(competency=b1.competencies[0], narrative="J'ai **analysé** le besoin."),
        DossierNarrative(competency=b1.competencies[1], narrative="Récit 2"),
        DossierNarrative(competency=b2.competencies[0], narrative="Récit 3"),
    ]
    # The dossier's evidence is the candidate's tags (the same a learner makes).
    db.session.add_all([
        Claim(evidence=shared, competency=b1.competencies[0], justification="Le besoin analysé"),
        Claim(evidence=code, competency=b1.competencies[0], justification="Le code"),
        Claim(evidence=code, competency=b1.competencies[1], justification="Le code"),
        Claim(evidence=shared, competency=b2.competencies[0], justification="Le cahier"),
    ])
    db.session.add(d)
    db.session.flush()
    sent_at = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    d.versions.append(DossierVersion(number=1, snapshot=_snapshot_of(d, 1, sent_at.isoformat()), sent_at=sent_at))
    db.session.commit()
    return d


def _texts(box):  # type: ignore[no-untyped-def]
    if getattr(box, "text", None):
        yield box.text
    for child in getattr(box, "children", None) or []:
        yield from _texts(child)


def _page_texts(snapshot: dict, draft: bool) -> list[str]:
    document = dx.render_dossier_document(snapshot, draft=draft)
    return [" ".join(_texts(page._page_box)) for page in document.pages]


def _all_sha(snapshot: dict) -> set[str]:
    return {f["sha256"] for b in snapshot["blocks"] for c in b["competencies"] for e in c["evidence"]
            for f in e["files"]}


# --- PDF -------------------------------------------------------------------------------------------

def test_pdf_draft_has_cover_toc_sections_hashes_and_brouillon_on_every_page(dossier) -> None:  # type: ignore[no-untyped-def]
    snapshot = _snapshot_of(dossier)
    pages = _page_texts(snapshot, draft=True)
    assert len(pages) >= 3
    for n, text in enumerate(pages, 1):
        assert "BROUILLON" in text
        assert f"Page {n} / {len(pages)}" in text
    everything = "\n".join(pages)
    assert "Sommaire" in pages[1]
    for block in snapshot["blocks"]:
        assert block["code"] in pages[1]
        assert block["code"] in everything
    for sha in _all_sha(snapshot):
        assert sha in everything
    assert "Analyse du besoin" in everything and "analysé" in everything
    pdf = dx.render_dossier_pdf(snapshot, draft=True)
    assert pdf.startswith(b"%PDF")


def test_pdf_of_sent_version_has_no_brouillon_and_toc_page_numbers(dossier) -> None:  # type: ignore[no-untyped-def]
    snapshot = dossier.versions[0].snapshot
    pages = _page_texts(snapshot, draft=False)
    assert not any("BROUILLON" in t or "Brouillon" in t for t in pages)
    assert "version 1" in pages[0]
    # The table of contents gives each block section's real page.
    for block in snapshot["blocks"]:
        start = next(i for i, t in enumerate(pages) if i > 1 and t.split(" ", 2)[0] == block["code"]
                     or (i > 1 and f"{block['code']} —" in t and "Activités réalisées" in t))
        assert f"{block['code']} — " in pages[1]
        toc_line = pages[1].split(f"{block['code']} — ", 1)[1]
        assert str(start + 1) in toc_line.split(block["competencies"][0]["code"])[0]


def test_french_typography() -> None:
    assert dx.french_typography("Bonjour : ça va ? Oui ! « Bien »") == \
        "Bonjour\u00a0: ça va\u202f? Oui\u202f! «\u202fBien\u202f»"
    assert dx.french_typography("http://example.org a:b") == "http://example.org a:b"


def test_missing_system_libraries_give_a_clear_refusal(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    class Broken(types.ModuleType):
        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            raise OSError("cannot load library 'libpango-1.0-0'")

    monkeypatch.setitem(sys.modules, "weasyprint", Broken("weasyprint"))
    with pytest.raises(dx.ExportUnavailable) as caught:
        dx.render_dossier_pdf({"blocks": []}, draft=True)
    assert "pango" in caught.value.message and "apt-get install" in caught.value.message


# --- archive ---------------------------------------------------------------------------------------

def _archive(dossier, tmp_path: Path, draft: bool = False) -> tuple[Path, dict]:  # type: ignore[no-untyped-def]
    snapshot = dossier.versions[0].snapshot
    pdf = dx.render_dossier_pdf(snapshot, draft=draft)
    path = tmp_path / "dossier.zip"
    seen: list[int] = []
    with open(path, "wb") as out:
        manifest = dx.write_archive(snapshot, pdf, get_storage(), out, progress=seen.append)
    assert seen[0] == 0 and seen[-1] == 100 and seen == sorted(seen)
    return path, manifest


def test_archive_layout_and_manifest(dossier, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, manifest = _archive(dossier, tmp_path)
    snapshot = dossier.versions[0].snapshot
    b1, b2 = (b["code"] for b in snapshot["blocks"])
    shared_id = snapshot["blocks"][1]["competencies"][0]["evidence"][0]["id"]
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        assert {"dossier.pdf", "manifest.json", "manifest.txt"} <= names
        # The shared evidence appears under each block; file names are made safe.
        assert f"{b1}/{shared_id}-cahier-des-charges-e.txt" in names
        assert f"{b2}/{shared_id}-cahier-des-charges-e.txt" in names
        assert len([n for n in names if n.endswith("app.py")]) == 1
        on_disk = json.loads(zf.read("manifest.json"))
        text = zf.read("manifest.txt").decode()
        pdf = zf.read("dossier.pdf")
        for item in on_disk["files"]:
            data = zf.read(item["path"])
            assert hashlib.sha256(data).hexdigest() == item["sha256"] and len(data) == item["size"]
            assert item["path"] in text and item["sha256"] in text
    assert on_disk == manifest
    assert on_disk["pdf"]["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert on_disk["version"] == 1 and on_disk["draft"] is False
    shared = next(i for i in on_disk["files"] if i["path"].startswith(f"{b1}/{shared_id}-"))
    assert shared["competencies"] == [snapshot["blocks"][0]["competencies"][0]["code"]]
    app_py = next(i for i in on_disk["files"] if i["path"].endswith("app.py"))
    assert app_py["competencies"] == [c["code"] for c in snapshot["blocks"][0]["competencies"][:2]]
    assert dx.verify_archive(path) == []


def test_archive_streams_to_a_non_seekable_stream(dossier, tmp_path) -> None:  # type: ignore[no-untyped-def]
    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b) -> int:  # type: ignore[no-untyped-def]
            self.data += b
            return len(b)

        def seekable(self) -> bool:
            return False

        def tell(self) -> int:
            raise OSError("not seekable")

    pipe = Pipe()
    dx.write_archive(dossier.versions[0].snapshot, b"%PDF-1.7 fake", get_storage(), pipe)
    path = tmp_path / "piped.zip"
    path.write_bytes(bytes(pipe.data))
    assert dx.verify_archive(path) == []


def _rewrite(src: Path, dst: Path, *, replace: dict[str, bytes] | None = None, drop: set[str] = frozenset(),
             add: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            zout.writestr(info.filename, (replace or {}).get(info.filename, zin.read(info.filename)))
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def test_verify_names_altered_missing_and_added_files(dossier, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, manifest = _archive(dossier, tmp_path)
    target = manifest["files"][0]["path"]
    with zipfile.ZipFile(path) as zf:
        original = zf.read(target)
    altered = _rewrite(path, tmp_path / "altered.zip", replace={target: bytes([original[0] ^ 1]) + original[1:]})
    assert [(p.kind, p.path) for p in dx.verify_archive(altered)] == [("altered", target)]

    pdf_altered = _rewrite(path, tmp_path / "pdf.zip", replace={"dossier.pdf": b"%PDF-1.7 forged"})
    assert [(p.kind, p.path) for p in dx.verify_archive(pdf_altered)] == [("altered", "dossier.pdf")]

    removed = _rewrite(path, tmp_path / "removed.zip", drop={target})
    assert [(p.kind, p.path) for p in dx.verify_archive(removed)] == [("missing", target)]

    added = _rewrite(path, tmp_path / "added.zip", add={"RNCP28754BC01/999-extra.txt": b"extra"})
    assert [(p.kind, p.path) for p in dx.verify_archive(added)] == [("added", "RNCP28754BC01/999-extra.txt")]

    txt = _rewrite(path, tmp_path / "txt.zip", replace={"manifest.txt": b"tout va bien"})
    assert [(p.kind, p.path) for p in dx.verify_archive(txt)] == [("altered", "manifest.txt")]


def test_verify_detects_a_flipped_byte_in_the_raw_zip(dossier, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, manifest = _archive(dossier, tmp_path)
    target = next(i["path"] for i in manifest["files"] if i["path"].endswith("app.py"))
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(target)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little"), \
        int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    raw[info.header_offset + 30 + name_len + extra_len + 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    problems = dx.verify_archive(path)
    assert [(p.kind, p.path) for p in problems] == [("altered", target)]


def test_verify_refuses_a_missing_or_broken_manifest(dossier, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, _ = _archive(dossier, tmp_path)
    broken = _rewrite(path, tmp_path / "broken.zip", replace={"manifest.json": b"{not json"})
    assert [(p.kind, p.path) for p in dx.verify_archive(broken)] == [("manifest", "manifest.json")]
    gone = _rewrite(path, tmp_path / "gone.zip", drop={"manifest.json"})
    assert [p.kind for p in dx.verify_archive(gone)] == ["manifest"]
    not_zip = tmp_path / "not.zip"
    not_zip.write_bytes(b"hello")
    assert [p.kind for p in dx.verify_archive(not_zip)] == ["manifest"]


def test_a_file_changed_in_the_store_stops_the_archive(tmp_path) -> None:
    storage = LocalStorage(tmp_path / "store")
    blob = storage.put_stream(io.BytesIO(b"real content"))
    snapshot = {"blocks": [{"code": "B1", "competencies": [{"code": "C1", "evidence": [
        {"id": 1, "title": "t", "files": [{"filename": "f.txt", "sha256": "0" * 64, "size": 12,
                                           "media_type": "text/plain", "storage_key": blob.key}]}]}]}]}
    with pytest.raises(dx.ExportError, match="empreinte"):
        dx.write_archive(snapshot, b"%PDF", storage, io.BytesIO())


def test_archive_memory_does_not_grow_with_the_files(tmp_path) -> None:
    """50 MiB of evidence go through the archive with a Python heap peak of a few MiB."""
    storage = LocalStorage(tmp_path / "store")
    files = []
    for i in range(5):
        blob = storage.put_stream(RandomReader(10 * 1024 * 1024), filename=f"f{i}.bin")
        files.append({"filename": f"f{i}.bin", "sha256": blob.sha256, "size": blob.size,
                      "media_type": "application/octet-stream", "storage_key": blob.key})
    snapshot = {"blocks": [{"code": "B1", "competencies": [{"code": "C1", "evidence": [
        {"id": i, "title": "t", "files": [f]} for i, f in enumerate(files)]}]}]}
    with tempfile.TemporaryFile() as out:
        tracemalloc.start()
        try:
            manifest = dx.write_archive(snapshot, b"%PDF", storage, out)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert out.tell() > 50 * 1024 * 1024
    assert len(manifest["files"]) == 5
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


# --- CLI -------------------------------------------------------------------------------------------

def test_cli_export_then_verify_round_trip(dossier, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from portfolio.cli_dossier import dossier_cli

    out = tmp_path / "out"
    result = runner.invoke(dossier_cli, ["export", "vae@example.org", "--out", str(out), "--version", "1"])
    assert result.exit_code == 0, result.output
    assert str(out / "dossier.pdf") in result.output and str(out / "dossier.zip") in result.output
    assert (out / "dossier.pdf").read_bytes().startswith(b"%PDF")
    n_files = len(json.loads(zipfile.ZipFile(out / "dossier.zip").read("manifest.json"))["files"])

    result = runner.invoke(dossier_cli, ["verify", str(out / "dossier.zip")])
    assert result.exit_code == 0, result.output
    assert f"archive intacte ({n_files + 1} fichiers)" in result.output

    tampered = _rewrite(out / "dossier.zip", tmp_path / "t.zip", drop={"dossier.pdf"},
                        add={"RNCP28754BC02/1-evil.sh": b"rm -rf /"})
    result = runner.invoke(dossier_cli, ["verify", str(tampered)])
    assert result.exit_code == 1
    assert "manquant : dossier.pdf" in result.output and "ajouté : RNCP28754BC02/1-evil.sh" in result.output


def test_cli_export_refusals_are_one_line(dossier, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from portfolio.cli_dossier import dossier_cli

    result = runner.invoke(dossier_cli, ["export", "nobody@example.org", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "Aucun compte pour nobody@example.org" in result.output
    result = runner.invoke(dossier_cli, ["export", "vae@example.org", "--out", str(tmp_path), "--version", "7"])
    assert result.exit_code == 1 and "Pas de version 7" in result.output
    assert not (tmp_path / "dossier.zip").exists()
    result = runner.invoke(dossier_cli, ["verify", str(tmp_path / "none.zip")])
    assert result.exit_code == 1


def test_cli_exports_the_draft(dossier, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("portfolio.services.vae")
    from portfolio.cli_dossier import dossier_cli

    result = runner.invoke(dossier_cli, ["export", "vae@example.org", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    manifest = json.loads(zipfile.ZipFile(tmp_path / "dossier.zip").read("manifest.json"))
    assert manifest["draft"] is True


# --- jobs ------------------------------------------------------------------------------------------

def _check_done(export: DossierExport, kind: str) -> None:
    from portfolio.models import ExportStatus

    db.session.refresh(export)
    assert export.status == ExportStatus.DONE, export.error
    assert export.progress == 100 and export.finished_at is not None
    data = b"".join(get_storage().iter_chunks(export.storage_key))
    assert hashlib.sha256(data).hexdigest() == export.sha256 and len(data) == export.size
    if kind == "archive":
        with tempfile.NamedTemporaryFile(suffix=".zip") as tmp:
            tmp.write(data)
            tmp.flush()
            assert dx.verify_archive(tmp.name) == []
    else:
        assert data.startswith(b"%PDF")


@pytest.mark.parametrize("kind", ["pdf", "archive"])
def test_export_job_inline(dossier, app, monkeypatch, kind) -> None:  # type: ignore[no-untyped-def]
    from portfolio.models import AuditEvent

    monkeypatch.setitem(app.config, "REDIS_URL", None)
    export = dx.enqueue_export(dossier, kind, dossier.versions[0], dossier.candidate)
    db.session.commit()
    assert dx.run_pending_inline(export.id) == "done"
    _check_done(export, kind)
    actions = list(db.session.scalars(db.select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions[-2:] == ["dossier.export_request", "dossier.export_done"]


def test_export_job_of_the_draft(dossier, app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("portfolio.services.vae")
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    export = dx.enqueue_export(dossier, "archive", None, dossier.candidate)
    db.session.commit()
    assert dx.run_pending_inline(export.id) == "done"
    _check_done(export, "archive")


def test_export_job_failure_is_recorded(dossier, app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from portfolio.models import AuditEvent, ExportStatus

    class DownStorage:
        def iter_chunks(self, key: str, chunk_size: int = 0):  # type: ignore[no-untyped-def]
            raise StorageUnavailable("le serveur S3 ne répond pas")
            yield b""

        def put_stream(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise StorageUnavailable("le serveur S3 ne répond pas")

    monkeypatch.setitem(app.config, "REDIS_URL", None)
    monkeypatch.setattr("portfolio.services.dossier_export.job.get_storage", lambda: DownStorage())
    export = dx.enqueue_export(dossier, "archive", dossier.versions[0], dossier.candidate)
    db.session.commit()
    assert dx.run_pending_inline(export.id) == "failed"
    db.session.refresh(export)
    assert export.status == ExportStatus.FAILED
    assert export.error == "Le stockage des preuves est indisponible : le serveur S3 ne répond pas"
    assert export.storage_key is None
    assert db.session.scalar(db.select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1)) == \
        "dossier.export_failed"


def test_export_job_on_rq_with_real_redis(dossier, app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import redis
    from rq import Queue, SimpleWorker

    from portfolio.jobs import QUEUE_NAME

    url = os.environ.get("PORTFOLIO_REDIS_URL") or "redis://127.0.0.1:6379/15"
    connection = redis.Redis.from_url(url)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("PORTFOLIO_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis unreachable at {url}: {exc}")
        pytest.skip(f"Redis unreachable at {url} (set PORTFOLIO_REQUIRE_REDIS=1 to fail instead)")
    queue = Queue(QUEUE_NAME, connection=connection)
    queue.empty()
    monkeypatch.setitem(app.config, "REDIS_URL", url)
    export = dx.enqueue_export(dossier, "archive", dossier.versions[0], dossier.candidate)
    db.session.commit()
    assert dx.dispatch_export(export.id) == "queued"
    db.session.refresh(export)
    assert export.status.value == "queued" and queue.count == 1
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert queue.count == 0
    _check_done(export, "archive")


def test_unreachable_redis_fails_the_export_clearly(dossier, app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    export = dx.enqueue_export(dossier, "pdf", None, dossier.candidate)
    db.session.commit()
    assert dx.dispatch_export(export.id) == "failed"
    db.session.refresh(export)
    assert export.status.value == "failed" and "Redis" in export.error
