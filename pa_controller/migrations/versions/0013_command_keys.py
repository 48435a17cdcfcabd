"""command keys: the public halves of the keys that sign commands, refusals counted per cluster, signing health

The private halves are files in PA_KEY_DIR, never in the database. At most one key is `next` and one `current`
(a partial unique index, on SQLite and PostgreSQL alike).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

SIGNING_STATES = "state IN ('next', 'current')"


def upgrade():
    op.create_table(
        'command_key',
        sa.Column('kid', sa.String(16), primary_key=True),
        sa.Column('public_key', sa.String(64), nullable=False),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('not_after', sa.DateTime(timezone=True), nullable=True),
        sa.Column('signed_by', sa.String(16), nullable=False),
        sa.Column('signature', sa.String(100), nullable=False),
    )
    op.create_index('uq_command_key_state', 'command_key', ['state'], unique=True,
                    sqlite_where=sa.text(SIGNING_STATES), postgresql_where=sa.text(SIGNING_STATES))
    op.create_table(
        'refusal_count',
        sa.Column('cluster_id', sa.String(32), sa.ForeignKey('cluster.id'), primary_key=True),
        sa.Column('kind', sa.String(16), primary_key=True),
        sa.Column('reason', sa.String(32), primary_key=True),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_refusal_count_last_at', 'refusal_count', ['last_at'])
    with op.batch_alter_table('service_beat', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signing', sa.String(300), nullable=True))


def downgrade():
    with op.batch_alter_table('service_beat', schema=None) as batch_op:
        batch_op.drop_column('signing')
    op.drop_index('ix_refusal_count_last_at', table_name='refusal_count')
    op.drop_table('refusal_count')
    op.drop_index('uq_command_key_state', table_name='command_key')
    op.drop_table('command_key')
