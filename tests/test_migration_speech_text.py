"""Migration 0019: a clip keeps the text it was read from; clips from before have none, and a downgrade keeps them."""

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from pa_controller.extensions import db

BEFORE, AFTER = "0018", "0019"


def columns() -> set[str]:
    return {column["name"] for column in inspect(db.engine).get_columns("audio")}


def test_clips_from_before_have_no_text_and_a_downgrade_keeps_the_clips(seeded):
    downgrade(revision=BEFORE)
    assert "speech_text" not in columns()
    with db.engine.begin() as connection:
        connection.execute(text("""INSERT INTO audio (id, sha256, title, original_name, bytes, duration_ms,
                                   loudness_lufs, composed, created_at)
                                   VALUES (1, 'a', 'A', 'a.wav', 1, 1, -16, FALSE, CURRENT_TIMESTAMP)"""))
    upgrade(revision=AFTER)
    assert db.session.execute(text("SELECT speech_text FROM audio")).all() == [(None,)]
    db.session.execute(text("UPDATE audio SET speech_text = 'Họp dân lúc 17h30'"))
    db.session.commit()
    downgrade(revision=BEFORE)
    assert db.session.execute(text("SELECT count(*) FROM audio")).scalar() == 1
    db.session.rollback()
    upgrade()
