"""one link between evidence and a competency, one comment table

The VAE dossier's own links (``dossier_claims`` + ``dossier_claim_evidence``) become the candidate's
tags (``claims``, the table learners use): each (evidence, competency) pair a dossier named is copied
into ``claims`` unless that tag already exists (then the learner's own justification is kept); a copied
tag's justification is the dossier's narrative for the competency. The narratives themselves move to
``dossier_narratives``. ``evidence_comments`` and ``dossier_comments`` become ``comments`` (evidence
comments keep their ids; dossier comments get new ones, in their order). Frozen versions are JSON
snapshots and are not touched.

Revision ID: 0011_one_link_one_comment
Revises: 0006_vae
Create Date: 2026-12-02 01:10:00
"""
from alembic import op
import sqlalchemy as sa

import portfolio.models.base


revision = '0011_one_link_one_comment'
down_revision = '0006_vae'
branch_labels = None
depends_on = None

#: A copied tag whose dossier had no narrative yet still says where it came from.
FALLBACK_JUSTIFICATION = "Preuve choisie dans le dossier de VAE."


def _reset_sequence(table: str) -> None:
    """After rows were inserted with explicit ids, PostgreSQL's sequence must start past them."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                   f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")


def upgrade():
    op.create_table('dossier_narratives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dossier_id', sa.Integer(), nullable=False),
    sa.Column('competency_id', sa.Integer(), nullable=False),
    sa.Column('narrative', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['competency_id'], ['competencies.id'], name=op.f('fk_dossier_narratives_competency_id_competencies'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossiers.id'], name=op.f('fk_dossier_narratives_dossier_id_dossiers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dossier_narratives')),
    sa.UniqueConstraint('dossier_id', 'competency_id', name=op.f('uq_dossier_narratives_dossier_id_competency_id')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('dossier_narratives', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dossier_narratives_dossier_id'), ['dossier_id'], unique=False)

    op.create_table('comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evidence_id', sa.Integer(), nullable=True),
    sa.Column('dossier_id', sa.Integer(), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(evidence_id IS NULL) <> (dossier_id IS NULL)', name=op.f('ck_comments_one_subject')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_comments_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossiers.id'], name=op.f('fk_comments_dossier_id_dossiers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_comments_evidence_id_evidence'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comments')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_comments_dossier_id'), ['dossier_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_comments_evidence_id'), ['evidence_id'], unique=False)

    # The narratives, one per dossier and competency as before.
    op.execute("INSERT INTO dossier_narratives (dossier_id, competency_id, narrative) "
               "SELECT dossier_id, competency_id, narrative FROM dossier_claims ORDER BY id")
    # The dossier's evidence becomes the candidate's tags, without duplicates: a pair already tagged
    # keeps its tag; a pair named by two dossiers is copied once (the narrative of the first dossier).
    op.execute(sa.text(
        "INSERT INTO claims (evidence_id, competency_id, justification, created_at) "
        "SELECT ce.evidence_id, dc.competency_id, "
        "       CASE WHEN TRIM(dc.narrative) = '' THEN :fallback ELSE dc.narrative END, d.updated_at "
        "FROM dossier_claim_evidence ce "
        "JOIN dossier_claims dc ON dc.id = ce.claim_id "
        "JOIN dossiers d ON d.id = dc.dossier_id "
        "WHERE dc.id = (SELECT MIN(dc2.id) FROM dossier_claims dc2 "
        "               JOIN dossier_claim_evidence ce2 ON ce2.claim_id = dc2.id "
        "               WHERE ce2.evidence_id = ce.evidence_id AND dc2.competency_id = dc.competency_id) "
        "AND NOT EXISTS (SELECT 1 FROM claims c "
        "                WHERE c.evidence_id = ce.evidence_id AND c.competency_id = dc.competency_id) "
        "ORDER BY dc.id, ce.evidence_id"
    ).bindparams(fallback=FALLBACK_JUSTIFICATION))
    # One comment table: evidence comments keep their ids, dossier comments follow in their order.
    op.execute("INSERT INTO comments (id, evidence_id, dossier_id, author_id, body, created_at) "
               "SELECT id, evidence_id, NULL, author_id, body, created_at FROM evidence_comments ORDER BY id")
    _reset_sequence("comments")
    op.execute("INSERT INTO comments (evidence_id, dossier_id, author_id, body, created_at) "
               "SELECT NULL, dossier_id, author_id, body, created_at FROM dossier_comments "
               "ORDER BY created_at, id")

    op.drop_table('dossier_claim_evidence')
    with op.batch_alter_table('dossier_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dossier_claims_dossier_id'))
    op.drop_table('dossier_claims')
    with op.batch_alter_table('dossier_comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dossier_comments_dossier_id'))
    op.drop_table('dossier_comments')
    with op.batch_alter_table('evidence_comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_comments_evidence_id'))
    op.drop_table('evidence_comments')


def downgrade():
    """Back to two links and two comment tables: a dossier's evidence per competency is then the
    candidate's tags on that competency (tags made since are kept in ``claims`` as well)."""
    op.create_table('evidence_comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evidence_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_evidence_comments_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_evidence_comments_evidence_id_evidence'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_comments'))
    )
    with op.batch_alter_table('evidence_comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_comments_evidence_id'), ['evidence_id'], unique=False)
    op.create_table('dossier_comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dossier_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_dossier_comments_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossiers.id'], name=op.f('fk_dossier_comments_dossier_id_dossiers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dossier_comments'))
    )
    with op.batch_alter_table('dossier_comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dossier_comments_dossier_id'), ['dossier_id'], unique=False)
    op.create_table('dossier_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dossier_id', sa.Integer(), nullable=False),
    sa.Column('competency_id', sa.Integer(), nullable=False),
    sa.Column('narrative', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['competency_id'], ['competencies.id'], name=op.f('fk_dossier_claims_competency_id_competencies'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossiers.id'], name=op.f('fk_dossier_claims_dossier_id_dossiers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dossier_claims')),
    sa.UniqueConstraint('dossier_id', 'competency_id', name=op.f('uq_dossier_claims_dossier_id_competency_id'))
    )
    with op.batch_alter_table('dossier_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dossier_claims_dossier_id'), ['dossier_id'], unique=False)
    op.create_table('dossier_claim_evidence',
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('evidence_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['dossier_claims.id'], name=op.f('fk_dossier_claim_evidence_claim_id_dossier_claims'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_dossier_claim_evidence_evidence_id_evidence'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('claim_id', 'evidence_id', name=op.f('pk_dossier_claim_evidence'))
    )

    op.execute("INSERT INTO dossier_claims (id, dossier_id, competency_id, narrative) "
               "SELECT id, dossier_id, competency_id, narrative FROM dossier_narratives")
    op.execute("INSERT INTO dossier_claims (dossier_id, competency_id, narrative) "
               "SELECT DISTINCT d.id, c.competency_id, '' FROM claims c "
               "JOIN evidence e ON e.id = c.evidence_id "
               "JOIN dossiers d ON d.candidate_id = e.owner_id "
               "JOIN competencies k ON k.id = c.competency_id "
               "JOIN blocks b ON b.id = k.block_id AND b.certification_id = d.certification_id "
               "WHERE NOT EXISTS (SELECT 1 FROM dossier_narratives n "
               "                  WHERE n.dossier_id = d.id AND n.competency_id = c.competency_id)")
    op.execute("INSERT INTO dossier_claim_evidence (claim_id, evidence_id) "
               "SELECT dc.id, c.evidence_id FROM dossier_claims dc "
               "JOIN dossiers d ON d.id = dc.dossier_id "
               "JOIN claims c ON c.competency_id = dc.competency_id "
               "JOIN evidence e ON e.id = c.evidence_id AND e.owner_id = d.candidate_id")
    op.execute("INSERT INTO evidence_comments (id, evidence_id, author_id, body, created_at) "
               "SELECT id, evidence_id, author_id, body, created_at FROM comments "
               "WHERE evidence_id IS NOT NULL")
    op.execute("INSERT INTO dossier_comments (dossier_id, author_id, body, created_at) "
               "SELECT dossier_id, author_id, body, created_at FROM comments "
               "WHERE dossier_id IS NOT NULL ORDER BY id")
    for table in ("dossier_claims", "evidence_comments"):
        _reset_sequence(table)

    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_comments_evidence_id'))
        batch_op.drop_index(batch_op.f('ix_comments_dossier_id'))
    op.drop_table('comments')
    with op.batch_alter_table('dossier_narratives', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dossier_narratives_dossier_id'))
    op.drop_table('dossier_narratives')
