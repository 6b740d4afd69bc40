"""Sessions end when they should: sign-out, a password change, an administrator's reset, a role removed
and a deactivated account end every session and remember-me cookie of the person, on every device; a
copied cookie opens nothing afterwards. Weak passwords are refused wherever a password is set."""

from __future__ import annotations

import pytest

from portfolio.extensions import db
from portfolio.models import User
from tests.conftest import TEST_PASSWORD

NEW_PASSWORD = "vingt pommes vertes sous la pluie"  # noqa: S105


def _sign_in(app, user, remember: bool = True):  # type: ignore[no-untyped-def]
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD,
                                           "remember": "y" if remember else ""})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def _cookies(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {name: cookie.value for name in ("session", "remember_token")
            if (cookie := client.get_cookie(name)) is not None}


def _replay(app, cookies: dict[str, str]):  # type: ignore[no-untyped-def]
    """A browser holding copies of these cookies (a stolen session, another device)."""
    client = app.test_client()
    for name, value in cookies.items():
        client.set_cookie(name, value)
    return client


def _signed_in(client) -> bool:  # type: ignore[no-untyped-def]
    response = client.get("/")
    return response.status_code == 200


def _only_remember(cookies: dict[str, str]) -> dict[str, str]:
    return {"remember_token": cookies["remember_token"]}


@pytest.fixture
def person(make_user):  # type: ignore[no-untyped-def]
    return make_user("sam@example.org", "learner", "tutor", name="Sam Dupont")


@pytest.fixture
def admin_client(app, make_user):  # type: ignore[no-untyped-def]
    admin = make_user("boss@example.org", "admin", name="Bea Admin")
    return _sign_in(app, admin)


def test_a_session_and_its_remember_cookie_work_before_anything_happens(app, person):
    client = _sign_in(app, person)
    cookies = _cookies(client)
    assert set(cookies) == {"session", "remember_token"}
    assert _signed_in(_replay(app, cookies))
    assert _signed_in(_replay(app, _only_remember(cookies)))  # the remember-me cookie alone restores it


def test_remember_cookies_are_not_a_fixed_function_of_the_user_id(app, person):
    first = _cookies(_sign_in(app, person))["remember_token"]
    person_id = person.id
    assert first.split("|")[0] != str(person_id)  # not the bare id
    _sign_in(app, person).post("/logout")
    second = _cookies(_sign_in(app, person))["remember_token"]
    assert first != second
    assert not _signed_in(_replay(app, {"remember_token": first}))


def test_sign_out_ends_every_session_and_remember_cookie_of_the_person(app, person):
    laptop, phone = _sign_in(app, person), _sign_in(app, person)
    stolen = _cookies(laptop)
    laptop.post("/logout")
    assert not _signed_in(laptop)
    assert not _signed_in(phone)
    assert not _signed_in(_replay(app, stolen))
    assert not _signed_in(_replay(app, _only_remember(stolen)))


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app, person):
    laptop, phone = _sign_in(app, person), _sign_in(app, person)
    stolen = _cookies(phone)
    response = laptop.post("/account/password", data={"current": TEST_PASSWORD, "password": NEW_PASSWORD,
                                                      "confirm": NEW_PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _signed_in(laptop)
    assert not _signed_in(phone)
    assert not _signed_in(_replay(app, _only_remember(stolen)))
    assert app.test_client().post("/login", data={"email": person.email, "password": NEW_PASSWORD}).status_code == 302


def test_a_password_change_needs_the_current_password(app, person):
    client = _sign_in(app, person)
    response = client.post("/account/password", data={"current": "not my password", "password": NEW_PASSWORD,
                                                      "confirm": NEW_PASSWORD})
    assert response.status_code == 422
    assert "Le mot de passe actuel est incorrect." in response.get_data(as_text=True)
    assert _signed_in(client)


def _admin_edit(admin_client, user: User, **changes):  # type: ignore[no-untyped-def]
    data = {"name": user.name, "locale": "fr", "roles": sorted(r.value for r in user.roles), "is_enabled": "y",
            "password": ""}
    data.update(changes)
    if data["is_enabled"] is False:
        data.pop("is_enabled")
    return admin_client.post(f"/admin/users/{user.id}", data=data)


def test_an_administrators_password_reset_ends_the_persons_sessions(app, person, admin_client):
    client = _sign_in(app, person)
    stolen = _cookies(client)
    response = _admin_edit(admin_client, person, password=NEW_PASSWORD)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert not _signed_in(client)
    assert not _signed_in(_replay(app, _only_remember(stolen)))
    assert _signed_in(admin_client)


def test_removing_a_role_ends_the_persons_sessions_adding_one_does_not(app, person, admin_client):
    client = _sign_in(app, person)
    assert _admin_edit(admin_client, person, roles=["learner", "tutor", "jury"]).status_code == 302
    assert _signed_in(client)
    stolen = _cookies(client)
    assert _admin_edit(admin_client, db.session.get(User, person.id), roles=["learner"]).status_code == 302
    assert not _signed_in(client)
    assert not _signed_in(_replay(app, _only_remember(stolen)))
    # Signing in again gives the remaining roles only.
    again = _sign_in(app, person)
    assert again.get(f"/cohorts/{1}").status_code in (403, 404)


def test_deactivating_an_account_ends_its_sessions_for_good(app, person, admin_client):
    client = _sign_in(app, person)
    stolen = _cookies(client)
    assert _admin_edit(admin_client, person, is_enabled=False).status_code == 302
    assert not _signed_in(client)
    # Turned on again, the account does not bring the old cookies back to life.
    assert _admin_edit(admin_client, db.session.get(User, person.id), is_enabled="y").status_code == 302
    assert not _signed_in(_replay(app, stolen))
    assert not _signed_in(_replay(app, _only_remember(stolen)))


def test_a_forged_or_truncated_session_id_opens_nothing(app, person):
    from portfolio.extensions import login_manager
    from portfolio.services.access import init_login  # noqa: F401 — the loader under test is registered there

    loader = login_manager._user_callback
    token = db.session.get(User, person.id).session_token
    assert loader(f"{person.id}:{token}") is not None
    for forged in (str(person.id), f"{person.id}:", f"{person.id}:{token[:-1]}", f"{person.id}:x{token}",
                   f":{token}", "abc:def", ""):
        assert loader(forged) is None, forged


# --- weak passwords ---------------------------------------------------------------------------------

WEAK = [
    ("azertyuiop", "plus courants"),
    ("Password1234", "plus courants"),
    ("Motdepasse2026", "trop facile à deviner"),
    ("soleil1234", "trop facile à deviner"),
    ("sam.dupont2026", "reprend votre nom"),
]


@pytest.mark.parametrize(("password", "message"), WEAK)
def test_weak_passwords_are_refused_on_the_password_change_page(app, person, password, message):
    client = _sign_in(app, person)
    response = client.post("/account/password", data={"current": TEST_PASSWORD, "password": password,
                                                      "confirm": password})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _signed_in(client)  # nothing changed


@pytest.mark.parametrize(("password", "message"), WEAK[:4])
def test_weak_passwords_are_refused_by_the_administration_pages(app, person, admin_client, password, message):
    response = _admin_edit(admin_client, person, password=password)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    response = admin_client.post("/admin/users/new", data={
        "email": "new@example.org", "name": "Nina Nouvelle", "roles": ["learner"], "locale": "fr",
        "password": password})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert db.session.scalar(db.select(User).where(User.email == "new@example.org")) is None


def test_weak_passwords_are_refused_by_the_command_line(app, runner):
    result = runner.invoke(args=["users", "create", "cli@example.org", "--role", "learner", "--password-stdin"],
                           input="azertyuiop\n")
    assert result.exit_code == 1 and "plus courants" in result.output
    result = runner.invoke(args=["users", "create", "cli@example.org", "--role", "learner", "--password-stdin"],
                           input=f"{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.output


def test_a_long_unusual_passphrase_is_accepted_quickly(app):
    from portfolio.services.users import check_password_strength

    check_password_strength(NEW_PASSWORD)
    check_password_strength("x" + "Zq8!w" * 400)  # long input: only a prefix is scored
