"""Questions put to the simulator's truth log (firmware_sim/truth.py) that more than one fault test asks."""

from datetime import datetime

import pa_protocol as protocol
from pa_controller.extensions import db
from pa_controller.models import Run


def plays(truth: list[dict], run_id: int) -> list[str]:
    """Return the clusters that played a run to the end, once per play."""
    return [r["cid"] for r in truth if r["event"] == "played" and r["run_id"] == str(run_id)]


def stale_plays(truth: list[dict], expiries: dict[int, datetime]) -> list[dict]:
    """Return the sounds (true time) that started at or after their run's expiry: a command out of date played."""
    sounds = ("played", "preempted", "cancelled", "interrupted")
    return [r for r in truth if r["event"] in sounds and r.get("run_id") and int(r["run_id"]) in expiries
            and protocol.parse_time(r["started_at"]) >= expiries[int(r["run_id"])]]


def run_expiries(app, run_ids) -> dict[int, datetime]:
    """Return when each run's commands expire (its window closes), from the controller's database."""
    with app.app_context():
        expiries = {run.id: run.closes_at for run in db.session.query(Run).filter(Run.id.in_(list(run_ids)))}
        db.session.remove()
    return expiries
