"""The worker killed while its inbox holds reports it has not written: after a restart, no event is lost.

The controller's MQTT session is persistent (clean_start false, a 7-day session expiry) and every event is QoS 1,
so the broker keeps each event until the worker acknowledges it; the worker acknowledges one only once it is in
the database. 456 clusters play one clip at the same moment, so their `playing` and then `done` events come as one
burst; the scheduler process is SIGKILLed while the `done` burst is on its way. The broker, logging every packet,
says which events it had delivered to the worker by then, and the database, read at once, which of them were
stored: some were delivered and not stored (the window was real). After the restart the run report equals the
clusters' ground truth.
"""

import logging
import os
import re
import signal
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from firmware_sim import Fleet, load_csv, read_truth
from firmware_sim.report import compare
from pa_controller.extensions import db
from pa_controller.models import Delivery
from pa_controller.settings import CONTROLLER_ACCOUNT
from pa_protocol import DeliveryState
from tests.support.broker import running_broker
from tests.support.runs import upload
from tests.support.tap import Tap

log = logging.getLogger(__name__)

CLUSTERS = 456
START_IN_S = 12  # every cluster has fetched the clip by then: they all start, and end, together
KILL_AFTER_DONE = 120  # `done` events the tap sees before the worker is killed: the burst is under way
# What a delivery's state says of the events applied to it (a cluster's events of a clean play, in order).
STAGE = {DeliveryState.PENDING: 0, DeliveryState.RECEIVED: 1, DeliveryState.READY: 2, DeliveryState.PLAYING: 3,
         DeliveryState.DONE: 4}
SENT_TO_CONTROLLER = re.compile(
    rf"Sending PUBLISH to {re.escape(CONTROLLER_ACCOUNT)} \(d(?P<dup>[01]), q1, r0, m\d+, "
    r"'[^']*/clusters/(?P<cid>[^/']+)/events'")


@pytest.fixture
def broker(tmp_path):
    """The private broker, logging every packet it sends: the witness of what reached the worker."""
    with running_broker(tmp_path / "broker", packet_log=True) as running:
        yield running


def events_sent_to_controller(lines: list[str], *, dup: bool) -> dict[str, int]:
    """Count, per cluster, the events the broker sent the controller (first copies, or re-sent copies)."""
    counts: dict[str, int] = defaultdict(int)
    for line in lines:
        if (match := SENT_TO_CONTROLLER.search(line)) and match["dup"] == ("1" if dup else "0"):
            counts[match["cid"]] += 1
    return counts


def stored_states(system, run_id: int) -> dict[str, DeliveryState]:
    with system.app.app_context():
        rows = db.session.execute(select(Delivery.cluster_id, Delivery.state).where(Delivery.run_id == run_id))
        states = dict(rows.all())
        db.session.remove()
    return states


def test_a_worker_killed_with_reports_unwritten_loses_no_event_and_reports_the_truth(
        controller, scheduler, broker, tone, tmp_path):
    truth_path = tmp_path / "truth.jsonl"
    with Tap(broker.tester()) as tap, Fleet(load_csv(), broker.url, truth_path=truth_path, heartbeat_s=5,
                                            credentials=broker.passwords, keys_url=controller.keys_url) as fleet:
        scheduler.start()
        assert fleet.wait_connected(timeout=60) == CLUSTERS
        killed, done = [], []

        def kill_in_the_burst(event: dict) -> None:  # on the tap's network thread: SIGKILL at once
            done.extend([event["cid"]] if event["state"] == "done" else [])
            if not killed and len(done) >= KILL_AFTER_DONE:
                os.kill(scheduler.pid, signal.SIGKILL)
                killed.append(len(done))

        tap.on_event = kill_in_the_burst
        run_id = controller.schedule(upload(controller, tone), datetime.now(UTC) + timedelta(seconds=START_IN_S),
                                     {"all": True}, title="Thông báo tiêm chủng")
        controller.wait_for(lambda: killed, START_IN_S + 30, f"{KILL_AFTER_DONE} `done` events",
                            show=fleet.summary)
        stored = stored_states(controller, run_id)  # the worker is dead: nothing more reaches the database
        scheduler.process.wait(10)
        assert scheduler.process.returncode == -signal.SIGKILL
        tap.on_event = None
        tap.wait_quiet(quiet_s=1.0, timeout_s=15)

        # The k-th event the broker sent the worker about a cluster is the k-th the tap saw from that cluster.
        before_restart = broker.packets()
        sent = events_sent_to_controller(before_restart, dup=False)
        heard = defaultdict(list)
        for event in tap.events:
            heard[event["cid"]].append(DeliveryState(event["state"]))
        delivered = {cid: heard[cid][n - 1] for cid, n in sent.items()}
        unstored = {cid: state for cid, state in delivered.items() if STAGE[state] > STAGE[stored[cid]]}
        log.warning("killed after %d `done` events: %d events sent to the worker, %d clusters' latest not stored",
                    killed[0], sum(sent.values()), len(unstored))
        assert unstored, "the kill did not land while the worker held events it had not stored"

        scheduler.start()
        report = controller.wait_for(
            lambda: (r := controller.get(f"/api/v1/runs/{run_id}"))["counts"].get("done") == CLUSTERS and r, 60,
            f"{CLUSTERS} done", show=lambda: (controller.get(f"/api/v1/runs/{run_id}")["counts"], fleet.summary()))
        resent = events_sent_to_controller(broker.packets()[len(before_restart):], dup=True)

    truth = read_truth(truth_path)
    comparison = compare(report, truth)
    assert comparison.ok, "\n".join(d.line() for d in comparison.disagreements)
    assert comparison.played == CLUSTERS
    played_by = [r["cid"] for r in truth if r["event"] == "played" and r["run_id"] == str(run_id)]
    assert sorted(played_by) == sorted(set(played_by)) and len(played_by) == CLUSTERS
    # What the dead worker had been sent and not stored, the broker sent again: it had never been acknowledged.
    assert set(unstored) <= set(resent), sorted(set(unstored) - set(resent))
