"""pending files: files sent straight to the bucket, checked by a background job before they count

Revision ID: 0022_pending_files
Revises: 0021_outbox_sealed_secrets
Create Date: 2026-12-02 06:00:00

"""
from alembic import op
import sqlalchemy as sa

import portfolio.models.base

# revision identifiers, used by Alembic.
revision = '0022_pending_files'
down_revision = '0021_outbox_sealed_secrets'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('pending_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evidence_id', sa.Integer(), nullable=False),
    sa.Column('staged_key', sa.String(length=255), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('created_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('size > 0', name=op.f('ck_pending_files_size_positive')),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_pending_files_evidence_id_evidence'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_files')),
    sa.UniqueConstraint('staged_key', name=op.f('uq_pending_files_staged_key')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('pending_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_files_evidence_id'), ['evidence_id'], unique=False)


def downgrade():
    with op.batch_alter_table('pending_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_files_evidence_id'))
    op.drop_table('pending_files')
