"""Personal access tokens: creation, hash-only storage, revocation, disabled accounts, last use."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import ApiToken, AuditEvent
from portfolio.models.base import utcnow
from portfolio.services import tokens
from portfolio.services.errors import DomainError


def test_create_token_stores_only_its_hash(app, world):
    token, raw = tokens.create_token(world.learner, "  CI GitLab  ")
    db.session.commit()

    assert raw.startswith("pft_") and len(raw) > 40
    assert token.name == "CI GitLab"
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.prefix == raw[4:12]
    # The raw token is nowhere in the row.
    row = db.session.execute(select(ApiToken.__table__)).one()._asdict()
    assert all(raw not in str(value) for value in row.values())
    assert raw[4:] not in str(row)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "token.create")).one()
    assert event.actor_id == world.learner.id and event.subject_id == str(token.id)
    assert raw not in str(event.data)


def test_tokens_are_unique(app, world):
    raws = {tokens.create_token(world.learner, f"t{i}")[1] for i in range(5)}
    assert len(raws) == 5


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_create_token_needs_a_reasonable_name(app, world, name):
    with pytest.raises(DomainError) as info:
        tokens.create_token(world.learner, name)
    assert info.value.field == "name"


def test_authenticate_token(app, world):
    token, raw = tokens.create_token(world.learner, "CI")
    db.session.commit()
    assert tokens.authenticate_token(raw) == world.learner
    assert token.last_used_at is not None


@pytest.mark.parametrize("raw", [None, "", "pft_", "pft_nope", "Bearer x", "x" * 50, "pft_" + "a" * 500])
def test_unknown_tokens_are_refused(app, world, raw):
    tokens.create_token(world.learner, "CI")
    db.session.commit()
    assert tokens.authenticate_token(raw) is None


def test_a_token_differing_by_one_character_is_refused(app, world):
    _, raw = tokens.create_token(world.learner, "CI")
    db.session.commit()
    tampered = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    assert tokens.authenticate_token(tampered) is None


def test_revoked_token_is_refused(app, world):
    token, raw = tokens.create_token(world.learner, "CI")
    tokens.revoke_token(token, actor=world.learner)
    db.session.commit()
    assert token.revoked_at is not None
    assert tokens.authenticate_token(raw) is None
    # Revoking again is harmless and not audited twice.
    tokens.revoke_token(token, actor=world.learner)
    db.session.commit()
    revokes = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "token.revoke")).all()
    assert len(revokes) == 1


def test_disabled_user_token_is_refused(app, world):
    from portfolio.services.users import update_profile

    _, raw = tokens.create_token(world.learner, "CI")
    update_profile(world.learner, name=world.learner.name, locale="fr", is_enabled=False, actor=world.admin)
    db.session.commit()
    assert tokens.authenticate_token(raw) is None


def test_last_used_at_is_written_at_most_once_a_minute(app, world):
    token, raw = tokens.create_token(world.learner, "CI")
    db.session.commit()
    tokens.authenticate_token(raw)
    first = token.last_used_at
    tokens.authenticate_token(raw)
    assert token.last_used_at == first
    token.last_used_at = utcnow() - timedelta(minutes=2)
    tokens.authenticate_token(raw)
    assert token.last_used_at > first


def test_list_tokens(app, world):
    a, _ = tokens.create_token(world.learner, "a")
    b, _ = tokens.create_token(world.learner, "b")
    tokens.create_token(world.other_learner, "c")
    tokens.revoke_token(a, actor=world.learner)
    db.session.commit()
    listed = tokens.list_tokens(world.learner)
    assert {t.id for t in listed} == {a.id, b.id}
    assert listed[0].id == b.id  # newest first
