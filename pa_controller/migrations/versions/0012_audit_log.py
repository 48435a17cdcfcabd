"""audit log: an append-only record of every change of state

The table refuses UPDATE and DELETE by trigger, on SQLite and PostgreSQL alike, so the application cannot
rewrite history even by a raw statement; only a migration (or the retention job of a later release, which
drops the trigger in its own transaction) may.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 16:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

REFUSE = "the audit log is append-only"


def upgrade():
    op.create_table(
        'audit_entry',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(80), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('address', sa.String(64), nullable=True),
        sa.Column('action', sa.String(48), nullable=False),
        sa.Column('target', sa.String(120), nullable=True),
        sa.Column('ward_id', sa.String(32), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=True),
    )
    for column in ('at', 'actor', 'user_id', 'address', 'action', 'ward_id'):
        op.create_index(f'ix_audit_entry_{column}', 'audit_entry', [column])
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"""CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                       BEGIN RAISE EXCEPTION '{REFUSE}'; END $$""")
        op.execute("""CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry
                      FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()""")
    else:
        for verb in ('UPDATE', 'DELETE'):
            op.execute(f"""CREATE TRIGGER audit_entry_no_{verb.lower()} BEFORE {verb} ON audit_entry
                           BEGIN SELECT RAISE(ABORT, '{REFUSE}'); END""")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER audit_entry_append_only ON audit_entry")
        op.execute("DROP FUNCTION audit_entry_append_only()")
    op.drop_table('audit_entry')
