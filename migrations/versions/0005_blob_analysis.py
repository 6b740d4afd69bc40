"""blob analyses: cached test-report and archive summaries

Revision ID: 0005_blob_analysis
Revises: 0004_logbook
Create Date: 2026-11-28 18:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

import portfolio.models.base

# revision identifiers, used by Alembic.
revision = '0005_blob_analysis'
down_revision = '0004_logbook'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('blob_analyses',
    sa.Column('blob_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('report', 'archive', name='analysis_kind', native_enum=False, length=20), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['blob_id'], ['blobs.id'], name=op.f('fk_blob_analyses_blob_id_blobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('blob_id', name=op.f('pk_blob_analyses'))
    )


def downgrade():
    op.drop_table('blob_analyses')
