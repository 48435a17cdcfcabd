"""cluster groups: clusters of one ward that officers target together (a market, a street)

Upgrade: two new tables, `cluster_group` and its members `group_cluster`; broadcasts may now name groups in their
targets (`{"groups": [ids]}`).
Downgrade: a broadcast that names groups names their clusters instead, so the earlier code, which knows no
groups, still sends it to the same clusters; then the tables go.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 07:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

BROADCASTS = sa.table('broadcast', sa.column('id', sa.Integer), sa.column('targets', sa.JSON))
MEMBERS = sa.table('group_cluster', sa.column('group_id', sa.Integer), sa.column('cluster_id', sa.String))


def upgrade():
    op.create_table(
        'cluster_group',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('ward_id', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['ward_id'], ['ward.id'], name='fk_cluster_group_ward_id_ward'),
        sa.PrimaryKeyConstraint('id', name='pk_cluster_group'),
        sa.UniqueConstraint('ward_id', 'name', name='uq_cluster_group_ward_id'),
    )
    op.create_index('ix_cluster_group_ward_id', 'cluster_group', ['ward_id'])
    op.create_table(
        'group_cluster',
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('cluster_id', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(['group_id'], ['cluster_group.id'], name='fk_group_cluster_group_id_cluster_group',
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['cluster_id'], ['cluster.id'], name='fk_group_cluster_cluster_id_cluster'),
        sa.PrimaryKeyConstraint('group_id', 'cluster_id', name='pk_group_cluster'),
    )
    op.create_index('ix_group_cluster_cluster_id', 'group_cluster', ['cluster_id'])


def downgrade():
    connection = op.get_bind()
    members = {}
    for group_id, cluster_id in connection.execute(sa.select(MEMBERS.c.group_id, MEMBERS.c.cluster_id)):
        members.setdefault(group_id, set()).add(cluster_id)
    for broadcast_id, targets in connection.execute(sa.select(BROADCASTS.c.id, BROADCASTS.c.targets)).all():
        if not isinstance(targets, dict) or 'groups' not in targets:
            continue
        named = set(targets.get('clusters', []))
        for group_id in targets['groups']:
            named |= members.get(group_id, set())
        kept = {key: value for key, value in targets.items() if key != 'groups'}
        connection.execute(sa.update(BROADCASTS).where(BROADCASTS.c.id == broadcast_id)
                           .values(targets={**kept, **({'clusters': sorted(named)} if named else {})}))
    op.drop_index('ix_group_cluster_cluster_id', table_name='group_cluster')
    op.drop_table('group_cluster')
    op.drop_index('ix_cluster_group_ward_id', table_name='cluster_group')
    op.drop_table('cluster_group')
