"""Reports that reach the worker while its database is away wait in the inbox, and are stored once it is back."""

import json
import time

import pytest
from sqlalchemy import select

import pa_protocol as protocol
from pa_controller import clock, create_app
from pa_controller.domain import ClusterStatus
from pa_controller.messaging.inbox import Inbox, StoreUnavailable
from pa_controller.models import ClusterState
from pa_controller.services import ingest
from pa_controller.services.report_writer import ReportWriter
from tests.support.broker import free_port


@pytest.fixture
def away(make_settings):
    """An app on a PostgreSQL that is not there: nothing listens on its port."""
    return create_app(make_settings(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/loanet"))


def birth(cid: str) -> tuple[str, bytes]:
    payload = {"v": 1, "cid": cid, "online": True, "boot_id": "b1", "at": protocol.format_time(clock.now())}
    return protocol.topic("pa/v1", cid, protocol.STATUS), json.dumps(payload).encode()


def test_a_batch_the_database_cannot_take_is_handed_back_whole(away):
    batch = [(protocol.STATUS, "om-tho-001", json.loads(birth("om-tho-001")[1])),
             (protocol.EVENTS, "om-tho-002", {"v": 1})]
    with pytest.raises(StoreUnavailable) as refused:
        ReportWriter(away, ingest.APPLY_IN_ORDER).write(batch, clock.now())
    assert sorted(refused.value.unwritten) == sorted(batch)
    assert (refused.value.applied, refused.value.unstorable) == (0, 0), "nothing counted as stored, or as bad"


def test_reports_wait_while_the_database_is_away_and_are_stored_when_it_is_back(seeded, away):
    writer = ReportWriter(away, ingest.APPLY_IN_ORDER)
    inbox = Inbox("pa/v1", writer)
    inbox.start()
    try:
        for cid in ("om-tho-001", "om-tho-002"):
            inbox.receive(*birth(cid))
        deadline = time.monotonic() + 10
        while not inbox._queue.empty() and time.monotonic() < deadline:  # the writer took them, and failed
            time.sleep(0.05)
        time.sleep(0.3)
        assert inbox.applied == 0 and not inbox.rejected, "held, neither stored nor dropped"
        writer.app = seeded  # the database is back
        deadline = time.monotonic() + 10
        while inbox.applied < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        inbox.stop()
    assert inbox.applied == 2 and not inbox.rejected
    states = {s.cluster_id: s.status for s in ingest.db.session.scalars(select(ClusterState))}
    assert states["om-tho-001"] is states["om-tho-002"] is ClusterStatus.ONLINE
