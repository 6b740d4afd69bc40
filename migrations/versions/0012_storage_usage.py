"""storage usage: what each person's evidence files weigh, for quota reservations

Revision ID: 0012_storage_usage
Revises: 0010_lti
Create Date: 2026-12-02 01:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_storage_usage'
down_revision = '0010_lti'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('storage_usage',
    sa.Column('user_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('used_bytes', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('used_bytes >= 0', name=op.f('ck_storage_usage_used_bytes_not_negative')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_storage_usage_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_storage_usage'))
    )
    # Everyone's current usage, counted as the quota counts it: one count per file.
    op.execute(
        "INSERT INTO storage_usage (user_id, used_bytes) "
        "SELECT evidence.owner_id, SUM(blobs.size) FROM evidence_files "
        "JOIN evidence ON evidence.id = evidence_files.evidence_id "
        "JOIN blobs ON blobs.id = evidence_files.blob_id GROUP BY evidence.owner_id"
    )


def downgrade():
    op.drop_table('storage_usage')
