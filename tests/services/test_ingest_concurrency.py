"""Two ingest processes (`flask pa ingest`) may store one cluster's birth and will at once: the order stays right.

PostgreSQL only: it is what runs several ingest processes (SQLite takes one writer at a time anyway).
"""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from pa_controller.extensions import db
from pa_controller.models import ClusterState
from pa_controller.services import ingest
from pa_protocol import format_time

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
CID = "om-tho-001"


def status(online: bool, boot: str, conn: int, at: datetime) -> tuple[str, dict]:
    return CID, {"v": 1, "cid": CID, "online": online, "boot_id": boot, "conn": conn, "fw": "1.0",
                 "at": format_time(at)}


def waiting_on_a_lock() -> int:
    """How many other sessions of this database wait for a row lock."""
    with db.engine.connect() as connection:
        return connection.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                      "AND wait_event_type = 'Lock'"))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_stale_will_stored_while_the_new_boots_birth_commits_leaves_the_cluster_online(seeded):
    """The new boot's birth is being stored by one process when another takes the old boot's will: the will must be
    judged against the birth (and ignored), not against the state both read before the birth committed."""
    ingest.apply_statuses([status(True, "boot-1", 1, T0)], T0)
    db.session.commit()
    birth_stored, errors = threading.Event(), []

    def store(message, before_commit=lambda: None) -> None:
        with seeded.app_context():
            try:
                ingest.apply_statuses([message], T0 + timedelta(seconds=60))
                before_commit()
                db.session.commit()
            except Exception as exc:  # reported below: a thread's failure is the test's
                errors.append(exc)
            finally:
                db.session.remove()

    def commit_once_the_will_waits() -> None:
        birth_stored.set()
        deadline = time.monotonic() + 10
        while not waiting_on_a_lock() and time.monotonic() < deadline:
            time.sleep(0.02)

    birth = threading.Thread(target=store, args=(status(True, "boot-2", 1, T0 + timedelta(seconds=59)),
                                                 commit_once_the_will_waits))
    birth.start()
    assert birth_stored.wait(10)
    will = threading.Thread(target=store, args=(status(False, "boot-1", 1, T0),))
    will.start()
    birth.join(20)
    will.join(20)
    assert not errors
    db.session.expire_all()
    state = db.session.get(ClusterState, CID)
    assert (state.online, state.boot_id, state.conn) == (True, "boot-2", 1)
