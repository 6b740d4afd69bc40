"""What was sent is frozen: evidence a dossier version sent to a jury cites cannot be edited, given
other files or deleted, through the pages or the API; a stored object goes only when no row of any
kind (evidence file, export, sent version) refers to it."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest

from portfolio.extensions import db
from portfolio.models import Competency, DossierExport, Evidence
from portfolio.services import vae
from portfolio.services.evidence import EvidenceLocked, Upload, create_evidence, delete_evidence, ensure_mutable
from portfolio.services.storage_maintenance import find_orphans
from portfolio.storage import get_storage
from tests.factories import complete_block, own_evidence


@pytest.fixture
def sent(app, world):  # type: ignore[no-untyped-def]
    vae.enrol_candidate(world.vae, world.certification, actor=None)
    dossier = vae.get_or_create_dossier(world.vae)
    evidence = own_evidence(world.vae, data=b"rapport de mission envoye")
    complete_block(dossier, evidence)
    version = vae.send_dossier(dossier, actor=world.vae)
    jury = vae.create_jury("Jury", [world.jury], actor=None)
    vae.assign_version(version, jury, actor=None)
    db.session.commit()
    return evidence


def _keys() -> set[str]:
    return {o.key for o in get_storage().iter_objects() if not o.key.startswith(("tmp/", "incoming/"))}


def test_sent_evidence_is_frozen_in_the_pages(app, world, sent, login, client):
    evidence_id, file = sent.id, sent.files[0]
    login(world.vae)
    response = client.post(f"/evidence/{evidence_id}/delete", follow_redirects=True)
    assert "envoyé au jury" in response.get_data(as_text=True)
    edit = client.post(f"/evidence/{evidence_id}/edit", data={
        "title": "Autre chose", "kind": "document", "context": "professional", "occurred_on": "2025-06-01",
        "description": "", "url": "https://example.org/x"})
    assert edit.status_code < 500
    client.post(f"/evidence/{evidence_id}/files/{file.id}/delete")
    db.session.expire_all()
    item = db.session.get(Evidence, evidence_id)
    assert item is not None and item.title == "Rapport de mission" and len(item.files) == 1
    client.post("/logout")
    # The jury reads exactly what was sent.
    login(world.jury)
    download = client.get(f"/evidence/{evidence_id}/files/{file.id}")
    assert download.status_code == 200 and download.data == b"rapport de mission envoye"
    download.close()


def test_sent_evidence_is_frozen_in_the_api(app, world, sent, client, bearer):  # noqa: F811
    headers = bearer(world.vae)
    assert client.delete(f"/api/v1/evidence/{sent.id}", headers=headers).status_code == 409
    assert client.patch(f"/api/v1/evidence/{sent.id}", headers=headers, json={"title": "x"}).status_code == 409
    db.session.expire_all()
    assert db.session.get(Evidence, sent.id).title == "Rapport de mission"


def test_the_one_rule_says_why_in_french(app, world, sent):
    with pytest.raises(EvidenceLocked, match="dossier envoyé au jury"):
        ensure_mutable(sent)
    draft = own_evidence(world.vae, title="Pas envoyée")
    ensure_mutable(draft)  # a draft nobody was sent stays editable


def test_an_export_keeps_its_file_when_evidence_with_the_same_bytes_goes(app, world, sent, login, client):
    login(world.vae)
    assert client.post(f"/vae/dossiers/{sent.id and vae.dossier_of(world.vae).id}/exports",
                       data={"kind": "pdf"}).status_code == 302
    export = db.session.scalar(db.select(DossierExport))
    download = client.get(f"/vae/exports/{export.id}/download")
    pdf = download.data
    download.close()
    copy = create_evidence(world.vae, title="Copie du PDF", kind="document", context="professional",
                           occurred_on=date(2025, 6, 1), uploads=[Upload("dossier.pdf", io.BytesIO(pdf))])
    db.session.commit()
    assert copy.files[0].blob.storage_key == export.storage_key  # the same bytes, the same object
    assert client.post(f"/evidence/{copy.id}/delete").status_code == 302
    assert export.storage_key in _keys()
    again = client.get(f"/vae/exports/{export.id}/download")
    assert again.status_code == 200 and again.data == pdf
    again.close()


def test_a_sent_file_is_kept_even_when_no_evidence_uses_it_any_more(app, world, sent):
    key = sent.files[0].blob.storage_key
    # Another candidate's identical file, filed and deleted: the sent version still names the object.
    other = create_evidence(world.learner, title="Même octets", kind="document", context="project",
                            occurred_on=date(2025, 6, 1),
                            uploads=[Upload("r.txt", io.BytesIO(b"rapport de mission envoye"))])
    db.session.commit()
    with app.test_request_context():
        keys = delete_evidence(other, actor=world.learner)
    db.session.commit()
    assert keys == []
    # Even with every evidence row gone (as an administrator's cleanup would), the sweep keeps it.
    db.session.execute(db.delete(Evidence).where(Evidence.id == sent.id))
    db.session.commit()
    orphans = {o.key for o in find_orphans(get_storage(), timedelta(0))}
    assert key not in orphans and key in _keys()


@pytest.fixture
def sent_tagged(app, world):  # type: ignore[no-untyped-def]
    """Evidence tagged against a competency, then cited by a dossier version sent to a jury."""
    from portfolio.services.evidence import tag_evidence
    from tests.factories import block_competencies

    vae.enrol_candidate(world.vae, world.certification, actor=None)
    dossier = vae.get_or_create_dossier(world.vae)
    evidence = own_evidence(world.vae, data=b"rapport tague envoye")
    first = block_competencies()[0]
    other = db.session.scalars(db.select(Competency).where(Competency.code.like("%BC02-%"))).first()
    with app.test_request_context():
        tag_evidence(evidence, first.code, "Conception de l'API.", actor=world.vae)
    complete_block(dossier, evidence)  # (its block's narratives cite and tag the evidence too)
    vae.send_dossier(dossier, actor=world.vae)
    db.session.commit()
    return evidence, first.code, other.code


def _tags(evidence_id: int) -> list[str]:
    db.session.expire_all()
    return sorted(c.competency.code for c in db.session.get(Evidence, evidence_id).claims)


def test_sent_evidence_cannot_be_tagged_or_untagged_in_the_pages(app, world, sent_tagged, login, client):
    evidence, tagged, other = sent_tagged
    evidence_id = evidence.id
    before = _tags(evidence_id)
    assert tagged in before and other not in before
    login(world.vae)
    added = client.post(f"/evidence/{evidence_id}/tags", data={"competency": other, "justification": "Aussi."},
                        follow_redirects=True)
    assert "envoyé au jury" in added.get_data(as_text=True)
    removed = client.post(f"/evidence/{evidence_id}/tags/{tagged}/delete", follow_redirects=True)
    assert "envoyé au jury" in removed.get_data(as_text=True)
    rated = client.post(f"/evidence/{evidence_id}/self-assessment",
                        data={"competency": tagged, "level": "acquired", "comment": "Je maîtrise."},
                        follow_redirects=True)
    assert "envoyé au jury" in rated.get_data(as_text=True)
    assert _tags(evidence_id) == before
    from portfolio.models import SelfAssessment

    assert db.session.scalar(db.select(db.func.count()).select_from(SelfAssessment)) == 0


def test_sent_evidence_cannot_be_tagged_or_untagged_in_the_api(app, world, sent_tagged, client, bearer):  # noqa: F811
    evidence, tagged, other = sent_tagged
    before = _tags(evidence.id)
    headers = bearer(world.vae)
    added = client.post(f"/api/v1/evidence/{evidence.id}/tags", headers=headers,
                        json={"competency": other, "justification": "Aussi."})
    assert added.status_code == 409 and "envoyé au jury" in added.get_json()["error"]["message"]
    removed = client.delete(f"/api/v1/evidence/{evidence.id}/tags/{tagged}", headers=headers)
    assert removed.status_code == 409 and "envoyé au jury" in removed.get_json()["error"]["message"]
    assert _tags(evidence.id) == before
