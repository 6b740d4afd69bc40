"""Migration 0011 on a database filled with the schema before it: the VAE dossier's own links become the
candidate's tags without duplicates, narratives and comments are kept, the old tables are gone, and a
frozen version reads as before. Runs on SQLite, and on PostgreSQL with PORTFOLIO_TEST_DATABASE_URL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import bindparam, inspect, text

from portfolio.extensions import db
from portfolio.models.base import UTCDateTime
from tests.conftest import TEST_PASSWORD, make_config, new_app

pytestmark = pytest.mark.db

REVISION = "0011_one_link_one_comment"


def _previous_head() -> str:
    config = current_app.extensions["migrate"].migrate.get_config()
    previous = ScriptDirectory.from_config(config).get_revision(REVISION).down_revision
    assert isinstance(previous, str)
    return previous


def _sql(statement: str, **values: object) -> list:
    query = text(statement)
    for name, value in values.items():
        if isinstance(value, datetime):
            query = query.bindparams(bindparam(name, type_=UTCDateTime()))
    result = db.session.execute(query, values)
    return list(result) if result.returns_rows else []


def _insert(statement: str, **values: object) -> int:
    """Insert one row and return its id (SQLite and PostgreSQL both have RETURNING)."""
    return _sql(statement + " RETURNING id", **values)[0][0]


def _fill_before() -> dict:
    """Rows as the schema before 0011 holds them, written with plain SQL (later migrations' tables do
    not exist yet, so no service or model is used here)."""
    from portfolio.services.passwords import hash_password

    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    cert_id = _insert("INSERT INTO certifications (code, registration, title, level, is_active, source, created_at) "
                      "VALUES ('RNCP28754', '2019-01-01', 'Technicien développeur', '5', :yes, 'builtin', :t)",
                      yes=True, t=now)
    blocks = [_insert("INSERT INTO blocks (certification_id, code, title, description, assessment_methods, position) "
                      "VALUES (:c, :code, :title, '', '', :p)", c=cert_id, code=f"RNCP28754BC0{n}", title=f"Bloc {n}",
                      p=n) for n in (1, 2)]

    def competency(block: int, code: str, position: int) -> int:
        return _insert("INSERT INTO competencies (block_id, code, statement, position, needs_review) "
                       "VALUES (:b, :code, :s, :p, :no)", b=block, code=code, s=f"Énoncé {code}", p=position, no=False)

    c1 = competency(blocks[0], "RNCP28754BC01-C01", 1)
    c2 = competency(blocks[0], "RNCP28754BC01-C02", 2)
    c3 = competency(blocks[1], "RNCP28754BC02-C01", 1)

    def user(email: str, name: str, role: str) -> int:
        found = _insert("INSERT INTO users (email, name, password_hash, locale, is_enabled, created_at) "
                        "VALUES (:e, :n, :h, 'fr', :yes, :t)", e=email, n=name, h=hash_password(TEST_PASSWORD),
                        yes=True, t=now)
        _sql("INSERT INTO user_roles (user_id, role) VALUES (:u, :r)", u=found, r=role)
        return found

    candidate = user("vae@example.org", "Victor Candidat", "vae_candidate")
    adviser = user("tutor@example.org", "Tina Tutrice", "tutor")
    _sql("INSERT INTO vae_enrolments (user_id, certification_id, adviser_id, created_at) VALUES (:u, :c, :a, :t)",
         u=candidate, c=cert_id, a=adviser, t=now)

    def evidence(title: str) -> int:
        return _insert("INSERT INTO evidence (owner_id, title, kind, context, occurred_on, description, status, "
                       "updated_at, created_at) VALUES (:o, :title, 'document', 'professional', :d, '', 'draft', "
                       ":t, :t)", o=candidate, title=title, d=date(2024, 5, 1), t=now)

    e1, e2, e3 = evidence("Cahier des charges"), evidence("Code source"), evidence("Pas dans le dossier")
    # A tag the candidate made on the evidence page before the migration: it must be kept as it is.
    _sql("INSERT INTO claims (evidence_id, competency_id, justification, created_at) VALUES (:e, :c, :j, :t)",
         e=e1, c=c1, j="Ma justification sur la page de la preuve", t=now)
    dossier = _insert("INSERT INTO dossiers (candidate_id, certification_id, presentation, status, updated_at, "
                      "created_at) VALUES (:u, :c, 'Développeur depuis 2015.', 'sent', :t, :t)",
                      u=candidate, c=cert_id, t=now)
    dc1 = _insert("INSERT INTO dossier_claims (dossier_id, competency_id, narrative) VALUES (:d, :c, :n)",
                  d=dossier, c=c1, n="J'ai **analysé** le besoin.")
    dc2 = _insert("INSERT INTO dossier_claims (dossier_id, competency_id, narrative) VALUES (:d, :c, '')",
                  d=dossier, c=c2)
    _insert("INSERT INTO dossier_claims (dossier_id, competency_id, narrative) VALUES (:d, :c, 'Récit 3')",
            d=dossier, c=c3)
    for claim, item in ((dc1, e1), (dc1, e2), (dc2, e2)):
        _sql("INSERT INTO dossier_claim_evidence (claim_id, evidence_id) VALUES (:c, :e)", c=claim, e=item)
    comments = [
        _insert("INSERT INTO evidence_comments (evidence_id, author_id, body, created_at) VALUES (:e, :a, :b, :t)",
                e=e1, a=adviser, b="Précisez la date.", t=now),
        _insert("INSERT INTO evidence_comments (evidence_id, author_id, body, created_at) VALUES (:e, :a, :b, :t)",
                e=e1, a=candidate, b="C'est fait.", t=now),
    ]
    for body in ("Le bloc 1 est bien parti.", "Merci !"):
        _insert("INSERT INTO dossier_comments (dossier_id, author_id, body, created_at) VALUES (:d, :a, :b, :t)",
                d=dossier, a=adviser if body.startswith("Le") else candidate, b=body, t=now)
    snapshot = json.dumps({
        "candidate": {"name": "Victor Candidat", "email": "vae@example.org"},
        "certification": {"code": "RNCP28754", "title": "T", "registration": None},
        "presentation": "Développeur.", "version": 1, "sent_at": "2026-11-30T09:00:00+00:00", "experiences": [],
        "blocks": [{"code": "RNCP28754BC01", "title": "Bloc 1", "activities": "Analyse", "context": "PME",
                    "means": "UML", "experience_ids": [],
                    "competencies": [{"code": "RNCP28754BC01-C01", "statement": "S",
                                      "narrative": "Récit figé de la version 1",
                                      "evidence": [{"id": e1, "title": "Cahier des charges", "kind": "document",
                                                    "files": []}]}]}]})
    version = _insert("INSERT INTO dossier_versions (dossier_id, number, snapshot, sent_at, sent_by_id) "
                      "VALUES (:d, 1, :s, :t, :u)", d=dossier, s=snapshot, t=now, u=candidate)
    db.session.commit()
    return {"candidate": candidate, "dossier": dossier, "version": version, "c": (c1, c2, c3),
            "e": (e1, e2, e3), "comments": comments}


def test_upgrade_moves_dossier_links_onto_tags_and_comments_into_one_table(empty_database_url, tmp_path):
    app = new_app(make_config(empty_database_url, tmp_path))
    with app.app_context():
        upgrade(revision=_previous_head())
        before = _fill_before()
        db.session.remove()
        upgrade()

        c1, c2, c3 = before["c"]
        e1, e2, e3 = before["e"]
        tables = set(inspect(db.engine).get_table_names())
        assert not tables & {"dossier_claims", "dossier_claim_evidence", "evidence_comments", "dossier_comments"}
        claims = sorted(_sql("SELECT evidence_id, competency_id, justification FROM claims"))
        assert claims == sorted([
            (e1, c1, "Ma justification sur la page de la preuve"),   # kept, not duplicated
            (e2, c1, "J'ai **analysé** le besoin."),                  # the narrative justifies the copy
            (e2, c2, "Preuve choisie dans le dossier de VAE."),       # no narrative yet
        ])
        assert sorted(_sql("SELECT competency_id, narrative FROM dossier_narratives WHERE dossier_id = :d",
                           d=before["dossier"])) == sorted([(c1, "J'ai **analysé** le besoin."), (c2, ""),
                                                            (c3, "Récit 3")])
        rows = _sql("SELECT id, evidence_id, dossier_id, body FROM comments ORDER BY id")
        assert [(r[0], r[1], r[3]) for r in rows[:2]] == [(before["comments"][0], e1, "Précisez la date."),
                                                          (before["comments"][1], e1, "C'est fait.")]
        assert [(r[1], r[2], r[3]) for r in rows[2:]] == [(None, before["dossier"], "Le bloc 1 est bien parti."),
                                                          (None, before["dossier"], "Merci !")]

        # The services read the migrated rows: the dossier shows the candidate's tags.
        from portfolio.models import Dossier, DossierVersion, Evidence, User
        from portfolio.services import comments as comment_service
        from portfolio.services import vae

        dossier = db.session.get(Dossier, before["dossier"])
        shown = vae.dossier_competencies(dossier)
        assert [e.id for e in shown[c1].evidence] == [e1, e2] and [e.id for e in shown[c2].evidence] == [e2]
        assert shown[c1].justification_for(db.session.get(Evidence, e1)).startswith("Ma justification")
        assert shown[c3].evidence == [] and shown[c3].narrative == "Récit 3"
        assert [c.body for c in comment_service.comments_on(dossier)] == ["Le bloc 1 est bien parti.", "Merci !"]
        # New comments get fresh ids (the sequence was moved past the kept ones on PostgreSQL).
        added = comment_service.add_comment_to(db.session.get(Evidence, e3), "Nouveau", max_length=100,
                                               author=db.session.get(User, before["candidate"]),
                                               action="evidence.comment")
        assert added.id > max(r[0] for r in rows)
        db.session.commit()

        # The frozen version reads as before, on its page too.
        version = db.session.get(DossierVersion, before["version"])
        assert version.snapshot["blocks"][0]["competencies"][0]["narrative"] == "Récit figé de la version 1"
        assert vae.snapshot_evidence_ids(version.snapshot) == {e1}
        client = app.test_client()
        assert client.post("/login", data={"email": "vae@example.org", "password": TEST_PASSWORD}).status_code == 302
        page = client.get(f"/vae/versions/{version.id}")
        assert page.status_code == 200 and "Récit figé de la version 1" in page.get_data(as_text=True)

        # And back: the old tables are rebuilt from the tags and the single comment table.
        db.session.remove()
        downgrade(revision=_previous_head())
        assert len(_sql("SELECT claim_id, evidence_id FROM dossier_claim_evidence")) == 3
        assert len(_sql("SELECT id FROM evidence_comments")) == 3
        assert [r[0] for r in _sql("SELECT body FROM dossier_comments ORDER BY id")] == [
            "Le bloc 1 est bien parti.", "Merci !"]
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
