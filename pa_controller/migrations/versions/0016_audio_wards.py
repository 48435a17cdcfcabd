"""audio by ward: a recording belongs to a ward, or to the district (null)

What an officer uploaded before this revision becomes their ward's; everything else stays the district's,
usable by everyone as before.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 04:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audio', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ward_id', sa.String(32), nullable=True))
        batch_op.create_foreign_key('fk_audio_ward_id_ward', 'ward', ['ward_id'], ['id'])
        batch_op.create_index('ix_audio_ward_id', ['ward_id'])
    # Officers had one ward until 0015; the first of their wards, should one have several by now.
    op.execute("""UPDATE audio SET ward_id = (SELECT MIN(w.ward_id) FROM user_ward w JOIN "user" u ON u.id = w.user_id
                                             WHERE u.id = audio.uploaded_by AND u.role = 'officer')""")


def downgrade():
    with op.batch_alter_table('audio', schema=None) as batch_op:
        batch_op.drop_index('ix_audio_ward_id')
        batch_op.drop_constraint('fk_audio_ward_id_ward', type_='foreignkey')
        batch_op.drop_column('ward_id')
