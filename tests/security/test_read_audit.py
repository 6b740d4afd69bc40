"""Every read of someone else's file is audited whatever the route; a malformed staged key is a
refusal (422), never an error; /healthz tells anonymous callers ready or not, and nothing more."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import AuditEvent, DossierExport
from portfolio.services import vae
from tests.factories import add_evidence, complete_block, own_evidence

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("src/app.py", "print('secret')\n")
    return buffer.getvalue()


def _reads(actor_id: int) -> list[tuple[str, dict]]:
    db.session.expire_all()
    return [(e.action, e.data) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.actor_id == actor_id, AuditEvent.action != "user.login")
        .order_by(AuditEvent.id))]


def test_every_route_that_reads_a_learners_file_is_audited(app, world, login, client, bearer):  # noqa: F811
    item = add_evidence(world.learner, files=((b"notes", "notes.txt"), (PNG, "shot.png"), (_zip(), "code.zip")))
    notes, image, archive = item.files
    login(world.tutor)
    routes = {
        "evidence.view": f"/evidence/{item.id}",
        "evidence.download": f"/evidence/{item.id}/files/{notes.id}",
        "evidence.image": f"/evidence/{item.id}/files/{image.id}/image",
        "evidence.archive_entry": f"/evidence/{item.id}/files/{archive.id}/archive?path=src/app.py",
    }
    for action, path in routes.items():
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()
        assert _reads(world.tutor.id)[-1][0] == action, path
    api = client.get(f"/api/v1/evidence/{item.id}/files/{notes.id}", headers=bearer(world.tutor))
    assert api.status_code == 200
    api.close()
    assert _reads(world.tutor.id)[-1] == ("evidence.download", {"file": notes.id, "via": "api"})
    client.post("/logout")
    # Reading one's own files is not a read to audit.
    login(world.learner)
    for path in routes.values():
        client.get(path).close()
    assert [a for a, _d in _reads(world.learner.id) if a in routes] == []


def test_an_export_read_by_the_jury_is_audited(app, world, login, client):
    vae.enrol_candidate(world.vae, world.certification, actor=None)
    dossier = vae.get_or_create_dossier(world.vae)
    complete_block(dossier, own_evidence(world.vae))
    version = vae.send_dossier(dossier, actor=world.vae)
    vae.assign_version(version, vae.create_jury("Jury", [world.jury], actor=None), actor=None)
    db.session.commit()
    login(world.jury)
    client.post(f"/vae/dossiers/{dossier.id}/exports", data={"kind": "pdf", "version_id": str(version.id)})
    export = db.session.scalar(select(DossierExport))
    client.get(f"/vae/exports/{export.id}/download").close()
    assert ("vae.export.download", {"dossier": dossier.id, "version": version.id}) in _reads(world.jury.id)


@pytest.mark.parametrize("key", ["incoming/{id}/../../evidence/x", "incoming/{id}/abc\x00def",
                                 "incoming/{other}/" + "a" * 32, "incoming/{id}/" + "A" * 32, "/etc/passwd",
                                 "incoming/{id}/" + "é" * 32, ""])
def test_a_malformed_staged_key_is_a_422(app, world, client, bearer, key):  # noqa: F811
    key = key.format(id=world.learner.id, other=world.other_learner.id)
    response = client.post("/api/v1/evidence", headers=bearer(world.learner), data={
        "title": "T", "kind": "document", "context": "project", "occurred_on": "2026-01-05",
        "staged": key, "staged_filename": "x.txt", "staged_size": "²"})
    assert response.status_code == 422, response.get_data(as_text=True)


def test_healthz_says_ready_without_naming_paths(app, world, client, login):
    anonymous = client.get("/healthz").get_json()
    assert anonymous["ready"] is True and anonymous["checks"]["storage"] == {"status": "ok"}
    assert "evidence" not in str(anonymous) and "file://" not in str(anonymous)
    login(world.admin)
    assert "backend" in client.get("/healthz").get_json()["checks"]["storage"]


@pytest.mark.parametrize("key", ["incoming/{id}/../../evidence/x", "/etc/passwd", "incoming/{id}/abc\x00def"])
def test_a_malformed_staged_key_is_a_422_in_the_page_too(app, world, client, login, key):
    login(world.learner)
    response = client.post("/evidence/new", data={
        "title": "T", "kind": "document", "context": "project", "occurred_on": "2026-01-05",
        "staged": key.format(id=world.learner.id), "staged_filename": "x.txt", "staged_size": "3"})
    assert response.status_code == 422, response.status_code


def test_healthz_says_not_ready_without_naming_paths_or_buckets(app, world, client, login, monkeypatch):
    from portfolio.storage import StorageUnavailable, get_storage

    with app.test_request_context():
        storage = get_storage()

    def broken() -> None:
        raise StorageUnavailable("cannot write /srv/secret-evidence-path in bucket s3://school-private-bucket")

    monkeypatch.setattr(storage, "check", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["ready"] is False and body["checks"]["storage"] == {"status": "error"}
    assert body["checks"]["database"] == {"status": "ok"}
    assert "secret" not in response.get_data(as_text=True) and "bucket" not in response.get_data(as_text=True)
    login(world.admin)
    assert "s3://school-private-bucket" in client.get("/healthz").get_json()["checks"]["storage"]["error"]
