"""A rogue MQTT client floods every topic the controller subscribes to with over 10,000 hostile reports.

It logs in with a test account that may publish anywhere (`broker.tester()`, read-write on `#`): what a compromised
broker, or the simulator's wide account, could do. A cluster's own account reaches only its three topics (the ACL,
tests/security/test_broker_attacks.py), so this is the wider attack. Afterwards the controller is alive and still
works (a real broadcast plays and is reported), the clusters' status rows, runs, deliveries and remote commands are
as they were, and every one of the payloads is counted, by reason, where the technician sees it (`GET /api/v1/refusals`,
each cluster's refusals) and in the worker's log.
"""

import logging
import re
import subprocess
import time
from collections import Counter

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select

from firmware_sim import Fleet, load_csv, read_truth
from pa_controller.extensions import db
from pa_controller.models import ClusterState, Delivery, FleetCommand, Run
from tests.support.broker import connect_raw
from tests.support.rogue import hostile_reports

pytestmark = pytest.mark.e2e

LIVE = ["om-tho-001", "om-tho-002", "om-tho-003"]  # simulated, online
QUIET = "om-tho-004"  # in the registry, never heard from: its row must not move at all
STRANGER = "om-zzz-999"  # not in the registry
ROUNDS = 33  # 312 reports a round
CHUNK = 600
# What each heartbeat of a live cluster changes anyway; every other column of its row must stay.
MOVING = {"last_seen", "heartbeat_at", "seq", "uptime_s", "rssi_dbm", "temp_c"}
REFUSED_LINE = re.compile(r"refused (\d+) report\(s\)")


@pytest.fixture
def system_settings() -> dict:
    return {"now_lead_s": 2.0, "run_settle_s": 5.0, "heartbeat_s": 2.0}


def rows(model, skip=lambda row: ()) -> list[dict]:
    """Every row of a table, in the order of its primary key, less the columns `skip(row)` names."""
    query = select(model).order_by(*model.__table__.primary_key.columns)
    return [{column.key: getattr(row, column.key) for column in model.__table__.columns
             if column.key not in skip(row)} for row in db.session.scalars(query)]


def snapshot(app) -> dict:
    """The clusters' status rows, runs, deliveries and remote commands, as the database holds them."""
    with app.app_context():
        state = {
            "clusters": rows(ClusterState, lambda row: MOVING if row.cluster_id in LIVE else ()),
            "runs": rows(Run), "deliveries": rows(Delivery), "commands": rows(FleetCommand),
        }
        db.session.remove()
    return state


def rogue_client(url: str) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="rogue", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(CHUNK)
    client.max_queued_messages_set(0)
    connect_raw(client, url)
    client.loop_start()
    return client


def test_ten_thousand_hostile_reports_are_each_refused_counted_and_logged_and_change_nothing(
        system, broker, tmp_path, caplog, record_property):
    caplog.set_level(logging.WARNING, logger="pa_controller.services.refusals")
    tone = tmp_path / "tone.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=660:duration=1", str(tone)],
                   check=True)
    truth_path = tmp_path / "truth.jsonl"
    specs = [spec for spec in load_csv() if spec.cid in LIVE]
    with Fleet(specs, broker.url, truth_path=truth_path, heartbeat_s=1.0, credentials=broker.passwords,
               keys_url=system.keys_url) as fleet:
        assert fleet.wait_connected(timeout=30) == len(LIVE)
        for cid in LIVE:
            system.wait_for(lambda cid=cid: system.get(f"/api/v1/clusters/{cid}")["heartbeat_at"], 20,
                            f"a heartbeat from {cid}")
        # A command the controller really sent each live cluster, for forged answers about it on other topics.
        sent = system.post("/api/v1/commands", json={"clusters": LIVE, "type": "set_volume", "volume": 55})
        assert sent.status_code == 202, sent.text
        commands = {c["cluster"]: c["cmd_id"] for c in sent.json()}
        for command in sent.json():
            system.wait_for(lambda c=command: system.get(f"/api/v1/commands/{c['id']}")["state"] == "done", 20,
                            f"{command['cluster']} to set its volume")
        system.wait_for(lambda: all(system.get(f"/api/v1/clusters/{cid}")["volume"] == 55 for cid in LIVE), 10,
                        "the heartbeats to carry the new volume")
        before = snapshot(system.app)
        assert system.get("/api/v1/refusals")["refused_reports"] == 0

        reports = list(hostile_reports(LIVE, QUIET, STRANGER, commands, rounds=ROUNDS))
        assert len(reports) >= 10_000
        rogue = rogue_client(broker.tester())
        started = time.monotonic()
        try:
            for first in range(0, len(reports), CHUNK):
                chunk = reports[first:first + CHUNK]
                infos = [rogue.publish(topic, raw, qos=1) for topic, raw, _ in chunk]
                for info in infos:
                    info.wait_for_publish(30)
                assert all(info.is_published() for info in infos), "the broker took every one (PUBACK)"
                # Wait for the controller to count them: paced so none is lost to a queue, none is waited for long.
                counted = first + len(chunk)
                system.wait_for(lambda n=counted: system.get("/api/v1/refusals")["refused_reports"] >= n, 60,
                                f"{counted} refusals counted", show=lambda: system.get("/api/v1/refusals"))
        finally:
            rogue.disconnect()
            rogue.loop_stop()
        flood_s = time.monotonic() - started

        health = system.get("/api/v1/health")
        assert (health["mqtt"], health["scheduler"], health["db"]) == ("ok", "ok", "ok"), health
        expected = Counter(reason for _, _, reason in reports)
        counts = system.get("/api/v1/refusals")
        assert counts["refused_reports"] == len(reports), "every payload sent is counted, none twice"
        assert {(kind, reason): n for kind, reasons in counts["refused"].items()
                for reason, n in reasons.items()} == dict(expected)
        for cid in [*LIVE, QUIET]:
            mine = Counter(reason for topic, _, reason in reports if topic.split("/")[3] == cid)
            seen = system.get(f"/api/v1/clusters/{cid}")["refusals"]
            assert {(kind, reason): n for kind, reasons in seen.items() for reason, n in reasons.items()} == dict(
                mine), f"{cid}'s own count on its page"
        logged = sum(int(found.group(1)) for record in caplog.records
                     if (found := REFUSED_LINE.search(record.getMessage())))
        assert logged == len(reports), "the worker's log accounts for every refusal"
        assert snapshot(system.app) == before, "no status row, run, delivery or remote command moved"

        # Still working: a real broadcast to the live clusters plays and is reported.
        with tone.open("rb") as audio_file:
            uploaded = system.post("/api/v1/audio", files={"file": ("tone.wav", audio_file)},
                                   data={"title": "Sau cuộc tấn công"})
        assert uploaded.status_code == 201, uploaded.text
        created = system.post("/api/v1/broadcasts", json={
            "title": "Thông báo sau cuộc tấn công", "audio_id": uploaded.json()["id"], "priority": "normal",
            "targets": {"clusters": LIVE}, "start_at": "now"})
        assert created.status_code == 201, created.text
        [run] = system.wait_for(lambda: system.get(f"/api/v1/runs?broadcast_id={created.json()['id']}"), 10, "run")
        report = system.wait_for(
            lambda: (r := system.get(f"/api/v1/runs/{run['id']}"))["counts"].get("done") == len(LIVE) and r, 40,
            "every live cluster done", show=lambda: system.get(f"/api/v1/runs/{run['id']}")["counts"])
    played = [record["cid"] for record in read_truth(truth_path, event="played", run_id=str(run["id"]))]
    assert sorted(played) == LIVE, "each live cluster played it exactly once"
    assert {c["id"] for c in report["clusters"] if c["state"] == "done"} == set(LIVE)
    record_property("payloads", len(reports))  # figures for docs/reliability.md: --junitxml keeps them
    record_property("flood_s", round(flood_s, 1))
    record_property("counted", {f"{kind} {reason}": n for (kind, reason), n in sorted(expected.items())})
