"""Pages people expect: home per role, error pages, headers, health check, language choice."""

from __future__ import annotations

from portfolio.extensions import db


def test_learner_home_shows_the_five_blocks_and_where_they_stand(app, world, login, client):
    login(world.learner)
    body = client.get("/").get_data(as_text=True)
    for n in range(1, 6):
        assert f'id="home-RNCP28754BC0{n}"' in body
    assert "Développement des applications" in body
    assert body.count('data-acquired="0"') == 5  # nothing assessed yet: a bar and its words per block
    assert 'href="/admin/"' not in body


def test_tutor_home_lists_only_their_cohorts(app, world, login, client):
    login(world.tutor)
    body = client.get("/").get_data(as_text=True)
    assert "Promo A 2026" in body and "Promo B 2026" not in body


def test_admin_home_shows_the_admin_menu(app, world, login, client):
    login(world.admin)
    body = client.get("/").get_data(as_text=True)
    assert 'href="/admin/users/"' in body and 'href="/admin/cohorts/"' in body


def test_unknown_route_gives_the_404_page_in_the_layout(app, client):
    response = client.get("/no/such/page")
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert '<html lang="fr">' in body and "Cette page n&#39;existe pas" in body and 'id="main"' in body


def test_a_crash_shows_no_stack_trace(app, world, login, client, monkeypatch):
    from portfolio.services import cohorts

    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(cohorts, "learner_certification", boom)
    login(world.learner)
    response = client.get("/")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "secret internal detail" not in body and "Traceback" not in body
    assert "Une erreur inattendue est survenue" in body


def test_security_headers_on_every_page(app, client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "object-src 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_accessible_layout(app, client):
    body = client.get("/login").get_data(as_text=True)
    assert '<html lang="fr">' in body
    assert 'class="skip-link" href="#main"' in body
    assert "<header" in body and "<main" in body and "<footer" in body and "<nav" in body
    assert '<label for="email">' in body and '<label for="password">' in body
    assert "http://" not in body.replace("http://localhost", "") and "https://" not in body


def test_language_is_switched_and_remembered_on_the_account(app, world, login, client):
    login(world.learner)
    response = client.post("/language", data={"locale": "en", "next": "/"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    body = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in body and "Log out" in body
    db.session.expire_all()
    assert world.learner.locale == "en"
    # Remembered: a new session for the same account comes back in English.
    client.post("/logout")
    login(world.learner)
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)


def test_anonymous_language_choice_lives_in_the_session(app, client):
    client.post("/language", data={"locale": "en", "next": "/login"})
    body = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in body and "Sign in" in body
    assert client.post("/language", data={"locale": "de"}).status_code == 302
    assert '<html lang="en">' in client.get("/login").get_data(as_text=True)


def test_healthz_reports_database_and_storage(app, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    data = response.get_json()
    assert data["status"] == "ok"
    assert data["checks"]["database"]["status"] == "ok"
    assert data["checks"]["storage"]["status"] == "ok"


def test_healthz_is_503_when_storage_is_down(database_url, tmp_path, app):
    from tests.conftest import make_config, new_app

    (tmp_path / "a-file").write_text("not a folder")
    broken = new_app(make_config(database_url, tmp_path, STORAGE_URL=f"file://{tmp_path}/a-file/evidence"))
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["storage"]["status"] == "error"
    assert response.get_json()["checks"]["database"]["status"] == "ok"


def test_healthz_is_503_when_the_database_is_down(tmp_path, app):
    from tests.conftest import make_config, new_app

    broken = new_app(make_config("postgresql://nobody@127.0.0.1:1/none", tmp_path))
    (tmp_path / "evidence").mkdir(exist_ok=True)
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"]["status"] == "error"
