"""Builders for test data: make_x(**overrides)."""

import hashlib
import json
import uuid
from datetime import timedelta

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import Audio, Broadcast, BroadcastWard, Cluster, Delivery, Run
from pa_protocol import RunState


def make_audio(**overrides) -> Audio:
    """A library clip row (no file behind it)."""
    values = {"sha256": hashlib.sha256(b"clip").hexdigest(), "title": "Thông báo tiêm chủng", "original_name": "a.wav",
              "bytes": 12000, "duration_ms": 1500, "loudness_lufs": -16.0, "created_at": clock.now()}
    clip = Audio(**{**values, **overrides})
    db.session.add(clip)
    db.session.commit()
    return clip


def broadcast_request(clip_id: int, **overrides) -> dict:
    start = clock.now() + timedelta(hours=1)
    return {"title": "Thông báo lịch cắt điện", "audio_id": clip_id, "priority": "normal",
            "targets": {"wards": ["thoi-hoa"]}, "start_at": protocol.format_time(start), **overrides}


def event(cid: str, cmd_id: str, state: str, run_id: str | None = None, **detail) -> bytes:
    payload = {"v": 1, "cid": cid, "cmd_id": cmd_id, "run_id": run_id, "state": state,
               "at": protocol.format_time(clock.now())}
    if detail:
        payload["detail"] = detail
    return json.dumps(payload).encode()


def make_user(username: str, role, wards: tuple[str, ...] = ()):
    """A user of `role` with `wards`, whose password is conftest.PASSWORD."""
    from pa_controller.services import people
    from tests.conftest import PASSWORD

    return people.create_user(username, PASSWORD, role, wards=list(wards))


def bearer(user, *scopes: str, days: int | None = None) -> dict:
    """Headers with a new token of the user's (with `scopes`, by default all their role can use)."""
    from pa_controller.services import tokens

    return {"Authorization": f"Bearer {tokens.issue(user, 'test', scopes, days)[1]}"}


def make_run(start_at, outcomes: dict, *, duration_ms: int = 60_000, broadcast=None):
    """A dispatched run at `start_at` whose clusters ended as `outcomes` says ({cluster id: state, or (state,
    detail)}), of a new broadcast of `duration_ms` unless one is given."""
    clusters = {c.id: c for c in db.session.query(Cluster).filter(Cluster.id.in_(outcomes))}
    if broadcast is None:
        broadcast = Broadcast(title="Bản tin thử", duration_ms=duration_ms, priority=protocol.Priority.NORMAL,
                              targets={"clusters": sorted(outcomes)}, start_at=start_at, created_at=start_at,
                              wards=[BroadcastWard(ward_id=w) for w in sorted({c.ward_id for c in clusters.values()})])
        db.session.add(broadcast)
    run = Run(broadcast=broadcast, start_at=start_at, dispatch_at=start_at - timedelta(seconds=5),
              closes_at=start_at + timedelta(minutes=10), state=RunState.DISPATCHED, dispatched_at=start_at)
    db.session.add(run)
    for cluster_id, outcome in outcomes.items():
        state, detail = outcome if isinstance(outcome, tuple) else (outcome, None)
        db.session.add(Delivery(run=run, cluster_id=cluster_id, cmd_id=str(uuid.uuid4()), state=state, detail=detail,
                                at=start_at))
    db.session.commit()
    return run


def make_broadcast(start_at, wards: tuple[str, ...] = ("thoi-hoa",), runs=(), **overrides):
    """A stored broadcast reaching `wards` (no clip behind it), with runs given as (start, RunState) pairs."""
    from pa_controller.models import Broadcast, BroadcastWard, Run
    from pa_protocol import Priority

    values = {"title": "Thông báo lịch cắt điện", "duration_ms": 90_000, "priority": Priority.NORMAL,
              "targets": {"wards": list(wards)}, "start_at": start_at, "created_at": clock.now()}
    broadcast = Broadcast(**{**values, **overrides}, wards=[BroadcastWard(ward_id=w) for w in wards])
    broadcast.runs = [Run(start_at=start, dispatch_at=start, closes_at=start + timedelta(minutes=5), state=state)
                      for start, state in runs]
    if runs:  # as the planner leaves it: every occurrence before planned_until has its run
        broadcast.planned_until = max(start for start, _state in runs) + timedelta(seconds=1)
    db.session.add(broadcast)
    db.session.commit()
    return broadcast
