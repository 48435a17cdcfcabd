"""An emergency to the whole district is played by all 456 clusters, and the report agrees with them."""

import pytest

from firmware_sim import Fleet, load_csv, read_truth

pytestmark = pytest.mark.e2e


def test_an_emergency_to_all_is_played_by_456_clusters_and_the_report_matches_ground_truth(system, broker, tone,
                                                                                             tmp_path):
    truth_path = tmp_path / "truth.jsonl"
    with Fleet(load_csv(), broker.url, truth_path=truth_path, heartbeat_s=5,
               credentials=broker.passwords, keys_url=system.keys_url) as fleet:
        assert fleet.wait_connected(timeout=60) == 456
        system.wait_for(lambda: len(system.get("/api/v1/clusters?status=online")) == 456, 30, "456 clusters online")
        cluster = system.wait_for(lambda: (c := system.get("/api/v1/clusters/om-tho-001"))["heartbeat_at"] and c,
                                  15, "a heartbeat from om-tho-001")
        assert cluster["speakers_total"] == cluster["speakers"] and cluster["amp_ok"] is True

        with tone.open("rb") as audio_file:
            uploaded = system.post("/api/v1/audio", files={"file": ("tone.wav", audio_file)},
                                   data={"title": "Báo động"})
        assert uploaded.status_code == 201, uploaded.text
        created = system.post("/api/v1/broadcasts", json={
            "title": "Cảnh báo triều cường", "audio_id": uploaded.json()["id"], "priority": "emergency",
            "targets": {"all": True}, "start_at": "now"})
        assert created.status_code == 201, created.text

        runs = system.wait_for(lambda: system.get(f"/api/v1/runs?broadcast_id={created.json()['id']}"), 10, "the run")
        run_id = runs[0]["id"]
        report = system.wait_for(
            lambda: (r := system.get(f"/api/v1/runs/{run_id}"))["counts"].get("done") == 456 and r, 60, "456 done",
            show=lambda: (system.get(f"/api/v1/runs/{run_id}")["counts"], fleet.summary()))

    played = read_truth(truth_path, event="played", run_id=str(run_id))
    played_by = [record["cid"] for record in played]
    assert len(played_by) == len(set(played_by)) == 456, "every cluster played exactly once"
    reported_done = {c["id"] for c in report["clusters"] if c["state"] == "done"}
    assert reported_done == set(played_by)
