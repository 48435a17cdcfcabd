"""Migration 0004 (programmes and relays) goes down on a database that holds a relay: before it a broadcast was one
clip, so a broadcast without one (a relay, a programme not yet composed) leaves with its runs, their deliveries and
its wards, and every one-clip broadcast stays."""

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from pa_controller.extensions import db

BEFORE, AFTER = "0003", "0004"
ROW = ("INSERT INTO broadcast (id, title, audio_id, kind, stream_url, duration_ms, priority, targets, start_at, "
       "created_at) VALUES (:id, :title, :audio, :kind, :url, 60000, 'normal', '{\"wards\": [\"thoi-hoa\"]}', "
       "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")


def test_a_downgrade_with_a_relay_drops_the_relay_and_keeps_the_clips(seeded):
    downgrade(revision=AFTER)
    with db.engine.begin() as connection:
        connection.execute(text("""INSERT INTO audio (id, sha256, title, original_name, bytes, duration_ms,
                                   loudness_lufs, created_at)
                                   VALUES (1, 'a', 'A', 'a.wav', 1, 60000, -16, CURRENT_TIMESTAMP)"""))
        connection.execute(text(ROW), {"id": 1, "title": "Thông báo", "audio": 1, "kind": "play", "url": None})
        connection.execute(text(ROW), {"id": 2, "title": "Tiếp sóng đài tỉnh", "audio": None, "kind": "relay",
                                       "url": "http://radio.example/live"})
        for broadcast_id in (1, 2):
            connection.execute(text("INSERT INTO broadcast_ward (broadcast_id, ward_id) VALUES (:b, 'thoi-hoa')"),
                               {"b": broadcast_id})
            connection.execute(text("""INSERT INTO run (id, broadcast_id, start_at, dispatch_at, closes_at, state)
                                       VALUES (:b, :b, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP,
                                               'finished')"""), {"b": broadcast_id})
            connection.execute(text("""INSERT INTO delivery (run_id, cluster_id, cmd_id, state)
                                       VALUES (:b, 'om-tho-001', :cmd, 'done')"""), {"b": broadcast_id,
                                                                                     "cmd": f"cmd-{broadcast_id}"})
    downgrade(revision=BEFORE)
    kept = [tuple(row) for row in db.session.execute(text("SELECT id, audio_id FROM broadcast"))]
    assert kept == [(1, 1)], "the relay has gone, the clip's broadcast stays"
    for table, column in (("run", "broadcast_id"), ("broadcast_ward", "broadcast_id")):
        assert db.session.execute(text(f"SELECT {column} FROM {table}")).scalars().all() == [1]
    assert db.session.execute(text("SELECT run_id FROM delivery")).scalars().all() == [1]
    db.session.rollback()
    upgrade()
    assert db.session.execute(text("SELECT kind, duration_ms FROM broadcast")).all() == [("play", 60000)]
