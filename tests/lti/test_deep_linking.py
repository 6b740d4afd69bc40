"""Deep linking: a teacher picks what the link opens; the content item is signed back; its launch opens it."""

from __future__ import annotations

from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import LinkTarget, LtiContext, LtiResourceLink
from tests.lti.conftest import launch

DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"


def deep_link(client, platform, target: str, block: str = ""):  # type: ignore[no-untyped-def]
    platform.message_type = "LtiDeepLinkingRequest"
    response = launch(client, platform, "teacher-1")
    assert response.headers["Location"] == "/lti/deep-link"
    assert client.get("/lti/deep-link").status_code == 200
    page = client.post("/lti/deep-link", data={"target": target, "block": block, "title": ""})
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    assert f'action="{platform.url("/deep_link_return")}"' in html
    assert "form-action " + platform.issuer in page.headers["Content-Security-Policy"]
    token = html.split('name="JWT" value="', 1)[1].split('"', 1)[0]
    return platform.verify_tool_jwt(token)


def test_one_block_link_is_signed_back_and_then_opens_that_block(client, platform, registered, app):
    claims = deep_link(client, platform, "block", "RNCP28754BC02")
    assert claims["iss"] == platform.client_id and claims["aud"] == [platform.issuer]
    assert claims[CLAIM + "message_type"] == "LtiDeepLinkingResponse"
    assert claims[CLAIM + "deployment_id"] == platform.deployment_id
    assert claims[DL + "data"] == "opaque-123"
    [item] = claims[DL + "content_items"]
    assert item["type"] == "ltiResourceLink" and item["url"] == "http://localhost/lti/launch"
    assert item["custom"] == {"target": "block", "certification": "RNCP28754", "block": "RNCP28754BC02"}
    assert item["lineItem"]["resourceId"] == "block:RNCP28754BC02"
    # The platform launches the new link with the custom parameters it was given.
    platform.message_type, platform.custom, platform.resource_link_id = "LtiResourceLinkRequest", item["custom"], "l2"
    learner = app.test_client()
    response = launch(learner, platform, "learner-1")
    assert response.headers["Location"] == "/blocks/RNCP28754BC02"
    assert learner.get("/blocks/RNCP28754BC02").status_code == 200
    link = db.session.scalar(select(LtiResourceLink).where(LtiResourceLink.resource_link_id == "l2"))
    assert link.target == LinkTarget.BLOCK and link.block.code == "RNCP28754BC02"
    teacher = app.test_client()
    response = launch(teacher, platform, "teacher-1")
    cohort_id = db.session.scalar(select(LtiContext)).cohort_id
    assert response.headers["Location"] == f"/cohorts/{cohort_id}/matrix?block=RNCP28754BC02"


def test_queue_and_matrix_links(client, platform, registered, app):
    item = deep_link(client, platform, "queue")[DL + "content_items"][0]
    assert item["custom"]["target"] == "queue" and "lineItem" not in item
    platform.message_type, platform.custom, platform.resource_link_id = "LtiResourceLinkRequest", item["custom"], "q"
    response = launch(app.test_client(), platform, "teacher-1")
    cohort_id = db.session.scalar(select(LtiContext)).cohort_id
    assert response.headers["Location"] == f"/assessments/?cohort={cohort_id}"
    item = deep_link(app.test_client(), platform, "matrix")[DL + "content_items"][0]
    assert item["custom"]["target"] == "matrix"


def test_a_block_link_needs_a_block(client, platform, registered):
    platform.message_type = "LtiDeepLinkingRequest"
    launch(client, platform, "teacher-1")
    page = client.post("/lti/deep-link", data={"target": "block", "block": ""})
    assert page.status_code == 200 and "Choisissez le bloc" in page.get_data(as_text=True)
    assert 'name="JWT"' not in page.get_data(as_text=True)


def test_learners_cannot_make_links(client, platform, registered):
    platform.message_type = "LtiDeepLinkingRequest"
    platform.people["learner-1"].roles = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]
    launch(client, platform, "learner-1")
    assert client.get("/lti/deep-link").status_code == 403
