"""outbox: who claimed a mail, and each recipient's outcome

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        # "host pid start": a claim whose process is gone is released by the next process at once.
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=200), nullable=True))
        # {address: what the server answered} for a mail some of whose recipients were refused.
        batch_op.add_column(sa.Column('delivery', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('delivery')
        batch_op.drop_column('claimed_by')
