"""Every route, with every role and with no login: the permission matrix, in one table.

A route missing from ROUTES fails the test, so no new page can escape the matrix.
"""

from __future__ import annotations

import pytest

ROLES = ["anonymous", "learner", "other_learner", "tutor", "other_tutor", "vae", "jury", "admin"]

# endpoint -> (path template, {role: expected status}); "login" means a redirect to the sign-in page.
L, OK, NF, FB = "login", 200, 404, 403


def everyone(status: int | str = OK, anonymous: int | str = L) -> dict:
    return {role: (anonymous if role == "anonymous" else status) for role in ROLES}


def only(allowed: dict[str, int], others: int = FB) -> dict:
    result = everyone(others)
    result.update(allowed)
    return result


ROUTES: dict[str, tuple[str, dict]] = {
    "main.home": ("/", everyone()),
    "main.healthz": ("/healthz", everyone(OK, anonymous=OK)),
    "main.set_language": ("/language", everyone(405, anonymous=405)),  # POST only
    "main.cohort": ("/cohorts/{cohort}", only({"tutor": OK, "other_tutor": NF, "admin": OK}) | {"anonymous": L}),
    "auth.login": ("/login", everyone(302, anonymous=OK)),
    "auth.logout": ("/logout", everyone(405, anonymous=405)),
    "frameworks.certifications": ("/certifications/", only({"admin": OK}) | {"anonymous": L}),
    "frameworks.certification": ("/certifications/{certification}", everyone()),
    "frameworks.block": ("/blocks/RNCP28754BC01",
                         only({"learner": OK, "other_learner": OK, "vae": NF}) | {"anonymous": L}),
    "admin.index": ("/admin/", only({"admin": OK}) | {"anonymous": L}),
    "admin.user_list": ("/admin/users/", only({"admin": OK}) | {"anonymous": L}),
    "admin.user_create": ("/admin/users/new", only({"admin": OK}) | {"anonymous": L}),
    "admin.user_edit": ("/admin/users/{learner_id}", only({"admin": OK}) | {"anonymous": L}),
    "admin.cohort_list": ("/admin/cohorts/", only({"admin": OK}) | {"anonymous": L}),
    "admin.cohort_detail": ("/admin/cohorts/{cohort}", only({"admin": OK}) | {"anonymous": L}),
    "admin.cohort_remove_member": ("/admin/cohorts/{cohort}/members/{learner_id}/remove",
                                   everyone(405, anonymous=405)),
    "auth.api_tokens": ("/account/tokens", everyone()),
    "auth.revoke_api_token": ("/account/tokens/1/revoke", everyone(405, anonymous=405)),  # POST only
    "api.openapi": ("/api/v1/openapi.json", everyone(OK, anonymous=OK)),
    # The API ignores the session cookie: without a bearer token, 401 for everyone (tests/test_api.py
    # walks the same routes with a token for every role).
    "api.list_certifications": ("/api/v1/certifications", everyone(401, anonymous=401)),
    "api.list_evidence": ("/api/v1/evidence", everyone(401, anonymous=401)),
    "api.create_evidence": ("/api/v1/evidence", everyone(401, anonymous=401)),
    "api.get_evidence": ("/api/v1/evidence/1", everyone(401, anonymous=401)),
    "api.update_evidence": ("/api/v1/evidence/1", everyone(401, anonymous=401)),
    "api.delete_evidence": ("/api/v1/evidence/1", everyone(401, anonymous=401)),
    "api.download_file": ("/api/v1/evidence/1/files/1", everyone(401, anonymous=401)),
    "api.add_tag": ("/api/v1/evidence/1/tags", everyone(405, anonymous=405)),  # POST only
    "api.remove_tag": ("/api/v1/evidence/1/tags/RNCP28754BC01-C01", everyone(405, anonymous=405)),  # DELETE only
    "api.my_progress": ("/api/v1/me/progress", everyone(401, anonymous=401)),
    "static": ("/static/app.css", everyone(OK, anonymous=OK)),
    # Evidence of world.learner: the owner, the tutors of their cohort and administrators read it;
    # anyone else gets 404 (nothing reveals it exists); only the owner changes it.
    "evidence.index": ("/evidence/", only({"learner": OK, "other_learner": OK, "vae": OK}) | {"anonymous": L}),
    "evidence.create": ("/evidence/new", only({"learner": OK, "other_learner": OK, "vae": OK}) | {"anonymous": L}),
    "evidence.detail": ("/evidence/{evidence}", only({"learner": OK, "tutor": OK, "admin": OK}, NF) | {"anonymous": L}),
    "evidence.edit": ("/evidence/{evidence}/edit",
                      only({"learner": OK, "tutor": FB, "admin": FB}, NF) | {"anonymous": L}),
    "evidence.download": ("/evidence/{evidence}/files/{file}",
                          only({"learner": OK, "tutor": OK, "admin": OK}, NF) | {"anonymous": L}),
    "evidence.delete": ("/evidence/{evidence}/delete", everyone(405, anonymous=405)),
    "evidence.delete_file": ("/evidence/{evidence}/files/{file}/delete", everyone(405, anonymous=405)),
    "evidence.add_tag": ("/evidence/{evidence}/tags", everyone(405, anonymous=405)),
    "evidence.remove_tag": ("/evidence/{evidence}/tags/RNCP28754BC01-C01/delete", everyone(405, anonymous=405)),
    "evidence.preview": ("/evidence/preview", everyone(405, anonymous=405)),
    "evidence.stage_upload": ("/evidence/uploads", everyone(405, anonymous=405)),
    "api.create_upload": ("/api/v1/uploads", everyone(405, anonymous=405)),
    "api.submit_evidence": ("/api/v1/evidence/{evidence}/submit", everyone(405, anonymous=405)),  # POST only
    "api.withdraw_evidence": ("/api/v1/evidence/{evidence}/withdraw", everyone(405, anonymous=405)),  # POST only
    "api.assessment_queue": ("/api/v1/assessments/queue", everyone(401, anonymous=401)),
    "api.list_assessments": ("/api/v1/evidence/{evidence}/assessments", everyone(401, anonymous=401)),
    "api.create_assessment": ("/api/v1/evidence/{evidence}/assessments", everyone(401, anonymous=401)),
    "api.validate_block": ("/api/v1/learners/{learner_id}/blocks/RNCP28754BC01/validation",
                           everyone(405, anonymous=405)),  # POST only
    "api.list_cohorts": ("/api/v1/cohorts", everyone(401, anonymous=401)),
    "api.cohort_matrix": ("/api/v1/cohorts/{cohort}/matrix", everyone(401, anonymous=401)),
    # Submission (the owner only; tests/test_assessment.py posts to them with every role).
    "evidence.submit": ("/evidence/{evidence}/submit", everyone(405, anonymous=405)),
    "evidence.withdraw": ("/evidence/{evidence}/withdraw", everyone(405, anonymous=405)),
    "evidence.new_version": ("/evidence/{evidence}/new-version", everyone(405, anonymous=405)),
    # Assessment: the queue for those who assess; a learner's progress for themself, their tutors and
    # administrators (404 for anyone else); the cohort matrix for the cohort's tutors and administrators.
    "assessment.queue": ("/assessments/", only({"tutor": OK, "other_tutor": OK, "admin": OK}) | {"anonymous": L}),
    "assessment.record": ("/evidence/{evidence}/assessments", everyone(405, anonymous=405)),
    "assessment.comment": ("/evidence/{evidence}/comments", everyone(405, anonymous=405)),
    "assessment.progress": ("/learners/{learner_id}/progress",
                            only({"learner": OK, "tutor": OK, "admin": OK}, NF) | {"anonymous": L}),
    "assessment.validate_block": ("/learners/{learner_id}/blocks/RNCP28754BC01/validation",
                                  everyone(405, anonymous=405)),
    "assessment.revoke_block": ("/learners/{learner_id}/blocks/RNCP28754BC01/revocation",
                                everyone(405, anonymous=405)),
    "assessment.matrix": ("/cohorts/{cohort}/matrix",
                          only({"tutor": OK, "other_tutor": NF, "admin": OK}) | {"anonymous": L}),
    "assessment.notifications": ("/notifications", everyone()),
    "assessment.mark_read": ("/notifications/read", everyone(405, anonymous=405)),
    # Internship logbook of world.learner (tests/test_logbook.py walks the same routes with its own table):
    # the learner, their tutors and administrators read it (404 for anyone else); only the learner writes
    # (403 for the readers). The supervisor's page needs no login: the token is the key.
    "logbook.index": ("/internships/", only({"learner": OK, "other_learner": OK, "vae": OK}) | {"anonymous": L}),
    "logbook.create": ("/internships/new", only({"learner": OK, "other_learner": OK, "vae": OK}) | {"anonymous": L}),
    "logbook.learner_internships": ("/learners/{learner_id}/internships",
                                    only({"learner": OK, "tutor": OK, "admin": OK}, NF) | {"anonymous": L}),
    "logbook.detail": ("/internships/{internship}",
                       only({"learner": OK, "tutor": OK, "admin": OK}, NF) | {"anonymous": L}),
    "logbook.edit": ("/internships/{internship}/edit",
                     only({"learner": OK, "tutor": FB, "admin": FB}, NF) | {"anonymous": L}),
    "logbook.add_entry": ("/internships/{internship}/entries/new",
                          only({"learner": OK, "tutor": FB, "admin": FB}, NF) | {"anonymous": L}),
    "logbook.edit_entry": ("/internships/{internship}/entries/{entry}/edit",
                           only({"learner": OK, "tutor": FB, "admin": FB}, NF) | {"anonymous": L}),
    "logbook.delete_entry": ("/internships/{internship}/entries/{entry}/delete", everyone(405, anonymous=405)),
    "logbook.send": ("/internships/{internship}/signoff", everyone(405, anonymous=405)),
    "logbook.revoke": ("/internships/{internship}/links/{link}/revoke", everyone(405, anonymous=405)),
    "logbook.to_evidence": ("/internships/{internship}/evidence", everyone(405, anonymous=405)),
    # No signed entry yet: whoever may read is sent back to the logbook with a message.
    "logbook.pdf": ("/internships/{internship}/logbook.pdf",
                    only({"learner": 302, "tutor": 302, "admin": 302}, NF) | {"anonymous": L}),
    # The learner is turned away from their own link (403): the signature is the supervisor's.
    "logbook.signoff": ("/signoff/{token}", everyone(OK, anonymous=OK) | {"learner": FB}),
    "logbook.return_entry": ("/signoff/{token}/entries/{entry}/return", everyone(405, anonymous=405)),
    "logbook.static": ("/static/logbook/copy.js", everyone(OK, anonymous=OK)),
}


@pytest.fixture
def evidence(app, world):  # type: ignore[no-untyped-def]
    """A piece of evidence of world.learner, with one file."""
    import io
    from datetime import date

    from portfolio.extensions import db
    from portfolio.services.evidence import Upload, create_evidence

    item = create_evidence(world.learner, title="Preuve", kind="code", context="project",
                           occurred_on=date(2026, 1, 1), uploads=[Upload("a.py", io.BytesIO(b"print(1)"))])
    db.session.commit()
    return item


@pytest.fixture
def logbook(app, world):  # type: ignore[no-untyped-def]
    """An internship of world.learner: a draft entry, and a pending one sent through a sign-off link."""
    from datetime import date

    from portfolio.extensions import db
    from portfolio.services import logbook as service

    internship = service.create_internship(world.learner, organisation="Acme", supervisor_name="Marc",
                                           supervisor_email="marc@acme.example", start_date=date(2026, 3, 2),
                                           end_date=date(2026, 5, 29))
    draft = service.add_entry(internship, actor=world.learner, day=date(2026, 3, 2), hours="7", activities="API")
    pending = service.add_entry(internship, actor=world.learner, day=date(2026, 3, 3), hours="7", activities="Tests")
    with app.test_request_context():
        link, url = service.send_for_signoff(internship, [pending], actor=world.learner)
    db.session.commit()
    return {"internship": internship.id, "entry": draft.id, "link": link.id, "token": url.rsplit("/", 1)[-1]}


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - ROUTES.keys() == set(), "add these routes to the permission matrix"
    assert ROUTES.keys() - endpoints == set(), "these routes no longer exist"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_get_matrix(app, world, evidence, logbook, login, client, endpoint, role):
    path, expected = ROUTES[endpoint]
    path = path.format(cohort=world.cohort.id, certification=world.certification.id,
                       learner_id=world.learner.id, evidence=evidence.id, file=evidence.files[0].id, **logbook)
    if role != "anonymous":
        login(getattr(world, role))
    response = client.get(path)
    response.close()
    want = expected[role]
    if want == L:
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]
    else:
        assert response.status_code == want, f"{role} GET {path}"


@pytest.mark.parametrize("role", ["anonymous", "other_learner", "tutor", "other_tutor", "jury", "admin"])
def test_evidence_posts_are_refused_to_all_but_the_owner(app, world, evidence, login, client, role):
    from portfolio.extensions import db
    from portfolio.models import Claim, Evidence

    if role != "anonymous":
        login(getattr(world, role))
    file_id = evidence.files[0].id
    for path, data in [
        (f"/evidence/{evidence.id}/edit", {"title": "Hacked", "kind": "code", "context": "project",
                                           "occurred_on": "2026-01-01"}),
        (f"/evidence/{evidence.id}/tags", {"competency": "RNCP28754BC01-C01", "justification": "x"}),
        (f"/evidence/{evidence.id}/files/{file_id}/delete", {}),
        (f"/evidence/{evidence.id}/delete", {}),
    ]:
        response = client.post(path, data=data)
        if role == "anonymous":
            assert response.status_code == 302 and "/login" in response.headers["Location"]
        else:
            assert response.status_code in (403, 404), (role, path)
    db.session.expire_all()
    item = db.session.get(Evidence, evidence.id)
    assert item.title == "Preuve" and len(item.files) == 1
    assert db.session.scalar(db.select(db.func.count()).select_from(Claim)) == 0


@pytest.mark.parametrize("role", ["anonymous", "learner", "tutor", "vae", "jury"])
def test_admin_posts_are_refused_to_non_admins(app, world, login, client, role):
    if role != "anonymous":
        login(getattr(world, role))
    targets = [
        ("/admin/users/new", {"email": "x@example.org", "name": "X", "roles": "admin", "password": "p" * 12}),
        (f"/admin/users/{world.learner.id}", {"name": "Hacked", "roles": "admin", "locale": "fr"}),
        ("/admin/cohorts/", {"name": "Evil", "certification": world.certification.id, "year": 2026}),
        (f"/admin/cohorts/{world.cohort.id}", {"email": world.other_learner.email, "role": "learner"}),
        (f"/admin/cohorts/{world.cohort.id}/members/{world.learner.id}/remove", {}),
    ]
    from portfolio.extensions import db
    from portfolio.models import Cohort, User

    for path, data in targets:
        response = client.post(path, data=data)
        assert response.status_code in (302, 403)
        if role == "anonymous":
            assert "/login" in response.headers["Location"]
        else:
            assert response.status_code == 403
    db.session.expire_all()
    assert db.session.scalar(db.select(User).where(User.email == "x@example.org")) is None
    assert db.session.get(User, world.learner.id).name == "Lina Apprenante"
    assert db.session.scalar(db.select(Cohort).where(Cohort.name == "Evil")) is None
    assert len(db.session.get(Cohort, world.cohort.id).memberships) == 2


def test_object_rules(app, world):
    from portfolio.services import access

    assert access.can_view_learner(world.tutor, world.learner)
    assert not access.can_view_learner(world.tutor, world.other_learner)
    assert not access.can_view_learner(world.other_learner, world.learner)
    assert access.can_view_learner(world.learner, world.learner)
    assert access.can_view_learner(world.admin, world.other_learner)
    assert not access.can_view_learner(world.jury, world.learner)
    assert access.can_view_cohort(world.tutor, world.cohort)
    assert not access.can_view_cohort(world.tutor, world.other_cohort)
    assert not access.can_view_cohort(world.learner, world.cohort)
