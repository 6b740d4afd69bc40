"""LTI 1.3 launches from the simulated platform: the happy paths and every refusal."""

from __future__ import annotations

import re
import time

from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import (
    AuditEvent,
    CohortMembership,
    ContextRole,
    LtiContext,
    LtiContextMember,
    LtiNonce,
    LtiUserLink,
    MemberRole,
    Role,
    User,
)
from tests.lti.conftest import launch, linked_user, start_login
from tests.lti.simulator import ADMINISTRATOR, INSTITUTION_ADMIN, LEARNER, SYSTEM_ADMIN, new_key


def refusals() -> list[str]:
    db.session.expire_all()
    return [e.data["reason"] for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "lti.refused").order_by(AuditEvent.id))]


def assert_refused(response, reason: str, status: int = 400) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    text = response.get_data(as_text=True)
    # "Code : x" with French spacing (a narrow no-break space before the colon), or "Code: x" in English.
    assert re.search(r"Code\W{0,3}:\s" + re.escape(reason) + "<", text), text[text.find("<main"):text.find("</main>")]
    assert refusals()[-1] == reason


# --- happy paths ---------------------------------------------------------------------------------------------

def test_learner_launch_provisions_the_person_the_cohort_and_opens_their_progress(client, platform, do_launch):
    response = do_launch("learner-1")
    assert response.status_code == 302
    user = linked_user(platform, "learner-1")
    assert user is not None and user.name == "Lina Apprenante" and user.email == "lina@example.org"
    assert user.roles == {Role.LEARNER}
    assert response.headers["Location"] == f"/learners/{user.id}/progress"
    context = db.session.scalar(select(LtiContext))
    assert context.context_id == platform.context_id and context.cohort is not None
    assert context.cohort.certification.code == "RNCP28754"
    assert context.lineitems_url.endswith("/ags/course-101/lineitems")
    assert context.memberships_url.endswith("/nrps/course-101/memberships")
    membership = db.session.scalar(select(CohortMembership).where(CohortMembership.user_id == user.id))
    assert membership.cohort_id == context.cohort_id and membership.role == MemberRole.LEARNER
    # The session is the launched person's: their progress page opens, with no second login.
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and "Lina Apprenante" in page.get_data(as_text=True)
    launches = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "lti.launch")).all()
    assert len(launches) == 1 and launches[0].actor_id == user.id and launches[0].data["role"] == "learner"


def test_second_launch_finds_the_same_account_by_issuer_and_subject(client, platform, do_launch):
    assert do_launch("learner-1").status_code == 302
    first = linked_user(platform, "learner-1")
    platform.people["learner-1"].email = "changed@example.org"
    assert do_launch("learner-1").status_code == 302
    assert linked_user(platform, "learner-1").id == first.id
    assert db.session.scalar(select(db.func.count()).select_from(LtiUserLink)) == 1


def test_an_existing_account_is_never_taken_over_by_its_email(client, platform, do_launch, make_user):
    local = make_user("lina@example.org", "admin", name="Compte local")
    response = do_launch("learner-1")
    assert response.status_code == 302
    user = linked_user(platform, "learner-1")
    assert user.id != local.id
    assert user.email.endswith("@lti.invalid") and Role.ADMIN not in user.roles
    db.session.refresh(local)
    assert local.roles == {Role.ADMIN}


def test_instructor_launch_opens_the_cohort_matrix_as_tutor(client, platform, do_launch):
    response = do_launch("teacher-1")
    assert response.status_code == 302
    user = linked_user(platform, "teacher-1")
    context = db.session.scalar(select(LtiContext))
    assert user.roles == {Role.TUTOR}
    assert response.headers["Location"] == f"/cohorts/{context.cohort_id}/matrix"
    assert client.get(response.headers["Location"]).status_code == 200


def test_context_without_certification_is_set_up_by_its_teacher_first(client, platform, registered):
    registered.certification = None
    db.session.commit()
    assert_refused(launch(client, platform, "learner-1"), "context_not_ready", 409)
    response = launch(client, platform, "teacher-1")
    assert response.headers["Location"] == "/lti/context/setup"
    page = client.get("/lti/context/setup")
    assert page.status_code == 200
    from portfolio.services.cohorts import current_certification

    cert = current_certification("RNCP28754")
    done = client.post("/lti/context/setup", data={"certification": str(cert.id)})
    context = db.session.scalar(select(LtiContext))
    db.session.refresh(context)
    assert context.cohort is not None and context.cohort.certification_id == cert.id
    assert done.headers["Location"] == f"/cohorts/{context.cohort_id}/matrix"
    # Now a learner gets in.
    assert launch(client.application.test_client(), platform, "learner-1").status_code == 302


def test_a_learner_cannot_set_up_a_course(client, platform, do_launch):
    do_launch("learner-1")
    assert client.get("/lti/context/setup").status_code == 403


def test_platform_key_rotation_is_followed_on_unknown_kid(client, platform, do_launch, app):
    app.config["LTI_JWKS_MIN_REFRESH_SECONDS"] = 0
    assert do_launch("learner-1").status_code == 302
    fetched = len(platform.calls_to("/jwks"))
    platform.rotate()
    assert do_launch("learner-1").status_code == 302
    assert len(platform.calls_to("/jwks")) == fetched + 1
    assert do_launch("learner-1").status_code == 302  # cached now
    assert len(platform.calls_to("/jwks")) == fetched + 1


def test_launch_in_a_new_window_keeps_the_usual_cookie(client, platform, do_launch):
    platform.document_target = "window"
    response = do_launch("learner-1")
    cookie = response.headers.get("Set-Cookie", "")
    session_cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert session_cookies and "SameSite=Lax" in session_cookies[0], cookie


def test_launch_in_an_iframe_sets_a_samesite_none_secure_session(client, platform, do_launch):
    response = do_launch("learner-1")
    session_cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert session_cookies and "SameSite=None" in session_cookies[0] and "Secure" in session_cookies[0]


def test_login_sets_a_state_cookie_for_the_cross_site_post_only(client, platform, registered):
    response = client.post("/lti/login", data=platform.login_params("learner-1"))
    cookies = response.headers.getlist("Set-Cookie")
    state_cookie = [c for c in cookies if c.startswith("lti1p3_state_")]
    assert len(state_cookie) == 1
    assert "SameSite=None" in state_cookie[0] and "Secure" in state_cookie[0] and "HttpOnly" in state_cookie[0]
    assert "Path=/lti/" in state_cookie[0]


def test_login_initiation_by_get_works_too(client, platform, registered):
    response = client.get("/lti/login", query_string=platform.login_params("learner-1"))
    assert response.status_code == 302 and response.headers["Location"].startswith(platform.url("/auth?"))


def test_frame_ancestors_lists_the_registered_platforms(client, platform, registered):
    csp = client.get("/login").headers["Content-Security-Policy"]
    ancestors = csp.split("frame-ancestors", 1)[1]
    assert platform.issuer in ancestors and "'self'" in ancestors


# --- refusals -----------------------------------------------------------------------------------------------------

def test_bad_signature_is_refused(client, platform, do_launch):
    impostor = new_key(platform.keys[0].kid)  # same kid, other key
    assert_refused(do_launch("learner-1", token=lambda q: platform.id_token(nonce=q["nonce"], sub="learner-1",
                                                                           key=impostor)), "bad_signature")
    assert linked_user(platform, "learner-1") is None


def test_unknown_kid_is_refused_after_fetching_the_jwks_again(client, platform, do_launch, app):
    app.config["LTI_JWKS_MIN_REFRESH_SECONDS"] = 0
    do_launch("learner-1")
    fetched = len(platform.calls_to("/jwks"))
    stranger = new_key("never-published")
    assert_refused(do_launch("learner-1", token=lambda q: platform.id_token(nonce=q["nonce"], sub="learner-1",
                                                                           key=stranger)), "unknown_kid")
    assert len(platform.calls_to("/jwks")) == fetched + 1


def test_unknown_kids_do_not_hammer_the_platform(client, platform, do_launch, app):
    app.config["LTI_JWKS_MIN_REFRESH_SECONDS"] = 3600
    do_launch("learner-1")
    fetched = len(platform.calls_to("/jwks"))
    for _ in range(3):
        stranger = new_key()
        do_launch("learner-1", token=lambda q, k=stranger: platform.id_token(nonce=q["nonce"], sub="learner-1", key=k))
    assert len(platform.calls_to("/jwks")) == fetched
    assert refusals()[-3:] == ["unknown_kid"] * 3


def test_expired_token_is_refused(client, platform, do_launch):
    now = int(time.time())
    assert_refused(do_launch("learner-1", exp=now - 120, iat=now - 400), "expired")


def test_small_clock_skew_is_tolerated(client, platform, do_launch):
    now = int(time.time())
    assert do_launch("learner-1", exp=now - 20, iat=now + 20, nbf=now + 20).status_code == 302


def test_token_from_the_future_is_refused(client, platform, do_launch):
    now = int(time.time())
    assert_refused(do_launch("learner-1", iat=now + 600, exp=now + 900), "bad_iat")
    assert_refused(do_launch("learner-1", nbf=now + 600), "not_yet_valid")


def test_replayed_nonce_is_refused(client, platform, registered):
    """Even a replay of the whole post with the browser's state cookie (captured) is refused: the nonce
    was used."""
    from portfolio.blueprints.lti.views import state_cookie

    query = start_login(client, platform, "learner-1")
    cookie = client.get_cookie(state_cookie(query["state"]), domain="localhost", path="/lti/")
    data = {"id_token": platform.id_token(nonce=query["nonce"], sub="learner-1"), "state": query["state"]}
    assert client.post("/lti/launch", data=data).status_code == 302
    client.set_cookie(cookie.key, cookie.value, domain="localhost", path="/lti/")
    assert_refused(client.post("/lti/launch", data=data), "replayed_nonce")
    assert db.session.scalar(select(db.func.count()).select_from(LtiNonce)) == 1


def test_nonce_other_than_the_one_we_sent_is_refused(client, platform, do_launch):
    assert_refused(do_launch("learner-1", token=lambda q: platform.id_token(nonce="made-up", sub="learner-1")),
                   "wrong_nonce")


def test_wrong_audience_is_refused(client, platform, do_launch):
    assert_refused(do_launch("learner-1", aud="another-tool"), "wrong_audience")
    assert_refused(do_launch("learner-1", aud=["another-tool", platform.client_id], azp="another-tool"),
                   "wrong_audience")


def test_several_audiences_need_our_azp(client, platform, do_launch):
    assert do_launch("learner-1", aud=["another-tool", platform.client_id], azp=platform.client_id).status_code == 302


def test_wrong_issuer_is_refused(client, platform, do_launch):
    assert_refused(do_launch("learner-1", iss="https://evil.example.org"), "wrong_issuer")


def test_unknown_deployment_is_refused(client, platform, do_launch):
    assert_refused(do_launch("learner-1", **{"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "dep-x"}),
                   "unknown_deployment")
    response = client.post("/lti/login", data=platform.login_params("learner-1", lti_deployment_id="dep-x"))
    assert_refused(response, "unknown_deployment")


def test_wrong_message_type_and_version_are_refused(client, platform, do_launch):
    claim = "https://purl.imsglobal.org/spec/lti/claim/"
    assert_refused(do_launch("learner-1", **{claim + "message_type": "LtiSubmissionReviewRequest"}),
                   "bad_message_type")
    assert_refused(do_launch("learner-1", **{claim + "version": "1.1"}), "bad_version")


def test_missing_state_cookie_is_refused(client, platform, registered, app):
    query = start_login(client, platform, "learner-1")
    other_browser = app.test_client()
    response = other_browser.post("/lti/launch", data={
        "id_token": platform.id_token(nonce=query["nonce"], sub="learner-1"), "state": query["state"]})
    assert_refused(response, "state_not_bound")


def test_foreign_state_is_refused(client, platform, registered, app):
    """A state started by another browser (an attacker's) does not open a session in this one."""
    attacker = app.test_client()
    attacker_query = start_login(attacker, platform, "learner-2")
    start_login(client, platform, "learner-1")
    response = client.post("/lti/launch", data={
        "id_token": platform.id_token(nonce=attacker_query["nonce"], sub="learner-2"),
        "state": attacker_query["state"]})
    assert_refused(response, "state_not_bound")
    assert_refused(client.post("/lti/launch", data={"id_token": "x", "state": "never-issued"}), "unknown_state")


def test_unknown_platform_is_refused(client, platform, registered):
    response = client.post("/lti/login", data=platform.login_params("learner-1", iss="https://other.example.org"))
    assert_refused(response, "unknown_platform")


def test_foreign_target_link_is_refused(client, platform, registered):
    response = client.post("/lti/login", data=platform.login_params(
        "learner-1", target_link_uri="https://evil.example.org/phish"))
    assert_refused(response, "foreign_target")


def test_refused_launch_leaves_no_account_and_no_session(client, platform, do_launch):
    do_launch("learner-1", aud="another-tool")
    assert db.session.scalar(select(db.func.count()).select_from(User)) == 0
    assert client.get("/", follow_redirects=False).status_code in (200, 302)
    assert client.get("/lti/context/setup").status_code in (302, 401)


# --- roles and access -----------------------------------------------------------------------------------------------

def test_platform_cannot_mint_an_administrator_of_the_app(client, platform, do_launch):
    platform.add_person("boss", "Grand Chef", [SYSTEM_ADMIN, INSTITUTION_ADMIN, LEARNER])
    assert do_launch("boss").status_code == 302
    user = linked_user(platform, "boss")
    assert user.roles == {Role.LEARNER}
    assert client.get("/admin/").status_code == 403


def test_course_administrator_is_administrator_of_that_course_only(client, platform, do_launch):
    platform.add_person("course-admin", "Cora Admin", [ADMINISTRATOR])
    response = do_launch("course-admin")
    assert response.status_code == 302
    user = linked_user(platform, "course-admin")
    assert Role.ADMIN not in user.roles and user.roles == {Role.TUTOR}
    member = db.session.scalar(select(LtiContextMember).where(LtiContextMember.user_id == user.id))
    assert member.role == ContextRole.ADMIN
    assert client.get("/admin/").status_code == 403
    assert client.get("/lti/admin/platforms").status_code == 403


def test_unknown_roles_grant_nothing(client, platform, do_launch):
    platform.add_person("guest", "Invité", ["http://purl.imsglobal.org/vocab/lis/v2/membership#Guest",
                                            SYSTEM_ADMIN, "urn:made:up#Owner"])
    assert_refused(do_launch("guest"), "no_known_role", 403)
    assert linked_user(platform, "guest") is None


def test_tutor_session_from_one_course_cannot_reach_another_cohort(client, platform, do_launch, app):
    # The same teacher teaches two courses; each launch grants its own course only.
    assert do_launch("teacher-1").status_code == 302
    first = db.session.scalar(select(LtiContext).where(LtiContext.context_id == "course-101"))
    platform.context_id, platform.context_title = "course-202", "Autre cours"
    platform.add_person("learner-b", "Bob Ailleurs", [LEARNER])
    assert launch(app.test_client(), platform, "learner-b").status_code == 302
    second_browser = app.test_client()
    assert launch(second_browser, platform, "teacher-1").status_code == 302
    second = db.session.scalar(select(LtiContext).where(LtiContext.context_id == "course-202"))
    # The browser launched from course 101 sees its cohort, not the other one (404: it does not exist for it).
    assert client.get(f"/cohorts/{first.cohort_id}/matrix").status_code == 200
    assert client.get(f"/cohorts/{second.cohort_id}/matrix").status_code == 404
    bob = linked_user(platform, "learner-b")
    assert client.get(f"/learners/{bob.id}/progress").status_code == 404
    assert second_browser.get(f"/learners/{bob.id}/progress").status_code == 200
    assert second_browser.get(f"/cohorts/{first.cohort_id}/matrix").status_code == 404


def test_learner_from_one_course_cannot_reach_another_cohort(client, platform, do_launch, app):
    platform.add_person("learner-b", "Bob Ailleurs", [LEARNER])
    platform.context_id = "course-202"
    other = app.test_client()
    assert launch(other, platform, "learner-b").status_code == 302
    platform.context_id = "course-101"
    assert do_launch("learner-1").status_code == 302
    bob = linked_user(platform, "learner-b")
    cohort_b = db.session.scalar(select(LtiContext).where(LtiContext.context_id == "course-202")).cohort_id
    assert client.get(f"/learners/{bob.id}/progress").status_code == 404
    assert client.get(f"/cohorts/{cohort_b}/matrix").status_code == 403
    assert client.get(f"/cohorts/{cohort_b}").status_code in (403, 404)


def test_every_refusal_is_an_audit_event(client, platform, do_launch):
    do_launch("learner-1", aud="x")
    do_launch("learner-1", **{"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "nope"})
    client.post("/lti/launch", data={"id_token": "x", "state": "y"})
    assert refusals() == ["wrong_audience", "unknown_deployment", "unknown_state"]
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "lti.refused")).all()
    assert all(e.data["issuer"] in (platform.issuer, None) for e in events)


# --- no cookie in the frame: postMessage storage, then a first-party window -----------------------------------

def storage_login(client, platform):  # type: ignore[no-untyped-def]
    import html as htmllib
    import re

    response = client.post("/lti/login", data=platform.login_params("learner-1", lti_storage_target="_parent"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', page))
    return {k: htmllib.unescape(v) for k, v in attrs.items()}


def test_without_cookie_the_launch_asks_the_platform_storage_then_offers_a_new_window(client, platform, registered,
                                                                                     app):
    import re

    attrs = storage_login(client, platform)
    assert attrs["target"] == "_parent" and attrs["origin"] == platform.issuer
    from tests.lti.simulator import login_redirect

    query = login_redirect(attrs["redirect"])
    token = platform.id_token(nonce=query["nonce"], sub="learner-1")
    frame = app.test_client()  # the iframe, where the state cookie never arrives
    asked = frame.post("/lti/launch", data={"id_token": token, "state": query["state"]})
    assert asked.status_code == 200 and "data-lti-get" in asked.get_data(as_text=True)
    # The page got the secret back from the platform's storage and posts it with the token.
    done = frame.post("/lti/launch", data={"id_token": token, "state": query["state"],
                                           "lti_storage_secret": attrs["secret"]})
    assert done.status_code == 200
    handoff = re.search(r'name="token" value="([^"]+)"', done.get_data(as_text=True)).group(1)
    window = app.test_client()  # the new, first-party window
    opened = window.post("/lti/handoff", data={"token": handoff})
    user = linked_user(platform, "learner-1")
    assert opened.status_code == 302 and opened.headers["Location"] == f"/learners/{user.id}/progress"
    assert window.get(opened.headers["Location"]).status_code == 200
    # The one-time token does not open a second session.
    assert_refused(app.test_client().post("/lti/handoff", data={"token": handoff}), "replayed_nonce")
    assert_refused(app.test_client().post("/lti/handoff", data={"token": handoff + "x"}), "bad_handoff")


def test_a_wrong_storage_secret_is_refused(client, platform, registered, app):
    from tests.lti.simulator import login_redirect

    attrs = storage_login(client, platform)
    query = login_redirect(attrs["redirect"])
    token = platform.id_token(nonce=query["nonce"], sub="learner-1")
    response = app.test_client().post("/lti/launch", data={"id_token": token, "state": query["state"],
                                                           "lti_storage_secret": "guessed"})
    assert_refused(response, "state_not_bound")


def test_an_lti_scope_never_follows_another_person_signing_in(client, platform, do_launch, world, login):
    """After a launch, someone else signing in with a password in the same browser is not scoped by it
    (and not helped by it either): the scope names its person."""
    assert do_launch("teacher-1").status_code == 302
    client.post("/logout")
    login(world.tutor)
    assert client.get(f"/cohorts/{world.cohort.id}/matrix").status_code == 200
    assert client.get(f"/cohorts/{world.other_cohort.id}/matrix").status_code == 404
