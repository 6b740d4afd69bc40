"""successor: mappings from a fiche to its next version; the trace of tags and levels carried over

Revision ID: 0024_successor
Revises: 0023_credentials
Create Date: 2026-12-02 06:00:00

"""
from alembic import op
import sqlalchemy as sa

import portfolio.models.base


# revision identifiers, used by Alembic.
revision = '0024_successor'
down_revision = '0023_credentials'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('claims', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('migrated_from_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_claims_migrated_from_id_claims'), 'claims',
                                    ['migrated_from_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('assessments', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('migrated_from_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_assessments_migrated_from_id_assessments'), 'assessments',
                                    ['migrated_from_id'], ['id'], ondelete='SET NULL')

    op.create_table('competency_mappings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('old_certification_id', sa.Integer(), nullable=False),
    sa.Column('new_certification_id', sa.Integer(), nullable=False),
    sa.Column('saved_by_id', sa.Integer(), nullable=True),
    sa.Column('saved_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('applied_by_id', sa.Integer(), nullable=True),
    sa.Column('applied_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', portfolio.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('old_certification_id <> new_certification_id',
                       name=op.f('ck_competency_mappings_two_versions')),
    sa.ForeignKeyConstraint(['applied_by_id'], ['users.id'],
                            name=op.f('fk_competency_mappings_applied_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['new_certification_id'], ['certifications.id'],
                            name=op.f('fk_competency_mappings_new_certification_id_certifications'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['old_certification_id'], ['certifications.id'],
                            name=op.f('fk_competency_mappings_old_certification_id_certifications'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['saved_by_id'], ['users.id'],
                            name=op.f('fk_competency_mappings_saved_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_competency_mappings')),
    sa.UniqueConstraint('old_certification_id', 'new_certification_id',
                        name='uq_competency_mappings_pair'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('competency_mappings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_competency_mappings_new_certification_id'), ['new_certification_id'],
                              unique=False)

    op.create_table('competency_mapping_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mapping_id', sa.Integer(), nullable=False),
    sa.Column('old_competency_id', sa.Integer(), nullable=False),
    sa.Column('new_competency_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('suggested', 'manual', name='mapping_kind', native_enum=False, length=10,
                              create_constraint=True), nullable=False),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.CheckConstraint('score IS NULL OR (score >= 0 AND score <= 100)',
                       name=op.f('ck_competency_mapping_entries_score_range')),
    sa.ForeignKeyConstraint(['mapping_id'], ['competency_mappings.id'],
                            name=op.f('fk_competency_mapping_entries_mapping_id_competency_mappings'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['new_competency_id'], ['competencies.id'],
                            name=op.f('fk_competency_mapping_entries_new_competency_id_competencies'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['old_competency_id'], ['competencies.id'],
                            name=op.f('fk_competency_mapping_entries_old_competency_id_competencies'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_competency_mapping_entries')),
    sa.UniqueConstraint('mapping_id', 'old_competency_id', 'new_competency_id',
                        name='uq_mapping_entries_target'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('competency_mapping_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_competency_mapping_entries_mapping_id'), ['mapping_id'], unique=False)


def downgrade():
    with op.batch_alter_table('competency_mapping_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_competency_mapping_entries_mapping_id'))
    op.drop_table('competency_mapping_entries')
    with op.batch_alter_table('competency_mappings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_competency_mappings_new_certification_id'))
    op.drop_table('competency_mappings')
    for table in ('assessments', 'claims'):
        with op.batch_alter_table(table, schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_migrated_from_id_{table}'), type_='foreignkey')
            batch_op.drop_column('migrated_from_id')
