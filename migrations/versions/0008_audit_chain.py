"""audit chain: positions (unique), key fingerprints, the one-row head table

Revision ID: 0008_audit_chain
Revises: 0011_one_link_one_comment
Create Date: 2026-12-02 01:20:00

Existing events keep their plain SHA-256 digests (``key_id`` NULL): the first keyed event written after
this migration covers the last of them, so they stay anchored.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_audit_chain'
down_revision = '0011_one_link_one_comment'
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('key_id', sa.String(length=16), nullable=True))
    op.execute("UPDATE audit_events SET seq = ranked.rn FROM "
               "(SELECT id, row_number() OVER (ORDER BY id) AS rn FROM audit_events) AS ranked "
               "WHERE audit_events.id = ranked.id")
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_events_seq'), ['seq'])

    head = op.create_table(
        'audit_head',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.CheckConstraint('id = 1', name=op.f('ck_audit_head_single_row')),
        sa.CheckConstraint('seq >= 0', name=op.f('ck_audit_head_seq')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head')),
        sqlite_autoincrement=True,
    )
    last = op.get_bind().execute(sa.text("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")).first()
    op.bulk_insert(head, [{"id": 1, "seq": last[0] if last else 0, "hash": last[1] if last else GENESIS}])


def downgrade():
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_events_seq'), type_='unique')
        batch_op.drop_column('key_id')
        batch_op.drop_column('seq')
