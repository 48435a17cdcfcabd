"""A district in use: the Ô Môn fleet and something in every table, made the way the controller makes it."""

import json
from dataclasses import dataclass
from datetime import timedelta
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import select

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import Delivery, Run, ServiceBeat
from pa_controller.services import (
    alerts,
    broker_access,
    command_keys,
    dispatch,
    fleet,
    fleet_watch,
    groups,
    guardrails,
    ingest,
    logins,
    people,
    remote,
    silence,
    tokens,
)
from pa_controller.services.logins import LoginRefused
from pa_controller.settings import of as settings_of
from pa_protocol import CommandType, RunState
from tests.conftest import FLEET_CSV, PASSWORD
from tests.factories import bearer, event, make_user
from tests.support.settings import use_settings
from tests.web.test_audio_api import make_tone

MARKET = ["om-tho-001", "om-tho-002", "om-tho-003"]  # the clusters of the Thới Hòa market group


@dataclass(frozen=True)
class District:
    """What a test needs to go on using the district: API tokens of its administrator and of an officer of Thới
    Hòa, and a clip of the officer's."""

    admin_auth: dict
    officer_auth: dict
    clip_id: int


def fill(app, scratch: Path) -> District:
    """Fill a migrated database with the Ô Môn fleet, people of every role, and every kind of thing they make."""
    client = app.test_client()
    fleet.import_csv(FLEET_CSV.read_text(encoding="utf-8"))
    admin_auth, officer_auth, approver_auth = _people()
    _keys_and_credentials(app)
    market = groups.create_group(people.named_user("admin"), {"name": "Chợ Thới Hòa", "ward": "thoi-hoa",
                                                                "clusters": MARKET})
    tone, spoken = _library(client, officer_auth, admin_auth, scratch)
    _broadcasts(client, admin_auth, officer_auth, approver_auth, tone, spoken, market.id)
    _fleet_health(app)
    return District(admin_auth, officer_auth, tone["id"])


def _people() -> tuple[dict, dict, dict]:
    """Users of every role, an officer of two wards, tokens in force and revoked, sessions and a failed login."""
    admin = people.create_user("admin", PASSWORD, Role.ADMIN)
    make_user("kythuat", Role.TECHNICIAN)
    officer = make_user("canbo-thoi-hoa", Role.OFFICER, ("thoi-hoa",))
    make_user("canbo-hai-phuong", Role.OFFICER, ("thoi-an", "thoi-long"))
    approver = make_user("duyet-thoi-hoa", Role.APPROVER, ("thoi-hoa",))
    make_user("xem-quan", Role.VIEWER)
    people.set_emergencies(officer, True)
    revoked, _ = tokens.issue(officer, "old script", None, 30)
    tokens.revoke(revoked)
    logins.sign_in("admin", PASSWORD, "10.0.0.9", "Firefox")
    with pytest.raises(LoginRefused):
        logins.sign_in("canbo-thoi-hoa", "wrong password", "10.0.0.66", "curl")
    return bearer(admin), bearer(officer), bearer(approver)


def _keys_and_credentials(app) -> None:
    """A command key retired in favour of the current one; broker passwords of three clusters."""
    files = command_keys.KeyFiles(settings_of(app).key_dir)
    command_keys.init(files)
    command_keys.rotate(files)
    command_keys.activate(files)
    broker_access.issue(MARKET)


def _library(client, officer_auth: dict, admin_auth: dict, scratch: Path) -> tuple[dict, dict]:
    """An officer's upload (a real file through ffmpeg) and a clip read aloud from text."""
    tone = make_tone(scratch / "tone.wav", 1.0).read_bytes()
    uploaded = client.post("/api/v1/audio", headers=officer_auth, content_type="multipart/form-data",
                           data={"file": (BytesIO(tone), "tone.wav"), "title": "Chuông báo"})
    assert uploaded.status_code == 201, uploaded.get_json()
    spoken = client.post("/api/v1/audio/speech", headers=admin_auth,
                         json={"text": "Lúc 17h30, UBND phường Thới Hòa họp dân.", "title": "Họp dân"})
    assert spoken.status_code == 201, spoken.get_json()
    return uploaded.get_json(), spoken.get_json()


def _post(client, auth: dict, body: dict) -> dict:
    answer = client.post("/api/v1/broadcasts", headers=auth, json={"priority": "normal", **body})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def _at(hours: int) -> str:
    return protocol.format_time(clock.now() + timedelta(hours=hours))


def _broadcasts(client, admin_auth, officer_auth, approver_auth, tone: dict, spoken: dict, market: int) -> None:
    """A one-off to a group, a daily one at two times of day, a composed programme, a relay (no clip), officers'
    broadcasts approved, sent back and waiting, and runs finished, dispatched, cancelled and missed."""
    _post(client, admin_auth, {"title": "Họp chợ", "audio_id": tone["id"], "start_at": _at(2),
                               "targets": {"groups": [market], "clusters": ["om-tho-009"]}})
    _post(client, admin_auth, {"title": "Tiêm chủng", "items": [tone["id"], spoken["id"]], "gap_s": 1, "chime": True,
                               "start_at": _at(3), "targets": {"wards": ["truong-lac"]}})
    _post(client, admin_auth, {"title": "Tiếp sóng Đài Cần Thơ", "kind": "relay", "duration_s": 1800,
                               "stream_url": "https://radio.example/cantho.mp3", "start_at": "now",
                               "targets": {"wards": ["long-hung"]}})
    _approvals(client, officer_auth, approver_auth, tone)
    played = _post(client, admin_auth, {"title": "Thông báo mất điện", "audio_id": tone["id"], "start_at": "now",
                                        "targets": {"clusters": MARKET}})
    _play(played["id"], {"om-tho-001": "done", "om-tho-002": "done", "om-tho-003": "failed"})
    running = _post(client, admin_auth, {"title": "Khẩn: nước lên", "audio_id": spoken["id"], "start_at": "now",
                                         "priority": "emergency", "targets": {"clusters": ["om-pth-001"]}})
    _play(running["id"], {"om-pth-001": "playing"})
    later = _post(client, admin_auth, {"title": "Đổi lịch", "audio_id": tone["id"], "start_at": _at(5),
                                       "targets": {"wards": ["phuoc-thoi"]}})
    cancelled = client.delete(f"/api/v1/runs/{_runs(later['id'])[0].id}", headers=admin_auth)
    assert cancelled.status_code == 200, cancelled.get_json()
    _missed(client, admin_auth, tone)
    _post(client, admin_auth, {"title": "Bản tin sáng chiều", "audio_id": spoken["id"], "start_at": _at(30),
                               "until": _at(80), "rrule": "FREQ=DAILY", "times": ["05:30", "17:00"],
                               "targets": {"wards": ["thoi-an"]}})
    assert set(db.session.scalars(select(Run.state))) == set(RunState), "a run in every state"


def _approvals(client, officer_auth: dict, approver_auth: dict, tone: dict) -> None:
    """One of the officer's broadcasts approved, one sent back with a comment, one waiting."""
    for hours, decision in ((6, "approve"), (7, "return"), (8, None)):
        made = _post(client, officer_auth, {"title": f"Lịch họp tổ {hours}", "audio_id": tone["id"],
                                            "start_at": _at(hours), "targets": {"wards": ["thoi-hoa"]}})
        assert made["approval"]["state"] == "submitted", made
        if decision:
            answer = client.post(f"/api/v1/broadcasts/{made['id']}/{decision}", headers=approver_auth,
                                 json={"comment": "Ghi rõ địa điểm."} if decision == "return" else None)
            assert answer.status_code == 200, answer.get_json()


def _runs(broadcast_id: int) -> list[Run]:
    db.session.expire_all()
    return list(db.session.query(Run).filter_by(broadcast_id=broadcast_id).order_by(Run.start_at))


def _play(broadcast_id: int, outcomes: dict[str, str]) -> None:
    """Report each cluster's event for the broadcast's dispatched run, as the inbox would; close what is over."""
    [run] = _runs(broadcast_id)
    assert run.state is RunState.DISPATCHED, run.state
    deliveries = db.session.query(Delivery).filter_by(run_id=run.id)
    reports = [(d.cluster_id, json.loads(event(d.cluster_id, d.cmd_id, outcomes[d.cluster_id], str(run.id))))
               for d in deliveries]
    ingest.apply_events(reports, clock.now())
    db.session.commit()
    dispatch.close_runs()


def _missed(client, admin_auth: dict, tone: dict) -> None:
    """A run the controller could not dispatch in time: it was down over its start."""
    made = _post(client, admin_auth, {"title": "Lỡ giờ", "audio_id": tone["id"], "start_at": _at(9),
                                      "targets": {"wards": ["chau-van-liem"]}})
    [run] = _runs(made["id"])
    run.start_at = run.dispatch_at = clock.now() - timedelta(minutes=10)
    run.closes_at = run.start_at + timedelta(minutes=5)
    db.session.commit()
    dispatch.dispatch_run(run.id)
    assert _runs(made["id"])[0].state is RunState.MISSED


def _fleet_health(app) -> None:
    """Statuses and heartbeats, a cluster gone offline (its outage and incident), a report about a command never
    sent (a refusal counted), a maintenance window, a remote command, a stop order, ward rules, the worker's beat."""
    now = clock.now()
    use_settings(app, incident_hold_s=0)
    technician, admin = people.named_user("kythuat"), people.named_user("admin")
    for n, cid in enumerate(("om-tlg-001", "om-tlg-002"), start=1):
        at = protocol.format_time(now - timedelta(minutes=5))
        ingest.apply_statuses([(cid, {"v": 1, "cid": cid, "online": True, "boot_id": "boot-1", "conn": n,
                                      "fw": "1.0", "at": at})], now - timedelta(minutes=5))
        ingest.apply_heartbeats([(cid, {"v": 1, "cid": cid, "at": at, "boot_id": "boot-1", "seq": 1, "uptime_s": 60,
                                        "state": "idle", "playing": None, "armed": [], "volume": 70,
                                        "rssi_dbm": -71.5, "temp_c": 41, "speakers_ok": 2, "speakers_total": 2,
                                        "amp_ok": True, "fw": "1.0"})], now - timedelta(minutes=5))
    ingest.apply_statuses([("om-tlg-002", {"v": 1, "cid": "om-tlg-002", "online": False, "boot_id": "boot-1",
                                           "conn": 2, "fw": "1.0", "at": protocol.format_time(now)})], now)
    ingest.apply_events([("om-tlg-001", json.loads(event("om-tlg-001", "not-a-command-we-sent", "done")))], now)
    db.session.commit()
    fleet_watch.sweep(now + timedelta(minutes=1))
    alerts.add_maintenance(technician, {"starts_at": "2027-01-05T08:00", "ends_at": "2027-01-05T12:00",
                                        "reason": "Thay bộ khuếch đại", "ward": "thoi-long"})
    remote.send(technician, remote.select_clusters(clusters=["om-tlg-001"]), CommandType.SET_VOLUME, {"volume": 60})
    silence.stop_all(admin, "Diễn tập dừng khẩn")
    guardrails.set_rules(admin, "long-hung", {"quiet_hours": {"start": "22:00", "end": "05:00"},
                                              "max_sessions_per_day": 6, "weekdays": [0, 1, 2, 3, 4, 5],
                                              "blackout_dates": ["2027-02-17"], "approval_required": False})
    # As the worker's beat (scheduling/worker.py) writes it: the worker itself is not running here.
    db.session.add(ServiceBeat(name="worker", beat_at=now, mqtt_connected=True, signing="ok"))
    db.session.commit()
