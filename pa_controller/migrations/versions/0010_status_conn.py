"""status conn: a late will is told from the current one by its connection counter, not by its time

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 07:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cluster_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('conn', sa.Integer(), nullable=True))
        batch_op.drop_column('born_at')


def downgrade():
    with op.batch_alter_table('cluster_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('born_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_column('conn')
