"""The one commit point: what a request, a refusal, a GET and an after-commit step do to the database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Blueprint
from sqlalchemy import select

from portfolio import unit_of_work
from portfolio.extensions import db
from portfolio.models import AuditEvent, Blob, Notification
from portfolio.services.audit import record_event, record_read
from tests.conftest import make_config, new_app


@pytest.fixture
def uow_app(app, database_url, tmp_path):  # type: ignore[no-untyped-def]
    """An app with a few routes that write, on the suite's migrated database."""
    application = new_app(make_config(database_url, tmp_path))
    bp = Blueprint("uow_test", __name__)
    calls: list[str] = []
    application.uow_calls = calls  # type: ignore[attr-defined]

    def note(user_id: int, text: str) -> None:
        db.session.add(Notification(user_id=user_id, message=text))
        db.session.flush()

    @bp.post("/ok/<int:user_id>")
    def ok(user_id: int):  # type: ignore[no-untyped-def]
        note(user_id, "ok")
        unit_of_work.after_commit(lambda: calls.append("after"))
        return "done"

    @bp.post("/refused/<int:user_id>")
    def refused(user_id: int):  # type: ignore[no-untyped-def]
        note(user_id, "refused")
        unit_of_work.after_commit(lambda: calls.append("never"))
        unit_of_work.rollback()
        return "shown again", 200

    @bp.post("/error/<int:user_id>")
    def error(user_id: int):  # type: ignore[no-untyped-def]
        note(user_id, "error")
        return "bad", 422

    @bp.post("/crash/<int:user_id>")
    def crash(user_id: int):  # type: ignore[no-untyped-def]
        note(user_id, "crash")
        raise RuntimeError("boom")

    @bp.get("/read/<int:user_id>")
    def read(user_id: int):  # type: ignore[no-untyped-def]
        note(user_id, "written on GET")
        return "oops"

    @bp.get("/audited/<int:user_id>")
    def audited(user_id: int):  # type: ignore[no-untyped-def]
        record_event("test.read", actor=None, subject_type="user", subject_id=user_id)
        unit_of_work.allow_read_audit()
        return "read"

    @bp.post("/inline-job/<int:user_id>")
    def inline_job(user_id: int):  # type: ignore[no-untyped-def]
        note(user_id, "first")

        def job() -> None:
            with unit_of_work.job():
                note(user_id, "from the job")

        unit_of_work.after_commit(job, uses_database=True)
        return "queued"

    application.register_blueprint(bp)
    return application


def _messages(user_id: int) -> list[str]:
    db.session.rollback()
    return sorted(db.session.scalars(select(Notification.message).where(Notification.user_id == user_id)))


def test_successful_post_commits_and_runs_after_commit(uow_app, make_user):  # type: ignore[no-untyped-def]
    user = make_user()
    assert uow_app.test_client().post(f"/ok/{user.id}").status_code == 200
    assert _messages(user.id) == ["ok"]
    assert uow_app.uow_calls == ["after"]


@pytest.mark.parametrize("route", ["refused", "error"])
def test_refusal_or_error_status_rolls_back(uow_app, make_user, route):  # type: ignore[no-untyped-def]
    user = make_user()
    uow_app.test_client().post(f"/{route}/{user.id}")
    assert _messages(user.id) == []
    assert uow_app.uow_calls == []


def test_exception_rolls_back(uow_app, make_user):  # type: ignore[no-untyped-def]
    user = make_user()
    assert uow_app.test_client().post(f"/crash/{user.id}").status_code == 500
    assert _messages(user.id) == []


def test_get_that_writes_is_refused(uow_app, make_user):  # type: ignore[no-untyped-def]
    user = make_user()
    with pytest.raises(unit_of_work.WriteOnSafeRequest):
        uow_app.test_client().get(f"/read/{user.id}")
    assert _messages(user.id) == []


def test_get_may_record_its_read_audit(uow_app, make_user):  # type: ignore[no-untyped-def]
    from portfolio.models import AuditEvent

    user = make_user()
    assert uow_app.test_client().get(f"/audited/{user.id}").status_code == 200
    db.session.rollback()
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "test.read")) is not None


def test_database_callback_runs_after_the_commit_in_its_own_transaction(uow_app, make_user):  # type: ignore[no-untyped-def]
    user = make_user()
    assert uow_app.test_client().post(f"/inline-job/{user.id}").status_code == 200
    assert _messages(user.id) == ["first", "from the job"]


def test_command_commits_or_rolls_back(app, make_user):  # type: ignore[no-untyped-def]
    user = make_user()
    with unit_of_work.command():
        db.session.add(Notification(user_id=user.id, message="kept"))
    with pytest.raises(ValueError), unit_of_work.command():
        db.session.add(Notification(user_id=user.id, message="dropped"))
        db.session.flush()
        raise ValueError("refused")
    assert _messages(user.id) == ["kept"]


PACKAGE = Path(__file__).resolve().parent.parent / "portfolio"


def test_only_the_unit_of_work_commits() -> None:
    # Views, services, the CLI and jobs never commit: the request, command or job does (see the module).
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{number}"
        for path in PACKAGE.rglob("*.py") if path.name != "unit_of_work.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"\.commit\(", line)
    ]
    assert offenders == []


def _blob() -> Blob:
    return Blob(sha256="0" * 64, size=1, media_type="text/plain", storage_key="k")


def test_record_read_is_the_one_write_a_get_keeps(app, make_user) -> None:  # type: ignore[no-untyped-def]
    user = make_user()
    with app.test_request_context("/", method="GET"):
        record_read("evidence.download", actor=user, subject_type="evidence", subject_id=1)
        unit_of_work._finish_request(app.make_response("ok"))
    assert db.session.scalar(select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1)) == \
        "evidence.download"


@pytest.mark.parametrize("write_first", [True, False])
def test_record_read_does_not_cover_other_writes(app, make_user, write_first) -> None:  # type: ignore[no-untyped-def]
    user = make_user()
    with app.test_request_context("/", method="GET"):
        if write_first:
            db.session.add(_blob())
        record_read("evidence.download", actor=user, subject_type="evidence", subject_id=1)
        if not write_first:
            db.session.add(_blob())
        with pytest.raises(unit_of_work.WriteOnSafeRequest):
            unit_of_work._finish_request(app.make_response("ok"))
    assert db.session.scalar(select(Blob.id)) is None
