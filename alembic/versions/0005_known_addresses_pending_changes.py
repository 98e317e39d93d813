"""known addresses, pending changes, recipient keys

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _key(address):
    bare = (address or "").strip().strip("<>").strip().lower()
    local, at, domain = bare.rpartition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}" if at else bare


def upgrade() -> None:
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.add_column(sa.Column('known_addresses', sa.JSON(), nullable=False, server_default='[]'))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient_key', sa.String(length=320), nullable=False, server_default=''))
        batch_op.create_index(batch_op.f('ix_outbox_recipient_key'), ['recipient_key'], unique=False)
    op.create_table('pending_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dossier_id', sa.Integer(), nullable=False),
    sa.Column('inbound_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('sender', sa.String(length=320), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('question_message_id', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('settled_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_pending_change_dossier_id_dossier')),
    sa.ForeignKeyConstraint(['inbound_id'], ['inbound_message.id'], name=op.f('fk_pending_change_inbound_id_inbound_message')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_change'))
    )
    with op.batch_alter_table('pending_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_change_dossier_id'), ['dossier_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pending_change_question_message_id'), ['question_message_id'], unique=False)

    # The dossiers already there belong to the sender and the référent of their first version.
    connection = op.get_bind()
    dossier = sa.table('dossier', sa.column('id', sa.Integer), sa.column('porteur_email', sa.String),
                       sa.column('known_addresses', sa.JSON))
    version = sa.table('version', sa.column('dossier_id', sa.Integer), sa.column('number', sa.Integer),
                       sa.column('fields', sa.JSON))
    outbox = sa.table('outbox', sa.column('id', sa.Integer), sa.column('first_recipient', sa.String),
                      sa.column('recipient_key', sa.String))
    firsts = {row.dossier_id: row.fields for row in connection.execute(
        sa.select(version.c.dossier_id, version.c.fields).where(version.c.number == 1))}
    for row in connection.execute(sa.select(dossier.c.id, dossier.c.porteur_email)).all():
        fields = firsts.get(row.id) or {}
        known = sorted({k for k in (_key(row.porteur_email), _key(fields.get("referent_email"))) if k})
        connection.execute(dossier.update().where(dossier.c.id == row.id).values(known_addresses=known))
    for row in connection.execute(sa.select(outbox.c.id, outbox.c.first_recipient)).all():
        connection.execute(outbox.update().where(outbox.c.id == row.id).values(recipient_key=_key(row.first_recipient)))


def downgrade() -> None:
    with op.batch_alter_table('pending_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_change_question_message_id'))
        batch_op.drop_index(batch_op.f('ix_pending_change_dossier_id'))
    op.drop_table('pending_change')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_recipient_key'))
        batch_op.drop_column('recipient_key')
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.drop_column('known_addresses')
