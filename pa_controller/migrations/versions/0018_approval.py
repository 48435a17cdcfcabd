"""approval: officers' broadcasts wait for an approver (issue 14)

Upgrade: every ward asks for approval (the ward rule `approval_required`, on); every broadcast already saved is
approved, as it was scheduled without one, and keeps its runs; nobody may send emergencies before approval until an
administrator says so; each broadcast's approval history (`approval_step`) starts empty.
Downgrade: the history, the states, the rule and the right are dropped; a broadcast not approved keeps no runs
(it has none), and the earlier code would plan it as if approved: those are cancelled, as of their last change.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 07:00:00

"""
import logging

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

BROADCASTS = sa.table('broadcast', sa.column('approval', sa.String), sa.column('cancelled_at', sa.DateTime),
                      sa.column('updated_at', sa.DateTime), sa.column('created_at', sa.DateTime))


def upgrade():
    with op.batch_alter_table('ward', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approval_required', sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('may_send_emergencies', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approval', sa.String(length=16), nullable=False, server_default='approved'))
        batch_op.add_column(sa.Column('awaiting_review', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        'approval_step',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('broadcast_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('comment', sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(['broadcast_id'], ['broadcast.id']),
        sa.ForeignKeyConstraint(['user_id'], ['user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('approval_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_step_broadcast_id'), ['broadcast_id'], unique=False)


def downgrade():
    connection = op.get_bind()
    cancelled = connection.execute(sa.update(BROADCASTS).where(BROADCASTS.c.approval != 'approved',
                                                               BROADCASTS.c.cancelled_at.is_(None))
                                   .values(cancelled_at=sa.func.coalesce(BROADCASTS.c.updated_at,
                                                                         BROADCASTS.c.created_at))).rowcount
    if cancelled:
        logging.getLogger('alembic.runtime.migration').warning(
            '0018 downgrade: %d broadcast(s) never approved (drafts, sent back, waiting) cancelled', cancelled)
    with op.batch_alter_table('approval_step', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_step_broadcast_id'))
    op.drop_table('approval_step')
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.drop_column('awaiting_review')
        batch_op.drop_column('approval')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('may_send_emergencies')
    with op.batch_alter_table('ward', schema=None) as batch_op:
        batch_op.drop_column('approval_required')
