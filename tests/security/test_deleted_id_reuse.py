"""The issue's scenario: an id that died must never bring someone else's data into a dossier, an
export or a discussion."""

from __future__ import annotations

import io
import zipfile
from datetime import date

from portfolio.extensions import db
from portfolio.models import Comment, DossierExport
from portfolio.services import vae
from portfolio.services.assessment import add_comment, submit_evidence, withdraw_evidence
from portfolio.services.evidence import Upload, create_evidence, tag_evidence
from tests.factories import complete_block, own_evidence


def _evidence_of(user, title: str, data: bytes):  # type: ignore[no-untyped-def]
    item = create_evidence(user, title=title, kind="document", context="professional", occurred_on=date(2025, 6, 1),
                           uploads=[Upload("secret.txt", io.BytesIO(data))])
    db.session.commit()
    return item


def test_a_deleted_citation_never_shows_another_learners_evidence(app, world, login, client):
    vae.enrol_candidate(world.vae, world.certification, actor=None)
    dossier = vae.get_or_create_dossier(world.vae)
    kept = own_evidence(world.vae, title="Rapport gardé", data=b"rapport garde")
    complete_block(dossier, kept)
    cited = own_evidence(world.vae, title="Preuve supprimee", data=b"bientot supprimee")
    competency = dossier.narratives[0].competency
    vae.set_claim(dossier, competency, actor=world.vae, narrative="Récit", evidence_ids=[kept.id, cited.id])
    db.session.commit()
    cited_id, dossier_id = cited.id, dossier.id

    login(world.vae)
    assert client.post(f"/evidence/{cited_id}/delete").status_code == 302
    client.post("/logout")
    stranger = _evidence_of(world.other_learner, "Dossier médical d'Omar", b"donnees privees d'Omar")
    assert stranger.id != cited_id

    login(world.vae)
    page = client.get(f"/vae/dossiers/{dossier_id}").get_data(as_text=True)
    assert "Dossier médical d'Omar" not in page and "Rapport gardé" in page
    assert client.post(f"/vae/dossiers/{dossier_id}/exports", data={"kind": "archive"}).status_code == 302
    export = db.session.scalar(db.select(DossierExport))
    download = client.get(f"/vae/exports/{export.id}/download")
    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        names = archive.namelist()
        contents = b"".join(archive.read(name) for name in names)
    download.close()
    assert b"donnees privees d'Omar" not in contents and "Omar" not in " ".join(names)
    assert b"rapport garde" in contents


def test_a_comment_on_a_deleted_draft_never_appears_on_another_evidence(app, world, login, client):
    draft = _evidence_of(world.learner, "Brouillon", b"brouillon")
    code = world.certification.blocks[0].competencies[0].code
    with app.test_request_context():  # the services link notifications to pages
        tag_evidence(draft, code, "Parce que.", actor=world.learner)
        submit_evidence(draft, actor=world.learner)
        add_comment(draft, "Remarque confidentielle sur Lina", author=world.tutor)
        withdraw_evidence(draft, actor=world.learner)
        db.session.commit()
    draft_id = draft.id

    login(world.learner)
    assert client.post(f"/evidence/{draft_id}/delete").status_code == 302
    client.post("/logout")
    assert db.session.scalar(db.select(db.func.count()).select_from(Comment)) == 0

    other = _evidence_of(world.other_learner, "Preuve d'Omar", b"omar")
    assert other.id > draft_id
    login(world.other_learner)
    page = client.get(f"/evidence/{other.id}").get_data(as_text=True)
    assert "Remarque confidentielle" not in page
