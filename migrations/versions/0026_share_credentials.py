"""share credentials: a share link may show one Open Badges credential

Revision ID: 0026_share_credentials
Revises: 0025_share_links
Create Date: 2026-12-02 07:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026_share_credentials'
down_revision = '0025_share_links'
branch_labels = None
depends_on = None

OLD_TARGET = ("(kind = 'block' AND block_id IS NOT NULL AND dossier_version_id IS NULL)"
              " OR (kind = 'progress' AND block_id IS NULL AND dossier_version_id IS NULL)"
              " OR (kind = 'dossier_version' AND block_id IS NULL AND dossier_version_id IS NOT NULL)")
NEW_TARGET = ("(kind = 'block' AND block_id IS NOT NULL AND dossier_version_id IS NULL AND credential_id IS NULL)"
              " OR (kind = 'progress' AND block_id IS NULL AND dossier_version_id IS NULL AND credential_id IS NULL)"
              " OR (kind = 'dossier_version' AND block_id IS NULL AND dossier_version_id IS NOT NULL"
              " AND credential_id IS NULL)"
              " OR (kind = 'credential' AND block_id IS NULL AND dossier_version_id IS NULL"
              " AND credential_id IS NOT NULL)")
OLD_KINDS = "kind IN ('block', 'progress', 'dossier_version')"
NEW_KINDS = "kind IN ('block', 'progress', 'dossier_version', 'credential')"


def upgrade():
    with op.batch_alter_table('share_links', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('credential_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_share_links_credential_id'), ['credential_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_share_links_credential_id_credentials'), 'credentials',
                                    ['credential_id'], ['id'], ondelete='CASCADE')
        batch_op.drop_constraint(batch_op.f('ck_share_links_share_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_share_links_share_kind'), NEW_KINDS)
        batch_op.drop_constraint(batch_op.f('ck_share_links_target_matches_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_share_links_target_matches_kind'), NEW_TARGET)


def downgrade():
    op.execute("DELETE FROM share_links WHERE kind = 'credential'")
    with op.batch_alter_table('share_links', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_share_links_target_matches_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_share_links_target_matches_kind'), OLD_TARGET)
        batch_op.drop_constraint(batch_op.f('ck_share_links_share_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_share_links_share_kind'), OLD_KINDS)
        batch_op.drop_constraint(batch_op.f('fk_share_links_credential_id_credentials'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_share_links_credential_id'))
        batch_op.drop_column('credential_id')
