"""Open Badges 3.0 credentials: claim, content (checked against the OB 3.0 JSON schema), signature (checked
by jwcrypto, a JOSE library independent of the joserfc that signs), revocation through the Bitstring
Status List, baked images, key rotation, the public verification page and the command."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from datetime import date, timedelta
from pathlib import Path

import jsonschema
import pytest
from jwcrypto import jwk as jw_jwk
from jwcrypto import jws as jw_jws
from sqlalchemy import delete, select

from portfolio.extensions import db
from portfolio.models import AuditEvent, Credential, CredentialSource, StatusList
from portfolio.models.base import utcnow
from portfolio.services import assessment
from portfolio.services import evidence as evidence_service
from portfolio.services.credentials import baking, issue, status
from portfolio.services.credentials import verify as verifier
from portfolio.services.errors import DomainError
from portfolio.services.evidence import Upload
from tests.factories import B1

SCHEMA = (Path(__file__).parent.parent / "portfolio/services/credentials/schema"
          / "ob_v3p0_achievementcredential_schema.json")


BC01 = [f"RNCP28754BC01-C0{n}" for n in range(1, 8)]


def make_evidence(owner, *codes: str, title: str = "Gestion de stock", submit: bool = False):  # type: ignore[no-untyped-def]
    """A piece of code evidence of ``owner`` tagged with ``codes`` (submitted on request), committed."""
    item = evidence_service.create_evidence(owner, title=title, kind="code", context="project",
                                            occurred_on=date(2026, 1, 1),
                                            uploads=[Upload("stock.py", io.BytesIO(b"print('stock')"))])
    for code in codes:
        evidence_service.tag_evidence(item, code, f"Je montre {code}.", actor=owner)
    if submit:
        assessment.submit_evidence(item, actor=owner)
    db.session.commit()
    return item


@pytest.fixture
def req(app):  # type: ignore[no-untyped-def]
    with app.test_request_context("/", base_url="http://localhost"):
        yield


@pytest.fixture
def validated(world, req):  # type: ignore[no-untyped-def]
    """BC01 validated by world.tutor for world.learner, on one piece of evidence tagged with all of it."""
    item = make_evidence(world.learner, *BC01, title="API de réservation", submit=True)
    for code in BC01:
        assessment.record_assessment(item, code, "acquired", "", assessor=world.tutor)
    block = assessment.find_block(world.certification.id, "RNCP28754BC01")
    assessment.validate_block(world.learner, block, actor=world.tutor, comment="Bravo.")
    db.session.commit()
    return block, item


def claim(world, block, **kwargs) -> Credential:  # type: ignore[no-untyped-def]
    kwargs.setdefault("subject", "email_hash")
    row = issue.claim_credential(world.learner, block.id, "tutor", **kwargs)
    db.session.commit()
    return row


def payload_of(token: str) -> dict:
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def jwcrypto_verify(token: str, jwks: dict) -> dict:
    """Verify with jwcrypto against the published JWKS (the key picked by kid): the independent check."""
    keyset = jw_jwk.JWKSet.from_json(json.dumps(jwks))
    signed = jw_jws.JWS()
    signed.deserialize(token)
    kid = signed.jose_header["kid"]
    signed.verify(keyset.get_key(kid), alg="ES256")
    return json.loads(signed.payload)


# --- claiming ------------------------------------------------------------------------------------------

def test_a_badge_is_claimed_only_for_a_block_validated_for_that_learner(world, req):
    item = make_evidence(world.learner, *BC01, submit=True)
    block = assessment.find_block(world.certification.id, "RNCP28754BC01")
    assert issue.claimable_blocks(world.learner) == []
    with pytest.raises(DomainError, match="validé"):
        issue.claim_credential(world.learner, block.id, "tutor", subject="email_hash")
    for code in BC01:
        assessment.record_assessment(item, code, "acquired", "", assessor=world.tutor)
    assessment.validate_block(world.learner, block, actor=world.tutor)
    db.session.commit()
    assert [(o.block.code, o.source) for o in issue.claimable_blocks(world.learner)] == [
        ("RNCP28754BC01", CredentialSource.TUTOR)]
    assert issue.claimable_blocks(world.other_learner) == []
    with pytest.raises(DomainError):  # someone else's validation
        issue.claim_credential(world.other_learner, block.id, "tutor", subject="email_hash")
    with pytest.raises(DomainError, match="jury"):  # no jury decision behind it
        issue.claim_credential(world.learner, block.id, "jury", subject="email_hash")
    other_item = make_evidence(world.other_learner, *BC01[:1])
    with pytest.raises(DomainError, match="preuves"):
        issue.claim_credential(world.learner, block.id, "tutor", subject="email_hash", evidence_ids=[other_item.id])
    for bad in ("", "did:", "did:web:", "DID:web:x", "did:web:ex ample.fr", "did:web:x#frag", "https://x.fr"):
        with pytest.raises(DomainError) as refused:
            issue.claim_credential(world.learner, block.id, "tutor", subject="did", did=bad)
        assert refused.value.field == "did" and "DID" in refused.value.message
    db.session.rollback()
    row = claim(world, block, subject="did", did="did:web:lina.example.fr", evidence_ids=[item.id])
    payload = payload_of(row.token)
    assert payload["credentialSubject"]["id"] == "did:web:lina.example.fr"
    assert [e["name"] for e in payload["evidence"]] == ["Gestion de stock"]
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "credential.issue")).all()
    assert len(events) == 1 and events[0].data["block"] == "RNCP28754BC01"


def test_the_credential_is_an_ob3_open_badge_an_independent_library_verifies(app, world, validated, client):
    block, item = validated
    row = claim(world, block, evidence_ids=[item.id])
    header = json.loads(base64.urlsafe_b64decode(row.token.split(".")[0] + "=="))
    assert header["alg"] == "ES256" and header["typ"] == "vc+jwt" and header["kid"] == row.kid
    jwks = client.get("/credentials/jwks").get_json()
    assert [k["kid"] for k in jwks["keys"]] == [row.kid] and "d" not in jwks["keys"][0]
    credential = jwcrypto_verify(row.token, jwks)
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()),
                                                format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER)
    assert list(validator.iter_errors(credential)) == []
    assert credential["@context"] == ["https://www.w3.org/ns/credentials/v2",
                                      "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
    assert set(credential["type"]) == {"VerifiableCredential", "OpenBadgeCredential"}
    assert credential["id"] == f"http://localhost/credentials/{row.uuid}"
    assert credential["issuer"]["id"] == "http://localhost/credentials/issuer"
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["name"] == block.title and achievement["humanCode"] == "RNCP28754BC01"
    alignment = achievement["alignment"][0]
    assert alignment["targetCode"] == "RNCP28754BC01"
    assert alignment["targetUrl"] == "https://www.francecompetences.fr/recherche/rncp/28754/"
    assert alignment["targetFramework"].startswith("RNCP28754")
    assert block.assessment_methods and achievement["criteria"]["narrative"] == block.assessment_methods.strip()
    identifiers = {i["identityType"]: i for i in credential["credentialSubject"]["identifier"]}
    email = identifiers["emailAddress"]
    assert email["hashed"] is True and "learner@example.org" not in row.token
    assert email["identityHash"] == "sha256$" + hashlib.sha256(
        ("learner@example.org" + email["salt"]).encode()).hexdigest()
    assert identifiers["name"]["identityHash"] == "Lina Apprenante"
    assert credential["evidence"] == [{"type": ["Evidence"], "name": "API de réservation", "genre": "Code source"}]
    entry = credential["credentialStatus"]
    assert entry["type"] == "BitstringStatusListEntry" and entry["statusPurpose"] == "revocation"
    assert entry["statusListIndex"] == str(row.status_index)
    assert entry["statusListCredential"] == f"http://localhost/credentials/status/{row.status_list_id}"
    # The issuer profile and the achievement are public, as the ids promise.
    assert client.get("/credentials/issuer").get_json()["name"] == credential["issuer"]["name"]
    assert client.get(f"/credentials/achievements/{block.id}").get_json()["humanCode"] == "RNCP28754BC01"
    assert client.get(f"/credentials/{row.uuid}").data.decode() == row.token


def test_the_name_is_left_out_when_the_learner_asks(world, validated):
    block, _ = validated
    payload = payload_of(claim(world, block, include_name=False).token)
    assert "Lina" not in json.dumps(payload, ensure_ascii=False)
    assert [i["identityType"] for i in payload["credentialSubject"]["identifier"]] == ["emailAddress"]


# --- revocation ------------------------------------------------------------------------------------------

def _published_bits(client, list_id: int) -> bytes:  # type: ignore[no-untyped-def]
    response = client.get(f"/credentials/status/{list_id}")
    assert response.status_code == 200 and response.mimetype == "application/vc+jwt"
    status_credential = jwcrypto_verify(response.data.decode(), client.get("/credentials/jwks").get_json())
    assert "BitstringStatusListCredential" in status_credential["type"]
    subject = status_credential["credentialSubject"]
    assert subject["statusPurpose"] == "revocation" and subject["encodedList"].startswith("u")
    bits = status.decode_list(subject["encodedList"])
    assert len(bits) * 8 >= 131072
    return bits


def test_revoking_the_validation_sets_the_bit_in_the_same_transaction(app, world, validated, client):
    block, _ = validated
    first, second = claim(world, block), claim(world, block)
    assert (first.status_index, second.status_index) == (0, 1)
    assert not status.is_set(_published_bits(client, first.status_list_id), first.status_index)
    assert verifier.verify(first.token, base="http://localhost").valid
    assessment.revoke_block(world.learner, block, actor=world.tutor, comment="Erreur de saisie.")
    db.session.rollback()  # not committed: nothing changed
    assert not status.is_set(_published_bits(client, first.status_list_id), first.status_index)
    assessment.revoke_block(world.learner, block, actor=world.tutor, comment="Erreur de saisie.")
    db.session.commit()
    bits = _published_bits(client, first.status_list_id)
    assert status.is_set(bits, 0) and status.is_set(bits, 1) and not status.is_set(bits, 2)
    result = verifier.verify(first.token, base="http://localhost")
    assert result.signature_valid and result.revoked is True and not result.valid
    assert any("révoqué" in r for r in verifier.reasons(result))
    assert db.session.scalar(select(db.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "credential.revoke")) == 2
    assert issue.claimable_blocks(world.learner) == []


def test_an_index_is_never_given_twice_even_after_the_credential_is_erased(world, validated):
    block, _ = validated
    first = claim(world, block)
    index, list_id = first.status_index, first.status_list_id
    db.session.execute(delete(Credential))
    db.session.commit()
    assert claim(world, block).status_index == index + 1
    status_list = db.session.get(StatusList, list_id)
    assert status_list.next_index == 2 and len(status_list.bits) == 131072 // 8


def test_a_full_list_opens_the_next_one(world, validated):
    block, _ = validated
    first = claim(world, block)
    list_id = first.status_list_id
    full = db.session.get(StatusList, list_id)
    full.next_index = full.size
    db.session.commit()
    row = claim(world, block)
    assert row.status_list_id != list_id and row.status_index == 0


def test_the_status_list_encoding_is_the_specification_s(app):
    bits = bytearray(131072 // 8)
    bits[0] = 0b0100_0000  # index 1 (the first bit is the most significant of the first byte)
    encoded = status.encode_list(bytes(bits))
    assert encoded.startswith("u") and "=" not in encoded
    assert status.decode_list(encoded) == bytes(bits)
    assert status.is_set(bytes(bits), 1) and not status.is_set(bytes(bits), 0)
    # The example list of the W3C Bitstring Status List v1.0 specification (§ 2.1): 131,072 bits, all clear.
    example = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"
    assert status.decode_list(example) == bytes(131072 // 8)


# --- forged, expired, rotated --------------------------------------------------------------------------------

def test_a_tampered_or_unsigned_badge_fails(world, validated):
    block, _ = validated
    token = claim(world, block).token
    head, body, signature = token.split(".")
    forged_payload = payload_of(token)
    forged_payload["credentialSubject"]["achievement"]["name"] = "Bloc inventé"
    forged = ".".join([head, base64.urlsafe_b64encode(json.dumps(forged_payload).encode()).decode().rstrip("="),
                       signature])
    result = verifier.verify(forged)
    assert not result.valid and not result.signature_valid
    assert "modifié" in verifier.reasons(result)[0]
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"vc+jwt","kid":"x"}').decode().rstrip("=")
    assert not verifier.verify(f"{none_header}.{body}.{signature}").valid
    with pytest.raises(verifier.Unreadable, match="copie lisible"):
        verifier.verify(json.dumps(payload_of(token)))


def test_a_rotated_key_still_verifies_and_an_expired_badge_says_so(app, world, validated, runner, client):
    block, _ = validated
    old = claim(world, block)
    result = runner.invoke(args=["credentials", "keys", "rotate"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    new = claim(world, block)
    assert new.kid != old.kid
    assert {k["kid"] for k in client.get("/credentials/jwks").get_json()["keys"]} == {old.kid, new.kid}
    assert verifier.verify(old.token).valid and verifier.verify(new.token).valid
    jwcrypto_verify(old.token, client.get("/credentials/jwks").get_json())
    # LTI keys are a separate set: rotating the badge keys leaves /lti/jwks alone.
    assert client.get("/lti/jwks").get_json()["keys"] == []
    app.config["CREDENTIALS_VALIDITY_DAYS"] = 365
    try:
        expiring = claim(world, block)
    finally:
        app.config["CREDENTIALS_VALIDITY_DAYS"] = None
    assert payload_of(expiring.token)["validUntil"]
    assert verifier.verify(expiring.token).valid
    later = verifier.verify(expiring.token, now=utcnow() + timedelta(days=366))
    assert later.expired and not later.valid and "expiré" in verifier.reasons(later)[0]


# --- baked images and exports ---------------------------------------------------------------------------------

def test_exports_carry_the_same_signed_badge(world, validated, login, client):
    block, _ = validated
    row = claim(world, block)
    login(world.learner)
    files = {fmt: client.get(f"/credentials/{row.uuid}/download.{fmt}") for fmt in ("jwt", "json", "png", "svg")}
    assert all(r.status_code == 200 for r in files.values())
    assert files["png"].headers["Content-Disposition"].startswith("attachment")
    assert files["jwt"].data.decode() == row.token
    envelope = files["json"].get_json()
    assert envelope["type"] == "EnvelopedVerifiableCredential" and envelope["id"].endswith(row.token)
    png = files["png"].data
    assert png.startswith(baking.PNG_SIGNATURE) and png[12:16] == b"IHDR"
    assert png[33 + 4:33 + 8] == b"iTXt"  # right after IHDR (8 signature + 25 IHDR bytes)
    assert baking.unbake_png(png) == row.token
    svg = files["svg"].data.decode()
    assert 'xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"' in svg
    assert f'<openbadges:credential verify="{row.token}"/>' in svg
    for response in files.values():
        assert verifier.verify(response.data, base="http://localhost").valid
    client.post("/logout")
    login(world.other_learner)
    assert client.get(f"/credentials/{row.uuid}/download.png").status_code == 404


def test_images_without_a_badge_are_refused_with_a_reason(app):
    with pytest.raises(verifier.Unreadable, match="PNG"):
        verifier.verify(baking.badge_png(16))
    with pytest.raises(verifier.Unreadable, match="SVG"):
        verifier.verify(baking.badge_svg(code="X", title="Y", issuer="Z"))
    with pytest.raises(verifier.Unreadable, match="SVG"):
        verifier.verify('<!DOCTYPE svg [<!ENTITY a "b">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>')


# --- pages -------------------------------------------------------------------------------------------------

def test_the_learner_claims_from_their_page(world, validated, login, client):
    block, item = validated
    login(world.learner)
    page = client.get("/credentials/")
    assert page.status_code == 200 and "RNCP28754BC01" in page.text and "API de réservation" in page.text
    prefix = f"tutor-{block.id}"
    response = client.post(f"/credentials/claim/tutor/{block.id}", data={
        f"{prefix}-subject": "did", f"{prefix}-did": "pas un did", "evidence": [str(item.id)]})
    assert response.status_code == 422 and "DID valide" in response.text
    assert db.session.scalar(select(db.func.count()).select_from(Credential)) == 0
    response = client.post(f"/credentials/claim/tutor/{block.id}", data={
        f"{prefix}-subject": "email_hash", f"{prefix}-include_name": "y", "evidence": [str(item.id)]})
    assert response.status_code == 302
    row = db.session.scalar(select(Credential))
    assert row.user_id == world.learner.id and row.source == CredentialSource.TUTOR
    page = client.get("/credentials/")
    assert f"/credentials/{row.uuid}/download.png" in page.text
    client.post("/logout")
    login(world.other_learner)
    assert client.post(f"/credentials/claim/tutor/{block.id}", data={
        f"{prefix}-subject": "email_hash"}).status_code == 422


def test_the_holder_revokes_one_of_their_badges(world, validated, login, client):
    block, _ = validated
    row, other = claim(world, block), claim(world, block)
    prefix = row.uuid
    login(world.learner)
    response = client.post(f"/credentials/{row.uuid}/revocation", data={})
    assert response.status_code == 422 and "Cochez la case" in response.text
    assert verifier.verify(row.token).valid
    client.post("/logout")
    login(world.other_learner)
    assert client.post(f"/credentials/{row.uuid}/revocation", data={f"{prefix}-confirm": "y"}).status_code == 404
    client.post("/logout")
    login(world.learner)
    response = client.post(f"/credentials/{row.uuid}/revocation", data={f"{prefix}-confirm": "y"})
    assert response.status_code == 302
    assert verifier.verify(row.token).revoked is True and verifier.verify(other.token).valid
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "credential.revoke"))
    assert event.data["by"] == "holder"
    assert "révoqué le" in client.get("/credentials/").text


def test_the_public_page_verifies_a_file_a_pasted_jwt_or_an_address_of_this_instance(world, validated, client):
    block, _ = validated
    row = claim(world, block)
    png = baking.bake_png(baking.badge_png(32), row.token)
    response = client.post("/credentials/verify", data={"upload": (io.BytesIO(png), "badge.png"),
                                                        "email": "LEARNER@example.org"},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    assert 'data-valid="true"' in response.text and "Lina Apprenante" in response.text
    assert "correspond au badge" in response.text and "non révoqué" in response.text
    response = client.post("/credentials/verify", data={"text": row.token, "email": "autre@example.org"})
    assert 'data-valid="true"' in response.text and "ne correspond pas" in response.text
    response = client.post("/credentials/verify", data={"text": f"http://localhost/credentials/{row.uuid}"})
    assert 'data-valid="true"' in response.text
    response = client.post("/credentials/verify", data={"text": f"http://169.254.169.254/credentials/{row.uuid}"})
    assert response.status_code == 422 and "aucune autre adresse" in response.text
    response = client.post("/credentials/verify", data={"text": "bonjour"})
    assert response.status_code == 422 and "JWT" in response.text
    response = client.post("/credentials/verify", data={})
    assert response.status_code == 422 and "Déposez" in response.text


def test_the_public_verifier_is_rate_limited_per_address(app, client):
    app.config["CREDENTIALS_VERIFY_RATE_LIMIT"] = "2 per minute"
    try:
        statuses = [client.post("/credentials/verify", data={"text": "x"},
                                environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code for _ in range(3)]
        assert client.get("/credentials/verify", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    finally:
        app.config["CREDENTIALS_VERIFY_RATE_LIMIT"] = "30 per minute;300 per hour"
    assert statuses == [422, 422, 429]


def test_the_verification_page_speaks_english_on_request(world, validated, client):
    block, _ = validated
    row = claim(world, block)
    client.get("/lang/en")
    response = client.post("/credentials/verify", data={"text": row.token})
    assert "Valid badge" in response.text


# --- the command ----------------------------------------------------------------------------------------------

def test_command_verifies_a_file_and_exits_non_zero_with_the_reason(app, world, validated, runner, tmp_path):
    block, _ = validated
    row = claim(world, block)
    badge = tmp_path / "badge.svg"
    badge.write_text(baking.badge_svg(code=block.code, title=block.title, issuer="CNAM", token=row.token))
    result = runner.invoke(args=["credentials", "verify", str(badge), "--locale", "fr"])
    assert result.exit_code == 0, result.output
    assert "Badge valide" in result.output and "RNCP28754BC01" in result.output
    with app.test_request_context("/", base_url="http://localhost"):
        assessment.revoke_block(world.learner, block, actor=world.tutor, comment="Erreur.")
    db.session.commit()
    result = runner.invoke(args=["credentials", "verify", str(badge), "--locale", "fr"])
    assert result.exit_code == 1 and "révoqué" in result.output
    result = runner.invoke(args=["credentials", "verify", str(badge)], env={"LANG": "en_GB.UTF-8"})
    assert result.exit_code == 1 and "revoked" in result.output
    garbage = tmp_path / "x.txt"
    garbage.write_text("pas un badge")
    result = runner.invoke(args=["credentials", "verify", str(garbage), "--locale", "fr"])
    assert result.exit_code == 1 and "n'est pas un badge" in result.output


# --- jury decisions -------------------------------------------------------------------------------------------

def test_a_block_the_jury_validated_is_claimable_once_the_outcome_is_recorded(app, world, vae_case):
    from portfolio.models import DossierVersion
    from portfolio.services import vae

    version = db.session.get(DossierVersion, vae_case["version"])
    with app.test_request_context("/", base_url="http://localhost"):
        vae.record_block_decision(version, B1, "validated", "Acquis démontrés.", member=world.jury)
        db.session.commit()
        assert issue.claimable_blocks(world.vae) == []  # still deliberating
        vae.record_outcome(version, "partial", "Un bloc sur cinq.", member=world.jury, confirmed=True)
        db.session.commit()
        [option] = issue.claimable_blocks(world.vae)
        assert (option.block.code, option.source) == (B1, CredentialSource.JURY)
        row = issue.claim_credential(world.vae, option.block.id, "jury", subject="email_hash",
                                     evidence_ids=[vae_case["vae_evidence"]])
        db.session.commit()
        assert row.jury_decision_id is not None and row.block_decision_id is None
        assert verifier.verify(row.token, base="http://localhost").valid
        assert "jury de VAE" in payload_of(row.token)["description"]
