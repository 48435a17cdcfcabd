"""times of day: one broadcast sounds at several times on the days its rule picks

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02 21:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.add_column(sa.Column('times', sa.JSON(), nullable=True))


def downgrade():
    # A broadcast with several times a day keeps only its first start's time of day: the rule alone has no more.
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.drop_column('times')
