"""self-assessment: the learner's own level on each tagged competency of a piece of evidence

Revision ID: 0016_self_assessment
Revises: 0009_outbox
Create Date: 2026-12-02 02:50:00

"""
from alembic import op
import sqlalchemy as sa

import portfolio.models.base


# revision identifiers, used by Alembic.
revision = '0016_self_assessment'
down_revision = '0009_outbox'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('self_assessments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Enum('acquired', 'in_progress', 'not_acquired', name='self_assessment_level', native_enum=False, length=20, create_constraint=True), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('updated_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_self_assessments_claim_id_claims'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_self_assessments')),
    sa.UniqueConstraint('claim_id', name=op.f('uq_self_assessments_claim_id')),
    sqlite_autoincrement=True
    )


def downgrade():
    op.drop_table('self_assessments')
