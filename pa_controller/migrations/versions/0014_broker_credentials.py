"""broker credentials: each cluster's broker password, kept as the hash the broker checks

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'broker_credential',
        sa.Column('cluster_id', sa.String(32), nullable=False),
        sa.Column('password_hash', sa.String(160), nullable=False),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['cluster_id'], ['cluster.id'], name=op.f('fk_broker_credential_cluster_id_cluster')),
        sa.PrimaryKeyConstraint('cluster_id', name=op.f('pk_broker_credential')),
    )


def downgrade():
    op.drop_table('broker_credential')
