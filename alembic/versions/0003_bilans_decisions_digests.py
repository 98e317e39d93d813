"""bilans decisions digests

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('digest_state',
    sa.Column('coordinator', sa.String(length=320), nullable=False),
    sa.Column('last_sent_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('coordinator', name=op.f('pk_digest_state'))
    )
    op.create_table('bilan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dossier_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=True),
    sa.Column('document_id', sa.Integer(), nullable=True),
    sa.Column('reminders_on', sa.JSON(), nullable=False),
    sa.Column('overdue_notified_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], name=op.f('fk_bilan_document_id_document')),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_bilan_dossier_id_dossier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bilan')),
    sa.UniqueConstraint('dossier_id', 'kind', 'year', name='uq_bilan_dossier_kind_year')
    )
    with op.batch_alter_table('bilan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bilan_dossier_id'), ['dossier_id'], unique=False)

    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('montant_accorde', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('decision_comment', sa.Text(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.drop_column('decision_comment')
        batch_op.drop_column('montant_accorde')
        batch_op.drop_column('decided_at')

    with op.batch_alter_table('bilan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bilan_dossier_id'))

    op.drop_table('bilan')
    op.drop_table('digest_state')
