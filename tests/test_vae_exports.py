"""Dossier exports from the pages: started as a job, progress as JSON, downloaded, verifiable."""

from __future__ import annotations

import pytest

from portfolio.extensions import db
from portfolio.models import DossierExport, ExportStatus
from portfolio.services import vae
from portfolio.services.dossier_export import verify_archive
from tests.factories import complete_block, own_evidence


@pytest.fixture
def dossier(app, world):  # type: ignore[no-untyped-def]
    vae.enrol_candidate(world.vae, world.certification, actor=None)
    item = vae.get_or_create_dossier(world.vae)
    complete_block(item, own_evidence(world.vae, data=b"rapport de mission"))
    db.session.commit()
    return item


def test_candidate_exports_the_draft_as_pdf(app, world, dossier, login, client):
    login(world.vae)
    response = client.post(f"/vae/dossiers/{dossier.id}/exports", data={"kind": "pdf"})
    assert response.status_code == 302
    export = db.session.scalar(db.select(DossierExport))
    assert response.headers["Location"] == f"/vae/exports/{export.id}"
    status = client.get(f"/vae/exports/{export.id}?format=json").get_json()
    assert status["status"] == "done" and status["progress"] == 100  # inline without Redis
    page = client.get(f"/vae/exports/{export.id}").get_data(as_text=True)
    assert 'id="export-progress"' in page and "Télécharger" in page
    download = client.get(status["download"])
    assert download.data.startswith(b"%PDF") and download.headers["Content-Disposition"].startswith("attachment")
    download.close()


def test_jury_exports_the_sent_version_as_a_verifiable_archive(app, world, dossier, login, client, tmp_path):
    version = vae.send_dossier(dossier, actor=world.vae)
    jury = vae.create_jury("Jury", [world.jury], actor=None)
    vae.assign_version(version, jury, actor=None)
    db.session.commit()
    login(world.jury)
    response = client.post(f"/vae/dossiers/{dossier.id}/exports",
                           data={"kind": "archive", "version_id": str(version.id)})
    assert response.status_code == 302
    export = db.session.scalar(db.select(DossierExport))
    assert export.status == ExportStatus.DONE and export.version_id == version.id
    download = client.get(f"/vae/exports/{export.id}/download")
    archive = tmp_path / "dossier.zip"
    archive.write_bytes(download.data)
    download.close()
    assert verify_archive(archive) == []
    # The jury may not export the draft: it only reads what was sent to it.
    assert client.post(f"/vae/dossiers/{dossier.id}/exports", data={"kind": "pdf"}).status_code == 404


def test_others_see_nothing_of_an_export(app, world, dossier, login, client):
    login(world.vae)
    client.post(f"/vae/dossiers/{dossier.id}/exports", data={"kind": "pdf"})
    export = db.session.scalar(db.select(DossierExport))
    client.post("/logout")
    for user in (world.learner, world.other_tutor, world.jury):
        login(user)
        assert client.get(f"/vae/exports/{export.id}").status_code == 404
        assert client.get(f"/vae/exports/{export.id}/download").status_code == 404
        assert client.post(f"/vae/dossiers/{dossier.id}/exports", data={"kind": "pdf"}).status_code == 404
        client.post("/logout")
    assert db.session.scalar(db.select(db.func.count()).select_from(DossierExport)) == 1
