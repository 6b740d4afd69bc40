"""The JSON API ``/api/v1``: token authentication, every route with every role, uploads, downloads,
tags, progress, and the OpenAPI document that must describe every route."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from portfolio.extensions import db
from portfolio.models import AuditEvent, Evidence, EvidenceStatus
from portfolio.services import tokens
from portfolio.storage import get_storage
from tests.factories import add_evidence

REPORT = b'<?xml version="1.0"?>\n<testsuite name="ci" tests="3" failures="0"></testsuite>\n'


def stored_keys() -> set[str]:
    return {o.key for o in get_storage().iter_objects() if not o.key.startswith("tmp/")}


# --- the permission matrix ---------------------------------------------------------------------------

ROLES = ["none", "invalid", "revoked", "learner", "other_learner", "tutor", "other_tutor", "vae", "jury", "admin"]
NOAUTH = ("none", "invalid", "revoked")


def expect(default: int, **per_role: int) -> dict[str, int]:
    result = {role: (401 if role in NOAUTH else default) for role in ROLES}
    result.update(per_role)
    return result


def visible(ok: int, owner_only: bool = False) -> dict[str, int]:
    """The learner's evidence: owner ok; their tutor and the admin read it (403 on writes); others 404."""
    seen = 403 if owner_only else ok
    return expect(404, learner=ok, tutor=seen, admin=seen)


def _upload() -> dict:
    return {"title": "Rapport", "kind": "test_report", "file": (io.BytesIO(REPORT), "report.xml")}


# endpoint -> (method, path template, body kind, body, expected by role)
MATRIX: dict[str, tuple[str, str, str | None, object, dict[str, int]]] = {
    "api.openapi": ("GET", "/api/v1/openapi.json", None, None, {role: 200 for role in ROLES}),
    "api.list_certifications": ("GET", "/api/v1/certifications", None, None, expect(200)),
    "api.list_evidence": ("GET", "/api/v1/evidence", None, None, expect(200)),
    "api.create_evidence": ("POST", "/api/v1/evidence", "form", _upload,
                            expect(403, learner=201, other_learner=201, vae=201)),
    "api.get_evidence": ("GET", "/api/v1/evidence/{id}", None, None, visible(200)),
    "api.update_evidence": ("PATCH", "/api/v1/evidence/{id}", "json", {"title": "Nouveau titre"},
                            visible(200, owner_only=True)),
    "api.delete_evidence": ("DELETE", "/api/v1/evidence/{id}", None, None, visible(204, owner_only=True)),
    "api.download_file": ("GET", "/api/v1/evidence/{id}/files/{file_id}", None, None, visible(200)),
    "api.add_tag": ("POST", "/api/v1/evidence/{id}/tags", "json",
                    {"competency": "RNCP28754BC01-C02", "justification": "Les tests couvrent le module."},
                    visible(201, owner_only=True)),
    "api.remove_tag": ("DELETE", "/api/v1/evidence/{id}/tags/RNCP28754BC01-C01", None, None,
                       visible(204, owner_only=True)),
    "api.my_progress": ("GET", "/api/v1/me/progress", None, None,
                        expect(404, learner=200, other_learner=200)),
    # On the local store there is no direct path: 409 for those who may upload at all.
    "api.create_upload": ("POST", "/api/v1/uploads", "json", {"filename": "a.bin", "size": 10},
                          expect(403, learner=409, other_learner=409, vae=409)),
    # Assessment: the owner submits and withdraws; the tutors of the cohort and administrators assess.
    "api.submit_evidence": ("POST", "/api/v1/evidence/{id}/submit", None, None, visible(200, owner_only=True)),
    "api.withdraw_evidence": ("POST", "/api/v1/evidence/{id}/withdraw", None, None,
                              visible(200, owner_only=True)),
    "api.assessment_queue": ("GET", "/api/v1/assessments/queue", None, None,
                             expect(403, tutor=200, other_tutor=200, admin=200)),
    "api.list_assessments": ("GET", "/api/v1/evidence/{id}/assessments", None, None, visible(200)),
    "api.create_assessment": ("POST", "/api/v1/evidence/{id}/assessments", "json",
                              {"competency": "RNCP28754BC01-C01", "level": "acquired", "comment": "Bien."},
                              expect(403, tutor=201, other_tutor=404, admin=201)),
    "api.validate_block": ("POST", "/api/v1/learners/{learner}/blocks/RNCP28754BC04/validation", "json",
                           {"comment": "Bloc acquis."}, expect(403, tutor=201, other_tutor=404, admin=201)),
    "api.list_cohorts": ("GET", "/api/v1/cohorts", None, None, expect(200)),
    "api.cohort_matrix": ("GET", "/api/v1/cohorts/{cohort}/matrix", None, None,
                          expect(403, tutor=200, other_tutor=404, admin=200)),
    # What the pages have: progress with levels, logbooks, the VAE dossier (world.tutor is the adviser).
    "api.learner_progress": ("GET", "/api/v1/learners/{learner}/progress", None, None,
                             expect(404, learner=200, tutor=200, admin=200)),
    "api.list_internships": ("GET", "/api/v1/internships", None, None, expect(200)),
    "api.list_entries": ("GET", "/api/v1/internships/{internship}/entries", None, None,
                         expect(404, learner=200, tutor=200, admin=200)),
    "api.create_entry": ("POST", "/api/v1/internships/{internship}/entries", "json",
                         {"day": "2026-03-02", "hours": 7, "activities": "Revue de code."},
                         expect(404, learner=201, tutor=403, admin=403)),
    "api.get_dossier": ("GET", "/api/v1/dossiers/{dossier}", None, None, expect(404, vae=200, tutor=200, admin=200)),
    "api.update_dossier_section": ("PUT", "/api/v1/dossiers/{dossier}/sections/RNCP28754BC01", "json",
                                   {"applied": True, "activities": "J'ai conçu une API."},
                                   expect(404, vae=200, tutor=403, admin=403)),
    # The candidate may send; this dossier is still empty, so the answer lists what is missing.
    "api.send_dossier": ("POST", "/api/v1/dossiers/{dossier}/send", None, None,
                         expect(404, vae=422, tutor=403, admin=403)),
}


def _logbook_and_dossier(world) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from portfolio.services import logbook, vae

    internship = logbook.create_internship(world.learner, organisation="Acme", supervisor_name="Marc Maître",
                                           supervisor_email="marc@example.org", start_date=date(2026, 3, 2),
                                           end_date=date(2026, 3, 27))
    vae.enrol_candidate(world.vae, world.certification, actor=None)
    vae.set_adviser(world.vae, world.tutor, actor=None)
    dossier = vae.get_or_create_dossier(world.vae)
    db.session.commit()
    return {"internship": internship.id, "dossier": dossier.id}


def _submit(client, bearer, owner, item) -> None:  # type: ignore[no-untyped-def]
    response = client.post(f"/api/v1/evidence/{item.id}/submit", headers=bearer(owner))
    assert response.status_code == 200, response.get_data(as_text=True)


def _acquire(client, bearer, world, codes) -> None:  # type: ignore[no-untyped-def]
    """world.learner submits a piece of evidence for ``codes``; world.tutor judges each one acquired."""
    item = add_evidence(world.learner, title="Tout le bloc", files=((b"bloc", "bloc.txt"),), tags=codes)
    _submit(client, bearer, world.learner, item)
    for code in codes:
        response = client.post(f"/api/v1/evidence/{item.id}/assessments", headers=bearer(world.tutor),
                               json={"competency": code, "level": "acquired", "comment": "Acquis."})
        assert response.status_code == 201, response.get_data(as_text=True)


# endpoint -> what must hold before the request, so that the allowed roles really succeed.
PREPARE = {
    "api.withdraw_evidence": lambda client, bearer, world, item: _submit(client, bearer, world.learner, item),
    "api.create_assessment": lambda client, bearer, world, item: _submit(client, bearer, world.learner, item),
    "api.assessment_queue": lambda client, bearer, world, item: _submit(client, bearer, world.learner, item),
    "api.validate_block": lambda client, bearer, world, item: _acquire(
        client, bearer, world, ["RNCP28754BC04-C01", "RNCP28754BC04-C02"]),
}


def test_every_api_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")}
    assert endpoints == MATRIX.keys()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_matrix(app, world, client, bearer, endpoint, role):
    method, path, body_kind, body, expected = MATRIX[endpoint]
    item = add_evidence(world.learner, tags=["RNCP28754BC01-C01"])
    if endpoint in PREPARE:
        PREPARE[endpoint](client, bearer, world, item)
    more = _logbook_and_dossier(world) if "{internship}" in path or "{dossier}" in path else {}
    path = path.format(id=item.id, file_id=item.files[0].id, learner=world.learner.id, cohort=world.cohort.id,
                       **more)
    if role == "none":
        headers = {}
    elif role == "invalid":
        headers = {"Authorization": "Bearer pft_not-a-real-token"}
    elif role == "revoked":
        token, raw = tokens.create_token(world.learner, "old")
        tokens.revoke_token(token, actor=world.learner)
        db.session.commit()
        headers = {"Authorization": f"Bearer {raw}"}
    else:
        headers = bearer(getattr(world, role))
    kwargs: dict = {"headers": headers}
    if body_kind == "json":
        kwargs["json"] = body
    elif body_kind == "form":
        kwargs["data"] = body() if callable(body) else body
    response = client.open(path, method=method, **kwargs)
    response.close()
    assert response.status_code == expected[role], f"{role} {method} {path}: {response.get_data(as_text=True)}"
    if response.status_code >= 400:
        error = response.get_json()["error"]
        assert error["code"] and error["message"]
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.get_json()["error"]["code"] == "unauthorized"
        assert ('error="invalid_token"' in response.headers["WWW-Authenticate"]) == (role != "none")


# --- authentication ------------------------------------------------------------------------------------

@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token pft_x", "pft_x"])
def test_malformed_authorization_is_401(app, world, client, header):
    response = client.get("/api/v1/evidence", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_session_cookie_does_not_authenticate(app, world, client, login):
    login(world.learner)
    assert client.get("/api/v1/evidence").status_code == 401


def test_disabled_account_is_401(app, world, client, bearer):
    from portfolio.services.users import update_profile

    headers = bearer(world.learner)
    assert client.get("/api/v1/evidence", headers=headers).status_code == 200
    update_profile(world.learner, name=world.learner.name, locale="fr", is_enabled=False, actor=world.admin)
    db.session.commit()
    assert client.get("/api/v1/evidence", headers=headers).status_code == 401


def test_token_use_is_recorded(app, world, client, bearer):
    from portfolio.models import ApiToken

    headers = bearer(world.learner)
    assert client.get("/api/v1/certifications", headers=headers).status_code == 200
    db.session.expire_all()
    assert db.session.scalars(select(ApiToken)).one().last_used_at is not None


def test_api_is_csrf_exempt(app, world, client, bearer, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert client.post("/logout").status_code == 400  # CSRF is really on for the web pages
    response = client.post("/api/v1/evidence", headers=bearer(world.learner), data=_upload())
    assert response.status_code == 201


# --- creating evidence -----------------------------------------------------------------------------------

def test_create_with_several_files(app, world, client, bearer):
    parts = [(b"first file", "a.txt"), (b"second file, longer", "b.py"), (b"\x89PNG\r\n\x1a\n" + b"0" * 40, "c.png")]
    response = client.post("/api/v1/evidence", headers=bearer(world.learner), data={
        "title": "Projet final", "kind": "code", "context": "internship", "occurred_on": "2026-02-14",
        "description": "Un *beau* projet <script>alert(1)</script>",
        "file": [(io.BytesIO(data), name) for data, name in parts],
    })
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/evidence/{body['id']}")
    assert body["title"] == "Projet final" and body["kind"] == "code" and body["context"] == "internship"
    assert body["occurred_on"] == "2026-02-14" and body["status"] == "draft"
    assert "<em>beau</em>" in body["description_html"] and "<script>" not in body["description_html"]
    assert body["description"].startswith("Un *beau*")
    hashes = sorted(hashlib.sha256(data).hexdigest() for data, _ in parts)
    assert [f["filename"] for f in body["files"]] == ["a.txt", "b.py", "c.png"]
    assert sorted(f["sha256"] for f in body["files"]) == hashes
    assert [f["size"] for f in body["files"]] == [len(data) for data, _ in parts]
    assert body["files"][2]["media_type"] == "image/png"
    assert body["size"] == sum(len(data) for data, _ in parts)
    assert body["sha256"] == hashlib.sha256("\n".join(hashes).encode()).hexdigest()
    for key in ("id", "url", "tags", "created_at", "updated_at"):
        assert key in body
    # The representation is the same when read back.
    again = client.get(response.headers["Location"], headers=bearer(world.learner)).get_json()
    assert again["sha256"] == body["sha256"] and again["files"] == body["files"]


def test_create_with_a_url(app, world, client, bearer):
    response = client.post("/api/v1/evidence", headers=bearer(world.learner), data={
        "title": "Dépôt Git", "kind": "link", "url": "https://gitlab.example.org/lina/projet"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["url"] == "https://gitlab.example.org/lina/projet"
    assert body["files"] == [] and body["size"] == 0 and body["sha256"] is None
    assert body["context"] == "project" and body["occurred_on"] == date.today().isoformat()


def test_create_with_json(app, world, client, bearer):
    response = client.post("/api/v1/evidence", headers=bearer(world.learner), json={
        "title": "Lien", "kind": "link", "url": "https://example.org/x", "occurred_on": "2026-01-02"})
    assert response.status_code == 201
    assert response.get_json()["occurred_on"] == "2026-01-02"


@pytest.mark.parametrize(("data", "field"), [
    ({"kind": "code", "url": "https://example.org"}, "title"),
    ({"title": "T", "kind": "nonsense", "url": "https://example.org"}, "kind"),
    ({"title": "T", "kind": "code", "context": "moon", "url": "https://example.org"}, "context"),
    ({"title": "T", "kind": "code", "url": "javascript:alert(1)"}, "url"),
    ({"title": "T", "kind": "code"}, "files"),
    ({"title": "T", "kind": "code", "url": "https://example.org", "occurred_on": "14/02/2026"}, "occurred_on"),
])
def test_create_refusals_are_422_with_the_field(app, world, client, bearer, data, field):
    response = client.post("/api/v1/evidence", headers=bearer(world.learner), data=data)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["field"] == field and error["message"] and error["code"] == "invalid"
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0


def test_file_over_the_limit_is_413_and_leaves_nothing(app, world, client, bearer, monkeypatch):
    headers = bearer(world.learner)
    monkeypatch.setitem(app.config, "MAX_FILE_SIZE", 1024)
    before = stored_keys()
    response = client.post("/api/v1/evidence", headers=headers, data={
        "title": "Trop gros", "kind": "document", "file": (io.BytesIO(b"x" * 3000), "big.bin")})
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "limit_exceeded" and error["field"] == "files"
    assert "1,0 Kio" in error["message"] and "big.bin" in error["message"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0
    assert stored_keys() == before


def test_ci_pushes_its_test_report(app, world, client, bearer):
    """The README's use case, the request shape of:
    curl -fsS -H "Authorization: Bearer $PORTFOLIO_TOKEN" -F title="Rapport de tests $CI_COMMIT_SHORT_SHA"
         -F kind=test_report -F file=@report.xml https://portfolio.example.org/api/v1/evidence
    """
    response = client.post(
        "/api/v1/evidence", headers=bearer(world.learner, "CI GitLab"), content_type="multipart/form-data",
        data={"title": "Rapport de tests 1a2b3c4d", "kind": "test_report", "file": (io.BytesIO(REPORT), "report.xml")},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["kind"] == "test_report" and body["title"] == "Rapport de tests 1a2b3c4d"
    assert body["files"][0]["filename"] == "report.xml"
    assert body["files"][0]["sha256"] == hashlib.sha256(REPORT).hexdigest()
    item = db.session.get(Evidence, body["id"])
    assert item.owner_id == world.learner.id


# --- reading, changing, deleting ------------------------------------------------------------------------

def test_list_filters(app, world, client, bearer):
    add_evidence(world.learner, title="Diagramme UML", kind="uml", tags=["RNCP28754BC02-C01"])
    add_evidence(world.learner, title="Tests unitaires", kind="test_report", files=((b"other", "r.xml"),),
                 tags=["RNCP28754BC01-C01"])
    add_evidence(world.other_learner, title="Pas à moi", files=((b"theirs", "t.txt"),))
    headers = bearer(world.learner)

    def titles(**params: str) -> list[str]:
        response = client.get("/api/v1/evidence", headers=headers, query_string=params)
        assert response.status_code == 200
        return [e["title"] for e in response.get_json()["evidence"]]

    assert sorted(titles()) == ["Diagramme UML", "Tests unitaires"]
    assert titles(kind="uml") == ["Diagramme UML"]
    assert titles(block="RNCP28754BC01") == ["Tests unitaires"]
    assert titles(competency="rncp28754bc02-c01") == ["Diagramme UML"]
    assert titles(q="unit") == ["Tests unitaires"]


def test_patch(app, world, client, bearer):
    item = add_evidence(world.learner)
    response = client.patch(f"/api/v1/evidence/{item.id}", headers=bearer(world.learner),
                            json={"title": "Renommée", "occurred_on": "2025-12-01", "url": "https://example.org/r"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["title"] == "Renommée" and body["occurred_on"] == "2025-12-01"
    assert body["url"] == "https://example.org/r" and body["kind"] == "code"  # untouched fields kept


@pytest.mark.parametrize(("payload", "status", "code"), [
    ({"owner_id": 3}, 422, "invalid"),
    ({"title": ""}, 422, "invalid"),
    ({"title": 12}, 422, "invalid"),
    ([1, 2], 400, "bad_request"),
])
def test_patch_refusals(app, world, client, bearer, payload, status, code):
    item = add_evidence(world.learner)
    response = client.patch(f"/api/v1/evidence/{item.id}", headers=bearer(world.learner), json=payload)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    db.session.expire_all()
    assert db.session.get(Evidence, item.id).title == "Tests du module"


def test_submitted_evidence_is_locked(app, world, client, bearer):
    item = add_evidence(world.learner)
    item.status = EvidenceStatus.SUBMITTED
    db.session.commit()
    headers = bearer(world.learner)
    response = client.patch(f"/api/v1/evidence/{item.id}", headers=headers, json={"title": "x"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "evidence_locked"
    assert client.delete(f"/api/v1/evidence/{item.id}", headers=headers).status_code == 409


def test_delete_removes_rows_and_unshared_objects(app, world, client, bearer):
    item = add_evidence(world.learner, files=((b"only here", "a.txt"), (b"shared bytes", "b.txt")))
    add_evidence(world.other_learner, files=((b"shared bytes", "copy.txt"),))
    item_id = item.id
    key_a, key_b = (f.blob.storage_key for f in item.files)
    response = client.delete(f"/api/v1/evidence/{item_id}", headers=bearer(world.learner))
    assert response.status_code == 204 and response.data == b""
    db.session.expire_all()
    assert db.session.get(Evidence, item_id) is None
    keys = stored_keys()
    assert key_a not in keys and key_b in keys


def test_other_learners_evidence_is_404_everywhere(app, world, client, bearer):
    item = add_evidence(world.learner, tags=["RNCP28754BC01-C01"])
    file_id = item.files[0].id
    headers = bearer(world.other_learner)
    attempts = [
        client.get(f"/api/v1/evidence/{item.id}", headers=headers),
        client.patch(f"/api/v1/evidence/{item.id}", headers=headers, json={"title": "Volée"}),
        client.delete(f"/api/v1/evidence/{item.id}", headers=headers),
        client.get(f"/api/v1/evidence/{item.id}/files/{file_id}", headers=headers),
        client.post(f"/api/v1/evidence/{item.id}/tags", headers=headers,
                    json={"competency": "RNCP28754BC01-C02", "justification": "x"}),
        client.delete(f"/api/v1/evidence/{item.id}/tags/RNCP28754BC01-C01", headers=headers),
    ]
    for response in attempts:
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
    # Same answer as for an id that does not exist: nothing tells them it is there.
    missing = client.get("/api/v1/evidence/999999", headers=headers)
    assert missing.status_code == 404 and missing.get_json() == attempts[0].get_json()
    db.session.expire_all()
    kept = db.session.get(Evidence, item.id)
    assert kept.title == "Tests du module" and [c.competency.code for c in kept.claims] == ["RNCP28754BC01-C01"]


def test_tutor_reads_but_does_not_change(app, world, client, bearer):
    """The tutor of the learner's cohort reads the evidence (200), so refusing a change with 404 would
    pretend it does not exist: the honest answer is 403, which reveals nothing the GET did not."""
    item = add_evidence(world.learner)
    headers = bearer(world.tutor)
    assert client.get(f"/api/v1/evidence/{item.id}", headers=headers).status_code == 200
    patch = client.patch(f"/api/v1/evidence/{item.id}", headers=headers, json={"title": "Corrigée"})
    assert patch.status_code == 403 and patch.get_json()["error"]["code"] == "forbidden"
    assert client.delete(f"/api/v1/evidence/{item.id}", headers=headers).status_code == 403
    db.session.expire_all()
    assert db.session.get(Evidence, item.id).title == "Tests du module"
    # The tutor of another cohort does not even see it.
    assert client.get(f"/api/v1/evidence/{item.id}", headers=bearer(world.other_tutor)).status_code == 404


# --- downloads -------------------------------------------------------------------------------------------

def test_download_bytes_and_headers(app, world, client, bearer):
    data = b"<html><script>alert('x')</script></html>" * 100
    item = add_evidence(world.learner, files=((data, "page été.html"),))
    file = item.files[0]
    response = client.get(f"/api/v1/evidence/{item.id}/files/{file.id}", headers=bearer(world.learner))
    assert response.status_code == 200
    assert response.data == data
    assert hashlib.sha256(response.data).hexdigest() == file.blob.sha256
    assert response.headers["Content-Type"] == file.blob.media_type
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''page%20%C3%A9t%C3%A9.html" in disposition
    # Only someone other than the owner leaves a trace.
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "evidence.download")) == 0


def test_download_by_the_tutor_is_audited(app, world, client, bearer):
    item = add_evidence(world.learner)
    response = client.get(f"/api/v1/evidence/{item.id}/files/{item.files[0].id}", headers=bearer(world.tutor))
    assert response.status_code == 200 and response.data == b"hello evidence"
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "evidence.download")).one()
    assert event.actor_id == world.tutor.id and event.subject_id == str(item.id)


def test_download_of_a_file_of_another_evidence_is_404(app, world, client, bearer):
    mine = add_evidence(world.learner)
    theirs = add_evidence(world.other_learner, files=((b"secret", "s.txt"),))
    response = client.get(f"/api/v1/evidence/{mine.id}/files/{theirs.files[0].id}", headers=bearer(world.learner))
    assert response.status_code == 404


def test_download_redirects_to_a_presigned_url_when_the_store_has_one(app, world, client, bearer, monkeypatch):
    item = add_evidence(world.learner)
    file = item.files[0]
    calls = []

    def presigned(key, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((key, kwargs))
        return f"https://s3.example.org/{key}?X-Amz-Signature=abc"

    monkeypatch.setattr(get_storage(), "presigned_get_url", presigned)
    response = client.get(f"/api/v1/evidence/{item.id}/files/{file.id}", headers=bearer(world.learner))
    assert response.status_code == 302
    assert response.headers["Location"] == f"https://s3.example.org/{file.blob.storage_key}?X-Amz-Signature=abc"
    assert calls == [(file.blob.storage_key, {"filename": "notes.txt", "content_type": file.blob.media_type,
                                              "inline": False, "expires": 60})]


# --- tags and progress -------------------------------------------------------------------------------------

def test_tag_and_untag(app, world, client, bearer):
    item = add_evidence(world.learner)
    headers = bearer(world.learner)
    response = client.post(f"/api/v1/evidence/{item.id}/tags", headers=headers,
                           json={"competency": "rncp28754bc01-c02", "justification": "J'ai écrit les tests."})
    assert response.status_code == 201
    assert response.get_json() == {"code": "RNCP28754BC01-C02", "justification": "J'ai écrit les tests."}
    again = client.post(f"/api/v1/evidence/{item.id}/tags", headers=headers,
                        json={"competency": "RNCP28754BC01-C02", "justification": "Encore"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"
    tags = client.get(f"/api/v1/evidence/{item.id}", headers=headers).get_json()["tags"]
    assert tags == [{"code": "RNCP28754BC01-C02", "justification": "J'ai écrit les tests."}]
    assert client.delete(f"/api/v1/evidence/{item.id}/tags/RNCP28754BC01-C02", headers=headers).status_code == 204
    assert client.delete(f"/api/v1/evidence/{item.id}/tags/RNCP28754BC01-C02", headers=headers).status_code == 404
    assert client.get(f"/api/v1/evidence/{item.id}", headers=headers).get_json()["tags"] == []


def test_tag_needs_a_justification(app, world, client, bearer):
    item = add_evidence(world.learner)
    response = client.post(f"/api/v1/evidence/{item.id}/tags", headers=bearer(world.learner),
                           json={"competency": "RNCP28754BC01-C02"})
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "justification"


def test_tag_against_another_certification_is_422(app, world, client, bearer):
    from portfolio.frameworks.formats import BlockData, CertificationData, CompetencyData
    from portfolio.services.frameworks import import_certification

    import_certification(CertificationData(
        code="RNCP99999", registration="2024-01-01", title="Autre titre", level="6", is_active=True,
        source="portfolio", authority=None, predecessors=[], successors=[],
        blocks=[BlockData(code="RNCP99999BC01", title="Bloc", description="", assessment_methods="",
                          competencies=[CompetencyData(code="RNCP99999BC01-C01", statement="Faire autre chose")])],
    ))
    db.session.commit()
    item = add_evidence(world.learner)
    response = client.post(f"/api/v1/evidence/{item.id}/tags", headers=bearer(world.learner),
                           json={"competency": "RNCP99999BC01-C01", "justification": "Essai"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["field"] == "competency" and "RNCP99999BC01-C01" in error["message"]
    db.session.expire_all()
    assert db.session.get(Evidence, item.id).claims == []


def test_certifications(app, world, client, bearer):
    response = client.get("/api/v1/certifications", headers=bearer(world.jury))
    certs = response.get_json()["certifications"]
    assert [c["code"] for c in certs] == ["RNCP28754"]
    blocks = certs[0]["blocks"]
    assert [b["code"] for b in blocks][:2] == ["RNCP28754BC01", "RNCP28754BC02"]
    assert blocks[0]["competencies"][0]["code"] == "RNCP28754BC01-C01"
    assert blocks[0]["competencies"][0]["statement"]


def test_progress(app, world, client, bearer):
    add_evidence(world.learner, tags=["RNCP28754BC01-C01", "RNCP28754BC01-C02"])
    add_evidence(world.learner, title="Deuxième", files=((b"two", "2.txt"),), tags=["RNCP28754BC01-C01"])
    add_evidence(world.other_learner, files=((b"x", "x.txt"),), tags=["RNCP28754BC01-C01"])
    body = client.get("/api/v1/me/progress", headers=bearer(world.learner)).get_json()
    assert body["certification"]["code"] == "RNCP28754"
    first = body["blocks"][0]
    counts = {c["code"]: c["evidence_count"] for c in first["competencies"]}
    assert counts["RNCP28754BC01-C01"] == 2 and counts["RNCP28754BC01-C02"] == 1
    assert counts["RNCP28754BC01-C03"] == 0
    assert first["evidence_count"] == 2 and first["competencies_with_evidence"] == 2
    assert first["competencies_total"] == len(first["competencies"])
    assert all(b["evidence_count"] == 0 for b in body["blocks"][1:])


def test_progress_without_certification(app, world, client, bearer):
    response = client.get("/api/v1/me/progress", headers=bearer(world.vae))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "no_certification"


# --- the OpenAPI document ---------------------------------------------------------------------------------

def _document(client) -> dict:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_openapi_describes_every_route(app, client):
    doc = _document(client)
    assert doc["servers"][0]["url"].endswith("/api/v1")
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        assert path in doc["paths"], f"{rule.rule} is not in the OpenAPI document"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = doc["paths"][path].get(method.lower())
            assert operation is not None, f"{method} {rule.rule} is not in the OpenAPI document"
            assert operation["responses"]
            if rule.endpoint == "api.openapi":
                assert operation["security"] == []
            else:
                assert "401" in operation["responses"]
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["bearerAuth"]
        ["description"]}


def test_openapi_is_valid(app, client):
    doc = _document(client)
    try:
        from openapi_spec_validator import validate
    except ImportError:  # pragma: no cover — moto normally brings it
        assert doc["openapi"].startswith("3.") and doc["info"]["title"] and doc["paths"]
        return
    validate(doc)


def test_openapi_operation_ids_are_unique_and_refs_resolve(app, client):
    doc = _document(client)
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    text = str(doc)
    for kind, name in re.findall(r"#/components/(\w+)/(\w+)", text):
        assert name in doc["components"][kind]
