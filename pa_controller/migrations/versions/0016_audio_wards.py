"""audio by ward: a recording belongs to a ward, or to the district (null)

What an officer uploaded before this revision becomes their ward's; a programme LoaNet composed becomes the ward of
its recordings, the first that has one (as services/media.compose gives it); everything else stays the district's,
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

AUDIO = sa.table('audio', sa.column('id', sa.Integer), sa.column('ward_id', sa.String),
                 sa.column('composed', sa.Boolean))
BROADCASTS = sa.table('broadcast', sa.column('audio_id', sa.Integer), sa.column('programme', sa.JSON))


def upgrade():
    with op.batch_alter_table('audio', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ward_id', sa.String(32), nullable=True))
        batch_op.create_foreign_key('fk_audio_ward_id_ward', 'ward', ['ward_id'], ['id'])
        batch_op.create_index('ix_audio_ward_id', ['ward_id'])
    # Officers had one ward until 0015; the first of their wards, should one have several by now.
    op.execute("""UPDATE audio SET ward_id = (SELECT MIN(w.ward_id) FROM user_ward w JOIN "user" u ON u.id = w.user_id
                                             WHERE u.id = audio.uploaded_by AND u.role = 'officer')""")
    _programmes_take_their_recordings_ward()


def _programmes_take_their_recordings_ward():
    """A composed clip's recordings are named by the programme of the broadcasts that play it."""
    connection = op.get_bind()
    ward_of = dict(connection.execute(sa.select(AUDIO.c.id, AUDIO.c.ward_id)).all())
    composed = sa.select(AUDIO.c.id).where(AUDIO.c.composed)
    owners = {}
    for clip, programme in connection.execute(sa.select(BROADCASTS.c.audio_id, BROADCASTS.c.programme)
                                              .where(BROADCASTS.c.audio_id.in_(composed))):
        items = programme.get('items', []) if isinstance(programme, dict) else []
        owners.setdefault(clip, set()).update(ward_of.get(item) for item in items)
    for clip, wards in owners.items():
        if wards := sorted(wards - {None}):
            connection.execute(sa.update(AUDIO).where(AUDIO.c.id == clip).values(ward_id=wards[0]))


def downgrade():
    with op.batch_alter_table('audio', schema=None) as batch_op:
        batch_op.drop_index('ix_audio_ward_id')
        batch_op.drop_constraint('fk_audio_ward_id_ward', type_='foreignkey')
        batch_op.drop_column('ward_id')
