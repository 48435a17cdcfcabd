"""delivery ready_at: when the controller heard a cluster was ready, to time "now" by what fetches take

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 21:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ready_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('ready_at')
