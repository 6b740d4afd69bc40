"""The rules a VAE jury follows: the overall outcome agrees with the block decisions, the candidate is told
once, of the final decision, when the jury closes its deliberation; sending a dossier and recording an
outcome are confirmed first (a checkbox: it works without JavaScript)."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from portfolio.extensions import db
from portfolio.models import DossierVersion, JuryBlockDecision, JuryOutcome, Notification
from portfolio.services import vae as service
from portfolio.services.errors import DomainError
from tests.factories import B1, complete_block, own_evidence

B2 = "RNCP28754BC02"


@pytest.fixture
def two_blocks(app, world, enrolled):  # type: ignore[no-untyped-def]
    """world.vae sent BC01 and BC02 (of the five blocks) as version 1, assigned to world.jury."""
    evidence = own_evidence(world.vae)
    dossier = service.get_or_create_dossier(world.vae)
    complete_block(dossier, evidence, B1)
    complete_block(dossier, evidence, B2)
    version = service.send_dossier(dossier, actor=world.vae)
    jury = service.create_jury("Jury CDA", [world.jury], actor=world.admin)
    service.assign_version(version, jury, actor=world.admin)
    db.session.commit()
    return version


def candidate_messages(world) -> list[str]:  # type: ignore[no-untyped-def]
    return list(db.session.scalars(select(Notification.message).where(Notification.user_id == world.vae.id)
                                   .order_by(Notification.id)))


def spaced(text: str) -> str:
    """French typography puts no-break spaces before « : » and « ; »: compare with plain spaces."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def refused(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as info:
        call()
    return spaced(info.value.message)


def test_outcome_must_agree_with_block_decisions(app, world, two_blocks):  # type: ignore[no-untyped-def]
    version, juror = two_blocks, world.jury

    def outcome(value: str, confirmed: bool = True):  # type: ignore[no-untyped-def]
        return lambda: service.record_outcome(version, value, "Motivation.", member=juror, confirmed=confirmed)

    assert "RNCP28754BC01, RNCP28754BC02" in refused(outcome("refusal"))  # no block decided yet
    service.record_block_decision(version, B1, "validated", "Démontré.", member=juror)
    assert B2 in refused(outcome("partial"))  # BC02 still awaits its decision
    service.record_block_decision(version, B2, "not_validated", "Preuves insuffisantes.", member=juror)
    assert "ne l'est pas" in refused(outcome("full")) and B2 in refused(outcome("full"))
    assert "pas un refus" in refused(outcome("refusal"))
    assert "confirmation" in refused(outcome("partial", confirmed=False))
    assert db.session.scalar(select(func.count(JuryOutcome.id))) == 0
    # No notification to the candidate while the jury deliberates.
    assert not any("jury" in m.lower() for m in candidate_messages(world))

    service.record_outcome(version, "partial", "Un bloc sur deux.", member=juror, confirmed=True)
    db.session.commit()
    messages = [spaced(m) for m in candidate_messages(world) if "jury" in m.lower()]
    assert messages == ["Le jury a rendu sa décision sur votre dossier de VAE : Validation partielle "
                        "(bloc validé : RNCP28754BC01)."]

    # The deliberation is closed: nothing more is recorded, nobody is told twice.
    assert "close" in refused(lambda: service.record_block_decision(version, B2, "validated", "x", member=juror))
    assert "close" in refused(outcome("partial"))
    assert db.session.scalar(select(func.count(JuryBlockDecision.id))) == 2
    assert len([m for m in candidate_messages(world) if "jury" in m.lower()]) == 1


def test_full_validation_needs_every_block_and_refusal_none(app, world, two_blocks):  # type: ignore[no-untyped-def]
    version, juror = two_blocks, world.jury
    for code in (B1, B2):
        service.record_block_decision(version, code, "validated", "Démontré.", member=juror)
    # Every presented block is validated, but two of five blocks do not make the whole certification.
    assert "2 sur 5" in refused(lambda: service.record_outcome(version, "full", "x", member=juror, confirmed=True))
    assert service.expected_outcome(version)[0].value == "partial"
    for code in (B1, B2):
        service.record_block_decision(version, code, "not_validated", "Après entretien.", member=juror)
    assert service.expected_outcome(version)[0].value == "refusal"
    assert "refus" in refused(lambda: service.record_outcome(version, "partial", "x", member=juror, confirmed=True))
    service.record_outcome(version, "refusal", "Aucun bloc démontré.", member=juror, confirmed=True)


def test_outcome_page_refusal_keeps_what_was_typed_and_names_every_problem(app, world, two_blocks, login, client):  # type: ignore[no-untyped-def]
    login(world.jury)
    url = f"/vae/versions/{two_blocks.id}"
    for code, result in ((B1, "validated"), (B2, "not_validated")):
        assert client.post(f"{url}/decisions", data={"block": code, "result": result,
                                                      "comment": "Motivé."}).status_code == 302
    response = client.post(f"{url}/outcome", data={"outcome-outcome": "full",
                                                   "outcome-comment": "Mon texte de motivation"})
    page = spaced(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "Mon texte de motivation</textarea>" in page  # kept
    assert "ne l&#39;est pas" in page and "Cochez la case de confirmation" in page  # both at once
    assert 'role="alert"' in page
    assert "Au vu des décisions par bloc : Validation partielle (bloc validé : RNCP28754BC01)." in page
    assert db.session.scalar(select(func.count(JuryOutcome.id))) == 0

    response = client.post(f"{url}/outcome", data={"outcome-outcome": "partial", "outcome-comment": "Motivé.",
                                                   "outcome-confirm": "y"})
    assert response.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert 'id="deliberation-closed"' in page and "outcome-form" not in page and "decision-form" not in page


def test_block_decision_refusal_keeps_the_typed_comment(app, world, two_blocks, login, client):  # type: ignore[no-untyped-def]
    login(world.jury)
    response = client.post(f"/vae/versions/{two_blocks.id}/decisions",
                           data={"block": B2, "comment": "Ce que j'ai écrit"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Ce que j&#39;ai écrit</textarea>" in page and "Choisissez validé ou non validé." in page


def test_sending_needs_the_confirmation(app, world, vae_case, login, client):  # type: ignore[no-untyped-def]
    dossier_id = vae_case["dossier"]
    service.update_presentation(db.session.get(DossierVersion, vae_case["version"]).dossier, "Modifié.",
                                actor=world.vae)
    db.session.commit()
    login(world.vae)
    response = client.post(f"/vae/dossiers/{dossier_id}/send", data={})
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert "Cochez la case pour confirmer l'envoi au jury." in page.split('role="alert"', 1)[1]
    assert db.session.scalar(select(func.count(DossierVersion.id))) == 1
    response = client.post(f"/vae/dossiers/{dossier_id}/send", data={"confirm": "y"})
    assert response.status_code == 302
    assert db.session.scalar(select(func.count(DossierVersion.id))) == 2
