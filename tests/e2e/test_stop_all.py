"""Stop-all silences a district that is playing, and every cluster's ground truth says it stopped."""

import subprocess

import pytest

from firmware_sim import Fleet, load_csv, read_truth

pytestmark = pytest.mark.e2e


def test_stop_all_silences_every_playing_cluster(system, broker, tmp_path):
    long_clip = tmp_path / "long.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=30", str(long_clip)],
                   check=True, timeout=60)
    truth_path = tmp_path / "truth.jsonl"
    with Fleet(load_csv(), broker.url, truth_path=truth_path, heartbeat_s=5,
               credentials=broker.passwords, keys_url=system.keys_url) as fleet:
        assert fleet.wait_connected(timeout=60) == 456
        with long_clip.open("rb") as audio_file:
            clip = system.post("/api/v1/audio", files={"file": ("long.wav", audio_file)}, data={"title": "Dài"}).json()
        created = system.post("/api/v1/broadcasts", json={
            "title": "Bản tin dài", "audio_id": clip["id"], "priority": "emergency", "targets": {"all": True},
            "start_at": "now"}).json()
        runs = system.wait_for(lambda: system.get(f"/api/v1/runs?broadcast_id={created['id']}"), 10, "the run")
        run_id = runs[0]["id"]

        def counts():
            return system.get(f"/api/v1/runs/{run_id}")["counts"]

        system.wait_for(lambda: counts().get("playing") == 456, 30, "456 playing", show=counts)
        stopped = system.post("/api/v1/stop-all", json={"reason": "Phát nhầm"})
        assert stopped.status_code == 202, stopped.text
        system.wait_for(lambda: counts().get("cancelled") == 456, 15, "456 cancelled", show=counts)

    silenced = {r["cid"] for r in read_truth(truth_path, event="cancelled", run_id=str(run_id))}
    assert len(silenced) == 456
    assert not read_truth(truth_path, event="played", run_id=str(run_id)), "no cluster played the clip to its end"
