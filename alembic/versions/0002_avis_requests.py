"""avis requests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('avis_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dossier_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('message_ids', sa.JSON(), nullable=False),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.Column('answered_by', sa.String(length=320), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('reminders_sent', sa.Integer(), nullable=False),
    sa.Column('last_reminder_on', sa.Date(), nullable=True),
    sa.Column('coordinators_alerted_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_avis_request_dossier_id_dossier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_avis_request')),
    sa.UniqueConstraint('code', name=op.f('uq_avis_request_code'))
    )
    with op.batch_alter_table('avis_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_avis_request_dossier_id'), ['dossier_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('avis_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_avis_request_dossier_id'))

    op.drop_table('avis_request')
