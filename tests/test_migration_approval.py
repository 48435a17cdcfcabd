"""Migration 0018: every ward asks for approval, what was scheduled stays approved with its runs, and a downgrade
cancels what was never approved rather than let the earlier code plan it."""

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from pa_controller.extensions import db

BEFORE, AFTER = "0017", "0018"
BROADCAST = """INSERT INTO broadcast (id, title, kind, duration_ms, priority, targets, start_at, created_by, created_at)
               VALUES (:id, :title, 'play', 1500, 'normal', '{"wards": ["thoi-hoa"]}', CURRENT_TIMESTAMP, 1,
                       CURRENT_TIMESTAMP)"""


def test_wards_ask_for_approval_and_old_broadcasts_stay_approved_with_their_runs(seeded):
    downgrade(revision=BEFORE)
    with db.engine.begin() as connection:
        connection.execute(text("""INSERT INTO "user" (id, username, password_hash, role, active, created_at,
                                   calendar_key_version)
                                   VALUES (1, 'canbo', 'x', 'officer', TRUE, CURRENT_TIMESTAMP, 0)"""))
        connection.execute(text(BROADCAST), {"id": 1, "title": "Lịch cắt điện"})
        connection.execute(text("""INSERT INTO run (id, broadcast_id, start_at, dispatch_at, closes_at, state)
                                   VALUES (1, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP,
                                           'scheduled')"""))
    upgrade(revision=AFTER)
    wards = db.session.execute(text("SELECT count(*), count(*) FILTER (WHERE approval_required) FROM ward")).one()
    assert wards[0] > 0 and wards[0] == wards[1]
    assert db.session.execute(text("SELECT approval, awaiting_review FROM broadcast")).one() == ("approved", False)
    assert db.session.execute(text("SELECT may_send_emergencies FROM \"user\"")).one() == (False,)
    assert db.session.execute(text("SELECT count(*) FROM run")).scalar() == 1
    db.session.execute(text(BROADCAST), {"id": 2, "title": "Bản nháp"})
    db.session.execute(text("UPDATE broadcast SET approval = 'draft' WHERE id = 2"))
    db.session.execute(text("""INSERT INTO approval_step (broadcast_id, action, state, user_id, at)
                               VALUES (2, 'draft', 'draft', 1, CURRENT_TIMESTAMP)"""))
    db.session.commit()
    downgrade(revision=BEFORE)
    cancelled = db.session.execute(text("SELECT id, cancelled_at IS NOT NULL FROM broadcast ORDER BY id")).all()
    assert cancelled == [(1, False), (2, True)]
    assert db.session.execute(text("SELECT count(*) FROM run")).scalar() == 1
    db.session.rollback()
    upgrade()
