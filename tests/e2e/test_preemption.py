"""Preemption for real: a higher priority cuts in on the clusters, and the report says so like the truth log."""

import subprocess
from datetime import timedelta

import pytest

import pa_protocol as protocol
from firmware_sim import Fleet, load_csv, read_truth
from pa_controller import clock

pytestmark = pytest.mark.e2e
CLUSTERS = ["om-tlg-001", "om-tlg-002", "om-tlg-003"]


def upload(system, tmp_path, seconds: float, title: str) -> int:
    path = tmp_path / f"{title}.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    str(path)], check=True)
    with path.open("rb") as handle:
        answer = system.post("/api/v1/audio", files={"file": (path.name, handle)}, data={"title": title})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def schedule(system, in_s: float, **fields) -> int:
    start = protocol.format_time(clock.now() + timedelta(seconds=in_s))
    answer = system.post("/api/v1/broadcasts", json={"targets": {"clusters": CLUSTERS}, "start_at": start,
                                                     **fields})
    assert answer.status_code == 201, answer.text
    runs = system.wait_for(lambda: system.get(f"/api/v1/runs?broadcast_id={answer.json()['id']}"), 10, "its run")
    return runs[0]["id"]


def final_counts(system, run_id: int, expected: dict, timeout_s: float = 40) -> dict:
    return system.wait_for(lambda: (r := system.get(f"/api/v1/runs/{run_id}"))["counts"] == expected and r,
                           timeout_s, f"run {run_id} to end as {expected}",
                           show=lambda: system.get(f"/api/v1/runs/{run_id}")["counts"])


def test_priority_preempts_normal_and_emergency_preempts_a_relay(system, broker, tmp_path):
    truth = tmp_path / "truth.jsonl"
    specs = [spec for spec in load_csv() if spec.cid in CLUSTERS]
    long_clip, short_clip = upload(system, tmp_path, 5, "dai"), upload(system, tmp_path, 1.5, "ngan")
    with Fleet(specs, broker.url, truth_path=truth, heartbeat_s=5,
               credentials=broker.passwords, keys_url=system.keys_url) as fleet:
        assert fleet.wait_connected(timeout=30) == 3
        # Each start counts from its own scheduling (about 0.5 s apart): the 5 s normal clip plays from 3 s,
        # the priority one cuts in at about 5.5 s and ends, the relay (after the normal clip's slot: same
        # priority) starts at about 10 s and the emergency cuts into it at about 12.5 s.
        normal = schedule(system, 3, title="Thông báo thường", audio_id=long_clip)
        urgent = schedule(system, 5, title="Thông báo ưu tiên", audio_id=short_clip, priority="priority")
        relay = schedule(system, 9, title="Tiếp sóng", kind="relay", stream_url="http://radio.example/live",
                         duration_s=60)
        alarm = schedule(system, 11, title="Báo động", audio_id=short_clip, priority="emergency")

        final_counts(system, normal, {"preempted": 3})
        final_counts(system, urgent, {"done": 3})
        final_counts(system, alarm, {"done": 3})
        final_counts(system, relay, {"preempted": 3})

    for run_id, event in ((normal, "preempted"), (urgent, "played"), (relay, "preempted"), (alarm, "played")):
        records = read_truth(truth, event=event, run_id=str(run_id))
        assert sorted(r["cid"] for r in records) == CLUSTERS, (run_id, event)
    assert not read_truth(truth, event="played", run_id=str(normal)), "a preempted clip never reports played"
