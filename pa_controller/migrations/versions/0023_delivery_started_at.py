"""a delivery keeps when its cluster began to sound, for the proof-of-play log (docs/upward-api.md)

A delivery kept only its latest state and that state's time, so a `done` delivery told when it ended, never when
it began. Its `playing` time is now kept too, on the cluster's clock like `at`.

Upgrade: a new column `delivery.started_at`, empty for the deliveries from before (their `playing` was not kept).
Downgrade: the column goes.

Revision ID: 0023
Revises: 0021 (0022 is the audit log's indexes, on another branch: when both are merged, this one revises 0022)
Create Date: 2026-12-08 01:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('started_at')
