"""A programme sent "now" on a busy server plays everywhere, and starts when the answer says, never in the past."""

import multiprocessing
from datetime import UTC, datetime

import pytest

from firmware_sim import Fleet, load_csv, read_truth
from pa_protocol import parse_time

pytestmark = pytest.mark.e2e
BUSY_PROCESSES = 4  # with the test's own threads, a load average of about 6 on the 2 cores


def _spin(stop) -> None:
    while not stop.is_set():
        sum(range(10_000))


@pytest.fixture
def busy_machine():
    """Keep every core busy with other processes, as on a server doing other work."""
    stop = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True) for _ in range(BUSY_PROCESSES)]
    for spinner in spinners:
        spinner.start()
    yield
    stop.set()
    for spinner in spinners:
        spinner.join(5)


@pytest.mark.parametrize("priority", ["normal", "emergency"])
def test_a_district_programme_with_chime_and_repeats_sent_now_plays_on_all_456_while_the_cpus_are_busy(
        system, broker, tone, tmp_path, busy_machine, priority):
    truth_path = tmp_path / "truth.jsonl"
    with Fleet(load_csv(), broker.url, truth_path=truth_path, heartbeat_s=5,
               credentials=broker.passwords, keys_url=system.keys_url) as fleet:
        assert fleet.wait_connected(timeout=90) == 456
        with tone.open("rb") as audio_file:
            uploaded = system.post("/api/v1/audio", files={"file": ("tone.wav", audio_file)}, data={"title": "Bão"})
        assert uploaded.status_code == 201, uploaded.text
        created = system.post("/api/v1/broadcasts", json={
            "title": "Khẩn: bão số 15", "items": [uploaded.json()["id"]], "chime": True, "repeat": 3,
            "priority": priority, "targets": {"all": True}, "start_at": "now"})
        answered_at = datetime.now(UTC)
        assert created.status_code == 201, created.text
        start_at = parse_time(created.json()["start_at"])
        assert start_at > answered_at, f"answered a start {start_at} already past at {answered_at}"
        assert created.json()["next_runs"] == [created.json()["start_at"]]

        run_id = system.get(f"/api/v1/runs?broadcast_id={created.json()['id']}")[0]["id"]
        report = system.wait_for(
            lambda: (r := system.get(f"/api/v1/runs/{run_id}"))["counts"].get("done") == 456 and r, 90, "456 done",
            show=lambda: (system.get(f"/api/v1/runs/{run_id}")["counts"], fleet.summary()))

    played = read_truth(truth_path, event="played", run_id=str(run_id))
    assert len({record["cid"] for record in played}) == len(played) == 456
    assert {c["id"] for c in report["clusters"] if c["state"] == "done"} == {r["cid"] for r in played}
