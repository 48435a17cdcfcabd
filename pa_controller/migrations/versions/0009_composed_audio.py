"""composed audio: programmes LoaNet built are kept apart from the recordings officers uploaded

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 22:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audio', schema=None) as batch_op:
        batch_op.add_column(sa.Column('composed', sa.Boolean(), nullable=False, server_default=sa.false()))
    # Programmes composed before this revision were stored under the original name "programme".
    op.execute("UPDATE audio SET composed = TRUE WHERE original_name = 'programme'")


def downgrade():
    with op.batch_alter_table('audio', schema=None) as batch_op:
        batch_op.drop_column('composed')
