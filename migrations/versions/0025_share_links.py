"""share links: secret, expiring, revocable links to a read-only selection, and the log of their openings

Revision ID: 0025_share_links
Revises: 0024_successor
Create Date: 2026-12-02 05:42:48

"""
from alembic import op
import sqlalchemy as sa

import portfolio.models.base


# revision identifiers, used by Alembic.
revision = '0025_share_links'
down_revision = '0024_successor'
branch_labels = None
depends_on = None


def upgrade():
    # Password tries on a share link are counted with the sign-in attempts (scope 'share').
    with op.batch_alter_table('login_attempts', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_login_attempts_scope'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_login_attempts_scope'), "scope IN ('address', 'account', 'share')")
    op.create_table('share_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('block', 'progress', 'dossier_version', name='share_kind', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('block_id', sa.Integer(), nullable=True),
    sa.Column('dossier_version_id', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('expires_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind = 'block' AND block_id IS NOT NULL AND dossier_version_id IS NULL) OR (kind = 'progress' AND block_id IS NULL AND dossier_version_id IS NULL) OR (kind = 'dossier_version' AND block_id IS NULL AND dossier_version_id IS NOT NULL)", name=op.f('ck_share_links_target_matches_kind')),
    sa.CheckConstraint('expires_at > created_at', name=op.f('ck_share_links_expires_after_creation')),
    sa.ForeignKeyConstraint(['block_id'], ['blocks.id'], name=op.f('fk_share_links_block_id_blocks'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['dossier_version_id'], ['dossier_versions.id'], name=op.f('fk_share_links_dossier_version_id_dossier_versions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_share_links_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_share_links_token_hash')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('share_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_links_block_id'), ['block_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_links_dossier_version_id'), ['dossier_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_links_owner_id'), ['owner_id'], unique=False)

    op.create_table('share_views',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('viewed_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('network', sa.String(length=50), nullable=False),
    sa.Column('agent', sa.String(length=40), nullable=False),
    sa.Column('opened', sa.Enum('page', 'file', name='share_opened', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['evidence_files.id'], name=op.f('fk_share_views_file_id_evidence_files'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['link_id'], ['share_links.id'], name=op.f('fk_share_views_link_id_share_links'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_views')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('share_views', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_views_file_id'), ['file_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_views_link_id'), ['link_id'], unique=False)


def downgrade():
    with op.batch_alter_table('share_views', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_share_views_link_id'))
        batch_op.drop_index(batch_op.f('ix_share_views_file_id'))

    op.drop_table('share_views')
    with op.batch_alter_table('share_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_share_links_owner_id'))
        batch_op.drop_index(batch_op.f('ix_share_links_dossier_version_id'))
        batch_op.drop_index(batch_op.f('ix_share_links_block_id'))

    op.drop_table('share_links')
    op.execute("DELETE FROM login_attempts WHERE scope = 'share'")
    with op.batch_alter_table('login_attempts', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_login_attempts_scope'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_login_attempts_scope'), "scope IN ('address', 'account')")
