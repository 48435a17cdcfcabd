"""Migration 0014 adds the broker passwords' table; a downgrade drops it, with data in it, and keeps the fleet."""

from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select, text

from pa_controller.extensions import db
from pa_controller.models import Cluster
from pa_controller.services import broker_access


def tables() -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_the_broker_credential_table_comes_and_goes_with_its_migration(seeded):
    broker_access.issue(["om-tho-001", "om-tho-002"])
    db.session.remove()
    downgrade(revision="0014-1")
    assert "broker_credential" not in tables()
    upgrade()
    assert "broker_credential" in tables()
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM broker_credential")).scalar() == 0
    assert db.session.scalar(select(func.count()).select_from(Cluster)) == 456
    assert len(broker_access.issue(["om-tho-001"])) == 1, "usable again"
