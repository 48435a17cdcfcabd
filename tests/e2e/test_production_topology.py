"""`make run-prod`: gunicorn x4, one scheduler, two ingest processes, PostgreSQL and Mosquitto with ACL, as one
machine runs them. A broadcast to the 456 clusters of Ô Môn is played once by each (the simulator's truth log),
and each report the clusters sent is stored once: the ingest processes' counts, per kind, add up to what a raw
subscriber beside them received, and each had a share.
"""

import logging
import re
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select

import pa_protocol as protocol
from pa_controller import create_app
from pa_controller.extensions import db
from pa_controller.messaging.broker.accounts import MONITOR
from pa_controller.models import Delivery
from tests.conftest import POSTGRES_URL, _drop_postgres_database, _postgres_or_skip
from tests.support.broker import o_mon_cids
from tests.support.launcher import Launcher
from tests.support.runs import judge, upload
from tests.support.settings import testing_settings as reader_settings
from tests.support.system import System

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)
CLUSTERS = 456
REPORTS = (protocol.STATUS, protocol.HEARTBEAT, protocol.EVENTS)
HANDLED = re.compile(r"(ingest\.\d) stopped; reports handled: (.*)$", re.MULTILINE)

class ReportCounter:
    """A raw subscriber, as the read-only monitor account, counting every report the broker delivers, by kind."""

    def __init__(self, port: int, password: str):
        self.counts: Counter[str] = Counter()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=MONITOR, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(MONITOR, password)
        self.client.on_connect = lambda client, *_: client.subscribe(
            [(protocol.wildcard(protocol.DEFAULT_ROOT, kind), 1) for kind in REPORTS])
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._count
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _count(self, client, userdata, message) -> None:
        self.counts[message.topic.rsplit("/", 1)[-1]] += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

@pytest.fixture
def database():
    """The URL of a PostgreSQL database of the test's own, which make run-prod creates (stack.ensure_database) and
    migrates; dropped after."""
    _postgres_or_skip()
    name = f"loanet_prod_test_{uuid.uuid4().hex[:12]}"
    yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    _drop_postgres_database(name)

@pytest.mark.timeout(300)  # 64–74 s under a load of 8–9 on 2 cores, 123 s under 12
def test_a_broadcast_on_the_production_topology_is_played_once_by_each_cluster_and_each_report_stored_once(
        tmp_path, database, tone):
    # A run closes PA_RUN_SETTLE_S after its end (30 s by default): 5 s is enough for 456 clusters on loopback.
    stack = Launcher(tmp_path, "--prod", DATABASE_URL=database, PA_SIM_CLUSTERS=str(CLUSTERS), PA_RUN_SETTLE_S="5")
    counter = None
    try:
        stack.wait_for("starting mosquitto", timeout_s=150)  # migrations and setup
        stack.wait_for("starting web", timeout_s=20)  # by then the broker has read its accounts
        counter = ReportCounter(int(stack.env["PA_MQTT_PORT"]),
                                (stack.instance / "broker" / "monitor.password").read_text().strip())
        assert counter.subscribed.wait(10)
        assert "starting simulator" not in stack.output, "the counter must hear every cluster's birth"
        stack.wait_for("gunicorn, 4 workers; reports stored by 2 ingest processes", timeout_s=60)
        stack.wait_for(f"{CLUSTERS}/{CLUSTERS} clusters online", timeout_s=60)

        app = create_app(reader_settings(tmp_path / "reader", database))
        token = (stack.instance / "bootstrap-token").read_text().strip()
        system = System(app, f"http://127.0.0.1:{stack.env['PA_HTTP_PORT']}", token)
        assert system.get("/api/v1/health")["ingest"] == "ok"
        start_at = datetime.now(UTC) + timedelta(seconds=8)
        run_id = system.schedule(upload(system, tone, "Báo động"), start_at, {"all": True}, priority="emergency",
                                 title="Cảnh báo xả lũ")
        judge(system, stack.instance / "sim-truth.jsonl", run_id, o_mon_cids())  # once by each; the report agrees
        with app.app_context():
            states = db.session.scalars(select(Delivery.state).where(Delivery.run_id == run_id)).all()
            db.session.remove()
        assert len(states) == CLUSTERS

        code, _ = stack.ctrl_c(timeout_s=40)
        assert code == 0, stack.output
    finally:
        if counter is not None:
            counter.close()
        stack.close()

    handled = {name: Counter({kind: int(n) for kind, n in (pair.split("=") for pair in counts.split())})
               for name, counts in HANDLED.findall(stack.output)}
    assert set(handled) == {"ingest.1", "ingest.2"}, stack.output
    stored = handled["ingest.1"] + handled["ingest.2"]
    assert stored == counter.counts, f"stored {dict(stored)} of the {dict(counter.counts)} the broker delivered"
    assert counter.counts[protocol.STATUS] >= 2 * CLUSTERS  # each birth, and each goodbye as the simulator stops
    assert counter.counts[protocol.EVENTS] >= 4 * CLUSTERS  # received, ready, playing, done
    log.warning("reports stored by each ingest process: %s; delivered to the counter: %s",
                {name: dict(kinds) for name, kinds in handled.items()}, dict(counter.counts))
    for name, kinds in handled.items():
        assert all(kinds[kind] for kind in REPORTS), f"{name} had no share of some kind: {dict(kinds)}"
