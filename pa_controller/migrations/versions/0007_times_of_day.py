"""times of day: one broadcast sounds at several times on the days its rule picks

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02 21:00:00

"""
import logging

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None

BROADCASTS = sa.table('broadcast', sa.column('times', sa.JSON))


def upgrade():
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.add_column(sa.Column('times', sa.JSON(), nullable=True))


def downgrade():
    # A broadcast with several times a day keeps only its first start's time of day: the rule alone has no more.
    # The runs already planned stay; only what is planned from here on loses the other times.
    # None is stored as JSON null, so the lists are told apart here rather than by IS NULL.
    stored = op.get_bind().scalars(sa.select(BROADCASTS.c.times))
    several = sum(1 for times in stored if times)
    if several:
        logging.getLogger('alembic.runtime.migration').warning(
            "0007 downgrade: %d broadcast(s) with times of day keep only their start's time for runs not yet planned",
            several)
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.drop_column('times')
