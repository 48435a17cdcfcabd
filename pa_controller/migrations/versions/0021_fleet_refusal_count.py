"""the district's count of refused reports, by kind and reason

Upgrade: a new table `fleet_refusal_count`, started from the sums of the clusters' counts (`refusal_count`), so
the district's total holds every refusal counted so far; from now on it also counts what no cluster's count can:
reports on the topics of clusters not in the registry, and on topics that are no cluster's channel.
Downgrade: the table goes; the clusters' own counts stay as they are.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 18:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'fleet_refusal_count',
        sa.Column('kind', sa.String(16), primary_key=True),
        sa.Column('reason', sa.String(32), primary_key=True),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.execute("""INSERT INTO fleet_refusal_count (kind, reason, count, first_at, last_at)
                  SELECT kind, reason, SUM(count), MIN(first_at), MAX(last_at) FROM refusal_count
                  GROUP BY kind, reason""")


def downgrade():
    op.drop_table('fleet_refusal_count')
