"""sessions, sign-in throttling, supervisor codes: users.session_token, login_attempts, sign-off codes,
what a logbook entry was signed under

Revision ID: 0008_b_sessions_signoff
Revises: 0015_privacy
Create Date: 2026-12-02 01:50:00

"""
import secrets

from alembic import op
import sqlalchemy as sa

import portfolio.models.base


# revision identifiers, used by Alembic.
revision = '0008_b_sessions_signoff'
down_revision = '0015_privacy'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('session_token', sa.String(length=64), nullable=True))
    conn = op.get_bind()
    users = sa.table('users', sa.column('id', sa.Integer()), sa.column('session_token', sa.String()))
    for (user_id,) in conn.execute(sa.select(users.c.id)).all():
        conn.execute(users.update().where(users.c.id == user_id).values(session_token=secrets.token_urlsafe(32)))
    with op.batch_alter_table('users', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.alter_column('session_token', existing_type=sa.String(length=64), nullable=False)

    op.create_table(
        'login_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.String(length=16), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('attempted_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("scope IN ('address', 'account')", name=op.f('ck_login_attempts_scope')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_login_attempts_scope_key_at', 'login_attempts', ['scope', 'key', 'attempted_at'])

    with op.batch_alter_table('signoff_links', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('code_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('code_expires_at', portfolio.models.base.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('code_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('codes_sent', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('signoff_links', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.alter_column('code_attempts', server_default=None)
        batch_op.alter_column('codes_sent', server_default=None)

    with op.batch_alter_table('logbook_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signed_organisation', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('signed_supervisor_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('signed_supervisor_email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('signed_expected_hours', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('signed_minutes', sa.Integer(), nullable=True))
    # Entries signed before: freeze what their internship says now (the best record there is).
    op.execute("UPDATE logbook_entries SET "
               "signed_organisation = (SELECT organisation FROM internships WHERE internships.id = internship_id), "
               "signed_supervisor_name = (SELECT supervisor_name FROM internships "
               "WHERE internships.id = internship_id), "
               "signed_supervisor_email = (SELECT supervisor_email FROM internships "
               "WHERE internships.id = internship_id), "
               "signed_expected_hours = (SELECT expected_hours FROM internships "
               "WHERE internships.id = internship_id), "
               "signed_minutes = minutes WHERE status = 'signed'")


def downgrade():
    with op.batch_alter_table('logbook_entries', schema=None) as batch_op:
        for name in ('signed_minutes', 'signed_expected_hours', 'signed_supervisor_email', 'signed_supervisor_name',
                     'signed_organisation'):
            batch_op.drop_column(name)
    with op.batch_alter_table('signoff_links', schema=None) as batch_op:
        for name in ('codes_sent', 'code_attempts', 'code_expires_at', 'code_hash'):
            batch_op.drop_column(name)
    op.drop_index('ix_login_attempts_scope_key_at', table_name='login_attempts')
    op.drop_table('login_attempts')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_token')
