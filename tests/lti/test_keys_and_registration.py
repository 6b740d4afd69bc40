"""Our keys (sealed at rest, rotated, published), manual and dynamic registration, configuration."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import AuditEvent, KeyStatus, LtiKey, LtiPlatform, RegistrationSource
from portfolio.services.lti import keys
from tests.lti.conftest import launch


def test_private_key_is_sealed_at_rest_and_opens_only_with_our_secret(app):
    row = keys.ensure_key()
    db.session.commit()
    assert row.private_key_encrypted.startswith("v1:")
    assert "PRIVATE KEY" not in row.private_key_encrypted
    token = keys.sign({"hello": "world"})
    decoded = jwt.decode(token, KeySet.import_key_set(keys.jwks()), algorithms=["RS256"])
    assert decoded.claims == {"hello": "world"} and decoded.header["kid"] == row.kid
    # The same sealed value under another secret does not open.
    original = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "another-secret-" + "x" * 32
    try:
        with pytest.raises(InvalidTag):
            keys.private_key(row)
    finally:
        app.config["SECRET_KEY"] = original
    # Sealed for one kid, it does not open for another (associated data).
    with pytest.raises(InvalidTag):
        keys.unseal(row.private_key_encrypted, "other-kid")


def test_encryption_key_comes_from_a_labelled_derivation(app):
    from portfolio.services.lti.keys import _encryption_key

    derived = _encryption_key()
    assert len(derived) == 32 and derived not in app.config["SECRET_KEY"].encode()
    app.config["LTI_KEY_SECRET"] = "kms-provided-secret-" + "k" * 20
    try:
        assert _encryption_key() != derived
    finally:
        app.config["LTI_KEY_SECRET"] = None
    assert _encryption_key() == derived


def test_rotation_keeps_the_old_public_key_published_until_it_expires(app, client, runner):
    first = keys.ensure_key()
    db.session.commit()
    result = runner.invoke(args=["lti", "keys", "rotate", "--overlap", "3600"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    rows = db.session.scalars(select(LtiKey).order_by(LtiKey.id)).all()
    assert [r.status for r in rows] == [KeyStatus.RETIRED, KeyStatus.ACTIVE]
    published = [k["kid"] for k in client.get("/lti/jwks").get_json()["keys"]]
    assert published == [rows[1].kid, first.kid]
    assert "d" not in client.get("/lti/jwks").get_json()["keys"][0]  # never the private part
    # New messages are signed with the new key.
    assert jwt.decode(keys.sign({"a": 1}), KeySet.import_key_set(keys.jwks()), algorithms=["RS256"]).header["kid"] \
        == rows[1].kid
    # Once expired, an old key is no longer published.
    result = runner.invoke(args=["lti", "keys", "rotate", "--overlap", "0"])
    assert result.exit_code == 0
    published = [k["kid"] for k in client.get("/lti/jwks").get_json()["keys"]]
    assert rows[1].kid not in published and first.kid in published and len(published) == 2
    listed = runner.invoke(args=["lti", "keys", "list"]).output
    assert f"{rows[1].kid}\tretired\texpirée" in listed and f"{first.kid}\tretired\tpubliée" in listed
    assert db.session.scalar(select(db.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "lti.key.rotate")) == 2


def test_jwks_get_writes_nothing_and_is_empty_before_any_key(client):
    assert client.get("/lti/jwks").get_json() == {"keys": []}


def test_manual_registration_from_the_command_line(runner, platform):
    reg = platform.registration()
    args = ["lti", "platforms", "add", "--name", "Moodle", "--issuer", reg["issuer"], "--client-id",
            reg["client_id"], "--deployment", "d1", "--deployment", "d2", "--auth-url", reg["auth_login_url"],
            "--token-url", reg["auth_token_url"], "--jwks-url", reg["jwks_url"], "--certification", "RNCP28754"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=args)
    assert again.exit_code == 1 and "déjà enregistrée" in again.output
    listed = runner.invoke(args=["lti", "platforms", "list"])
    assert reg["issuer"] in listed.output and "d1,d2" in listed.output
    row = db.session.scalar(select(LtiPlatform))
    assert row.source == RegistrationSource.MANUAL and row.certification.code == "RNCP28754"
    assert db.session.scalar(select(db.func.count()).select_from(LtiKey)) == 1  # our first key, made on need
    bad = runner.invoke(args=["lti", "platforms", "add", "--issuer", "ftp://x", "--client-id", "c",
                              "--auth-url", "a", "--token-url", "b", "--jwks-url", "c"])
    assert bad.exit_code == 1 and "Erreur" in bad.output


def test_manual_registration_on_the_admin_page(client, login, world, platform):
    login(world.admin)
    assert client.get("/lti/admin/platforms").status_code == 200
    reg = platform.registration()
    response = client.post("/lti/admin/platforms", data={
        "name": "Moodle", "issuer": reg["issuer"], "client_id": reg["client_id"], "deployment_ids": "d1\nd2",
        "auth_login_url": reg["auth_login_url"], "auth_token_url": reg["auth_token_url"],
        "jwks_url": reg["jwks_url"], "certification": str(world.certification.id)})
    assert response.status_code == 302, response.get_data(as_text=True)
    row = db.session.scalar(select(LtiPlatform))
    assert [d.deployment_id for d in row.deployments] == ["d1", "d2"]
    refused = client.post("/lti/admin/platforms", data={
        "issuer": "not a url", "client_id": "c", "auth_login_url": "x", "auth_token_url": "y", "jwks_url": "z"})
    assert refused.status_code == 200 and "URL https://" in refused.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count()).select_from(LtiPlatform)) == 1


def test_admin_pages_are_for_administrators(client, login, world):
    login(world.tutor)
    assert client.get("/lti/admin/platforms").status_code == 403


def test_configuration_page_and_json(client):
    page = client.get("/lti/config").get_data(as_text=True)
    for path in ("/lti/login", "/lti/launch", "/lti/jwks"):
        assert f"http://localhost{path}" in page
    data = client.get("/lti/config.json").get_json()
    assert data["oidc_initiation_url"] == "http://localhost/lti/login"
    assert data["public_jwk_url"] == "http://localhost/lti/jwks"
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in data["scopes"]
    placements = {p["placement"] for p in data["extensions"][0]["settings"]["placements"]}
    assert {"course_navigation", "link_selection"} <= placements


def test_dynamic_registration(client, platform, app):
    with app.test_request_context("/", base_url="http://localhost"):
        from portfolio.services.lti.registration import invitation_url

        url = invitation_url()
    query = {"openid_configuration": platform.url("/.well-known/openid-configuration"),
             "registration_token": platform.registration_token}
    from urllib.parse import urlencode

    page = client.get(f"{url}&{urlencode(query)}")
    assert page.status_code == 200 and "Inscrire" in page.get_data(as_text=True)
    invite = url.split("invite=", 1)[1]
    from portfolio.services.cohorts import current_certification

    response = client.post("/lti/register", data={**query, "invite": invite,
                                                  "certification": str(current_certification("RNCP28754").id)})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "data-lti-close" in response.get_data(as_text=True)
    registration = platform.calls_to("/register")[-1]
    assert registration.headers["Authorization"] == f"Bearer {platform.registration_token}"
    sent = registration.json()
    assert sent["initiate_login_uri"] == "http://localhost/lti/login"
    assert sent["redirect_uris"] == ["http://localhost/lti/launch"]
    assert sent["jwks_uri"] == "http://localhost/lti/jwks"
    assert "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly" in sent["scope"].split()
    tool_conf = sent["https://purl.imsglobal.org/spec/lti-tool-configuration"]
    assert {"name", "email"} <= set(tool_conf["claims"])
    assert {m["type"] for m in tool_conf["messages"]} == {"LtiResourceLinkRequest", "LtiDeepLinkingRequest"}
    row = db.session.scalar(select(LtiPlatform))
    assert row.issuer == platform.issuer and row.client_id == platform.client_id
    assert row.source == RegistrationSource.DYNAMIC and row.product == "moodle 4.4"
    assert row.auth_login_url == platform.url("/auth") and row.jwks_url == platform.url("/jwks")
    assert [d.deployment_id for d in row.deployments] == [platform.deployment_id]
    assert row.certification.code == "RNCP28754"
    # ... and the platform can launch right away.
    assert launch(app.test_client(), platform, "learner-1").status_code == 302


def test_dynamic_registration_needs_our_invitation(client, platform):
    query = {"openid_configuration": platform.url("/.well-known/openid-configuration"),
             "registration_token": platform.registration_token}
    response = client.post("/lti/register", data={**query, "invite": "forged"})
    assert response.status_code == 403
    assert not platform.calls_to("/register")
    assert db.session.scalar(select(db.func.count()).select_from(LtiPlatform)) == 0


def test_dynamic_registration_refused_by_the_platform_records_nothing(client, platform, app):
    with app.test_request_context("/", base_url="http://localhost"):
        from portfolio.services.lti.registration import invitation_url

        invite = invitation_url().split("invite=", 1)[1]
    response = client.post("/lti/register", data={
        "openid_configuration": platform.url("/.well-known/openid-configuration"),
        "registration_token": "wrong", "invite": invite})
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and "registration_refused" in text, text[text.find("<main"):text.find("</main>")]
    assert db.session.scalar(select(db.func.count()).select_from(LtiPlatform)) == 0
