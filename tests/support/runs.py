"""What the end-to-end fault tests do through the API and how they judge a run against the clusters' truth."""

from datetime import datetime
from pathlib import Path

import pa_protocol as protocol
from firmware_sim import read_truth
from firmware_sim.report import compare
from tests.support.system import System


def upload(system: System, clip: Path, title: str = "Thông báo") -> int:
    """Upload a clip through the API; return its id."""
    with clip.open("rb") as audio_file:
        uploaded = system.post("/api/v1/audio", files={"file": (clip.name, audio_file)}, data={"title": title})
    assert uploaded.status_code == 201, uploaded.text
    return uploaded.json()["id"]


def broadcast_to(system: System, cids: list[str], title: str, start_at: datetime, **programme) -> int:
    """Schedule a normal broadcast of `programme` (audio_id=…, or items=[…] and the rest) to the clusters; return
    its run's id."""
    created = system.post("/api/v1/broadcasts", json={
        "title": title, "priority": "normal", "targets": {"clusters": cids},
        "start_at": protocol.format_time(start_at), **programme})
    assert created.status_code == 201, created.text
    return system.get(f"/api/v1/runs?broadcast_id={created.json()['id']}")[0]["id"]


def report(system: System, run_id: int) -> dict:
    return system.get(f"/api/v1/runs/{run_id}")


def played(truth_path: Path, run_id: int) -> list[str]:
    """The clusters that played the run, one entry each time one did."""
    return [r["cid"] for r in read_truth(truth_path, event="played", run_id=str(run_id))]


def judge(system: System, truth_path: Path, run_id: int, cids: list[str]) -> None:
    """The run closed, each of the clusters played it exactly once, and its report agrees with the truth."""
    system.wait_for(lambda: report(system, run_id)["state"] == "finished", 90, f"run {run_id} to close",
                    show=lambda: report(system, run_id)["counts"])
    assert sorted(played(truth_path, run_id)) == sorted(cids), f"run {run_id} was not played once by each cluster"
    truth = read_truth(truth_path, run_id=str(run_id))
    comparison = system.wait_for(lambda: (c := compare(report(system, run_id), truth)).ok and c, 15,
                                 f"run {run_id}'s report to agree with the truth",
                                 show=lambda: compare(report(system, run_id), truth).summary())
    assert comparison.clusters == len(cids)
    assert report(system, run_id)["counts"] == {"done": len(cids)}
