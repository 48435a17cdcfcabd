"""no job store: the Run rows are the schedule; APScheduler's own table of pickled jobs goes

The scheduler keeps its jobs in memory and derives them from the runs (scheduling/schedule.py). APScheduler's
SQLAlchemy store created `apscheduler_jobs` itself, outside the migrations, so it may be missing.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 08:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_table('apscheduler_jobs', if_exists=True)


def downgrade():
    # Empty, as APScheduler 3 makes it: the scheduler of 0010 gives the due runs their jobs at its first tick.
    op.create_table(
        'apscheduler_jobs',
        sa.Column('id', sa.Unicode(191), primary_key=True),
        sa.Column('next_run_time', sa.Float(25), index=True),
        sa.Column('job_state', sa.LargeBinary(), nullable=False),
        if_not_exists=True,
    )
