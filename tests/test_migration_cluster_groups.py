"""Migration 0020: groups of clusters; going back, a broadcast that named groups names their clusters instead."""

import json

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from pa_controller.extensions import db

BEFORE, AFTER = "0019", "0020"


def test_groups_upgrade_and_a_downgrade_keeps_each_broadcast_s_clusters(seeded):
    downgrade(revision=BEFORE)
    upgrade(revision=AFTER)
    with db.engine.begin() as connection:
        connection.execute(text("""INSERT INTO cluster_group (id, name, ward_id, created_at)
                                   VALUES (1, 'Chợ Thới Hòa', 'thoi-hoa', CURRENT_TIMESTAMP)"""))
        connection.execute(text("""INSERT INTO group_cluster (group_id, cluster_id)
                                   VALUES (1, 'om-tho-001'), (1, 'om-tho-002')"""))
        for broadcast_id, targets in ((1, {"groups": [1], "clusters": ["om-tho-009"]}), (2, {"wards": ["thoi-an"]})):
            connection.execute(text("""INSERT INTO broadcast (id, title, kind, duration_ms, priority, targets, start_at,
                                       created_at) VALUES (:id, 'Họp chợ', 'play', 1000, 'normal', :targets,
                                       CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"""),
                               {"id": broadcast_id, "targets": json.dumps(targets)})
    downgrade(revision=BEFORE)
    targets = {i: json.loads(t) if isinstance(t, str) else t
               for i, t in db.session.execute(text("SELECT id, targets FROM broadcast ORDER BY id")).all()}
    assert targets == {1: {"clusters": ["om-tho-001", "om-tho-002", "om-tho-009"]}, 2: {"wards": ["thoi-an"]}}
    db.session.rollback()
    upgrade()
    assert db.session.execute(text("SELECT count(*) FROM cluster_group")).scalar() == 0
    db.session.rollback()
