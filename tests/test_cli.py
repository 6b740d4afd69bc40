"""The command line that scripts drive: clear refusals, non-zero exits, nothing changed then."""

from __future__ import annotations

import pytest

from portfolio.extensions import db
from portfolio.models import AuditEvent, Cohort, Role, User


def count(model) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(db.select(db.func.count()).select_from(model))


def test_users_create_with_password_stdin(app, runner):
    result = runner.invoke(args=["users", "create", "Zoe@Example.org", "--name", "Zoé Z", "--role", "learner",
                                 "--role", "tutor", "--password-stdin"], input="a long enough password\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(db.select(User).where(User.email == "zoe@example.org"))
    assert user.name == "Zoé Z" and user.roles == {Role.LEARNER, Role.TUTOR}
    from portfolio.services.users import authenticate

    assert authenticate("zoe@example.org", "a long enough password") is not None


def test_users_create_prompts_for_the_password(app, runner):
    result = runner.invoke(args=["users", "create", "p@example.org", "--role", "jury"],
                           input="prompted password 1\nprompted password 1\n")
    assert result.exit_code == 0, result.output
    assert "Mot de passe" in result.output


@pytest.mark.parametrize("args,stdin,message", [
    (["users", "create", "bad-email", "--role", "learner", "--password-stdin"], "long password 123\n",
     "Adresse e-mail invalide"),
    (["users", "create", "x@example.org", "--role", "wizard", "--password-stdin"], "long password 123\n",
     "Rôle inconnu : wizard"),
    (["users", "create", "x@example.org", "--role", "learner", "--password-stdin"], "short\n",
     "au moins 10 caractères"),
])
def test_users_create_refuses_bad_input(app, runner, args, stdin, message):
    before = count(User)
    result = runner.invoke(args=args, input=stdin)
    assert result.exit_code == 1
    assert message in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1
    assert count(User) == before


def test_duplicate_user_is_refused(app, runner, make_user):
    make_user("dup@example.org", "learner")
    result = runner.invoke(args=["users", "create", "DUP@example.org", "--role", "learner", "--password-stdin"],
                           input="long password 123\n")
    assert result.exit_code == 1 and "existe déjà" in result.output


def test_cohorts_create_and_add(app, runner, make_user):
    make_user("l@example.org", "learner")
    make_user("t@example.org", "tutor")
    assert runner.invoke(args=["cohorts", "create", "CNAM 2026", "--certification", "RNCP28754",
                               "--year", "2026"]).exit_code == 0
    assert runner.invoke(args=["cohorts", "add", "CNAM 2026", "l@example.org", "--as", "learner"]).exit_code == 0
    assert runner.invoke(args=["cohorts", "add", "CNAM 2026", "t@example.org", "--as", "tutor"]).exit_code == 0
    cohort = db.session.scalar(db.select(Cohort).where(Cohort.name == "CNAM 2026"))
    assert cohort.certification.code == "RNCP28754" and cohort.year == 2026
    assert {(m.user.email, m.role.value) for m in cohort.memberships} == {
        ("l@example.org", "learner"), ("t@example.org", "tutor")}
    listing = runner.invoke(args=["cohorts", "list"]).output
    assert "CNAM 2026\tRNCP28754\t2026\t1 apprenant\t1 formateur" in listing


@pytest.mark.parametrize("args,message", [
    (["cohorts", "create", "X", "--certification", "RNCP99999", "--year", "2026"], "Certification inconnue"),
    (["cohorts", "create", "X", "--certification", "RNCP28754", "--year", "1850"], "L'année doit être comprise"),
    (["cohorts", "add", "Nope", "l@example.org", "--as", "learner"], "Promotion inconnue"),
    (["cohorts", "add", "Promo A 2026", "nobody@example.org", "--as", "learner"], "Aucun compte"),
    (["cohorts", "add", "Promo A 2026", "tutor@example.org", "--as", "learner"], "n'a pas le rôle"),
    (["cohorts", "add", "Promo A 2026", "learner@example.org", "--as", "learner"], "fait déjà partie"),
])
def test_cohort_commands_refuse_bad_input(app, runner, world, args, message):
    before = (count(Cohort), count(AuditEvent))
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert message in result.output
    assert (count(Cohort), count(AuditEvent)) == before


def test_frameworks_import_by_code_is_idempotent_and_list_prints_blocks(app, runner):
    result = runner.invoke(args=["frameworks", "import", "RNCP28754"])
    assert result.exit_code == 0, result.output
    assert "inchangée" in result.output  # already loaded by the fixture
    listing = runner.invoke(args=["frameworks", "list"]).output
    assert "RNCP28754 (2018-08-05) Technicien(ne) développeur(euse)" in listing
    for code, n in [("BC01", 7), ("BC02", 3), ("BC03", 5), ("BC04", 2), ("BC05", 4)]:
        assert f"RNCP28754{code}    {n} compétences" in listing


def test_frameworks_import_unknown_source(app, runner):
    result = runner.invoke(args=["frameworks", "import", "RNCP00000"])
    assert result.exit_code == 1 and "Fichier introuvable" in result.output


def test_audit_verify_detects_edits_and_deletions(app, runner, world):
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    events = db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id)).all()
    assert len(events) > 5
    events[2].data = {"tampered": True}
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and f"Événement {events[2].id}" in result.output
    db.session.delete(events[2])
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and f"Événement {events[3].id}" in result.output


def test_demo_creates_one_account_per_role_with_random_passwords(app, runner):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    users = db.session.scalars(db.select(User)).all()
    assert {role for u in users for role in u.roles} == set(Role)
    passwords = [line.split()[-1] for line in first.output.splitlines() if "@demo.example.org" in line]
    assert len(passwords) == 5 and len(set(passwords)) == 5
    from portfolio.services.users import authenticate

    assert authenticate("apprenant@demo.example.org", passwords[0]) is not None
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0 and "@demo" not in second.output
    again = runner.invoke(args=["demo"])
    assert not any(p in again.output for p in passwords)
    assert count(User) == 5
