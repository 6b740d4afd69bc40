"""integrity: ids never reused (SQLite AUTOINCREMENT), CHECKs for enums and ranges, one supersession

Revision ID: 0007_integrity
Revises: 0012_storage_usage
Create Date: 2026-12-02 01:20:00

Every table is rebuilt on SQLite with AUTOINCREMENT, so that the id of a deleted row is never given
to a new one (PostgreSQL's sequences never go back: nothing to rebuild there). The same pass adds the
CHECK constraints the models declare (the values of each enum, dates in order, positive hours and
minutes, percentages) and makes an assessment superseded at most once. Foreign keys are enforced on
every SQLite connection from now on (the migrations run with them off while they rebuild, and check
them at the end).
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007_integrity'
down_revision = '0012_storage_usage'
branch_labels = None
depends_on = None

# table -> [(column, enum name, values)] as the models' enums were at this revision.
ENUMS = {
    'blob_analyses': [('kind', 'analysis_kind', ['report', 'archive'])],
    'dossiers': [('status', 'dossier_status', ['draft', 'sent', 'decided'])],
    'evidence': [('kind', 'evidence_kind', ['code', 'uml', 'test_report', 'logbook', 'document', 'link', 'other']),
                 ('context', 'evidence_context', ['project', 'internship', 'professional', 'case_study']),
                 ('status', 'evidence_status', ['draft', 'submitted', 'assessed'])],
    'experiences': [('time_basis', 'time_basis', ['full_time', 'part_time'])],
    'user_roles': [('role', 'role', ['learner', 'vae_candidate', 'tutor', 'jury', 'admin'])],
    'block_decisions': [('kind', 'decision_kind', ['validated', 'revoked'])],
    'cohort_memberships': [('role', 'member_role', ['learner', 'tutor'])],
    'assessments': [('level', 'assessment_level', ['acquired', 'in_progress', 'not_acquired'])],
    'dossier_exports': [('kind', 'export_kind', ['pdf', 'archive']),
                        ('status', 'export_status', ['queued', 'running', 'done', 'failed'])],
    'jury_block_decisions': [('result', 'block_result', ['validated', 'not_validated'])],
    'jury_outcomes': [('outcome', 'jury_outcome', ['full', 'partial', 'refusal'])],
    'logbook_entries': [('status', 'logbook_entry_status', ['draft', 'pending', 'signed', 'returned'])],
    'competency_states': [('level', 'state_level', ['acquired', 'in_progress', 'not_acquired'])],
    # The LTI tables (0010) check their enums already; these are the names every enum CHECK has.
    'lti_keys': [('status', 'lti_key_status', ['active', 'retired'])],
    'lti_platforms': [('source', 'lti_registration_source', ['manual', 'dynamic'])],
    'lti_context_members': [('role', 'lti_context_role', ['learner', 'tutor', 'admin'])],
    'lti_resource_links': [('target', 'lti_link_target', ['portfolio', 'block', 'queue', 'matrix'])],
    'lti_score_posts': [('status', 'lti_score_status', ['pending', 'sent', 'failed'])],
}

# table -> [(name, condition)]: ranges and orders the models mean.
CHECKS = {
    'blobs': [('size_positive', 'size > 0')],
    'cohorts': [('year_range', 'year BETWEEN 2000 AND 2100')],
    'internships': [('dates_in_order', 'end_date >= start_date'),
                    ('expected_hours_range', 'expected_hours BETWEEN 1 AND 10000')],
    'logbook_entries': [('minutes_in_day', 'minutes > 0 AND minutes <= 1440'),
                        ('signed_has_signature',
                         "status <> 'signed' OR (signed_at IS NOT NULL AND signed_by_name IS NOT NULL)")],
    'experiences': [('dates_in_order', 'end_date IS NULL OR end_date >= start_date')],
    'dossier_versions': [('number_positive', 'number >= 1')],
    'dossier_exports': [('progress_percent', 'progress BETWEEN 0 AND 100'),
                        ('size_not_negative', 'size IS NULL OR size >= 0'),
                        ('done_has_file', "status <> 'done' OR (storage_key IS NOT NULL AND sha256 IS NOT NULL)")],
    'certification_links': [('kind', "kind IN ('predecessor', 'successor')")],
    'blocks': [('position_positive', 'position >= 1')],
    'competencies': [('position_positive', 'position >= 1')],
}


def _checks(table):
    for column, name, values in ENUMS.get(table, []):
        yield name, f"{column} IN ({', '.join(repr(v) for v in values)})"
    yield from CHECKS.get(table, [])


def _drop_orphans(bind):
    """SQLite did not enforce foreign keys until now: rows may point at rows deleted long ago (a link
    to a deleted evidence, a comment on a deleted draft). Do what ON DELETE says for each of them:
    delete it (CASCADE) or empty the reference (SET NULL); a RESTRICT orphan stops the migration."""
    for _round in range(20):  # deleting an orphan may orphan what referred to it
        broken = bind.exec_driver_sql('PRAGMA foreign_key_check').fetchall()
        if not broken:
            return
        for table, rowid, parent, fk_id in broken:
            fks = {row[0]: row for row in bind.exec_driver_sql(f'PRAGMA foreign_key_list("{table}")')}
            _id, _seq, _parent, column, _to, _on_update, on_delete, _match = fks[fk_id]
            if on_delete == 'CASCADE':
                bind.exec_driver_sql(f'DELETE FROM "{table}" WHERE rowid = ?', (rowid,))
            elif on_delete == 'SET NULL':
                bind.exec_driver_sql(f'UPDATE "{table}" SET "{column}" = NULL WHERE rowid = ?', (rowid,))
            else:
                raise RuntimeError(f'{table} row {rowid} refers to a missing {parent} row ({column}, {on_delete})')
    raise RuntimeError('orphan rows left after 20 rounds')


def _tables(bind):
    from sqlalchemy import inspect

    return sorted(name for name in inspect(bind).get_table_names()
                  if name != 'alembic_version' and not name.startswith('sqlite_'))


def upgrade():
    from sqlalchemy import inspect

    bind = op.get_bind()
    sqlite = bind.dialect.name == 'sqlite'
    if sqlite:
        _drop_orphans(bind)
    for table in _tables(bind):
        new = list(_checks(table))
        kept = []
        if sqlite:
            # The rebuild does not carry CHECKs over by itself: keep the ones the table has.
            names = {f'ck_{table}_{name}' for name, _c in new}
            kept = [(c['name'], c['sqltext']) for c in inspect(bind).get_check_constraints(table)
                    if c.get('name') and c['name'] not in names]
        # On SQLite: a new table (AUTOINCREMENT, the CHECKs), the rows copied, the old one dropped.
        # On PostgreSQL: ALTER TABLE … ADD CONSTRAINT only.
        with op.batch_alter_table(table, recreate='always' if sqlite else 'auto',
                                  table_kwargs={'sqlite_autoincrement': True}) as batch_op:
            for name, condition in kept:
                batch_op.create_check_constraint(op.f(name), condition)
            for name, condition in new:
                batch_op.create_check_constraint(op.f(f'ck_{table}_{name}'), condition)
            if table == 'assessments':
                batch_op.create_unique_constraint(op.f('uq_assessments_supersedes_id'), ['supersedes_id'])


def downgrade():
    bind = op.get_bind()
    sqlite = bind.dialect.name == 'sqlite'
    for table in _tables(bind):
        if sqlite:
            continue  # AUTOINCREMENT and CHECKs do no harm to the previous revision
        with op.batch_alter_table(table) as batch_op:
            if table == 'assessments':
                batch_op.drop_constraint(op.f('uq_assessments_supersedes_id'), type_='unique')
            for name, _condition in _checks(table):
                batch_op.drop_constraint(op.f(f'ck_{table}_{name}'), type_='check')
