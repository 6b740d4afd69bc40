"""The API's evidence representation carries each file's test-report summary (``report``) and archive
summary (``archive``), the same the pages show; both are described in the OpenAPI document."""

from __future__ import annotations

import io

import pytest

from portfolio.extensions import db
from portfolio.models.analysis import BlobAnalysis
from portfolio.services import viewers
from tests.factories import PROJECT, add_evidence, bomb_zip, run_pytest_junit, symlink_zip, zip_bytes
from tests.factories import report_fixture as fixture


def files_by_name(body: dict) -> dict[str, dict]:
    return {f["filename"]: f for f in body["files"]}


def test_report_and_archive_summaries(app, world, client, bearer, tmp_path):  # noqa: F811
    junit = run_pytest_junit(tmp_path)  # a real pytest report, produced here
    item = add_evidence(world.learner, files=(
        (junit, "junit.xml"),
        (fixture("TEST-com.example.shop.CartServiceTest.xml"), "TEST-CartServiceTest.xml"),
        (fixture("cobertura.xml"), "coverage.xml"),
        (fixture("malformed.xml"), "broken.xml"),
        (zip_bytes(PROJECT), "shop.zip"),
        (b"print(1)\n", "a.py"),
    ))
    response = client.get(f"/api/v1/evidence/{item.id}", headers=bearer(world.learner))
    assert response.status_code == 200
    files = files_by_name(response.get_json())

    pytest_report = files["junit.xml"]["report"]
    assert {k: pytest_report[k] for k in ("tests", "passed", "failures", "errors", "skipped")} == {
        "tests": 4, "passed": 1, "failures": 1, "errors": 1, "skipped": 1}
    assert isinstance(pytest_report["duration"], float) and pytest_report["duration"] > 0
    assert files["TEST-CartServiceTest.xml"]["report"] == {
        "tests": 5, "passed": 2, "failures": 1, "errors": 1, "skipped": 1, "duration": 0.087}
    assert files["coverage.xml"]["report"] == {"coverage": 66.67}
    broken = files["broken.xml"]["report"]
    assert broken["unreadable"] is True and "mal formé" in broken["reason"]
    assert files["shop.zip"]["archive"] == {"entries": 4, "files": 4, "languages": {"Python": 8, "TypeScript": 1},
                                            "has_tests": True, "executables": []}
    for name in ("junit.xml", "coverage.xml", "broken.xml", "a.py"):
        assert files[name]["archive"] is None, name
    assert files["shop.zip"]["report"] is None and files["a.py"]["report"] is None


@pytest.mark.parametrize(("build", "code"), [(symlink_zip, "link"), (bomb_zip, "zip_bomb"),
                                             (lambda: zip_bytes({"../x.py": b"1\n"}), "unsafe_path")])
def test_refused_archive(app, world, client, bearer, build, code):  # noqa: F811
    item = add_evidence(world.learner, files=((build(), "projet.zip"),))
    body = client.get(f"/api/v1/evidence/{item.id}", headers=bearer(world.learner)).get_json()
    archive = body["files"][0]["archive"]
    assert archive["refused"] == code and archive["reason"].startswith("Archive refusée")
    assert set(archive) == {"refused", "reason"}


def test_billion_laughs_is_unreadable(app, world, client, bearer):  # noqa: F811
    item = add_evidence(world.learner, files=((fixture("billion_laughs.xml"), "report.xml"),))
    report = client.get(f"/api/v1/evidence/{item.id}", headers=bearer(world.learner)).get_json()["files"][0]["report"]
    assert report["unreadable"] is True and "DTD" in report["reason"]


def test_ci_push_gets_the_summary_back_and_it_is_kept(app, world, client, bearer):  # noqa: F811
    response = client.post(
        "/api/v1/evidence", headers=bearer(world.learner, "CI"), content_type="multipart/form-data",
        data={"title": "Rapport de tests", "kind": "test_report",
              "file": (io.BytesIO(fixture("phpunit-junit.xml")), "junit.xml")})
    assert response.status_code == 201
    report = response.get_json()["files"][0]["report"]
    assert {k: report[k] for k in ("tests", "passed", "failures", "errors", "skipped")} == {
        "tests": 6, "passed": 3, "failures": 1, "errors": 1, "skipped": 1}
    db.session.expire_all()
    rows = db.session.scalars(db.select(BlobAnalysis)).all()
    assert len(rows) == 1 and rows[0].summary["tests"] == 6  # committed with the request


def test_lists_and_the_queue_read_kept_summaries(app, world, client, bearer, monkeypatch):  # noqa: F811
    from portfolio.services import assessment

    item = add_evidence(world.learner, files=((fixture("jest-junit.xml"), "jest.xml"), (zip_bytes(PROJECT), "s.zip")),
                        tags=["RNCP28754BC01-C01"])
    with app.test_request_context():
        assessment.submit_evidence(item, actor=world.learner)
    db.session.commit()
    listed = client.get("/api/v1/evidence", headers=bearer(world.learner)).get_json()["evidence"][0]
    assert files_by_name(listed)["jest.xml"]["report"]["tests"] == 7

    def no_reading(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a kept summary was computed again")

    monkeypatch.setattr(viewers, "_compute", no_reading)
    queue = client.get("/api/v1/assessments/queue", headers=bearer(world.tutor)).get_json()
    files = files_by_name(queue["evidence"][0])
    assert files["jest.xml"]["report"]["failures"] == 1 and files["s.zip"]["archive"]["has_tests"] is True


def test_other_learner_gets_nothing(app, world, client, bearer):  # noqa: F811
    item = add_evidence(world.learner, files=((fixture("jest-junit.xml"), "jest.xml"),))
    response = client.get(f"/api/v1/evidence/{item.id}", headers=bearer(world.other_learner))
    assert response.status_code == 404 and "report" not in response.get_data(as_text=True)


def test_openapi_documents_the_summaries(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    file_schema = schemas["File"]
    assert {"report", "archive"} <= set(file_schema["required"])
    assert set(schemas["TestReportSummary"]["required"]) == {"tests", "passed", "failures", "errors", "skipped",
                                                            "duration"}
    assert schemas["CoverageSummary"]["required"] == ["coverage"]
    assert set(schemas["UnreadableReport"]["required"]) == {"unreadable", "reason"}
    assert set(schemas["ArchiveSummary"]["required"]) == {"entries", "files", "languages", "has_tests"}
    assert "zip_bomb" in schemas["RefusedArchive"]["properties"]["refused"]["enum"]


def test_responses_match_the_schema(app, world, client, bearer):  # noqa: F811
    jsonschema = pytest.importorskip("jsonschema")
    doc = client.get("/api/v1/openapi.json").get_json()
    item = add_evidence(world.learner, files=(
        (fixture("jest-junit.xml"), "jest.xml"), (fixture("cobertura.xml"), "cov.xml"),
        (fixture("malformed.xml"), "bad.xml"), (zip_bytes(PROJECT), "s.zip"), (symlink_zip(), "l.zip"),
        (b"x\n", "n.txt")))
    body = client.get(f"/api/v1/evidence/{item.id}", headers=bearer(world.learner)).get_json()
    schema = {**doc["components"]["schemas"]["Evidence"], "components": doc["components"]}
    jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)
