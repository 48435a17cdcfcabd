"""Migration 0021: the district's refusal counts start from the sums of the clusters' counts; going back drops them
and keeps the clusters' own."""

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from pa_controller.extensions import db

BEFORE, AFTER = "0020", "0021"


def test_the_district_counts_start_from_the_clusters_and_a_downgrade_keeps_the_clusters_counts(seeded):
    downgrade(revision=BEFORE)
    with db.engine.begin() as connection:
        for cid, reason, count, first, last in (("om-tho-001", "malformed", 3, "2026-12-01", "2026-12-03"),
                                                ("om-tho-002", "malformed", 4, "2026-12-02", "2026-12-05"),
                                                ("om-tho-002", "wrong_run", 1, "2026-12-04", "2026-12-04")):
            connection.execute(text("""INSERT INTO refusal_count (cluster_id, kind, reason, count, first_at, last_at)
                                       VALUES (:cid, 'report', :reason, :count, :first, :last)"""),
                               {"cid": cid, "reason": reason, "count": count, "first": f"{first} 10:00:00+00:00",
                                "last": f"{last} 10:00:00+00:00"})
    upgrade(revision=AFTER)
    rows = db.session.execute(text("SELECT kind, reason, count FROM fleet_refusal_count ORDER BY reason")).all()
    assert [tuple(row) for row in rows] == [("report", "malformed", 7), ("report", "wrong_run", 1)]
    db.session.rollback()
    downgrade(revision=BEFORE)
    assert db.session.execute(text("SELECT sum(count) FROM refusal_count")).scalar() == 8
    db.session.rollback()
    upgrade()
