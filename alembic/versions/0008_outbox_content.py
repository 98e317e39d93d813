"""the bytes of each outbox mail in their own table (outbox_content)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox_content',
    sa.Column('outbox_id', sa.Integer(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_outbox_content_outbox_id_outbox')),
    sa.PrimaryKeyConstraint('outbox_id', name=op.f('pk_outbox_content'))
    )
    op.execute("INSERT INTO outbox_content (outbox_id, raw) SELECT id, raw FROM outbox")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('raw')


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw', sa.LargeBinary(), nullable=False, server_default=b''))
    op.execute("UPDATE outbox SET raw = (SELECT raw FROM outbox_content WHERE outbox_id = outbox.id)")
    op.drop_table('outbox_content')
