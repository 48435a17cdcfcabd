"""audit log indexes: each filter of the log's page with the time it is ordered by

The audit page filters by actor, action or ward and shows the newest entries first; with an index on the filter
alone, PostgreSQL read every entry of an actor (a year: hundreds of thousands) to sort them for one page of 50.
An index on (filter, at) hands the page over in order. bench/explain.py measures it (docs/benchmarks.md).

Upgrade: ix_audit_entry_{actor,action,ward_id} become ix_audit_entry_{actor,action,ward_id}_at.
Downgrade: back to the single-column indexes. No row changes either way.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08 01:00:00

"""
from alembic import op


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

FILTERS = ('actor', 'action', 'ward_id')


def upgrade():
    for column in FILTERS:
        op.create_index(f'ix_audit_entry_{column}_at', 'audit_entry', [column, 'at'])
        op.drop_index(f'ix_audit_entry_{column}', table_name='audit_entry')


def downgrade():
    for column in FILTERS:
        op.create_index(f'ix_audit_entry_{column}', 'audit_entry', [column])
        op.drop_index(f'ix_audit_entry_{column}_at', table_name='audit_entry')
