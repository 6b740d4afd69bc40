"""Tutor assessment: submission, append-only assessments, block decisions, feedback, progress, the cohort
matrix (with a query count that does not grow with the cohort) and who may do what."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import event, func, select

from portfolio.extensions import db
from portfolio.models import (
    Assessment,
    AuditEvent,
    BlockDecision,
    Claim,
    Comment,
    CompetencyState,
    DecisionKind,
    Evidence,
    EvidenceStatus,
    Level,
    MemberRole,
    Notification,
    Role,
    User,
)
from portfolio.services import assessment as service
from portfolio.services import evidence as evidence_service
from portfolio.services.errors import Conflict, DomainError
from portfolio.services.evidence import EvidenceLocked, Upload

C1, C2 = "RNCP28754BC01-C01", "RNCP28754BC01-C02"
BC01 = [f"RNCP28754BC01-C0{n}" for n in range(1, 8)]


@pytest.fixture
def req(app):  # type: ignore[no-untyped-def]
    """A request context: services build the links of their notifications with url_for."""
    with app.test_request_context():
        yield


def make_evidence(owner, *codes: str, title: str = "Gestion de stock", submit: bool = False):  # type: ignore[no-untyped-def]
    item = evidence_service.create_evidence(owner, title=title, kind="code", context="project",
                                            occurred_on=date(2026, 1, 1),
                                            uploads=[Upload("stock.py", io.BytesIO(b"print('stock')"))])
    for code in codes:
        evidence_service.tag_evidence(item, code, f"Je montre {code}.", actor=owner)
    if submit:
        service.submit_evidence(item, actor=owner)
    db.session.commit()
    return item


def count(model) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def submitted(world, req):  # type: ignore[no-untyped-def]
    """A piece of evidence of world.learner, tagged C01 and C02 of BC01, submitted."""
    return make_evidence(world.learner, C1, C2, submit=True)


# --- submission ---------------------------------------------------------------------------------------

def test_submit_requires_a_tag(world, req):
    item = make_evidence(world.learner)
    with pytest.raises(DomainError, match="au moins une compétence"):
        service.submit_evidence(item, actor=world.learner)
    db.session.rollback()
    assert db.session.get(Evidence, item.id).status == EvidenceStatus.DRAFT


def test_submitted_evidence_is_frozen(world, submitted):
    item, learner = submitted, world.learner
    assert item.status == EvidenceStatus.SUBMITTED and item.submitted_at is not None
    for attempt in (
        lambda: evidence_service.update_evidence(item, actor=learner, title="Autre", kind="code", context="project",
                                                 occurred_on=date(2026, 1, 2), description="", url=None),
        lambda: evidence_service.tag_evidence(item, "RNCP28754BC01-C03", "x", actor=learner),
        lambda: evidence_service.untag_evidence(item, C1, actor=learner),
        lambda: evidence_service.remove_file(item, item.files[0], actor=learner),
        lambda: evidence_service.add_files(item, [Upload("b.py", io.BytesIO(b"x"))], actor=learner),
        lambda: evidence_service.delete_evidence(item, actor=learner),
        lambda: service.submit_evidence(item, actor=learner),
    ):
        with pytest.raises(EvidenceLocked):
            attempt()
        db.session.rollback()
    db.session.expire_all()
    item = db.session.get(Evidence, item.id)
    assert item.title == "Gestion de stock" and len(item.files) == 1
    assert sorted(c.competency.code for c in item.claims) == [C1, C2]


def test_frozen_evidence_pages_refuse_changes_and_hide_controls(world, submitted, login, client):
    login(world.learner)
    page = client.get(f"/evidence/{submitted.id}").get_data(as_text=True)
    assert "Soumise" in page and 'id="withdraw-evidence"' in page
    assert f"/evidence/{submitted.id}/edit" not in page and "Détacher" not in page
    assert f'action="/evidence/{submitted.id}/tags"' not in page and "Supprimer cette preuve" not in page
    client.post(f"/evidence/{submitted.id}/edit", data={"title": "Autre", "kind": "code", "context": "project",
                                                        "occurred_on": "2026-01-01"})
    client.post(f"/evidence/{submitted.id}/tags", data={"competency": "RNCP28754BC01-C03", "justification": "x"})
    client.post(f"/evidence/{submitted.id}/tags/{C1}/delete")
    client.post(f"/evidence/{submitted.id}/files/{submitted.files[0].id}/delete")
    db.session.expire_all()
    item = db.session.get(Evidence, submitted.id)
    assert item.title == "Gestion de stock" and len(item.claims) == 2 and len(item.files) == 1


def test_withdraw_only_while_unassessed(world, submitted):
    service.withdraw_evidence(submitted, actor=world.learner)
    db.session.commit()
    assert submitted.status == EvidenceStatus.DRAFT and submitted.submitted_at is None
    with pytest.raises(Conflict):
        service.withdraw_evidence(submitted, actor=world.learner)  # a draft is not withdrawn
    service.submit_evidence(submitted, actor=world.learner)
    service.record_assessment(submitted, C1, "in_progress", "", assessor=world.tutor)
    db.session.commit()
    with pytest.raises(Conflict, match="nouvelle version"):
        service.withdraw_evidence(submitted, actor=world.learner)
    db.session.rollback()
    assert db.session.get(Evidence, submitted.id).status == EvidenceStatus.ASSESSED


def test_new_version_keeps_the_old_one_and_its_assessments(world, submitted):
    with pytest.raises(Conflict):
        service.new_version(submitted, actor=world.learner)  # not assessed yet: withdraw instead
    db.session.rollback()
    first = service.record_assessment(submitted, C1, "in_progress", "Il manque des tests.", assessor=world.tutor)
    db.session.commit()
    copy = service.new_version(submitted, actor=world.learner)
    db.session.commit()
    assert copy.id != submitted.id and copy.previous_version_id == submitted.id
    assert copy.status == EvidenceStatus.DRAFT
    assert [f.blob_id for f in copy.files] == [f.blob_id for f in submitted.files]
    assert sorted(c.competency.code for c in copy.claims) == [C1, C2]
    # The new draft changes; the old one stays as it was, with its assessment.
    evidence_service.update_evidence(copy, actor=world.learner, title="Gestion de stock v2", kind="code",
                                     context="project", occurred_on=date(2026, 2, 1), description="", url=None)
    db.session.commit()
    db.session.expire_all()
    old = db.session.get(Evidence, submitted.id)
    assert old.title == "Gestion de stock" and old.status == EvidenceStatus.ASSESSED
    assert [a.id for a in service.assessments_on(old)] == [first.id]
    with pytest.raises(Conflict):
        service.new_version(old, actor=world.learner)  # one continuation only
    db.session.rollback()


# --- assessments ---------------------------------------------------------------------------------------

def test_assessments_are_append_only_and_the_state_follows_the_latest(app, world, submitted, runner):
    first = service.record_assessment(submitted, C1, "in_progress", "Presque.", assessor=world.tutor)
    db.session.commit()
    snapshot = (first.id, first.level, first.comment, first.created_at, first.assessor_id)
    state = db.session.get(CompetencyState, (world.learner.id, first.competency_id))
    assert state.level == Level.IN_PROGRESS and state.assessment_id == first.id

    second = service.record_assessment(submitted, C1.lower(), "acquired", "C'est **acquis**.", assessor=world.admin)
    db.session.commit()
    db.session.expire_all()
    assert second.supersedes_id == first.id
    again = db.session.get(Assessment, first.id)
    assert (again.id, again.level, again.comment, again.created_at, again.assessor_id) == snapshot
    assert count(Assessment) == 2
    state = db.session.get(CompetencyState, (world.learner.id, first.competency_id))
    assert state.level == Level.ACQUIRED and state.assessment_id == second.id
    assert db.session.get(Evidence, submitted.id).status == EvidenceStatus.ASSESSED

    # Every assessment is an event of the hash chain, which still verifies.
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "assessment.record")
                                .order_by(AuditEvent.id)).all()
    assert [e.subject_id for e in events] == [str(first.id), str(second.id)]
    assert events[1].data["supersedes"] == first.id and events[1].data["level"] == "acquired"
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


def test_assessment_is_refused_on_drafts_untagged_competencies_bad_levels_and_oneself(world, req, make_user):
    draft = make_evidence(world.learner, C1)
    with pytest.raises(Conflict):
        service.record_assessment(draft, C1, "acquired", "", assessor=world.tutor)
    service.submit_evidence(draft, actor=world.learner)
    with pytest.raises(DomainError, match="pas rattachée"):
        service.record_assessment(draft, C2, "acquired", "", assessor=world.tutor)
    with pytest.raises(DomainError, match="Niveau inconnu"):
        service.record_assessment(draft, C1, "excellent", "", assessor=world.tutor)
    with pytest.raises(DomainError, match="soi-même"):
        service.record_assessment(draft, C1, "acquired", "", assessor=world.learner)
    db.session.rollback()
    assert count(Assessment) == 0 and count(CompetencyState) == 0


def test_the_learner_is_notified_in_the_app(world, submitted, login, client):
    service.record_assessment(submitted, C1, "acquired", "", assessor=world.tutor)
    db.session.commit()
    assert service.unread_count(world.learner) == 1
    note = db.session.scalar(select(Notification).where(Notification.user_id == world.learner.id))
    assert C1 in note.message and "acquis" in note.message and note.link == f"/evidence/{submitted.id}"
    # The tutors were told about the submission.
    assert service.unread_count(world.tutor) == 1 and service.unread_count(world.other_tutor) == 0

    login(world.learner)
    home = client.get("/").get_data(as_text=True)
    assert 'id="nav-notifications"' in home and '<span class="count">1<' in home
    page = client.get("/notifications").get_data(as_text=True)
    assert C1 in page and '/open"' in page  # opening it (a POST) marks it read, then leads to its page
    mine = db.session.scalar(select(Notification).where(Notification.user_id == world.learner.id))
    opened = client.post(f"/notifications/{mine.id}/open")
    assert opened.headers["Location"].endswith(f"/evidence/{submitted.id}")
    assert client.post("/notifications/read").status_code == 302
    assert service.unread_count(world.learner) == 0
    assert service.unread_count(world.tutor) == 1  # only one's own notifications are marked
    assert '<span class="count">' not in client.get("/").get_data(as_text=True)


def test_email_leaves_after_the_commit_only_and_never_after_a_rollback(app, world, submitted, monkeypatch):
    from portfolio import unit_of_work
    from portfolio.services import outbox

    def commit() -> None:  # what a request's or command's end does: commit, then the post-commit sends
        db.session.commit()
        unit_of_work.run_deferred()

    sent: list[tuple[str, str, int]] = []

    def record_send(app_, to, subject, body):  # type: ignore[no-untyped-def]
        # What another connection sees when the e-mail leaves: inside the transaction, not the assessment.
        with db.engine.connect() as other:
            visible = other.scalar(select(func.count()).select_from(Assessment))
        sent.append((to, subject, visible))

    monkeypatch.setattr(outbox, "send_now", record_send)

    # Without SMTP_URL, nothing is sent (the in-app notification remains).
    service.record_assessment(submitted, C1, "in_progress", "", assessor=world.tutor)
    commit()
    assert sent == []

    monkeypatch.setitem(app.config, "SMTP_URL", "smtp://mail.example.org:25")
    service.record_assessment(submitted, C1, "acquired", "", assessor=world.tutor)
    db.session.flush()
    assert sent == []  # not before the commit
    commit()
    assert sent == [(world.learner.email, "Nouvelle évaluation sur votre portfolio", 2)]

    service.record_assessment(submitted, C2, "acquired", "", assessor=world.tutor)
    db.session.rollback()
    commit()
    assert len(sent) == 1  # the rolled-back assessment sends nothing, even at a later commit
    assert count(Assessment) == 2


# --- block decisions ---------------------------------------------------------------------------------------

def test_block_validation_needs_every_competency_acquired_and_revocation_is_a_new_record(world, req):
    item = make_evidence(world.learner, *BC01, submit=True)
    block = service.find_block(world.certification.id, "rncp28754bc01")
    with pytest.raises(service.BlockIncomplete) as refused:
        service.validate_block(world.learner, block, actor=world.tutor)
    assert refused.value.missing == BC01
    for code in BC01[:-1]:
        service.record_assessment(item, code, "acquired", "", assessor=world.tutor)
    service.record_assessment(item, BC01[-1], "in_progress", "", assessor=world.tutor)
    with pytest.raises(service.BlockIncomplete) as refused:
        service.validate_block(world.learner, block, actor=world.tutor)
    assert refused.value.missing == [BC01[-1]] and BC01[-1] in refused.value.message
    service.record_assessment(item, BC01[-1], "acquired", "", assessor=world.tutor)
    validation = service.validate_block(world.learner, block, actor=world.tutor, comment="Bravo.")
    db.session.commit()
    with pytest.raises(Conflict):
        service.validate_block(world.learner, block, actor=world.tutor)
    with pytest.raises(DomainError):
        service.revoke_block(world.learner, block, actor=world.tutor, comment="  ")
    db.session.rollback()
    revocation = service.revoke_block(world.learner, block, actor=world.admin, comment="Erreur de saisie.")
    db.session.commit()
    decisions = db.session.scalars(select(BlockDecision).order_by(BlockDecision.id)).all()
    assert [(d.id, d.kind, d.comment) for d in decisions] == [
        (validation.id, DecisionKind.VALIDATED, "Bravo."), (revocation.id, DecisionKind.REVOKED, "Erreur de saisie.")]
    assert service.current_block_decision(world.learner, block).kind == DecisionKind.REVOKED
    assert [e.action for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("block.%"))
                                                 .order_by(AuditEvent.id))] == ["block.validate", "block.revoke"]


# --- pages -------------------------------------------------------------------------------------------------

def test_owner_submits_withdraws_and_creates_a_new_version_through_the_page(world, req, login, client):
    item = make_evidence(world.learner, C1)
    login(world.learner)
    page = client.get(f"/evidence/{item.id}").get_data(as_text=True)
    assert "Soumettre pour évaluation" in page and 'id="new-version"' not in page
    response = client.post(f"/evidence/{item.id}/submit")
    assert response.status_code == 302 and response.headers["Location"] == f"/evidence/{item.id}"
    page = client.get(f"/evidence/{item.id}").get_data(as_text=True)
    assert "Preuve soumise pour évaluation" in page and 'id="withdraw-evidence"' in page
    client.post(f"/evidence/{item.id}/withdraw")
    db.session.expire_all()
    assert db.session.get(Evidence, item.id).status == EvidenceStatus.DRAFT
    client.post(f"/evidence/{item.id}/submit")
    db.session.expire_all()
    service.record_assessment(db.session.get(Evidence, item.id), C1, "acquired", "", assessor=world.tutor)
    db.session.commit()

    page = client.get(f"/evidence/{item.id}").get_data(as_text=True)
    assert 'id="withdraw-evidence"' not in page and 'id="new-version"' in page
    assert "Créer une nouvelle version" in page
    response = client.post(f"/evidence/{item.id}/new-version")
    copy = db.session.scalar(select(Evidence).where(Evidence.previous_version_id == item.id))
    assert response.status_code == 302 and response.headers["Location"] == f"/evidence/{copy.id}"
    page = client.get(f"/evidence/{copy.id}").get_data(as_text=True)
    assert f'id="previous-version" href="/evidence/{item.id}"' in page or \
        f'href="/evidence/{item.id}" id="previous-version"' in page
    assert "Soumettre pour évaluation" in page and f"/evidence/{copy.id}/edit" in page
    old = client.get(f"/evidence/{item.id}").get_data(as_text=True)
    assert f'href="/evidence/{copy.id}" id="next-version"' in old and 'id="new-version"' not in old


def test_submit_without_a_tag_is_refused_with_a_message(world, req, login, client):
    item = make_evidence(world.learner)
    login(world.learner)
    page = client.post(f"/evidence/{item.id}/submit", follow_redirects=True).get_data(as_text=True)
    assert "Rattachez la preuve à au moins une compétence" in page
    assert db.session.get(Evidence, item.id).status == EvidenceStatus.DRAFT


def test_tutor_assesses_from_the_evidence_page_and_the_learner_sees_it(world, submitted, login, client):
    login(world.tutor)
    page = client.get(f"/evidence/{submitted.id}").get_data(as_text=True)
    assert "Je montre RNCP28754BC01-C01." in page  # the learner's justification
    assert f'id="level-{C1}-acquired"' in page and f'id="comment-{C2}"' in page
    assert "pas encore évalué" in page

    response = client.post(f"/evidence/{submitted.id}/assessments",
                           data={"competency": C1, "level": "in_progress", "comment": "Ajoutez des **tests**."})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"#assess-{C1}")
    client.post(f"/evidence/{submitted.id}/assessments",
                data={"competency": C1, "level": "acquired", "comment": "Tests ajoutés <script>x</script>"})
    # A missing level re-renders the page with the error next to that competency's form.
    refused = client.post(f"/evidence/{submitted.id}/assessments",
                          data={"competency": C2, "comment": "Mon commentaire gardé"})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert f'id="level-{C2}-error"' in body and "Mon commentaire gardé" in body
    assert count(Assessment) == 2

    client.post("/logout")
    login(world.learner)
    page = client.get(f"/evidence/{submitted.id}").get_data(as_text=True)
    assert "Ajoutez des <strong>tests</strong>." in page and "<script>x" not in page
    assert "Théo Formateur" in page and "remplace l'évaluation du" in page
    assert 'name="level"' not in page  # a learner never gets the assessment form
    assert 'class="level level--acquired">acquis<' in page


def test_comments_thread_between_learner_and_tutor(world, submitted, login, client):
    login(world.learner)
    assert client.post(f"/evidence/{submitted.id}/comments", data={"body": "Pouvez-vous *regarder* ?"}
                       ).status_code == 302
    assert client.post(f"/evidence/{submitted.id}/comments", data={"body": "  "}).status_code == 422
    client.post("/logout")
    login(world.tutor)
    client.post(f"/evidence/{submitted.id}/comments", data={"body": "Oui."})
    page = client.get(f"/evidence/{submitted.id}").get_data(as_text=True)
    assert "Pouvez-vous <em>regarder</em> ?" in page and "Oui." in page
    assert count(Comment) == 2
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == world.learner.id, Notification.message.like("%a commenté%"))) == 1


def test_queue_lists_submitted_evidence_oldest_first_with_filters_and_counts(world, req, login, client):
    older = make_evidence(world.learner, C1, title="Plus ancienne", submit=True)
    make_evidence(world.learner, "RNCP28754BC02-C01", title="Plus récente", submit=True)
    make_evidence(world.learner, C1, title="Brouillon")
    make_evidence(world.other_learner, C1, title="Autre promotion", submit=True)

    login(world.tutor)
    page = client.get("/assessments/").get_data(as_text=True)
    assert "2 preuves attendent votre évaluation." in page
    assert page.index("Plus ancienne") < page.index("Plus récente")
    assert "Brouillon" not in page and "Autre promotion" not in page
    assert f'href="/evidence/{older.id}"' in page and "Promo A 2026</a> : 2 en attente" in page
    page = client.get("/assessments/?block=RNCP28754BC02").get_data(as_text=True)
    assert "Plus récente" in page and "Plus ancienne" not in page and "1 preuve correspond" in page
    page = client.get(f"/assessments/?learner={world.other_learner.id}").get_data(as_text=True)
    assert "Autre promotion" not in page  # a filter never widens what a tutor sees
    page = client.get(f"/assessments/?cohort={world.other_cohort.id}").get_data(as_text=True)
    assert "Autre promotion" not in page and "Aucune preuve" in page

    client.post("/logout")
    login(world.admin)
    page = client.get("/assessments/").get_data(as_text=True)
    assert "3 preuves attendent" in page and "Autre promotion" in page
    assert 'href="/assessments/"' in page  # the nav link


def test_progress_page_shows_levels_counts_history_and_decisions(world, req, login, client):
    item = make_evidence(world.learner, *BC01, submit=True)
    for code in BC01[:3]:
        service.record_assessment(item, code, "acquired", "", assessor=world.tutor)
    service.record_assessment(item, BC01[3], "in_progress", "Encore un effort.", assessor=world.tutor)
    service.record_assessment(item, BC01[4], "not_acquired", "", assessor=world.tutor)
    db.session.commit()

    login(world.learner)
    assert f'href="/learners/{world.learner.id}/progress"' in client.get("/").get_data(as_text=True)
    assert f"/learners/{world.learner.id}/progress#block-RNCP28754BC01" in client.get(
        "/blocks/RNCP28754BC01").get_data(as_text=True)
    here = f"/learners/{world.learner.id}/progress"
    page = client.get(here).get_data(as_text=True)
    assert "Ma progression" in page
    # French typography: a no-break space before the colon.
    assert "Acquises\u00a0: 3 sur 7" in page and "En cours d'acquisition\u00a0: 1" in page
    assert "Non acquises\u00a0: 1" in page and "Pas encore évaluées\u00a0: 2" in page
    assert "Acquises\u00a0: 0 sur" in page  # the other blocks
    # Blocks are folded to their bars: a body comes when its block is opened (the fragment), with
    # ?block=CODE (without JavaScript), or every one with ?all=1 (the printable page).
    assert "Encore un effort." not in page and "Bloc pas encore validé." not in page
    assert f'data-fragment="{here}/blocks/RNCP28754BC01"' in page
    assert f'href="{here}?block=RNCP28754BC01#block-RNCP28754BC01"' in page and f'href="{here}?all=1"' in page
    fragment = client.get(f"{here}/blocks/RNCP28754BC01").get_data(as_text=True)
    assert "<html" not in fragment and fragment.lstrip().startswith('<div class="block-progress__body">')
    assert "Encore un effort." in fragment and "Bloc pas encore validé." in fragment
    assert "Valider le bloc" not in fragment
    assert f'id="progress-{BC01[0]}"' in fragment and 'id="progress-RNCP28754BC02' not in fragment
    one = client.get(f"{here}?block=RNCP28754BC01").get_data(as_text=True)
    assert 'id="block-RNCP28754BC01" data-codes="' in one and "Encore un effort." in one
    assert one.count('class="block-progress__body">') == 1 and 'id="progress-RNCP28754BC02' not in one
    every = client.get(f"{here}?all=1").get_data(as_text=True)
    assert "Encore un effort." in every and "Gestion de stock" in every and 'id="progress-RNCP28754BC02' in every
    assert every.count('class="block-progress__body">') == 5 and "data-fragment" not in every
    assert client.get(f"{here}/blocks/RNCP28754BC99").status_code == 404

    client.post("/logout")
    login(world.tutor)
    page = client.get(f"{here}?all=1").get_data(as_text=True)
    assert "Progression de Lina Apprenante" in page and "Valider le bloc" in page
    assert "Valider le bloc" in client.get(f"{here}/blocks/RNCP28754BC01").get_data(as_text=True)
    page = client.post(f"/learners/{world.learner.id}/blocks/RNCP28754BC01/validation",
                       data={"comment": "Presque : reste C04 et C05."}, follow_redirects=True).get_data(as_text=True)
    # The refused block is shown open, the comment as it was typed back in its form.
    assert 'id="validate-RNCP28754BC01" rows="2">Presque : reste C04 et C05.</textarea>' in page
    # Each missing competency by its real state, and the page says it beside the block's form.
    assert (f"{BC01[3]} en cours d&#39;acquisition ; {BC01[4]} non acquise ; {BC01[5]}, {BC01[6]} pas encore évaluées"
            in page), page
    assert count(BlockDecision) == 0
    for code in BC01[3:]:
        service.record_assessment(item, code, "acquired", "", assessor=world.tutor)
    db.session.commit()
    page = client.post(f"/learners/{world.learner.id}/blocks/RNCP28754BC01/validation",
                       data={"comment": "Très bon bloc."}, follow_redirects=True).get_data(as_text=True)
    assert "Bloc validé par Théo Formateur" in page and "Très bon bloc." in page
    assert "Retirer la validation" in page
    client.post(f"/learners/{world.learner.id}/blocks/RNCP28754BC01/revocation", data={"comment": ""})
    assert count(BlockDecision) == 1  # a revocation says why
    page = client.post(f"/learners/{world.learner.id}/blocks/RNCP28754BC01/revocation",
                       data={"comment": "Preuve contestée."}, follow_redirects=True).get_data(as_text=True)
    assert "Validation retirée par Théo Formateur" in page and "Preuve contestée." in page
    assert count(BlockDecision) == 2
    assert client.post(f"/learners/{world.learner.id}/blocks/NOPE/validation").status_code == 404


# --- the cohort matrix -------------------------------------------------------------------------------------------

@pytest.fixture
def assessed_world(world, req, make_user):  # type: ignore[no-untyped-def]
    """world.learner with C01 acquired and C02 in progress; a second learner of cohort A with C01 not acquired."""
    from portfolio.services.cohorts import add_member

    second = make_user("zoe@example.org", "learner", name="Zoé Zèbre")
    add_member(world.cohort, second, MemberRole.LEARNER, actor=None)
    item = make_evidence(world.learner, C1, C2, submit=True)
    service.record_assessment(item, C1, "acquired", "", assessor=world.tutor)
    service.record_assessment(item, C2, "in_progress", "", assessor=world.tutor)
    other = make_evidence(second, C1, "RNCP28754BC02-C01", submit=True)
    service.record_assessment(other, C1, "not_acquired", "", assessor=world.tutor)
    service.record_assessment(other, "RNCP28754BC02-C01", "acquired", "", assessor=world.tutor)
    service.record_assessment(other, "RNCP28754BC02-C01", "acquired", "", assessor=world.tutor)
    db.session.commit()
    world.second = second
    return world


def test_matrix_page_shows_levels_in_words_counts_filters_and_sorts(assessed_world, login, client):
    world = assessed_world
    login(world.tutor)
    assert f'href="/cohorts/{world.cohort.id}/matrix"' in client.get("/").get_data(as_text=True)
    assert f'href="/cohorts/{world.cohort.id}/matrix"' in client.get(
        f"/cohorts/{world.cohort.id}").get_data(as_text=True)
    page = client.get(f"/cohorts/{world.cohort.id}/matrix").get_data(as_text=True)
    assert '<th scope="colgroup" colspan="7"' in page and ">BC01</th>" in page
    assert '<th scope="col" title="Dans un environnement de développement, sur un système donné' in page
    assert '<span class="visually-hidden">RNCP28754BC01-</span>C01</th>' in page
    assert page.count('class="lvl level--acquired"') == 2
    assert page.count('class="lvl level--in_progress"') == 1
    assert page.count('class="lvl level--not_acquired"') == 1
    assert '<span aria-hidden="true">EC</span><span class="visually-hidden">en cours d&#39;acquisition</span>' in page
    assert "A\u00a0: acquis" in page and "—\u00a0: pas encore évalué" in page  # the legend (French typography)
    assert "Omar Autre" not in page  # another cohort's learner
    assert page.index("Lina Apprenante") < page.index("Zoé Zèbre")  # by name
    assert "1/21" in page  # each learner's acquired count
    assert "A 1 · EC 1 · NA 1 · — 11" in page  # BC01 over the two learners (2 × 7 cells)

    page = client.get(f"/cohorts/{world.cohort.id}/matrix?block=RNCP28754BC02&sort=acquired").get_data(as_text=True)
    assert ">BC02</th>" in page and ">BC01</th>" not in page
    assert page.count('class="lvl level--acquired"') == 1
    assert page.index("Zoé Zèbre") < page.index("Lina Apprenante")  # most acquired first
    assert 'aria-sort="descending"' in page
    csv_link = f'href="/cohorts/{world.cohort.id}/matrix?block=RNCP28754BC02&amp;sort=acquired&amp;format=csv"'
    assert csv_link in page


def test_matrix_csv_is_the_same_table_for_a_spreadsheet(assessed_world, login, client):
    world = assessed_world
    login(world.tutor)
    response = client.get(f"/cohorts/{world.cohort.id}/matrix?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="matrice-promo-a-2026.csv"' in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8-sig").split("\r\n")
    header = lines[0].split(";")
    assert header[:2] == ["Nom", "E-mail"] and header[-1] == "Acquises" and len(header) == 2 + 21 + 1
    lina = lines[1].split(";")
    assert lina[:2] == ["Lina Apprenante", "learner@example.org"]
    assert lina[header.index(C1)] == "acquis" and lina[header.index(C2)] == "en cours d'acquisition"
    assert lina[header.index("RNCP28754BC03-C01")] == "" and lina[-1] == "1"
    assert lines[2].split(";")[header.index(C1)] == "non acquis"
    only_bc02 = client.get(f"/cohorts/{world.cohort.id}/matrix?format=csv&block=RNCP28754BC02&sort=acquired")
    rows = only_bc02.get_data().decode("utf-8-sig").split("\r\n")
    assert all(code.startswith("RNCP28754BC02") for code in rows[0].split(";")[2:-1])
    assert rows[1].startswith("Zoé Zèbre;")


def test_matrix_csv_neutralises_formulas(world, req, make_user, login, client):
    from portfolio.services.cohorts import add_member

    evil = make_user("evil@example.org", "learner", name="=HYPERLINK(\"http://x\")")
    add_member(world.cohort, evil, MemberRole.LEARNER, actor=None)
    db.session.commit()
    login(world.admin)
    text = client.get(f"/cohorts/{world.cohort.id}/matrix?format=csv").get_data().decode("utf-8-sig")
    assert "\n'=HYPERLINK" in text or "\"'=HYPERLINK" in text


def test_progress_page_queries_do_not_grow_with_blocks_evidence_or_history(world, req, login, client, make_user):
    """The progress page reads tags, history and decisions in a fixed number of queries: a learner with two
    pieces of evidence on one block costs as many as one with twenty pieces spread over every block, each
    assessed twice (the second replacing the first), with a block decision."""
    from portfolio.models import Block, Competency
    from portfolio.services.cohorts import add_member

    busy = make_user("busy@example.org", "learner", name="Bea Chargée")
    add_member(world.cohort, busy, MemberRole.LEARNER, actor=None)
    db.session.commit()
    codes = db.session.scalars(select(Competency.code).join(Block).where(
        Block.certification_id == world.certification.id).order_by(Competency.id)).all()
    blocks = {code.split("-")[0] for code in codes}
    assert len(blocks) >= 4
    for n, code in enumerate(BC01[:2]):
        make_evidence(world.learner, code, title=f"Petite preuve {n}")
    for n in range(20):
        item = make_evidence(busy, codes[n % len(codes)], codes[(n + 7) % len(codes)], title=f"Grande preuve {n}",
                             submit=True)
        for code in (codes[n % len(codes)], codes[(n + 7) % len(codes)]):
            service.record_assessment(item, code, "in_progress", f"Premier avis {n}.", assessor=world.tutor)
            service.record_assessment(item, code, "acquired", "", assessor=world.tutor)
        db.session.commit()
    service.validate_block(busy, world.certification.blocks[0], actor=world.tutor, comment="")
    db.session.commit()
    login(world.tutor)
    statements: list[str] = []

    def count_statement(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    def queries(learner: User, query: str = "?all=1") -> tuple[int, str]:
        client.get(f"/learners/{learner.id}/progress")  # the session's first page loads what every page does
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count_statement)
        try:
            response = client.get(f"/learners/{learner.id}/progress{query}")
        finally:
            event.remove(db.engine, "before_cursor_execute", count_statement)
        assert response.status_code == 200
        return len(statements), response.get_data(as_text=True)

    # Folded (the default), the page reads no tags and no history: two queries fewer.
    folded_small, _page = queries(world.learner, "")
    folded_large, folded_page = queries(busy, "")
    assert "Grande preuve" not in folded_page
    small_count, small_page = queries(world.learner)
    large_count, large_page = queries(busy)
    assert folded_small == folded_large == small_count - 2, (folded_small, folded_large, small_count)
    assert "Petite preuve 1" in small_page and "Grande preuve 19" in large_page
    assert "Premier avis 19." in large_page and "remplace l'évaluation du" in large_page
    assert "Bloc validé par Théo Formateur" in large_page
    assert large_page.count('class="tag" href="/evidence/') == 40
    assert small_count == large_count, (small_count, large_count)
    assert small_count <= 15


def _cohort_with_states(name: str, size: int, tutor: User, certification) -> int:  # type: ignore[no-untyped-def]
    """A cohort of ``size`` learners, each with levels on several competencies and a validated block."""
    from portfolio.models import Block, Cohort, CohortMembership, Competency, UserRole

    cohort = Cohort(name=name, certification=certification, year=2026)
    db.session.add(cohort)
    db.session.add(CohortMembership(cohort=cohort, user=tutor, role=MemberRole.TUTOR))
    competencies = db.session.scalars(select(Competency).join(Block).where(
        Block.certification_id == certification.id).order_by(Competency.id)).all()
    levels = list(Level)
    for n in range(size):
        learner = User(email=f"{name.lower().replace(' ', '')}-{n}@example.org", name=f"{name} {n:03d}")
        learner.role_rows = [UserRole(role=Role.LEARNER)]
        db.session.add_all([learner, CohortMembership(cohort=cohort, user=learner, role=MemberRole.LEARNER)])
        db.session.flush()
        for i, competency in enumerate(competencies[: 5 + n % 10]):
            assessment = Assessment(learner_id=learner.id, competency_id=competency.id, assessor_id=tutor.id,
                                    level=levels[(n + i) % 3], comment="")
            db.session.add(assessment)
            db.session.flush()
            db.session.add(CompetencyState(learner_id=learner.id, competency_id=competency.id,
                                           level=assessment.level, assessment_id=assessment.id))
        db.session.add(BlockDecision(learner_id=learner.id, block_id=competencies[0].block_id,
                                     decided_by_id=tutor.id, kind=DecisionKind.VALIDATED, comment=""))
    db.session.commit()
    return cohort.id


def test_matrix_query_count_does_not_depend_on_the_cohort_size(world, login, client):
    small = _cohort_with_states("Petite", 3, world.tutor, world.certification)
    large = _cohort_with_states("Grande", 60, world.tutor, world.certification)
    login(world.tutor)
    statements: list[str] = []

    def count_statement(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    def queries(path: str) -> tuple[int, str]:
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count_statement)
        try:
            response = client.get(path)
        finally:
            event.remove(db.engine, "before_cursor_execute", count_statement)
        assert response.status_code == 200
        return len(statements), response.get_data(as_text=True).removeprefix("\ufeff")

    for suffix in ("", "?format=csv", "?sort=acquired", "?block=RNCP28754BC02&format=csv"):
        small_count, small_body = queries(f"/cohorts/{small}/matrix{suffix}")
        large_count, large_body = queries(f"/cohorts/{large}/matrix{suffix}")
        assert small_count == large_count, (suffix, small_count, large_count)
        assert small_count <= 15
        assert "Petite 002" in small_body and "Grande 059" in large_body


# --- who may do what (the GET matrix is in tests/security/test_access_matrix.py) ---------------------------------

REFUSED = ["anonymous", "other_learner", "other_tutor", "vae", "jury"]


def _post_as(role, world, login, client, path, data=None):  # type: ignore[no-untyped-def]
    if role != "anonymous":
        login(getattr(world, role))
    response = client.post(path, data=data or {})
    if role == "anonymous":
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    else:
        assert response.status_code in (403, 404), (role, path, response.status_code)
    return response


@pytest.mark.parametrize("role", ["anonymous", "other_learner", "tutor", "other_tutor", "vae", "jury", "admin"])
def test_submission_posts_are_refused_to_all_but_the_owner(world, req, login, client, role):
    draft = make_evidence(world.learner, C1, title="Brouillon")
    sent = make_evidence(world.learner, C1, title="Soumise", submit=True)
    assessed = make_evidence(world.learner, C1, title="Évaluée", submit=True)
    service.record_assessment(assessed, C1, "acquired", "", assessor=world.tutor)
    db.session.commit()
    for path in (f"/evidence/{draft.id}/submit", f"/evidence/{sent.id}/withdraw",
                 f"/evidence/{assessed.id}/new-version"):
        response = _post_as(role, world, login, client, path)
        if role in ("tutor", "admin"):
            assert response.status_code == 403  # they read it, but only the owner acts on it
        elif role != "anonymous":
            assert response.status_code == 404
    db.session.expire_all()
    assert [e.status for e in db.session.scalars(select(Evidence).order_by(Evidence.id))] == [
        EvidenceStatus.DRAFT, EvidenceStatus.SUBMITTED, EvidenceStatus.ASSESSED]


@pytest.mark.parametrize("role", ["anonymous", "learner", "other_learner", "other_tutor", "vae", "jury"])
def test_only_the_learners_tutors_and_admins_assess_and_decide(world, req, login, client, role):
    item = make_evidence(world.learner, *BC01, submit=True)
    for code in BC01:
        service.record_assessment(item, code, "acquired", "", assessor=world.tutor)
    db.session.commit()
    before = count(Assessment)
    _post_as(role, world, login, client, f"/evidence/{item.id}/assessments",
             {"competency": C1, "level": "not_acquired", "comment": "x"})
    _post_as(role, world, login, client, f"/learners/{world.learner.id}/blocks/RNCP28754BC01/validation",
             {"comment": "x"})
    if role == "learner":
        assert client.post(f"/evidence/{item.id}/assessments",
                           data={"competency": C1, "level": "acquired"}).status_code == 403
    assert count(Assessment) == before and count(BlockDecision) == 0
    state = db.session.scalar(select(CompetencyState).join(CompetencyState.assessment).where(
        CompetencyState.learner_id == world.learner.id, Assessment.competency.has(code=C1)))
    assert state.level == Level.ACQUIRED


@pytest.mark.parametrize("role", ["anonymous", "learner", "other_learner", "other_tutor", "vae", "jury"])
def test_revocation_is_refused_to_all_but_the_tutors_and_admins(world, req, login, client, role):
    item = make_evidence(world.learner, *BC01, submit=True)
    for code in BC01:
        service.record_assessment(item, code, "acquired", "", assessor=world.tutor)
    block = service.find_block(world.certification.id, "RNCP28754BC01")
    service.validate_block(world.learner, block, actor=world.tutor)
    db.session.commit()
    _post_as(role, world, login, client, f"/learners/{world.learner.id}/blocks/RNCP28754BC01/revocation",
             {"comment": "x"})
    assert [d.kind for d in db.session.scalars(select(BlockDecision))] == [DecisionKind.VALIDATED]


@pytest.mark.parametrize("role", REFUSED)
def test_comments_are_refused_outside_the_learner_and_their_assessors(world, submitted, login, client, role):
    _post_as(role, world, login, client, f"/evidence/{submitted.id}/comments", {"body": "Intrus"})
    assert count(Comment) == 0


@pytest.mark.parametrize("role", ["tutor", "admin"])
def test_tutors_of_the_cohort_and_admins_may_assess(world, submitted, login, client, role):
    login(getattr(world, role))
    assert client.post(f"/evidence/{submitted.id}/assessments",
                       data={"competency": C1, "level": "acquired"}).status_code == 302
    assert client.post(f"/evidence/{submitted.id}/comments", data={"body": "Vu."}).status_code == 302
    assert count(Assessment) == 1 and count(Comment) == 1
    assert db.session.scalar(select(Assessment)).assessor_id == getattr(world, role).id


def test_object_rules_for_assessment(world):
    from portfolio.services import access

    assert access.can_assess_learner(world.tutor, world.learner)
    assert access.can_assess_learner(world.admin, world.other_learner)
    assert not access.can_assess_learner(world.other_tutor, world.learner)
    assert not access.can_assess_learner(world.learner, world.learner)
    assert not access.can_assess_learner(world.learner, world.other_learner)
    assert not access.can_assess_learner(world.jury, world.learner)
    assert db.session.scalar(select(func.count()).select_from(Claim)) == 0


def test_pages_speak_english_on_request(assessed_world, login, client):
    world = assessed_world
    login(world.tutor)
    client.post("/language", data={"locale": "en", "next": "/"})
    page = client.get(f"/cohorts/{world.cohort.id}/matrix").get_data(as_text=True)
    assert '<html lang="en">' in page and "IP: in progress" in page and "Export as CSV" in page
    assert '<span aria-hidden="true">IP</span><span class="visually-hidden">in progress</span>' in page
    page = client.get(f"/learners/{world.learner.id}/progress?all=1").get_data(as_text=True)
    assert "Progress of Lina Apprenante" in page and "Acquired: 1 of 7" in page and "Validate the block" in page
    page = client.get(f"/learners/{world.learner.id}/progress").get_data(as_text=True)
    assert "See the competencies of block RNCP28754BC01" in page
    csv_text = client.get(f"/cohorts/{world.cohort.id}/matrix?format=csv").get_data().decode("utf-8-sig")
    assert csv_text.startswith("Name;Email;RNCP28754BC01-C01;")
    assert ";acquired;in progress;" in csv_text


def test_learner_home_counts_levels_and_the_latest_decision_per_block(world, req):
    """The home's one query per certification: levels per block, and 'validated' only while the block's
    latest decision is a validation (a revocation after it undoes it)."""
    from portfolio.services import dashboard

    item = make_evidence(world.learner, *BC01, submit=True)
    for code in BC01:
        service.record_assessment(item, code, "acquired", "", assessor=world.tutor)
    service.record_assessment(item, BC01[0], "in_progress", "À reprendre.", assessor=world.tutor)
    db.session.commit()

    def summary() -> dict[str, tuple[dict[str, int], bool]]:
        return {s.block.code: (s.counts, s.validated)
                for s in dashboard.block_summaries(world.learner, world.certification)}

    first = summary()
    assert first["RNCP28754BC01"] == ({"acquired": 6, "in_progress": 1, "not_acquired": 0, "none": 0}, False)
    assert first["RNCP28754BC02"] == ({"acquired": 0, "in_progress": 0, "not_acquired": 0, "none": 3}, False)
    service.record_assessment(item, BC01[0], "acquired", "", assessor=world.tutor)
    block = world.certification.blocks[0]
    service.validate_block(world.learner, block, actor=world.tutor, comment="")
    db.session.commit()
    assert summary()["RNCP28754BC01"] == ({"acquired": 7, "in_progress": 0, "not_acquired": 0, "none": 0}, True)
    assert not summary()["RNCP28754BC02"][1]
    service.revoke_block(world.learner, block, actor=world.tutor, comment="Preuve contestée.")
    db.session.commit()
    assert summary()["RNCP28754BC01"][1] is False


def test_each_learners_home_shows_their_own_figures(world, req, login, client, make_user):
    """The home's statements are built once per process with bound parameters: each learner's page must
    still show that learner's drafts, feedback and levels, never those of whoever came first."""
    from portfolio.services import dashboard
    from portfolio.services.cohorts import add_member

    other = make_user("autre@example.org", "learner", name="Odile Autre")
    add_member(world.cohort, other, MemberRole.LEARNER, actor=None)
    db.session.commit()
    mine = make_evidence(world.learner, C1, title="Brouillon de Léa")
    make_evidence(world.learner, title="Brouillon sans compétence")
    theirs = make_evidence(other, C1, C2, title="Preuve d'Odile", submit=True)
    service.record_assessment(theirs, C1, "acquired", "Très bien, Odile.", assessor=world.tutor)
    db.session.commit()

    first = dashboard.learner_home(world.learner, world.certification)
    second = dashboard.learner_home(other, world.certification)
    assert [d.title for d in first.drafts] == ["Brouillon sans compétence", "Brouillon de Léa"]
    assert (first.drafts_total, first.drafts_untagged, first.submitted_total, first.acquired) == (2, 1, 0, 0)
    assert [f.comment for f in first.feedback] == []
    assert (second.drafts, second.drafts_total, second.submitted_total, second.acquired) == ([], 0, 0, 1)
    assert [(f.comment, f.evidence_title) for f in second.feedback] == [("Très bien, Odile.", "Preuve d'Odile")]

    login(other)
    page = client.get("/").get_data(as_text=True)
    assert "Très bien, Odile." in page and "Brouillon de Léa" not in page
    with client.session_transaction() as session:  # signed out: the next sign-in is another person's
        session.clear()
    login(world.learner)
    page = client.get("/").get_data(as_text=True)
    assert mine.title in page and "Très bien, Odile." not in page
