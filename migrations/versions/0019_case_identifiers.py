"""case identifiers: the CFDocument and CFItem identifiers of a CASE file made elsewhere

Revision ID: 0019_case_identifiers
Revises: 0018_signoff_codes
Create Date: 2026-12-02 06:00:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0019_case_identifiers'
down_revision = '0018_signoff_codes'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('certifications', 'blocks', 'competencies'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('case_identifier', sa.String(length=36), nullable=True))


def downgrade():
    for table in ('competencies', 'blocks', 'certifications'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('case_identifier')
