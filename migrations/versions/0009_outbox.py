"""outbox: e-mail written with the transaction, sent after its commit, retried with back-off

Revision ID: 0009_outbox
Revises: 0008_b_sessions_signoff
Create Date: 2026-12-02 02:50:00

"""
from alembic import op
import sqlalchemy as sa

import portfolio.models.base


# revision identifiers, used by Alembic.
revision = '0009_outbox'
down_revision = '0008_b_sessions_signoff'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'outbox_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('recipient', sa.String(length=254), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=200), nullable=True),
        sa.Column('sent_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('queued', 'sent', 'failed')", name=op.f('ck_outbox_messages_status')),
        sa.CheckConstraint('attempts >= 0', name=op.f('ck_outbox_messages_attempts_not_negative')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_outbox_messages_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_outbox_messages_kind_subject', 'outbox_messages', ['kind', 'subject_id'])
    op.create_index('ix_outbox_messages_status_next', 'outbox_messages', ['status', 'next_attempt_at'])
    op.create_index(op.f('ix_outbox_messages_user_id'), 'outbox_messages', ['user_id'])


def downgrade():
    op.drop_index(op.f('ix_outbox_messages_user_id'), table_name='outbox_messages')
    op.drop_index('ix_outbox_messages_status_next', table_name='outbox_messages')
    op.drop_index('ix_outbox_messages_kind_subject', table_name='outbox_messages')
    op.drop_table('outbox_messages')
