"""The learner's own data (GDPR): the archive of everything, erasure with what is kept and why,
retention with a clock moved forward, the privacy page and the register, and who may do what."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portfolio.extensions import db
from portfolio.models import (
    Assessment,
    AuditEvent,
    BlockDecision,
    Comment,
    DossierVersion,
    Evidence,
    Internship,
    JuryBlockDecision,
    Notification,
    PersonalDataExport,
    PrivacyRequest,
    User,
)
from portfolio.models.base import utcnow
from portfolio.services import assessment as assessment_service
from portfolio.services import logbook as logbook_service
from portfolio.services import vae as vae_service
from portfolio.services.audit import verify_chain
from portfolio.services.errors import Conflict, DomainError
from portfolio.services.evidence import Upload, create_evidence, tag_evidence
from portfolio.services.privacy import erasure, exports, retention
from portfolio.services.privacy.records import personal_records, reachable_tables
from portfolio.storage import get_storage

C1 = "RNCP28754BC01-C01"


def _evidence(owner, title: str, data: bytes, filename: str = "code.py"):  # type: ignore[no-untyped-def]
    item = create_evidence(owner, title=title, kind="code", context="project", occurred_on=date(2026, 3, 2),
                           uploads=[Upload(filename, io.BytesIO(data))])
    db.session.flush()
    return item


@pytest.fixture
def history(app, world):  # type: ignore[no-untyped-def]
    """The learner has an assessed piece, a draft, a comment from the tutor, a logbook; the other learner
    stored the very same bytes as one of the learner's files (a shared blob)."""
    learner, tutor = world.learner, world.tutor
    with app.test_request_context():
        return _history(world, learner, tutor)


def _history(world, learner, tutor):  # type: ignore[no-untyped-def]
    assessed = _evidence(learner, "API de réservation", b"def reserve():\n    return 42\n")
    tag_evidence(assessed, C1, "J'ai écrit l'API.", actor=learner)
    assessment_service.submit_evidence(assessed, actor=learner)
    assessment_service.record_assessment(assessed, C1, "acquired", "Très bien, Lina.", assessor=tutor)
    assessment_service.add_comment(assessed, "Pensez aux tests.", author=tutor)
    assessment_service.add_comment(assessed, "Merci, je les ajoute.", author=learner)
    draft = _evidence(learner, "Brouillon secret", b"shared bytes", filename="notes.txt")
    shared = _evidence(world.other_learner, "Même contenu", b"shared bytes", filename="copie.txt")
    internship = logbook_service.create_internship(
        learner, organisation="Acme SA", supervisor_name="Sam Superviseur", supervisor_email="sam@acme.example",
        start_date=date(2026, 1, 5), end_date=date(2026, 1, 30), expected_hours=140)
    logbook_service.add_entry(internship, actor=learner, day=date(2026, 1, 6), hours=7,
                              activities="Installation du poste.")
    db.session.commit()
    return {"assessed": assessed.id, "draft": draft.id, "shared": shared.id, "internship": internship.id}


def _archive(client) -> zipfile.ZipFile:  # type: ignore[no-untyped-def]
    page = client.get("/me/data")
    assert page.status_code == 200
    export = db.session.scalar(select(PersonalDataExport).order_by(PersonalDataExport.id.desc()))
    response = client.get(f"/me/data/export/{export.id}/download")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    return zipfile.ZipFile(io.BytesIO(response.data))


# --- right of access and portability ---------------------------------------------------------------

def test_the_walk_covers_every_table_that_can_reach_users(app):  # type: ignore[no-untyped-def]
    """Every table with a foreign-key path to users is reachable, so its rows are exported (a new table too)."""
    reach = reachable_tables()
    for table in db.metadata.sorted_tables:
        points_at_reach = any(fk.column.table.name in reach for fk in table.foreign_keys)
        assert points_at_reach == (table.name in reach) or table.name == "users"
    assert {"evidence", "evidence_files", "claims", "assessments", "internships", "logbook_entries",
            "dossier_versions", "audit_events", "notifications"} <= reach


def test_archive_holds_every_kind_of_record_and_every_file(app, world, history, login, client):  # type: ignore[no-untyped-def]
    login(world.learner)
    response = client.post("/me/data/export")
    assert response.status_code == 302
    archive = _archive(client)
    names = set(archive.namelist())
    for kind in ("users", "evidence", "evidence_files", "claims", "assessments", "comments",
                 "internships", "logbook_entries", "audit_events", "cohort_memberships"):
        assert f"data/{kind}.json" in names, kind
    assert "index.html" in names and "manifest.json" in names
    evidence = json.loads(archive.read("data/evidence.json"))
    assert {e["title"] for e in evidence} == {"API de réservation", "Brouillon secret"}
    assessments = json.loads(archive.read("data/assessments.json"))
    assert [a["comment"] for a in assessments] == ["Très bien, Lina."]
    comments = {c["body"] for c in json.loads(archive.read("data/comments.json"))}
    assert comments == {"Pensez aux tests.", "Merci, je les ajoute."}
    profile = json.loads(archive.read("data/users.json"))
    assert profile[0]["email"] == "learner@example.org" and "password_hash" not in profile[0]
    manifest = json.loads(archive.read("manifest.json"))
    assert len(manifest["files"]) == 2
    for item in manifest["files"]:
        import hashlib

        assert hashlib.sha256(archive.read(item["path"])).hexdigest() == item["sha256"]
    everything = b"".join(archive.read(n) for n in names)
    assert b"M\xc3\xaame contenu" not in everything and b"other@example.org" not in everything
    index = archive.read("index.html").decode()
    assert "API de réservation" in index and 'href="files/' in index


def test_archive_streams_files_with_flat_memory(app, world):  # type: ignore[no-untyped-def]
    from portfolio.services.privacy.archive import write_personal_archive

    big = b"x" * (24 * 1024 * 1024)
    _evidence(world.learner, "Gros fichier", big, filename="gros.bin")
    db.session.commit()
    records = personal_records(world.learner.id)
    out = io.BytesIO()
    sink = _CountingSink()
    tracemalloc.start()
    write_personal_archive(records, get_storage(), sink)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sink.size > 0
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes for a 24 MiB file"
    del out


class _CountingSink(io.RawIOBase):
    """A write-only stream that keeps nothing (so the archive's own memory is what is measured)."""

    def __init__(self) -> None:
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def,override]
        self.size += len(b)
        return len(b)


def test_archive_is_refused_while_one_is_being_built(app, world):  # type: ignore[no-untyped-def]
    db.session.add(PersonalDataExport(user_id=world.learner.id))
    db.session.commit()
    with pytest.raises(Conflict):
        exports.request_data_export(world.learner, actor=world.learner)


def test_nobody_else_downloads_an_archive(app, world, history, login, client):  # type: ignore[no-untyped-def]
    login(world.learner)
    client.post("/me/data/export")
    export = db.session.scalar(select(PersonalDataExport))
    assert export.status.value == "done" and export.expires_at > utcnow()
    client.post("/logout")
    for other in (world.admin, world.tutor, world.other_learner):
        login(other)
        assert client.get(f"/me/data/export/{export.id}/download").status_code == 404
        assert client.get(f"/me/data/export/{export.id}/progress").status_code == 404
        client.post("/logout")


def test_cli_export_writes_the_archive(app, world, history, runner, tmp_path):  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["privacy", "export", "learner@example.org", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    path = result.output.strip().splitlines()[-1]
    with zipfile.ZipFile(path) as archive:
        assert "data/evidence.json" in archive.namelist()
    assert runner.invoke(args=["privacy", "export", "nobody@example.org"]).exit_code == 1


# --- right to erasure -------------------------------------------------------------------------------

def _counts() -> dict[str, int]:
    return {t.name: db.session.scalar(select(func.count()).select_from(t)) or 0 for t in db.metadata.sorted_tables}


def test_erasure_request_then_officer_decision_through_the_pages(app, world, history, login, client):  # type: ignore[no-untyped-def]
    storage = get_storage()
    assessed_key = db.session.get(Evidence, history["assessed"]).files[0].blob.storage_key
    draft_key = db.session.get(Evidence, history["draft"]).files[0].blob.storage_key
    login(world.learner)
    refused = client.post("/me/data/erasure", data={"message": "Je quitte la formation."})
    assert refused.status_code == 422 and "Cochez la case" in refused.get_data(as_text=True)
    assert client.post("/me/data/erasure", data={"message": "Je quitte la formation.", "confirm": "y"}
                       ).status_code == 302
    assert "en cours de traitement" in client.get("/me/data").get_data(as_text=True)
    client.post("/logout")

    login(world.admin)
    listing = client.get("/admin/privacy").get_data(as_text=True)
    assert "Lina Apprenante" in listing
    request = db.session.scalar(select(PrivacyRequest))
    assert request.due_at - request.created_at == timedelta(days=30)
    request_id = request.id
    page = client.get(f"/admin/privacy/requests/{request_id}").get_data(as_text=True)
    assert "evidence : 2" in page
    missing_reason = client.post(f"/admin/privacy/requests/{request_id}", data={"decision": "erase", "confirm": "y"})
    assert missing_reason.status_code == 422 and "motif" in missing_reason.get_data(as_text=True)
    assert db.session.get(Evidence, history["assessed"]) is not None
    done = client.post(f"/admin/privacy/requests/{request_id}",
                       data={"decision": "erase", "reason": "Demande fondée (art. 17).", "confirm": "y"})
    assert done.status_code == 302
    db.session.expire_all()

    learner = db.session.get(User, world.learner.id)
    assert learner.erased_at is not None and not learner.is_enabled and learner.password_hash is None
    assert learner.email != "learner@example.org" and "Lina" not in learner.name
    assert db.session.scalar(select(func.count()).select_from(Evidence).where(Evidence.owner_id == learner.id)) == 0
    assert db.session.scalar(select(func.count()).select_from(Internship)) == 0
    # What the certification requires stays, attached to the pseudonymised account.
    kept = db.session.scalar(select(Assessment).where(Assessment.learner_id == learner.id))
    assert kept is not None and kept.level.value == "acquired" and kept.evidence_id is None
    # Files: the learner's own are gone from the store; the one shared with another learner stays.
    assert not storage.exists(assessed_key)
    assert storage.exists(draft_key)
    assert db.session.get(Evidence, history["shared"]).files[0].blob.storage_key == draft_key
    # The tutor's comment went with the learner's evidence; the audit chain still verifies.
    assert db.session.scalar(select(func.count()).select_from(Comment)) == 0
    assert list(verify_chain()) == []
    answer = client.get(f"/admin/privacy/requests/{request_id}").get_data(as_text=True)
    assert "Demande fondée" in answer and "assessments : 1" in answer
    request = db.session.get(PrivacyRequest, request_id)
    assert request.status.value == "done" and request.outcome["files_deleted"] == 1
    assert {k["kind"] for k in request.outcome["kept"]} >= {"assessments", "competency_states"}


def test_erasing_again_changes_nothing(app, world, history):  # type: ignore[no-untyped-def]
    erasure.erase_user(world.learner, actor=world.admin)
    db.session.commit()
    before = _counts()
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    outcome = erasure.erase_user(db.session.get(User, world.learner.id), actor=world.admin)
    db.session.commit()
    assert outcome["already_erased"] and _counts() == before
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_erasure_keeps_jury_records_and_empties_the_dossier(app, world):  # type: ignore[no-untyped-def]
    candidate = world.vae
    vae_service.enrol_candidate(candidate, world.certification, actor=None)
    evidence = _evidence(candidate, "Rapport de mission", b"rapport VAE")
    dossier = vae_service.get_or_create_dossier(candidate)
    section = vae_service.section_for(dossier, "RNCP28754BC01")
    vae_service.update_section(section, actor=candidate, applied=True, activities="J'ai conçu une API.",
                               context="Équipe de 5.", means="Python.", experience_ids=[])
    for competency in section.block.competencies:
        vae_service.set_claim(dossier, competency, actor=candidate, narrative="Récit", evidence_ids=[evidence.id])
    vae_service.update_presentation(dossier, "Victor, développeur depuis 2010.", actor=candidate)
    try:
        version = vae_service.send_dossier(dossier, actor=candidate)
    except DomainError:
        pytest.skip("the dossier rules changed: this test needs a sendable dossier")
    jury = vae_service.create_jury("Jury RGPD", [world.jury], actor=world.admin)
    vae_service.assign_version(version, jury, actor=world.admin)
    vae_service.record_block_decision(version, "RNCP28754BC01", "validated", "Solide.", member=world.jury)
    db.session.commit()
    erasure.erase_user(candidate, actor=world.admin)
    db.session.commit()
    db.session.expire_all()
    version = db.session.get(DossierVersion, version.id)
    assert version.snapshot["erased"] is True
    assert "Victor" not in json.dumps(version.snapshot) and "Récit" not in json.dumps(version.snapshot)
    assert version.snapshot["blocks"][0]["code"] == "RNCP28754BC01"
    assert db.session.scalar(select(func.count()).select_from(JuryBlockDecision)) == 1


def test_refusal_keeps_everything_and_answers_with_the_reason(app, world, history):  # type: ignore[no-untyped-def]
    request = erasure.request_erasure(world.learner, "")
    db.session.commit()
    with pytest.raises(Conflict):
        erasure.request_erasure(world.learner, "encore")
    db.session.rollback()
    before = _counts()
    outcome = erasure.handle_request(request, officer=world.admin, approve=False,
                                     reason="Évaluations en cours d'examen par le jury.")
    db.session.commit()
    assert outcome["decision"] == "refused"
    after = _counts()
    assert {k: v for k, v in after.items() if k != "audit_events"} == \
           {k: v for k, v in before.items() if k != "audit_events"}
    with pytest.raises(Conflict):
        erasure.handle_request(request, officer=world.admin, approve=True, reason="Finalement oui.")


def test_an_officer_does_not_handle_their_own_request(app, world):  # type: ignore[no-untyped-def]
    request = erasure.request_erasure(world.admin, "")
    db.session.commit()
    with pytest.raises(DomainError):
        erasure.handle_request(request, officer=world.admin, approve=True, reason="moi")


def test_cli_erase_and_requests(app, world, history, runner):  # type: ignore[no-untyped-def]
    erasure.request_erasure(world.learner, "")
    db.session.commit()
    listing = runner.invoke(args=["privacy", "requests"])
    assert "learner@example.org" in listing.output
    result = runner.invoke(args=["privacy", "erase", "learner@example.org", "--reason", "art. 17", "--yes"])
    assert result.exit_code == 0, result.output
    assert "conservé : assessments" in result.output
    again = runner.invoke(args=["privacy", "erase", f"efface-{world.learner.id}@invalid.invalid",
                                "--reason", "x", "--yes"])
    assert "déjà effacé" in again.output


# --- retention ---------------------------------------------------------------------------------------

def test_sweep_applies_each_period_with_the_clock_moved_forward(app, world, history, runner):  # type: ignore[no-untyped-def]
    now = utcnow()
    db.session.add(Notification(user_id=world.learner.id, message="lue", read_at=now))
    db.session.add(Notification(user_id=world.learner.id, message="non lue"))
    departed = db.session.get(User, world.other_learner.id)
    departed.is_enabled = False
    departed.last_login_at = now
    internship = db.session.get(Internship, history["internship"])
    with app.test_request_context():
        logbook_service.send_for_signoff(internship, internship.entries, actor=world.learner)
    db.session.commit()
    export = exports.request_data_export(world.learner, actor=world.learner)
    db.session.commit()
    assert exports.run_data_export(export.id) == "done"
    export_key = db.session.get(PersonalDataExport, export.id).storage_key
    assert get_storage().exists(export_key)

    today = {line.key: line.count for line in retention.sweep(now, dry_run=True)}
    assert set(today.values()) == {0}
    later = now + timedelta(days=400)
    preview = {line.key: line.count for line in retention.sweep(later, dry_run=True)}
    db.session.rollback()
    assert preview == {"personal_data_exports": 1, "dossier_exports": 0, "read_notifications": 1,
                       "departed_drafts": 1, "signoff_links": 1, "share_links": 0,
                       "privacy_requests": 0, "sent_emails": 0}
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.message == "lue")) == 1  # a dry run deletes nothing

    result = runner.invoke(args=["privacy", "sweep", "--now", later.isoformat()])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    remaining = set(db.session.scalars(select(Notification.message)))
    assert "lue" not in remaining and "non lue" in remaining
    assert db.session.get(Evidence, history["shared"]) is None        # the departed learner's draft
    assert db.session.get(Evidence, history["draft"]) is not None     # its bytes are still the learner's
    assert get_storage().exists(db.session.get(Evidence, history["draft"]).files[0].blob.storage_key)
    assert db.session.get(PersonalDataExport, export.id) is None and not get_storage().exists(export_key)
    again = runner.invoke(args=["privacy", "sweep", "--now", later.isoformat(), "--dry-run"])
    assert "Simulation" in again.output and "1 à supprimer" not in again.output


def test_sweep_removes_emails_sent_or_given_up_and_keeps_those_still_to_send(app, world):  # type: ignore[no-untyped-def]
    """The outbox keeps each e-mail's address, subject and text: gone after the period, counted from
    the sending (or the creation of one given up); a message still queued or to be retried stays."""
    from portfolio.models import OutboxMessage

    now = utcnow()
    old = now - timedelta(days=91)

    def message(subject: str, **values):  # type: ignore[no-untyped-def]
        row = OutboxMessage(recipient="tuteur.stage@example.org", subject=subject, body="…", kind="test",
                            user_id=world.learner.id, **values)
        db.session.add(row)
        return row

    message("envoyé il y a longtemps", status="sent", sent_at=old, created_at=old)
    message("envoyé hier", status="sent", sent_at=now - timedelta(days=1), created_at=old)
    message("abandonné", status="failed", next_attempt_at=None, created_at=old, attempts=5)
    message("à réessayer", status="failed", next_attempt_at=now, created_at=old, attempts=1)
    message("en attente", status="queued", created_at=old)
    db.session.commit()

    preview = {line.key: line.count for line in retention.sweep(now, dry_run=True)}
    assert preview["sent_emails"] == 2
    db.session.rollback()
    retention.sweep(now, dry_run=False)
    db.session.commit()
    left = set(db.session.scalars(select(OutboxMessage.subject)))
    assert left == {"envoyé hier", "à réessayer", "en attente"}


def test_retention_periods_come_from_the_configuration(app, world):  # type: ignore[no-untyped-def]
    from portfolio.services.privacy.policy import retention_days

    app.config["RETENTION_DAYS"] = {"read_notifications": 30}
    try:
        assert retention_days()["read_notifications"] == 30
        db.session.add(Notification(user_id=world.learner.id, message="lue", read_at=utcnow()))
        db.session.commit()
        lines = {line.key: line.count for line in retention.sweep(utcnow() + timedelta(days=31), dry_run=True)}
        assert lines["read_notifications"] == 1
    finally:
        app.config["RETENTION_DAYS"] = {}
        db.session.rollback()


# --- transparency and access -------------------------------------------------------------------------

def test_privacy_page_is_public_and_follows_the_configuration(app, client):  # type: ignore[no-untyped-def]
    app.config["RETENTION_DAYS"] = {"dossier_exports": 60}
    try:
        page = client.get("/privacy").get_data(as_text=True)
    finally:
        app.config["RETENTION_DAYS"] = {}
    assert "Vos données personnelles" in page and "60 jours" in page and "CNIL" in page
    english = client.get("/privacy?lang=en").get_data(as_text=True)
    assert "Your personal data" in english


@pytest.mark.parametrize("role", ["learner", "tutor", "jury", "vae"])
def test_officer_pages_are_for_administrators_only(app, world, login, client, role):  # type: ignore[no-untyped-def]
    request = erasure.request_erasure(world.other_learner, "")
    db.session.commit()
    login(getattr(world, role))
    for url in ("/admin/privacy", f"/admin/privacy/requests/{request.id}", "/admin/privacy/register"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/admin/privacy/requests/{request.id}",
                       data={"decision": "erase", "reason": "x", "confirm": "y"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(PrivacyRequest, request.id).status.value == "open"


def test_register_lists_processing_and_retention(app, world, login, client):  # type: ignore[no-untyped-def]
    login(world.admin)
    page = client.get("/admin/privacy/register").get_data(as_text=True)
    assert "Registre des activités de traitement" in page and "Journal de stage" in page and "7 jours" in page


def test_overdue_requests_are_flagged(app, world, login, client):  # type: ignore[no-untyped-def]
    request = erasure.request_erasure(world.learner, "")
    request.created_at = utcnow() - timedelta(days=40)
    request.due_at = utcnow() - timedelta(days=10)
    db.session.commit()
    login(world.admin)
    assert "dépassée" in client.get("/admin/privacy").get_data(as_text=True)
    assert erasure.erasure_deadline_count() == 1


def test_block_decisions_are_kept_after_erasure(app, world, history):  # type: ignore[no-untyped-def]
    block = db.session.get(Evidence, history["assessed"]).claims[0].competency.block
    db.session.add(BlockDecision(learner_id=world.learner.id, block_id=block.id, decided_by_id=world.tutor.id,
                                 kind="validated"))
    db.session.commit()
    erasure.erase_user(world.learner, actor=None)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(BlockDecision)) == 1


def test_archive_is_built_by_an_rq_worker_when_redis_is_configured(app, world, history, monkeypatch):  # type: ignore[no-untyped-def]
    import os

    import redis
    from rq import Queue, SimpleWorker

    from portfolio.jobs import QUEUE_NAME

    url = os.environ.get("PORTFOLIO_REDIS_URL") or "redis://127.0.0.1:6379/13"
    connection = redis.Redis.from_url(url)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("PORTFOLIO_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis unreachable at {url}: {exc}")
        pytest.skip(f"Redis unreachable at {url} (set PORTFOLIO_REQUIRE_REDIS=1 to fail instead)")
    queue = Queue(QUEUE_NAME, connection=connection)
    queue.empty()
    monkeypatch.setitem(app.config, "REDIS_URL", url)
    export = exports.request_data_export(world.learner, actor=world.learner)
    db.session.commit()
    from portfolio import unit_of_work

    unit_of_work.run_deferred()  # what the request's end does after its commit
    db.session.expire_all()
    assert db.session.get(PersonalDataExport, export.id).status.value == "queued" and queue.count == 1
    SimpleWorker([queue], connection=connection).work(burst=True)
    db.session.expire_all()
    done = db.session.get(PersonalDataExport, export.id)
    assert done.status.value == "done" and get_storage().exists(done.storage_key)


def test_audit_events_carry_no_personal_data(app, world, history, login, client):  # type: ignore[no-untyped-def]
    """Names, e-mails, titles and file names stay out of the audit trail (ids only): erasing the account
    then pseudonymises every event without rewriting the chain."""
    with app.test_request_context():
        internship = db.session.get(Internship, history["internship"])
        logbook_service.send_for_signoff(internship, internship.entries, actor=world.learner)
    item = db.session.get(Evidence, history["draft"])
    from portfolio.services.evidence import delete_evidence

    delete_evidence(item, actor=world.learner)
    db.session.commit()
    payloads = json.dumps([e.data for e in db.session.scalars(select(AuditEvent))], ensure_ascii=False)
    for personal in ("learner@example.org", "Lina", "API de réservation", "Brouillon secret", "notes.txt",
                     "sam@acme.example", "Sam Superviseur"):
        assert personal not in payloads, personal


def test_other_peoples_addresses_are_masked_for_tutors(app, world, login, client):  # type: ignore[no-untyped-def]
    login(world.tutor)
    page = client.get(f"/cohorts/{world.cohort.id}").get_data(as_text=True)
    assert "Lina Apprenante" in page and "learner@example.org" not in page and "l***@example.org" in page
