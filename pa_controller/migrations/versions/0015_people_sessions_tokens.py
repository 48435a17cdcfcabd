"""people: wards through a table, server-side sessions, failed logins, scoped and expiring API tokens

A user belongs to wards through `user_ward` (an officer to one or more, an approver or viewer to some or, with
none, to the whole district); `user.ward_id` moves into it. Sessions of the pages are rows that logout, a
password change or an administrator end; failed logins are counted from `login_failure` by every web worker.
API tokens get scopes, an expiry and a revocation time: the tokens already issued keep every scope (a token
never grants more than its user's role anyway) and expire 90 days after this migration.

Downgrade: an officer keeps the first of their wards (by id); an approver or a viewer, roles 0012 does not know,
becomes an inactive officer of their first ward or an inactive technician, so they can no longer sign in; revoked
and expired tokens are deleted, since 0012 would honour them again.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 09:00:00

"""
import logging
from datetime import datetime, timedelta, timezone

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

ALL_SCOPES = 'read schedule fleet admin'
EXISTING_TOKENS_LAST = timedelta(days=90)

user = sa.table('user', sa.column('id', sa.Integer), sa.column('ward_id', sa.String), sa.column('role', sa.String),
                sa.column('active', sa.Boolean))
user_ward = sa.table('user_ward', sa.column('user_id', sa.Integer), sa.column('ward_id', sa.String))
api_token = sa.table('api_token', sa.column('scopes', sa.String), sa.column('expires_at', sa.DateTime(timezone=True)),
                     sa.column('revoked_at', sa.DateTime(timezone=True)))


def _now_for(bind) -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(tzinfo=None) if bind.dialect.name == 'sqlite' else now  # as models/types.UTCDateTime stores


def upgrade():
    bind = op.get_bind()
    op.create_table(
        'user_ward',
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('user.id', name=op.f('fk_user_ward_user_id_user'),
                                                         ondelete='CASCADE'), nullable=False),
        sa.Column('ward_id', sa.String(32), sa.ForeignKey('ward.id', name=op.f('fk_user_ward_ward_id_ward')),
                  nullable=False),
        sa.PrimaryKeyConstraint('user_id', 'ward_id', name=op.f('pk_user_ward')),
    )
    op.create_index(op.f('ix_user_ward_ward_id'), 'user_ward', ['ward_id'])
    op.execute(user_ward.insert().from_select(['user_id', 'ward_id'],
                                              sa.select(user.c.id, user.c.ward_id).where(user.c.ward_id.isnot(None))))
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_constraint('fk_user_ward_id_ward', type_='foreignkey')
        batch_op.drop_column('ward_id')
        batch_op.add_column(sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('calendar_key_version', sa.Integer(), nullable=False, server_default='0'))

    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scopes', sa.String(64), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(api_token.update().values(scopes=ALL_SCOPES, expires_at=_now_for(bind) + EXISTING_TOKENS_LAST))
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.alter_column('scopes', existing_type=sa.String(64), nullable=False)
        batch_op.alter_column('expires_at', existing_type=sa.DateTime(timezone=True), nullable=False)

    op.create_table(
        'user_session',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_sha256', sa.String(64), nullable=False),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('user.id', name=op.f('fk_user_session_user_id_user')),
                  nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('end_reason', sa.String(32), nullable=True),
        sa.Column('address', sa.String(64), nullable=True),
        sa.Column('user_agent', sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_session')),
        sa.UniqueConstraint('token_sha256', name=op.f('uq_user_session_token_sha256')),
    )
    op.create_index(op.f('ix_user_session_user_id'), 'user_session', ['user_id'])
    op.create_table(
        'login_failure',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('username', sa.String(64), nullable=False),
        sa.Column('address', sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failure')),
    )
    op.create_index(op.f('ix_login_failure_at'), 'login_failure', ['at'])
    op.create_index('ix_login_failure_username_at', 'login_failure', ['username', 'at'])
    op.create_index('ix_login_failure_address_at', 'login_failure', ['address', 'at'])


def downgrade():
    bind = op.get_bind()
    op.drop_table('login_failure')
    op.drop_table('user_session')

    tokens = bind.execute(api_token.delete().where(sa.or_(api_token.c.revoked_at.isnot(None),
                                                          api_token.c.expires_at <= _now_for(bind)))).rowcount
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_column('revoked_at')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('scopes')

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ward_id', sa.String(32), nullable=True))
        batch_op.create_foreign_key('fk_user_ward_id_ward', 'ward', ['ward_id'], ['id'])
        batch_op.drop_column('calendar_key_version')
        batch_op.drop_column('password_changed_at')
    first_ward = (sa.select(sa.func.min(user_ward.c.ward_id)).where(user_ward.c.user_id == user.c.id)
                  .scalar_subquery())
    op.execute(user.update().values(ward_id=first_ward))
    several = bind.execute(sa.select(sa.func.count()).select_from(
        sa.select(user_ward.c.user_id).group_by(user_ward.c.user_id).having(sa.func.count() > 1).subquery())).scalar()
    locked = 0
    for role, fallback in (('approver', 'officer'), ('viewer', 'officer')):
        locked += bind.execute(user.update().where(user.c.role == role, user.c.ward_id.isnot(None))
                               .values(role=fallback, active=False)).rowcount
        locked += bind.execute(user.update().where(user.c.role == role).values(role='technician',
                                                                               active=False)).rowcount
    if tokens or several or locked:
        logging.getLogger('alembic.runtime.migration').warning(
            '0015 downgrade: %d revoked or expired token(s) deleted, %d user(s) of several wards keep the first, '
            '%d approver(s) and viewer(s) locked out', tokens, several, locked)
    op.drop_index(op.f('ix_user_ward_ward_id'), table_name='user_ward')
    op.drop_table('user_ward')
