"""Migration 0023: a delivery keeps when its cluster began to sound; deliveries from before have no such time."""

from datetime import UTC, datetime

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from pa_controller.extensions import db
from pa_protocol import DeliveryState
from tests.factories import make_run

BEFORE, AFTER = "0021", "0023"


def columns() -> set[str]:
    return {column["name"] for column in inspect(db.engine).get_columns("delivery")}


def test_deliveries_from_before_have_no_start_and_a_downgrade_keeps_them(seeded):
    make_run(datetime(2026, 12, 1, 1, 0, tzinfo=UTC), {"om-tho-001": DeliveryState.DONE})
    db.session.remove()
    downgrade(revision=BEFORE)
    assert "started_at" not in columns()
    upgrade(revision=AFTER)
    assert db.session.execute(text("SELECT cluster_id, started_at FROM delivery")).all() == [("om-tho-001", None)]
    db.session.remove()
    downgrade(revision=BEFORE)
    assert db.session.execute(text("SELECT count(*) FROM delivery")).scalar() == 1
    db.session.remove()
    upgrade()
