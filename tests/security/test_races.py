"""Two requests at once cannot break a rule: each pair below is fired from two threads at the same
moment, many times, each thread with its own application context, session and connection (as two
requests are), having read its rows *before* the race, as a request does. Every outcome must be one
of the legal ones, decided by the database (row locks, conditional updates, unique constraints),
never an error. Run on SQLite and on PostgreSQL (``PORTFOLIO_TEST_DATABASE_URL``)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import func, select

from portfolio import unit_of_work
from portfolio.extensions import db
from portfolio.models import (
    Assessment,
    AuditEvent,
    BlockDecision,
    CompetencyState,
    EntryStatus,
    Evidence,
    EvidenceStatus,
    LogbookEntry,
    MemberRole,
    SignoffLink,
    User,
)
from portfolio.services import logbook
from portfolio.services.assessment import record_assessment, submit_evidence, validate_block, withdraw_evidence
from portfolio.services.cohorts import add_member
from portfolio.services.errors import DomainError
from portfolio.services.evidence import Upload, create_evidence, tag_evidence
from tests.factories import entries_sent_for_signoff

ROUNDS = 8

Prepared = Callable[[], Callable[[], object]]  # reads its rows, returns the action to race


def race(app, *steps: Prepared) -> list[object]:  # type: ignore[no-untyped-def]
    """Run each step in its own thread and context; ``"ok"``, ``"refused"`` or the unexpected error."""
    barrier = threading.Barrier(len(steps))
    results: list[object] = [None] * len(steps)

    def run(index: int, step: Prepared) -> None:
        with app.test_request_context():
            try:
                act = step()
                barrier.wait(timeout=60)
                act()
                db.session.commit()
                results[index] = "ok"
            except DomainError:
                db.session.rollback()
                results[index] = "refused"
            except Exception as exc:  # noqa: BLE001  (any other outcome is the failure we look for)
                db.session.rollback()
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, step)) for i, step in enumerate(steps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    db.session.expire_all()
    return results


def _submitted(app, learner: User, codes: list[str]) -> int:  # type: ignore[no-untyped-def]
    with app.test_request_context():
        item = create_evidence(learner, title="Projet", kind="document", context="project",
                               occurred_on=date(2026, 1, 5), uploads=[Upload("p.txt", io.BytesIO(b"projet"))])
        for code in codes:
            tag_evidence(item, code, "Parce que.", actor=learner)
        submit_evidence(item, actor=learner)
        db.session.commit()
        return item.id


def _assess(evidence_id: int, tutor_id: int, code: str, level: str) -> Prepared:
    def prepare():  # type: ignore[no-untyped-def]
        evidence, tutor = db.session.get(Evidence, evidence_id), db.session.get(User, tutor_id)
        _ = evidence.status, [c.competency.code for c in evidence.claims]  # read before the race
        return lambda: record_assessment(evidence, code, level, "", assessor=tutor)
    return prepare


def _member(world, user):  # type: ignore[no-untyped-def]
    add_member(world.cohort, user, MemberRole.LEARNER, actor=None)
    db.session.commit()
    return user


def _codes(world, n: int | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    block = world.certification.blocks[0]
    return [c.code for c in block.competencies][:n]


def test_withdrawal_racing_an_assessment(app, world, make_user):
    code = _codes(world, 1)[0]
    seen = set()
    for _ in range(ROUNDS):
        evidence_id = _submitted(app, world.learner, [code])

        def withdraw(evidence_id: int = evidence_id):  # type: ignore[no-untyped-def]
            evidence, learner = db.session.get(Evidence, evidence_id), db.session.get(User, world.learner.id)
            _ = evidence.status
            return lambda: withdraw_evidence(evidence, actor=learner)

        results = race(app, withdraw, _assess(evidence_id, world.tutor.id, code, "acquired"))
        evidence = db.session.get(Evidence, evidence_id)
        assessed = db.session.scalar(select(func.count()).select_from(Assessment)
                                     .where(Assessment.evidence_id == evidence_id))
        assert results in (["ok", "refused"], ["refused", "ok"]), results
        if results[0] == "ok":
            assert evidence.status == EvidenceStatus.DRAFT and assessed == 0
        else:
            assert evidence.status == EvidenceStatus.ASSESSED and assessed == 1
        seen.add(tuple(results))
    assert seen  # (which one wins is the scheduler's business)


def test_two_assessments_of_the_same_competency(app, world):
    code = _codes(world, 1)[0]
    for _ in range(ROUNDS):
        # Two pieces of evidence of the same learner, same competency: the states meet in one row.
        first, second = _submitted(app, world.learner, [code]), _submitted(app, world.learner, [code])
        before = db.session.scalar(select(func.count()).select_from(Assessment))
        results = race(app, _assess(first, world.tutor.id, code, "acquired"),
                       _assess(second, world.other_tutor.id, code, "in_progress"))
        assert results == ["ok", "ok"], results
        chain = db.session.scalars(select(Assessment).where(Assessment.learner_id == world.learner.id)
                                   .order_by(Assessment.id)).all()
        assert len(chain) == before + 2
        # One line of supersession, and the state is the newest judgement.
        assert [a.supersedes_id for a in chain] == [None] + [a.id for a in chain[:-1]]
        state = db.session.scalar(select(CompetencyState).where(CompetencyState.learner_id == world.learner.id))
        assert state.assessment_id == chain[-1].id and state.level == chain[-1].level


def test_block_validation_racing_a_new_assessment(app, world, make_user):
    codes = _codes(world)
    block = world.certification.blocks[0]
    for _ in range(ROUNDS):
        learner = _member(world, make_user(None, "learner"))
        evidence_id = _submitted(app, learner, codes)
        with app.test_request_context():
            evidence, tutor = db.session.get(Evidence, evidence_id), db.session.get(User, world.tutor.id)
            for code in codes:
                record_assessment(evidence, code, "acquired", "", assessor=tutor)
            db.session.commit()
        learner_id, block_id = learner.id, block.id

        def validate(learner_id: int = learner_id):  # type: ignore[no-untyped-def]
            learner, tutor = db.session.get(User, learner_id), db.session.get(User, world.tutor.id)
            the_block = db.session.get(type(block), block_id)
            _ = [c.id for c in the_block.competencies]
            return lambda: validate_block(learner, the_block, actor=tutor)

        results = race(app, validate, _assess(evidence_id, world.other_tutor.id, codes[0], "not_acquired"))
        assert results[1] == "ok" and results[0] in ("ok", "refused"), results
        decided = db.session.scalar(select(BlockDecision).where(BlockDecision.learner_id == learner_id))
        events = {e.action: e.id for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(["block.validate", "assessment.record"]))
            .order_by(AuditEvent.id))}
        if results[0] == "ok":
            # Legal only if the validation came first, on competencies all acquired then.
            assert decided is not None and events["block.validate"] < events["assessment.record"]
        else:
            assert decided is None


def test_two_signoffs_of_the_same_entries(app, world, make_user, smtp):
    for round_ in range(ROUNDS):
        learner = make_user(None, "learner")
        with app.test_request_context():
            internship, entries, link, _url = entries_sent_for_signoff(learner)
            link_id, entry_ids = link.id, [e.id for e in entries]
            logbook.send_signoff_code(link, entry_ids, name="Marc")
            db.session.commit()
            unit_of_work.run_deferred()
            code = smtp.last_code("marc@acme.example")

        def sign(name: str):  # type: ignore[no-untyped-def]
            def prepare():  # type: ignore[no-untyped-def]
                link = db.session.get(SignoffLink, link_id)
                _ = logbook.signable_entries(link)
                return lambda: logbook.sign_entries(link, entry_ids, name=name, code=code)
            return prepare

        results = race(app, sign(f"Marc {round_}"), sign(f"Intrus {round_}"))
        assert sorted(map(str, results)) == ["ok", "refused"], results
        rows = db.session.scalars(select(LogbookEntry).where(LogbookEntry.id.in_(entry_ids))).all()
        winner = f"Marc {round_}" if results[0] == "ok" else f"Intrus {round_}"
        assert {(r.status, r.signed_by_name) for r in rows} == {(EntryStatus.SIGNED, winner)}


@pytest.mark.parametrize("level", ["acquired"])
def test_the_race_harness_sees_a_plain_refusal(app, world, level):
    """The harness itself: a refused step is reported as refused, not as an error."""
    code = _codes(world, 1)[0]
    evidence_id = _submitted(app, world.learner, [code])

    def withdraw():  # type: ignore[no-untyped-def]
        evidence, learner = db.session.get(Evidence, evidence_id), db.session.get(User, world.learner.id)
        return lambda: withdraw_evidence(evidence, actor=learner)

    assert race(app, _assess(evidence_id, world.tutor.id, code, level)) == ["ok"]
    assert race(app, withdraw) == ["refused"]


def _link_with_code(app, make_user, smtp):  # type: ignore[no-untyped-def]
    """A learner's three entries pending under a link, and the code the supervisor received for them."""
    learner = make_user(None, "learner")
    with app.test_request_context():
        internship, entries, link, _url = entries_sent_for_signoff(learner)
        logbook.send_signoff_code(link, [e.id for e in entries], name="Marc")
        db.session.commit()
        unit_of_work.run_deferred()
    return learner.id, internship.id, link.id, [e.id for e in entries], smtp.last_code("marc@acme.example")


def _sign(link_id: int, entry_ids: list[int], code: str) -> Prepared:
    def prepare():  # type: ignore[no-untyped-def]
        link = db.session.get(SignoffLink, link_id)
        _ = logbook.signable_entries(link), [e.status for e in link.entries]
        return lambda: logbook.sign_entries(link, entry_ids, name="Marc", code=code)
    return prepare


def test_revoking_a_link_racing_its_signature(app, world, make_user, smtp):
    for _ in range(ROUNDS):
        learner_id, _internship_id, link_id, entry_ids, code = _link_with_code(app, make_user, smtp)

        def revoke(link_id: int = link_id, learner_id: int = learner_id):  # type: ignore[no-untyped-def]
            link, learner = db.session.get(SignoffLink, link_id), db.session.get(User, learner_id)
            _ = [e.status for e in link.entries]  # read pending before the race
            return lambda: logbook.revoke_link(link, actor=learner)

        results = race(app, revoke, _sign(link_id, entry_ids, code))
        assert results[0] == "ok" and results[1] in ("ok", "refused"), results
        statuses = {r.status for r in db.session.scalars(select(LogbookEntry).where(LogbookEntry.id.in_(entry_ids)))}
        # Signed (the revocation came second and found nothing pending), or back to draft, never a mix and
        # never a signed entry turned back into a draft.
        assert statuses == ({EntryStatus.SIGNED} if results[1] == "ok" else {EntryStatus.DRAFT}), (results, statuses)


def test_sending_entries_again_racing_their_signature(app, world, make_user, smtp):
    for _ in range(ROUNDS):
        learner_id, internship_id, link_id, entry_ids, code = _link_with_code(app, make_user, smtp)

        def send_again(learner_id: int = learner_id, internship_id: int = internship_id):  # type: ignore[no-untyped-def]
            from portfolio.models import Internship

            internship, learner = db.session.get(Internship, internship_id), db.session.get(User, learner_id)
            entries = [db.session.get(LogbookEntry, i) for i in entry_ids]
            _ = [e.status for e in entries]
            return lambda: logbook.send_for_signoff(internship, entries, actor=learner)

        results = race(app, send_again, _sign(link_id, entry_ids, code))
        assert sorted(map(str, results)) == ["ok", "refused"], results
        rows = db.session.scalars(select(LogbookEntry).where(LogbookEntry.id.in_(entry_ids))).all()
        if results[1] == "ok":  # signed first: sending them again was refused
            assert {(r.status, r.current_link_id) for r in rows} == {(EntryStatus.SIGNED, link_id)}
        else:  # moved to a new link first: the old link's signature found nothing pending on it
            assert {r.status for r in rows} == {EntryStatus.PENDING}
            assert {r.current_link_id for r in rows} != {link_id}


def test_two_jurors_closing_the_deliberation_at_once(app, world, make_user):
    from portfolio.models import DossierVersion, JuryOutcome
    from portfolio.services import vae
    from tests.factories import complete_block, own_evidence

    vae.enrol_candidate(world.vae, world.certification, actor=None)
    dossier = vae.get_or_create_dossier(world.vae)
    complete_block(dossier, own_evidence(world.vae))
    db.session.commit()
    second = make_user(None, "jury")
    block_code = world.certification.blocks[0].code
    jury = vae.create_jury("Jury", [world.jury, second], actor=None)
    db.session.commit()
    for _ in range(ROUNDS):
        with app.test_request_context():
            version = vae.send_dossier(dossier, actor=world.vae)
            vae.assign_version(version, jury, actor=None)
            vae.record_block_decision(version, block_code, "validated", "Démontré.", member=world.jury)
            db.session.commit()
            version_id = version.id

        def close(member_id: int, version_id: int = version_id):  # type: ignore[no-untyped-def]
            def prepare():  # type: ignore[no-untyped-def]
                version, member = db.session.get(DossierVersion, version_id), db.session.get(User, member_id)
                assert vae.deliberation_open(version)  # both see it open before the race
                return lambda: vae.record_outcome(version, "partial", "Un bloc.", member=member, confirmed=True)
            return prepare

        results = race(app, close(world.jury.id), close(second.id))
        assert sorted(map(str, results)) == ["ok", "refused"], results
        assert db.session.scalar(select(func.count()).select_from(JuryOutcome)
                                 .where(JuryOutcome.version_id == version_id)) == 1
