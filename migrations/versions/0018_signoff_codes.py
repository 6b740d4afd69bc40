"""signoff codes: the one-time codes e-mailed to the supervisor that confirm a signature

Revision ID: 0018_signoff_codes
Revises: 0016_self_assessment
Create Date: 2026-12-02 02:55:00

"""
from alembic import op
import sqlalchemy as sa

import portfolio.models.base


# revision identifiers, used by Alembic.
revision = '0018_signoff_codes'
down_revision = '0016_self_assessment'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('signoff_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('used_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('attempts >= 0 AND attempts <= 5', name=op.f('ck_signoff_codes_attempts_range')),
    sa.CheckConstraint('expires_at > created_at', name=op.f('ck_signoff_codes_expires_after_creation')),
    sa.ForeignKeyConstraint(['link_id'], ['signoff_links.id'], name=op.f('fk_signoff_codes_link_id_signoff_links'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signoff_codes')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('signoff_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signoff_codes_link_id'), ['link_id'], unique=False)


def downgrade():
    with op.batch_alter_table('signoff_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signoff_codes_link_id'))
    op.drop_table('signoff_codes')
