"""the proof-of-play log: a delivery keeps when its cluster began to sound, and runs are found by time

A delivery kept only its latest state and that state's time, so a `done` delivery told when it ended, never when
it began. Its `playing` time is now kept too, on the cluster's clock like `at`. The upward API (docs/upward-api.md)
reads runs and their deliveries by the runs' start: without an index on it, PostgreSQL read and sorted every
delivery of the year for a page of 100 (bench/upward.py).

Upgrade: a new column `delivery.started_at`, empty for the deliveries from before (their `playing` was not kept);
an index `ix_run_start_at` on run (start_at, id).
Downgrade: both go.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08 01:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_run_start_at', 'run', ['start_at', 'id'])


def downgrade():
    op.drop_index('ix_run_start_at', table_name='run')
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('started_at')
