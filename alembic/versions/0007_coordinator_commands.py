"""coordinators' commands by mail (their confirmation and undo window)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('coordinator_command',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inbound_id', sa.Integer(), nullable=True),
    sa.Column('dossier_id', sa.Integer(), nullable=True),
    sa.Column('sender', sa.String(length=320), nullable=False),
    sa.Column('verb', sa.String(length=30), nullable=False),
    sa.Column('line', sa.Text(), nullable=False),
    sa.Column('arguments', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('question_message_id', sa.String(length=255), nullable=True),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('letters', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('applied_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_coordinator_command_dossier_id_dossier')),
    sa.ForeignKeyConstraint(['inbound_id'], ['inbound_message.id'],
                            name=op.f('fk_coordinator_command_inbound_id_inbound_message')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coordinator_command'))
    )
    with op.batch_alter_table('coordinator_command', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coordinator_command_dossier_id'), ['dossier_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coordinator_command_question_message_id'), ['question_message_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('coordinator_command', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coordinator_command_question_message_id'))
        batch_op.drop_index(batch_op.f('ix_coordinator_command_dossier_id'))
    op.drop_table('coordinator_command')
