"""drop signoff_links.code_*: the one-time codes live in signoff_codes since 0018

Revision ID: 0020_drop_signoff_link_codes
Revises: 0019_case_identifiers
Create Date: 2026-12-02 05:55:00

"""
from alembic import op
import sqlalchemy as sa

import portfolio.models.base


# revision identifiers, used by Alembic.
revision = '0020_drop_signoff_link_codes'
down_revision = '0019_case_identifiers'
branch_labels = None
depends_on = None

COLUMNS = ('codes_sent', 'code_attempts', 'code_expires_at', 'code_hash')


def upgrade():
    with op.batch_alter_table('signoff_links', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        for name in COLUMNS:
            batch_op.drop_column(name)


def downgrade():
    with op.batch_alter_table('signoff_links', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('code_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('code_expires_at', portfolio.models.base.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('code_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('codes_sent', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('signoff_links', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.alter_column('code_attempts', server_default=None)
        batch_op.alter_column('codes_sent', server_default=None)
