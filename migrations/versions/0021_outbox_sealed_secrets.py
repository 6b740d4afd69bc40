"""outbox secrets: a one-time secret an e-mail carries is sealed apart from its body until sent

Revision ID: 0021_outbox_sealed_secrets
Revises: 0020_drop_signoff_link_codes
Create Date: 2026-12-02 06:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021_outbox_sealed_secrets'
down_revision = '0020_drop_signoff_link_codes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_messages', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('secrets_encrypted', sa.Text(), nullable=True))
    # Codes already stored in clear in the bodies of sign-off code e-mails: those sent are redacted; a
    # code still waiting is useless after 15 minutes anyway, so those are given up and redacted too.
    op.execute("UPDATE outbox_messages SET body = '(code retiré après envoi)' WHERE kind = 'signoff_code'")
    op.execute("UPDATE outbox_messages SET status = 'failed', next_attempt_at = NULL, "
               "last_error = 'SecretRedacted' WHERE kind = 'signoff_code' AND status <> 'sent'")


def downgrade():
    with op.batch_alter_table('outbox_messages', schema=None,
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('secrets_encrypted')
