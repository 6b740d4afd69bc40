"""Evidence through the pages: uploads on both backends, limits, tags, downloads, hostile input."""

from __future__ import annotations

import hashlib
import io
from datetime import date

import pytest

from portfolio.extensions import db
from portfolio.models import Blob, Claim, Evidence, EvidenceFile
from portfolio.storage import get_storage

STORAGE_KEY = "portfolio.storage"


@pytest.fixture
def store(app, storage):  # type: ignore[no-untyped-def]
    """The app's evidence store swapped for each backend in turn (local disk, then S3)."""
    previous = app.extensions[STORAGE_KEY]
    app.extensions[STORAGE_KEY] = storage
    yield storage
    app.extensions[STORAGE_KEY] = previous


def objects(storage) -> set[str]:  # type: ignore[no-untyped-def]
    return {info.key for info in storage.iter_objects()}


def form(**extra):  # type: ignore[no-untyped-def]
    data = {"title": "Projet de gestion de stock", "kind": "code", "context": "project",
            "occurred_on": "2026-10-01", "description": "Une **API** REST."}
    data.update(extra)
    return data


def upload(client, *files, **fields):  # type: ignore[no-untyped-def]
    data = form(**fields)
    data["files"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post("/evidence/new", data=data, content_type="multipart/form-data")


def test_upload_is_stored_hashed_and_recorded(store, world, login, client):
    login(world.learner)
    content = b"def add(a, b):\n    return a + b\n"
    response = upload(client, ("calc.py", content), ("calc.py", content))
    assert response.status_code == 302, response.get_data(as_text=True)
    evidence = db.session.scalar(db.select(Evidence))
    assert evidence.owner_id == world.learner.id and len(evidence.files) == 2
    sha = hashlib.sha256(content).hexdigest()
    assert {f.blob.sha256 for f in evidence.files} == {sha}
    assert db.session.scalar(db.select(db.func.count()).select_from(Blob)) == 1  # stored once
    assert [k for k in objects(store) if "/tmp/" not in k and not k.startswith("tmp/")] == [
        evidence.files[0].blob.storage_key]
    assert evidence.files[0].blob.media_type == "text/plain"
    page = client.get(f"/evidence/{evidence.id}").get_data(as_text=True)
    assert "<strong>API</strong>" in page and "calc.py" in page


def test_storage_down_refuses_the_upload_and_writes_no_row(app, world, login, client, restartable_s3):
    previous = app.extensions[STORAGE_KEY]
    app.extensions[STORAGE_KEY] = restartable_s3.storage
    try:
        restartable_s3.server.stop()
        login(world.learner)
        response = upload(client, ("a.txt", b"hello"))
        body = response.get_data(as_text=True)
        assert response.status_code == 422
        assert "Le stockage des preuves est indisponible" in body
        assert db.session.scalar(db.select(db.func.count()).select_from(Evidence)) == 0
        assert db.session.scalar(db.select(db.func.count()).select_from(Blob)) == 0
    finally:
        app.extensions[STORAGE_KEY] = previous


def test_file_over_the_limit_is_refused_saying_by_how_much(app, store, world, login, client):
    app.config["MAX_FILE_SIZE"] = 1024
    try:
        login(world.learner)
        response = upload(client, ("big.bin", b"x" * 3072))
    finally:
        app.config["MAX_FILE_SIZE"] = 200 * 1024 * 1024
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "pèse 3,0 Kio : la limite est de 1,0 Kio par fichier (2,0 Kio de trop)" in body
    assert db.session.scalar(db.select(db.func.count()).select_from(Evidence)) == 0
    assert objects(store) == set()


def test_empty_file_and_missing_file_are_refused(store, world, login, client):
    login(world.learner)
    assert "est vide" in upload(client, ("empty.txt", b"")).get_data(as_text=True)
    body = client.post("/evidence/new", data=form(), content_type="multipart/form-data").get_data(as_text=True)
    assert "Ajoutez au moins un fichier ou un lien." in body
    assert db.session.scalar(db.select(db.func.count()).select_from(Evidence)) == 0


@pytest.mark.parametrize("name,shown", [
    ("../../etc/passwd", "passwd"),
    ("a\x00b.txt", "ab.txt"),
    ("rapport\u202etxt.exe", "rapporttxt.exe"),
    ("x" * 400 + ".pdf", "x" * 251 + ".pdf"),
])
def test_hostile_filenames_are_kept_for_display_only(app, world, login, client, name, shown):
    login(world.learner)
    assert upload(client, (name, b"content")).status_code == 302
    file = db.session.scalar(db.select(EvidenceFile))
    assert file.filename == shown
    assert file.blob.storage_key.endswith(file.blob.sha256)


def test_svg_and_html_are_downloaded_never_shown_inline(app, world, login, client):
    login(world.learner)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    html = b"<html><body><script>alert(1)</script></body></html>"
    upload(client, ("diagram.svg", svg), ("page.html", html), ("shot.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64))
    evidence = db.session.scalar(db.select(Evidence))
    by_name = {f.filename: f for f in evidence.files}
    for name, expected_type in [("diagram.svg", "image/svg+xml"), ("page.html", "text/html")]:
        response = client.get(f"/evidence/{evidence.id}/files/{by_name[name].id}")
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert response.headers["Content-Type"].startswith(expected_type)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response.headers["Content-Security-Policy"]
        response.close()
    png = client.get(f"/evidence/{evidence.id}/files/{by_name['shot.png'].id}")
    assert png.headers["Content-Disposition"].startswith("inline") and png.headers["Content-Type"] == "image/png"
    png.close()


def test_download_bytes_are_exact(store, world, login, client):
    login(world.learner)
    content = bytes(range(256)) * 100
    upload(client, ("data.bin", content))
    evidence = db.session.scalar(db.select(Evidence))
    response = client.get(f"/evidence/{evidence.id}/files/{evidence.files[0].id}")
    if response.status_code == 302:  # S3: a short-lived presigned URL that forces the disposition
        import urllib.request

        location = response.headers["Location"]
        assert "response-content-disposition=attachment" in location
        with urllib.request.urlopen(location) as remote:  # noqa: S310
            assert remote.read() == content
            assert remote.headers["Content-Disposition"].startswith("attachment")
    else:
        assert response.data == content
        response.close()


def test_markdown_is_sanitized(app, world, login, client):
    login(world.learner)
    hostile = ("<script>alert(1)</script>[x](javascript:alert(2)) <img src=x onerror=alert(3)>"
               '<iframe src="https://evil.example"></iframe>')
    upload(client, ("a.txt", b"a"), description=hostile)
    evidence = db.session.scalar(db.select(Evidence))
    page = client.get(f"/evidence/{evidence.id}").get_data(as_text=True)
    main = page.split('id="main"')[1]
    assert "<script>alert" not in main and "javascript:" not in main and "onerror" not in main
    assert "<iframe" not in main
    preview = client.post("/evidence/preview", data={"text": hostile}).get_json()["html"]
    assert "<script" not in preview and "onerror" not in preview and "javascript:" not in preview


def test_tags_only_against_own_certification(app, world, login, client):
    from portfolio.frameworks.formats import BlockData, CertificationData, CompetencyData
    from portfolio.services.frameworks import import_certification

    other = CertificationData(code="RNCP99999", registration="2024-01-01", title="Autre", level="6",
                              is_active=True, source="portfolio", authority=None, predecessors=[], successors=[],
                              blocks=[BlockData(code="RNCP99999BC01", title="Bloc", description="",
                                                assessment_methods="",
                                                competencies=[CompetencyData("RNCP99999BC01-C01", "Faire")])])
    import_certification(other)
    db.session.commit()
    login(world.learner)
    upload(client, ("a.txt", b"a"))
    evidence = db.session.scalar(db.select(Evidence))
    client.post(f"/evidence/{evidence.id}/tags", data={"competency": "RNCP99999BC01-C01", "justification": "x"})
    response = client.post(f"/evidence/{evidence.id}/tags",
                           data={"competency": "RNCP28754BC01-C03", "justification": "Requêtes SQL du projet"},
                           follow_redirects=True)
    assert "Compétence RNCP28754BC01-C03 rattachée." in response.get_data(as_text=True)
    assert [c.competency.code for c in db.session.scalars(db.select(Claim))] == ["RNCP28754BC01-C03"]
    block_page = client.get("/blocks/RNCP28754BC01").get_data(as_text=True)
    assert "Projet de gestion de stock" in block_page and "Requêtes SQL du projet" in block_page


def test_other_learners_get_404_and_tutors_read_only(app, world, login, client):
    login(world.learner)
    upload(client, ("a.txt", b"secret"))
    evidence = db.session.scalar(db.select(Evidence))
    file_id = evidence.files[0].id
    client.post("/logout")
    login(world.other_learner)
    base = f"/evidence/{evidence.id}"
    for path in [base, f"{base}/edit", f"{base}/files/{file_id}"]:
        assert client.get(path).status_code == 404
    for path in [f"/evidence/{evidence.id}/delete", f"/evidence/{evidence.id}/tags"]:
        assert client.post(path, data={"competency": "RNCP28754BC01-C01", "justification": "x"}).status_code == 404
    client.post("/logout")
    login(world.other_tutor)
    assert client.get(f"/evidence/{evidence.id}").status_code == 404
    client.post("/logout")
    login(world.tutor)
    assert client.get(f"/evidence/{evidence.id}").status_code == 200
    response = client.get(f"/evidence/{evidence.id}/files/{file_id}")
    assert response.data == b"secret"
    response.close()
    assert client.post(f"/evidence/{evidence.id}/delete").status_code == 403
    from portfolio.models import AuditEvent

    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "evidence.download")) is not None
    assert db.session.get(Evidence, evidence.id) is not None


def test_delete_removes_rows_and_unshared_objects(app, world, login, client):
    login(world.learner)
    upload(client, ("a.txt", b"shared"), ("b.txt", b"only here"))
    upload(client, ("c.txt", b"shared"), title="Autre preuve")
    first_id = db.session.scalar(db.select(Evidence.id).order_by(Evidence.id))
    before = objects(get_storage())
    assert client.post(f"/evidence/{first_id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.get(Evidence, first_id) is None
    after = objects(get_storage())
    only_here = hashlib.sha256(b"only here").hexdigest()
    shared = hashlib.sha256(b"shared").hexdigest()
    assert any(k.endswith(only_here) for k in before) and not any(k.endswith(only_here) for k in after)
    assert any(k.endswith(shared) for k in after)  # still referenced by the other evidence


def test_filters_and_search(app, world, login, client):
    login(world.learner)
    upload(client, ("a.txt", b"1"), title="Schéma relationnel", kind="uml")
    upload(client, ("b.txt", b"2"), title="Tests unitaires", kind="test_report")
    assert "Schéma relationnel" not in client.get("/evidence/?kind=test_report").get_data(as_text=True)
    body = client.get("/evidence/?q=SCHÉMA").get_data(as_text=True)
    assert "Schéma relationnel" in body and "Tests unitaires" not in body
    assert "Schéma relationnel" not in client.get("/evidence/?q=100%").get_data(as_text=True)


def test_sweep_removes_only_old_orphans_and_verify_detects_damage(app, world, login, client, runner):
    login(world.learner)
    upload(client, ("a.txt", b"kept"))
    storage = get_storage()
    orphan = storage.put_stream(io.BytesIO(b"crash between the two writes"))
    assert runner.invoke(args=["storage", "sweep"]).output.startswith("0 objet")  # within the grace period
    result = runner.invoke(args=["storage", "sweep", "--grace", "0"])
    assert result.exit_code == 0 and orphan.key in result.output
    assert not storage.exists(orphan.key)
    kept = db.session.scalar(db.select(Blob))
    assert storage.exists(kept.storage_key)
    assert runner.invoke(args=["storage", "verify"]).exit_code == 0
    path = storage.root / kept.storage_key  # type: ignore[attr-defined]
    path.write_bytes(b"tampered")
    result = runner.invoke(args=["storage", "verify"])
    assert result.exit_code == 1 and "SHA-256 différent" in result.output
    path.unlink()
    result = runner.invoke(args=["storage", "verify"])
    assert result.exit_code == 1 and "absent du stockage" in result.output


def test_a_submitted_evidence_is_locked(app, world):
    from portfolio.models import EvidenceStatus
    from portfolio.services import evidence as service

    item = service.create_evidence(world.learner, title="T", kind="link", context="project",
                                   occurred_on=date(2026, 1, 1), url="https://example.org/x")
    item.status = EvidenceStatus.SUBMITTED
    with pytest.raises(service.EvidenceLocked):
        service.update_evidence(item, actor=world.learner, title="U", kind="link", context="project",
                                occurred_on=date(2026, 1, 1), description="", url="https://example.org/y")
    with pytest.raises(service.EvidenceLocked):
        service.delete_evidence(item, actor=world.learner)
    db.session.rollback()


def test_polyglot_and_zip_bomb_are_stored_as_given_never_interpreted(app, world, login, client):
    import zipfile

    login(world.learner)
    polyglot = b"GIF89a/*\x00\x00*/=1;<html><script>alert(document.cookie)</script></html>"
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * (64 * 1024 * 1024))  # 64 MiB that deflate to ~64 KiB
    bomb_bytes = bomb.getvalue()
    assert len(bomb_bytes) < 200_000
    assert upload(client, ("image.gif", polyglot), ("archive.zip", bomb_bytes)).status_code == 302
    evidence = db.session.scalar(db.select(Evidence))
    by_name = {f.filename: f for f in evidence.files}
    assert by_name["archive.zip"].blob.size == len(bomb_bytes)  # kept compressed, never expanded
    assert by_name["archive.zip"].blob.media_type == "application/zip"
    stored = [info for info in get_storage().iter_objects()]
    assert sum(info.size for info in stored) == len(bomb_bytes) + len(polyglot)
    gif = client.get(f"/evidence/{evidence.id}/files/{by_name['image.gif'].id}")
    assert gif.headers["Content-Type"] == "image/gif"  # sniffed from content: never text/html
    assert gif.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in gif.headers["Content-Security-Policy"]
    gif.close()
    archive = client.get(f"/evidence/{evidence.id}/files/{by_name['archive.zip'].id}")
    assert archive.headers["Content-Disposition"].startswith("attachment")
    archive.close()
