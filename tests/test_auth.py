"""Signing in and out: generic errors, rate limiting, CSRF, cookies, no open redirect."""

from __future__ import annotations

import re

import pytest

from portfolio.extensions import db, limiter
from tests.conftest import TEST_PASSWORD, make_config, new_app


def test_login_then_home_then_logout(app, client, make_user):
    make_user("ana@example.org", "learner", name="Ana")
    response = client.post("/login", data={"email": "ANA@example.org ", "password": TEST_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Bonjour, Ana" in client.get("/").get_data(as_text=True)
    response = client.post("/logout", follow_redirects=True)
    assert "Vous êtes déconnecté·e." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("email,password", [
    ("ana@example.org", "wrong password!"),
    ("nobody@example.org", TEST_PASSWORD),
])
def test_wrong_email_or_password_gives_one_generic_message(app, client, make_user, email, password):
    make_user("ana@example.org", "learner")
    response = client.post("/login", data={"email": email, "password": password})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Adresse e-mail ou mot de passe incorrect." in body
    assert "nobody" not in body.split("<form")[0]


def test_disabled_account_cannot_sign_in(app, client, make_user):
    user = make_user("off@example.org", "learner")
    user.is_enabled = False
    db.session.commit()
    response = client.post("/login", data={"email": "off@example.org", "password": TEST_PASSWORD})
    assert response.status_code == 422


def test_field_errors_are_in_french(app, client):
    body = client.post("/login", data={"email": "not-an-email", "password": ""}).get_data(as_text=True)
    assert "Cette adresse e-mail n&#39;est pas valide." in body or "Cette adresse e-mail n'est pas valide." in body
    assert "Saisissez votre mot de passe." in body
    assert 'aria-invalid="true"' in body


def test_passwords_are_hashed_with_argon2(app, make_user):
    user = make_user("h@example.org", "learner")
    assert user.password_hash.startswith("$argon2id$")
    assert TEST_PASSWORD not in user.password_hash


@pytest.mark.parametrize("target,expected", [
    ("/admin/", "/admin/"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
])
def test_next_parameter_never_leaves_the_site(app, client, make_user, target, expected):
    make_user("n@example.org", "admin")
    response = client.post(f"/login?next={target}", data={"email": "n@example.org", "password": TEST_PASSWORD})
    assert response.headers["Location"] == expected


def test_login_attempts_are_rate_limited(app, client, make_user):
    make_user("r@example.org", "learner")
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    try:
        limiter.reset()
        responses = [client.post("/login", data={"email": "r@example.org", "password": "bad password"})
                     for _ in range(4)]
        # Even the right password is refused while the limit holds.
        last = client.post("/login", data={"email": "r@example.org", "password": TEST_PASSWORD})
    finally:
        app.config["LOGIN_RATE_LIMIT"] = "10000 per minute"
    assert [r.status_code for r in responses] == [422, 422, 422, 429]
    assert last.status_code == 429
    # The refusal is a page in the layout, in French.
    assert "Trop de tentatives" in responses[-1].get_data(as_text=True)


@pytest.fixture
def csrf_app(database_url, tmp_path, app):
    """The same database, with CSRF protection on as in production."""
    return new_app(make_config(database_url, tmp_path, WTF_CSRF_ENABLED=True))


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_csrf_token_is_required_and_must_be_genuine(csrf_app, make_user):
    make_user("c@example.org", "learner")
    client = csrf_app.test_client()
    data = {"email": "c@example.org", "password": TEST_PASSWORD}
    assert client.post("/login", data=data).status_code == 400
    assert client.post("/login", data=data | {"csrf_token": "forged"}).status_code == 400
    # A token from another session (another browser) is refused too.
    other = csrf_app.test_client()
    foreign = _token(other.get("/login").get_data(as_text=True))
    response = client.post("/login", data=data | {"csrf_token": foreign})
    assert response.status_code == 400
    assert "Le formulaire a expiré" in response.get_data(as_text=True)
    token = _token(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data=data | {"csrf_token": token}).status_code == 302


def test_logout_is_post_only_and_csrf_protected(csrf_app, make_user):
    make_user("d@example.org", "learner")
    client = csrf_app.test_client()
    token = _token(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": "d@example.org", "password": TEST_PASSWORD, "csrf_token": token})
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200  # still signed in


def test_session_cookie_flags_in_production(database_url, tmp_path, make_user):
    prod = new_app(make_config(database_url, tmp_path, ENV="production", SECRET_KEY="s" * 40,
                                  SESSION_COOKIE_SECURE=None))
    make_user("p@example.org", "learner")
    client = prod.test_client()
    response = client.post("/login", data={"email": "p@example.org", "password": TEST_PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
