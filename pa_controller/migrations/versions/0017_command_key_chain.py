"""command key chain: each key's place `seq`, and its retirement as a statement of its own

Until now a retired key's entry was signed again by its successor, so after two rotations no key list led from the
anchor to the current key. From here on a key's endorsement (by the key of seq - 1) is made once and never
changes, and its retirement is a second statement, signed by its successor.

Upgrade: keys are numbered in the order they were created; each endorsement names the key before it, each
retirement the key after it. The signatures cannot be made here (the private keys are files the migration does
not read): the endorsements keep their old signatures, which no longer verify, and the retirements have none,
until `flask pa keys init`, run as the keys' owner, signs them all again (docs/operations.md, "Command keys").
Downgrade: a retired key's entry names its successor again; its signature is not the old form's, so clusters of
the earlier code learn nothing new from the list until the next rotation.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

KEYS = sa.table('command_key', sa.column('kid', sa.String), sa.column('seq', sa.Integer),
                sa.column('created_at', sa.DateTime), sa.column('state', sa.String),
                sa.column('signed_by', sa.String), sa.column('retired_by', sa.String))


def upgrade():
    with op.batch_alter_table('command_key', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('retired_by', sa.String(16), nullable=True))
        batch_op.add_column(sa.Column('retirement_signature', sa.String(100), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(KEYS.c.kid, KEYS.c.state).order_by(KEYS.c.created_at, KEYS.c.kid)).all()
    chain = [row.kid for row in rows]
    for seq, (kid, state) in enumerate(rows, 1):
        before = chain[seq - 2] if seq > 1 else kid
        after = chain[seq] if seq < len(chain) and state == 'retired' else None
        connection.execute(sa.update(KEYS).where(KEYS.c.kid == kid).values(seq=seq, signed_by=before,
                                                                          retired_by=after))
    with op.batch_alter_table('command_key', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.create_unique_constraint('uq_command_key_seq', ['seq'])


def downgrade():
    connection = op.get_bind()
    connection.execute(sa.update(KEYS).where(KEYS.c.retired_by.isnot(None)).values(signed_by=KEYS.c.retired_by))
    with op.batch_alter_table('command_key', schema=None) as batch_op:
        batch_op.drop_constraint('uq_command_key_seq', type_='unique')
        batch_op.drop_column('retirement_signature')
        batch_op.drop_column('retired_by')
        batch_op.drop_column('seq')
