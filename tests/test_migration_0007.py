"""Migration 0007 on a database filled with the schema of 0006: rows kept, links to rows deleted long
ago (SQLite did not enforce foreign keys) cleaned as ON DELETE says, ids never reused after."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade

from portfolio.extensions import db
from tests.conftest import make_config, new_app

NOW = "2026-01-05 09:00:00"


def _fill(conn, sqlite: bool) -> None:  # type: ignore[no-untyped-def]
    """Rows as the application wrote them before 0007 (the columns of revision 0006, by hand)."""
    run = conn.exec_driver_sql
    run("INSERT INTO users (id, email, name, locale, is_enabled, created_at) VALUES "
        f"(1, 'a@example.org', 'A', 'fr', true, '{NOW}'), (2, 'b@example.org', 'B', 'fr', true, '{NOW}')")
    run("INSERT INTO user_roles (user_id, role) VALUES (1, 'learner'), (2, 'tutor')")
    run("INSERT INTO certifications (id, code, registration, title, is_active, source, created_at) VALUES "
        f"(1, 'RNCPX', '1', 'X', true, 'json', '{NOW}')")
    run("INSERT INTO blocks (id, certification_id, code, title, description, assessment_methods, position) "
        "VALUES (1, 1, 'RNCPXBC01', 'B', '', '', 1)")
    run("INSERT INTO competencies (id, block_id, code, statement, position, needs_review) VALUES "
        "(1, 1, 'RNCPXBC01-C1', 'C', 1, false)")
    for evidence_id in (1, 2, 3):
        run("INSERT INTO evidence (id, owner_id, title, kind, context, occurred_on, description, status, "
            f"updated_at, created_at) VALUES ({evidence_id}, 1, 'E{evidence_id}', 'document', 'project', "
            f"'2026-01-05', '', 'draft', '{NOW}', '{NOW}')")
    run(f"INSERT INTO blobs (id, sha256, size, media_type, storage_key, created_at) VALUES "
        f"(1, '{'a' * 64}', 3, 'text/plain', 'blobs/aa', '{NOW}')")
    run(f"INSERT INTO evidence_files (id, evidence_id, blob_id, filename, created_at) VALUES "
        f"(1, 1, 1, 'a.txt', '{NOW}')")
    run(f"INSERT INTO claims (id, evidence_id, competency_id, justification, created_at) VALUES "
        f"(1, 1, 1, 'J', '{NOW}'), (2, 3, 1, 'J', '{NOW}')")
    run(f"INSERT INTO evidence_comments (id, evidence_id, author_id, body, created_at) VALUES "
        f"(1, 1, 2, 'kept', '{NOW}'), (2, 3, 2, 'on a draft deleted later', '{NOW}')")
    run("INSERT INTO dossiers (id, candidate_id, certification_id, presentation, status, updated_at, created_at) "
        f"VALUES (1, 1, 1, '', 'draft', '{NOW}', '{NOW}')")
    run("INSERT INTO dossier_claims (id, dossier_id, competency_id, narrative) VALUES (1, 1, 1, 'N')")
    run("INSERT INTO dossier_claim_evidence (claim_id, evidence_id) VALUES (1, 1), (1, 3)")
    if sqlite:
        # What the application did before 0007 on SQLite: the row went, its links stayed behind.
        run("DELETE FROM evidence WHERE id = 3")


def test_upgrade_keeps_rows_drops_orphans_and_never_reuses_ids(empty_database_url, tmp_path):
    app = new_app(make_config(empty_database_url, tmp_path))
    with app.app_context():
        upgrade(revision="0006_vae")
        sqlite = db.engine.dialect.name == "sqlite"
        with db.engine.connect() as conn:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # as every connection was before 0007
            _fill(conn, sqlite)
            conn.commit()
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        upgrade()  # through 0007 (and whatever follows)
        with db.engine.begin() as conn:
            def ids(sql: str) -> list:  # type: ignore[type-arg]
                return [tuple(r) if len(r) > 1 else r[0] for r in conn.exec_driver_sql(sql)]

            assert ids("SELECT id FROM users ORDER BY id") == [1, 2]
            assert ids("SELECT id FROM evidence ORDER BY id") == ([1, 2] if sqlite else [1, 2, 3])
            assert ids("SELECT id FROM evidence_files") == [1]
            assert ids("SELECT evidence_id FROM claims ORDER BY id") == ([1] if sqlite else [1, 3])
            assert ids("SELECT body FROM comments ORDER BY id") == (
                ["kept"] if sqlite else ["kept", "on a draft deleted later"])
            assert ids("SELECT user_id, role FROM user_roles ORDER BY user_id") == [(1, "learner"), (2, "tutor")]
            # The database now enforces the links and never hands a deleted id out again.
            conn.exec_driver_sql("DELETE FROM evidence WHERE id = 2")
            if not sqlite:
                conn.exec_driver_sql("SELECT setval('evidence_id_seq', 3)")  # rows were inserted with ids
            conn.exec_driver_sql(
                "INSERT INTO evidence (owner_id, title, kind, context, occurred_on, description, status, "
                f"updated_at, created_at) VALUES (1, 'new', 'document', 'project', '2026-01-05', '', 'draft', "
                f"'{NOW}', '{NOW}')")
            assert max(ids("SELECT id FROM evidence")) > 2  # not the id just deleted
        with pytest.raises(Exception, match="(?i)foreign key"), db.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM blobs WHERE id = 1")  # RESTRICT: a file still uses it
