"""Migration 0016: what an officer uploaded before it becomes their ward's, and so does a programme composed of it;
the rest stays the district's."""

import json

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from pa_controller.extensions import db

BEFORE, AFTER = "0015", "0016"


def test_an_officer_s_old_uploads_become_their_ward_s_and_a_downgrade_keeps_the_clips(seeded):
    downgrade(revision=BEFORE)
    with db.engine.begin() as connection:
        connection.execute(text("""INSERT INTO "user" (id, username, password_hash, role, active, created_at)
                                   VALUES (1, 'canbo', 'x', 'officer', TRUE, CURRENT_TIMESTAMP),
                                          (2, 'quantri', 'x', 'admin', TRUE, CURRENT_TIMESTAMP)"""))
        connection.execute(text("INSERT INTO user_ward (user_id, ward_id) VALUES (1, 'thoi-hoa')"))
        connection.execute(text("""INSERT INTO audio (id, sha256, title, original_name, bytes, duration_ms,
                                   loudness_lufs, uploaded_by, composed, created_at)
                                   VALUES (1, 'a', 'A', 'a.wav', 1, 1, -16, 1, FALSE, CURRENT_TIMESTAMP),
                                          (2, 'b', 'B', 'b.wav', 1, 1, -16, 2, FALSE, CURRENT_TIMESTAMP),
                                          (3, 'c', 'C (ghép)', 'programme', 1, 2, -16, 2, TRUE, CURRENT_TIMESTAMP),
                                          (4, 'd', 'D (ghép)', 'programme', 1, 2, -16, 2, TRUE, CURRENT_TIMESTAMP)
                                """))
        for broadcast_id, (clip, items) in enumerate(((3, [2, 1]), (4, [2, 2])), start=1):
            connection.execute(text("""INSERT INTO broadcast (id, title, audio_id, kind, programme, duration_ms,
                                       priority, targets, start_at, created_at)
                                       VALUES (:id, 'Chương trình', :clip, 'play', :programme, 2, 'normal',
                                               '{"wards": ["thoi-hoa"]}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"""),
                               {"id": broadcast_id, "clip": clip, "programme": json.dumps({"items": items})})
    upgrade(revision=AFTER)
    owners = dict(db.session.execute(text("SELECT id, ward_id FROM audio ORDER BY id")).all())
    assert owners == {1: "thoi-hoa", 2: None, 3: "thoi-hoa", 4: None}, "a programme is its recordings' ward's"
    db.session.rollback()
    downgrade(revision=BEFORE)
    assert db.session.execute(text("SELECT count(*) FROM audio")).scalar() == 4
    db.session.rollback()
    upgrade()
