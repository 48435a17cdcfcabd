"""Every change of state lands in the audit log, naming who, from where and what changed; administrators read it
on a page and export it as CSV, and no one else can."""

import csv
import io
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.domain import IncidentKind
from pa_controller.extensions import db
from pa_controller.models import AuditEntry, Incident
from pa_controller.services import remote
from pa_controller.web.labels import AUDIT_ACTIONS
from pa_protocol import CommandType
from tests.factories import broadcast_request, make_audio
from tests.web.test_pages import log_in

OFFICE = {"REMOTE_ADDR": "10.20.30.40"}


def entries(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def only(action: str) -> AuditEntry:
    found = entries(action)
    assert len(found) == 1, f"{len(found)} entries of {action}"
    return found[0]


def test_creating_editing_and_cancelling_a_broadcast_are_recorded_with_what_changed(client, officer_auth):
    created = client.post("/api/v1/broadcasts", headers=officer_auth, json=broadcast_request(make_audio().id),
                          environ_base=OFFICE).get_json()
    entry = only("broadcast.create")
    assert (entry.actor, entry.address, entry.target, entry.ward_id) == (
        "officer-thoi-hoa", "10.20.30.40", f"broadcast:{created['id']}", "thoi-hoa")
    assert entry.detail["after"]["title"] == "Thông báo lịch cắt điện"

    client.patch(f"/api/v1/broadcasts/{created['id']}", headers=officer_auth, json={"title": "Lịch mới"})
    assert only("broadcast.edit").detail["before"] == {"title": "Thông báo lịch cắt điện"}
    assert only("broadcast.edit").detail["after"] == {"title": "Lịch mới"}

    run_id = client.get(f"/api/v1/runs?broadcast_id={created['id']}", headers=officer_auth).get_json()[0]["id"]
    assert client.delete(f"/api/v1/runs/{run_id}", headers=officer_auth).status_code == 200
    assert only("run.cancel").target == f"run:{run_id}"
    assert client.delete(f"/api/v1/broadcasts/{created['id']}", headers=officer_auth).status_code in (200, 202)
    assert only("broadcast.cancel").detail["title"] == "Lịch mới"


def test_a_refused_request_records_nothing(client, officer_auth):
    before = db.session.scalar(select(func.count()).select_from(AuditEntry))
    request = broadcast_request(make_audio().id, targets={"wards": ["long-hung"]})  # another ward
    assert client.post("/api/v1/broadcasts", headers=officer_auth, json=request).status_code == 403
    past = broadcast_request(make_audio().id, start_at=protocol.format_time(clock.now() - timedelta(hours=1)))
    assert client.post("/api/v1/broadcasts", headers=officer_auth, json=past).status_code == 422
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == before


def test_fleet_changes_remote_commands_rules_and_incidents_are_recorded(client, admin_auth):
    cluster = {"id": "om-tho-999", "name": "Cụm mới", "ward": "thoi-hoa", "lat": 10.1, "lon": 105.6, "speakers": 2}
    client.post("/api/v1/clusters", headers=admin_auth, json=cluster)
    client.patch("/api/v1/clusters/om-tho-999", headers=admin_auth, json={"speakers": 3})
    client.delete("/api/v1/clusters/om-tho-999", headers=admin_auth)
    client.post("/api/v1/commands", headers=admin_auth, json={"type": "set_volume", "volume": 40,
                                                               "clusters": ["om-tho-001", "om-tho-002"]})
    client.put("/api/v1/wards/thoi-hoa/rules", headers=admin_auth, json={"max_sessions_per_day": 2})
    incident = Incident(kind=IncidentKind.SPEAKER_FAULT, cluster_id="om-tho-001", ward_id="thoi-hoa",
                        opened_at=clock.now(), summary="Hỏng loa", detail={})
    db.session.add(incident)
    db.session.commit()
    client.post(f"/api/v1/incidents/{incident.id}/ack", headers=admin_auth)
    client.post(f"/api/v1/incidents/{incident.id}/close", headers=admin_auth)

    assert only("cluster.add").target == "cluster:om-tho-999"
    assert only("cluster.edit").detail == {"before": {"speakers": 2}, "after": {"speakers": 3}}
    assert only("cluster.retire").ward_id == "thoi-hoa"
    command = only("command.set_volume")
    assert command.detail == {"clusters": ["om-tho-001", "om-tho-002"], "params": {"volume": 40},
                              "wards": ["thoi-hoa"]}
    assert (command.target, command.ward_id) == (None, "thoi-hoa")  # several clusters: listed in the detail
    assert only("ward.rules").detail["after"] == {"max_sessions_per_day": 2}
    assert [e.target for e in entries("incident.acknowledge") + entries("incident.close")] == [
        f"incident:{incident.id}"] * 2


def test_an_import_that_moves_a_cluster_to_another_ward_keeps_the_move(client, admin_auth):
    moved = ("id,name,ward_id,ward_name,lat,lon,speakers\n"
             "om-tho-001,Cụm 001,long-hung,Long Hưng,10.1,105.6,2\n")
    answer = client.post("/api/v1/clusters/import", headers=admin_auth,
                         data={"file": (io.BytesIO(moved.encode()), "fleet.csv")})
    assert answer.status_code == 200, answer.get_json()
    entry = entries("fleet.import")[-1]
    assert entry.target == "fleet" and entry.detail["moved"] == {"om-tho-001": ["thoi-hoa", "long-hung"]}


def test_an_upload_is_recorded(client, officer_auth, tmp_path):
    wav = tmp_path / "a.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(wav)],
                   check=True)
    with wav.open("rb") as file:
        answer = client.post("/api/v1/audio", headers=officer_auth, data={"file": (file, "a.wav"), "title": "Tiêm"})
    assert answer.status_code == 201, answer.get_json()
    assert only("audio.upload").target == f"audio:{answer.get_json()['id']}"


def test_every_action_the_code_records_has_a_name_people_read():
    """A new kind of entry must get its Vietnamese name (web/labels.py AUDIT_ACTIONS), or the page shows a code."""
    root = Path(__file__).resolve().parents[2] / "pa_controller"
    written = set()
    for path in root.rglob("*.py"):
        for first, second in re.findall(r'audit\.record(?:_now)?\(\s*"([a-z_.]+)"(?: if [^"]+ else "([a-z_.]+)")?',
                                        path.read_text(encoding="utf-8")):
            written |= {first, second} - {""}
    written |= {f"command.{t.value}" for t in CommandType if t in remote.PARAMS}
    assert len(written) > 30
    assert not sorted(written - set(AUDIT_ACTIONS)), "actions without a name in web/labels.py AUDIT_ACTIONS"


@pytest.fixture
def logged(client):
    """An entry of each of two kinds, by two people, in two wards."""
    db.session.add_all([
        AuditEntry(at=clock.now() - timedelta(days=3), actor="canbo", action="broadcast.create",
                   target="broadcast:1", ward_id="thoi-hoa", detail={"after": {"title": "=HYPERLINK(\"x\")"}}),
        AuditEntry(at=clock.now(), actor="kythuat", address="10.0.0.7", action="command.reboot",
                   target="cluster:om-lhg-001", ward_id="long-hung", detail={"clusters": ["om-lhg-001"]}),
    ])
    db.session.commit()
    return client


def test_an_administrator_reads_and_filters_the_log(logged, admin_auth):
    log_in(logged, "admin")
    page = logged.get("/audit").get_data(as_text=True)
    assert "Tạo bản tin" in page and "Lệnh khởi động lại" in page and "10.0.0.7" in page
    filtered = logged.get("/audit?action=command&ward=long-hung").get_data(as_text=True)
    assert "Lệnh khởi động lại" in filtered and "broadcast:1" not in filtered
    today = clock.now().astimezone(clock.LOCAL_ZONE).date().isoformat()
    assert "broadcast:1" not in logged.get(f"/audit?since={today}").get_data(as_text=True)
    assert logged.get("/audit?since=yesterday").status_code == 422
    typed = clock.now().astimezone(clock.LOCAL_ZONE).strftime("%d/%m/%Y")
    page = logged.get(f"/audit?since={typed}&until={typed}").get_data(as_text=True)
    assert "broadcast:1" not in page and "Lệnh khởi động lại" in page, "the form's dd/mm/yyyy is the same filter"
    assert page.count(f'value="{typed}"') == 2 and f"since={today}" in page, "shown as typed; the CSV link ISO"
    refused = logged.get("/audit?until=31/02/2027")
    assert refused.status_code == 422 and "ví dụ 31/12/2026" in refused.get_data(as_text=True)


def test_the_csv_export_holds_every_entry_and_no_live_formula(logged, admin_auth):
    log_in(logged, "admin")
    answer = logged.get("/audit.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    everything = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    # Oldest first, by time: the entry of three days ago, then the fleet the database was seeded with.
    assert [r["action"] for r in everything[:2]] == ["broadcast.create", "fleet.import"]
    rows = [r for r in everything if r["actor"] in ("canbo", "kythuat")]
    assert [r["action"] for r in rows] == ["broadcast.create", "command.reboot"]
    assert rows[0]["at_local"].endswith("+07:00") and rows[1]["address"] == "10.0.0.7"
    assert rows[0]["detail"] == '{"after": {"title": "=HYPERLINK(\\"x\\")"}}'  # inside JSON: not a formula
    assert [r["action"] for r in csv.DictReader(io.StringIO(
        logged.get("/audit.csv?actor=kythuat").get_data(as_text=True).lstrip("\ufeff")))] == ["command.reboot"]


@pytest.mark.parametrize("username_fixture", ["officer_auth", "technician_auth"])
def test_only_administrators_read_the_log(logged, request, username_fixture):
    request.getfixturevalue(username_fixture)
    log_in(logged, {"officer_auth": "officer-thoi-hoa", "technician_auth": "tech"}[username_fixture])
    assert logged.get("/audit").status_code == 403
    answer = logged.get("/audit.csv")
    assert answer.status_code == 403 and "canbo" not in answer.get_data(as_text=True)
