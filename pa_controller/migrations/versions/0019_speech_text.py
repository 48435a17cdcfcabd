"""audio composed by text keeps its text

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 07:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audio', schema=None) as batch_op:
        batch_op.add_column(sa.Column('speech_text', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('audio', schema=None) as batch_op:
        batch_op.drop_column('speech_text')
