"""credentials: Open Badges 3.0 credentials per validated block, their revocation status lists, and a purpose
for each signing key (LTI or credentials)

Revision ID: 0023_credentials
Revises: 0022_pending_files
Create Date: 2026-12-02 05:44:32.672475

"""
from alembic import op
import sqlalchemy as sa

import portfolio.models.base


# revision identifiers, used by Alembic.
revision = '0023_credentials'
down_revision = '0022_pending_files'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('credential_status_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('next_index', sa.Integer(), nullable=False),
    sa.Column('bits', sa.LargeBinary(), nullable=False),
    sa.Column('updated_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('next_index >= 0 AND next_index <= size', name=op.f('ck_credential_status_lists_next_index_range')),
    sa.CheckConstraint('size >= 131072 AND size % 8 = 0', name=op.f('ck_credential_status_lists_size_minimum')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credential_status_lists')),
    sqlite_autoincrement=True
    )
    op.create_table('credentials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('block_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.Enum('tutor', 'jury', name='credential_source', native_enum=False, create_constraint=True, length=10), nullable=False),
    sa.Column('block_decision_id', sa.Integer(), nullable=True),
    sa.Column('jury_decision_id', sa.Integer(), nullable=True),
    sa.Column('subject_kind', sa.Enum('email_hash', 'did', name='credential_subject_kind', native_enum=False, create_constraint=True, length=12), nullable=False),
    sa.Column('status_list_id', sa.Integer(), nullable=False),
    sa.Column('status_index', sa.Integer(), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('token', sa.Text(), nullable=False),
    sa.Column('valid_from', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', portfolio.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revocation_reason', sa.Text(), nullable=True),
    sa.Column('created_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('block_decision_id IS NULL OR jury_decision_id IS NULL', name=op.f('ck_credentials_one_source')),
    sa.CheckConstraint('status_index >= 0', name=op.f('ck_credentials_status_index_positive')),
    sa.ForeignKeyConstraint(['block_decision_id'], ['block_decisions.id'], name=op.f('fk_credentials_block_decision_id_block_decisions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['block_id'], ['blocks.id'], name=op.f('fk_credentials_block_id_blocks'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['jury_decision_id'], ['jury_block_decisions.id'], name=op.f('fk_credentials_jury_decision_id_jury_block_decisions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['status_list_id'], ['credential_status_lists.id'], name=op.f('fk_credentials_status_list_id_credential_status_lists'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_credentials_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credentials')),
    sa.UniqueConstraint('status_list_id', 'status_index', name=op.f('uq_credentials_status_list_id_status_index')),
    sa.UniqueConstraint('uuid', name=op.f('uq_credentials_uuid')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credentials_block_decision_id'), ['block_decision_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_credentials_jury_decision_id'), ['jury_decision_id'], unique=False)
        batch_op.create_index('ix_credentials_user_block', ['user_id', 'block_id'], unique=False)

    with op.batch_alter_table('lti_keys', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('purpose', sa.Enum('lti', 'credentials', name='signing_key_purpose', native_enum=False, create_constraint=True, length=12), server_default='lti', nullable=False))
        batch_op.create_index(batch_op.f('ix_lti_keys_purpose'), ['purpose'], unique=False)



def downgrade():
    with op.batch_alter_table('lti_keys', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lti_keys_purpose'))
        batch_op.drop_constraint(batch_op.f('ck_lti_keys_signing_key_purpose'), type_='check')
        batch_op.drop_column('purpose')

    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.drop_index('ix_credentials_user_block')
        batch_op.drop_index(batch_op.f('ix_credentials_jury_decision_id'))
        batch_op.drop_index(batch_op.f('ix_credentials_block_decision_id'))

    op.drop_table('credentials')
    op.drop_table('credential_status_lists')
