"""Outages and incidents on the controller's clock: one incident per outage, one per power cut, none in maintenance."""

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select

from pa_controller.domain import ClusterStatus, Role
from pa_controller.errors import Forbidden
from pa_controller.extensions import db
from pa_controller.models import Cluster, ClusterState, Incident, MaintenanceWindow, Outage
from pa_controller.services import alerts, fleet_watch, ingest
from pa_controller.services.fleet import effective_status
from pa_controller.services.people import create_user
from pa_protocol import format_time
from tests.conftest import PASSWORD
from tests.support.settings import use_settings

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
BEAT = 30  # the test settings' heartbeat_s is 30 unless changed


@pytest.fixture
def watch(seeded):
    use_settings(seeded, heartbeat_s=BEAT, incident_hold_s=0, ward_outage_share=0.5)
    return seeded


def status(cid: str, online: bool, at: datetime, boot: str = "boot-1", conn: int = 1) -> None:
    payload = {"v": 1, "cid": cid, "online": online, "boot_id": boot, "conn": conn, "fw": "sim",
               "at": format_time(at)}
    ingest.apply_statuses([(cid, payload)], at)
    db.session.commit()


def heartbeat(cid: str, now: datetime, boot: str = "boot-1", **fields) -> None:
    payload = {"v": 1, "cid": cid, "at": format_time(now), "boot_id": boot, "seq": 1, "uptime_s": 5, "state": "idle",
               "playing": None, "armed": [], "volume": 70, "rssi_dbm": -70, "temp_c": 40, "speakers_ok": 2,
               "speakers_total": 2, "amp_ok": True, "fw": "sim", **fields}
    ingest.apply_heartbeats([(cid, payload)], now)
    db.session.commit()


def incidents(kind: str | None = None) -> list[Incident]:
    query = select(Incident).order_by(Incident.id)
    return [i for i in db.session.scalars(query) if kind is None or i.kind == kind]


def ward_clusters(ward: str) -> list[str]:
    return list(db.session.scalars(select(Cluster.id).where(Cluster.ward_id == ward).order_by(Cluster.id)))


def state_of(cid: str) -> ClusterState:
    return db.session.get(ClusterState, cid)


def test_a_late_will_of_an_earlier_connection_of_the_same_boot_is_ignored(watch):
    status("om-tho-001", True, T0)
    status("om-tho-001", True, T0 + timedelta(seconds=5), conn=2)  # a quick reconnect, same boot
    status("om-tho-001", False, T0, conn=1)  # the will registered by the first connection arrives last
    assert state_of("om-tho-001").online is True
    status("om-tho-001", False, T0 + timedelta(seconds=4), conn=2)  # the current connection's own will
    assert state_of("om-tho-001").online is False


def test_a_will_from_an_older_boot_is_ignored(watch):
    status("om-tho-001", True, T0, boot="boot-2")
    status("om-tho-001", False, T0 + timedelta(seconds=9), boot="boot-1")
    assert state_of("om-tho-001").online is True


def test_a_silent_cluster_is_stale_after_two_intervals_then_offline_with_one_outage(watch):
    status("om-tho-001", True, T0)
    heartbeat("om-tho-001", T0)
    judged = {s: effective_status(state_of("om-tho-001"), T0 + timedelta(seconds=s), BEAT) for s in (59, 61, 89, 91)}
    assert judged == {59: ClusterStatus.ONLINE, 61: ClusterStatus.STALE, 89: ClusterStatus.STALE,
                      91: ClusterStatus.OFFLINE}
    for seconds in (61, 91, 95, 120):
        fleet_watch.sweep(T0 + timedelta(seconds=seconds))
    [outage] = db.session.scalars(select(Outage)).all()
    assert outage.cause == "silent" and outage.started_at == T0 and outage.ended_at is None
    heartbeat("om-tho-001", T0 + timedelta(seconds=130))
    fleet_watch.sweep(T0 + timedelta(seconds=131))
    assert outage.ended_at == T0 + timedelta(seconds=130)
    [incident] = incidents("cluster_offline")
    assert incident.outage_id == outage.id and incident.closed_at is not None


def test_ten_clusters_flapping_five_times_give_exactly_one_incident_per_outage(watch):
    flappers = ward_clusters("thoi-an")[:10]
    now = T0
    for cid in flappers:
        status(cid, True, now)
    for _ in range(5):
        now += timedelta(seconds=10)
        for cid in flappers:
            status(cid, False, now - timedelta(seconds=10))
        fleet_watch.sweep(now)
        fleet_watch.sweep(now + timedelta(seconds=1))  # judged again while still down: nothing new
        now += timedelta(seconds=10)
        for cid in flappers:
            status(cid, True, now)
        fleet_watch.sweep(now)
    assert len(db.session.scalars(select(Outage)).all()) == 50
    found = incidents("cluster_offline")
    assert len(found) == 50 and len({i.outage_id for i in found}) == 50
    assert all(i.closed_at is not None for i in found)


def test_most_of_a_ward_going_down_together_is_one_ward_incident(watch):
    use_settings(watch, incident_hold_s=60)
    ward = ward_clusters("thoi-hoa")
    down = ward[: int(len(ward) * 0.8)]
    for cid in ward:
        status(cid, True, T0)
        heartbeat(cid, T0)
    for cid in down:  # a power cut: wills arrive over a few seconds
        status(cid, False, T0)
    up = [cid for cid in ward if cid not in down]

    def tick(seconds: int, alive: list[str]) -> None:
        for cid in alive:
            heartbeat(cid, T0 + timedelta(seconds=seconds))
        fleet_watch.sweep(T0 + timedelta(seconds=seconds))

    for seconds in (2, 30, 61, 120):
        tick(seconds, up)
    [power_cut] = incidents("ward_outage")
    assert power_cut.ward_id == "thoi-hoa" and power_cut.detail == {"offline": len(down), "clusters": len(ward)}
    assert power_cut.summary == "Phường Thới Hòa: 46 trên 58 cụm mất kết nối cùng lúc"
    assert incidents("cluster_offline") == []
    for cid in down[:-3]:  # power is back; three stay down
        status(cid, True, T0 + timedelta(seconds=200))
    for seconds in (201, 230):
        tick(seconds, up + down[:-3])
    assert power_cut.closed_at is not None and incidents("cluster_offline") == []  # still part of the power cut
    tick(261, up + down[:-3])  # INCIDENT_HOLD_S after the ward incident closed
    assert sorted(i.cluster_id for i in incidents("cluster_offline")) == sorted(down[-3:])


def test_an_incident_closed_by_hand_stays_closed_while_its_outage_lasts(watch):
    """Its outage had its incident; the next sweeps open no second one (before, each failed on outage_id)."""
    status("om-tho-001", True, T0)
    status("om-tho-001", False, T0 + timedelta(seconds=1))
    fleet_watch.sweep(T0 + timedelta(seconds=2))
    [incident] = incidents()
    alerts.close(create_user("tech", PASSWORD, Role.TECHNICIAN), incident.id)
    for seconds in (4, 6):
        fleet_watch.sweep(T0 + timedelta(seconds=seconds))
    assert incidents() == [incident] and incident.closed_by is not None


def cut_power(ward: list[str], at: datetime) -> Incident:
    """Take a whole ward down together and sweep until it has its ward incident; return that incident."""
    for cid in ward:
        status(cid, True, at - timedelta(hours=1))
    for cid in ward:
        status(cid, False, at)
    for seconds in (1, 61, 300):
        fleet_watch.sweep(at + timedelta(seconds=seconds))
    [power_cut] = incidents("ward_outage")
    return power_cut


def restore(clusters: list[str], at: datetime) -> datetime:
    """Bring clusters back one a second, sweeping every second as the worker does; return when the last is back."""
    for n, cid in enumerate(clusters):
        status(cid, True, at + timedelta(seconds=n), boot="boot-2")
        fleet_watch.sweep(at + timedelta(seconds=n, milliseconds=500))
    return at + timedelta(seconds=len(clusters) - 1)


def sweep_hearing(clusters: list[str], at: datetime) -> None:
    """Sweep at a moment the clusters have just sent a heartbeat."""
    for cid in clusters:
        heartbeat(cid, at, boot="boot-2")
    fleet_watch.sweep(at)


def test_a_ward_coming_back_gradually_opens_no_incident_per_cluster(watch):
    """The power cut is one incident; its restoration is none (before: 27 opened and closed within 27 seconds)."""
    use_settings(watch, incident_hold_s=60)
    ward = ward_clusters("long-hung")
    power_cut = cut_power(ward, T0)
    assert incidents("cluster_offline") == []
    last_back = restore(ward, T0 + timedelta(minutes=10))
    for seconds in (1, 60, 120):
        sweep_hearing(ward, last_back + timedelta(seconds=seconds))
    assert power_cut.closed_at is not None
    assert [i.cluster_id for i in incidents("cluster_offline")] == []
    assert db.session.scalars(select(Outage).where(Outage.ended_at.is_(None))).all() == []


def test_a_cluster_still_down_a_hold_after_its_ward_came_back_gets_its_own_incident(watch):
    """It waits INCIDENT_HOLD_S from the ward incident's close, as a lone outage waits from its detection."""
    use_settings(watch, incident_hold_s=60)
    ward = ward_clusters("long-hung")
    power_cut = cut_power(ward, T0)
    *returning, straggler = ward
    restore(returning, T0 + timedelta(minutes=10))
    assert power_cut.closed_at is not None and incidents("cluster_offline") == []
    sweep_hearing(returning, power_cut.closed_at + timedelta(seconds=59))
    assert incidents("cluster_offline") == []
    sweep_hearing(returning, power_cut.closed_at + timedelta(seconds=60))
    [own] = incidents("cluster_offline")
    assert own.cluster_id == straggler and own.closed_at is None


def test_a_cluster_with_its_own_incident_keeps_it_when_its_ward_goes_down(watch):
    """An incident already told stays open (closing it would say "fixed" of a cluster still down)."""
    use_settings(watch, incident_hold_s=60)
    ward = ward_clusters("long-hung")
    status(ward[0], True, T0 - timedelta(hours=2))
    status(ward[0], False, T0 - timedelta(hours=1))
    fleet_watch.sweep(T0 - timedelta(hours=1) + timedelta(seconds=1))
    fleet_watch.sweep(T0 - timedelta(minutes=55))
    [own] = incidents("cluster_offline")
    cut_power(ward[1:], T0)
    assert own.closed_at is None and incidents("cluster_offline") == [own]


def test_what_the_webhook_is_told_is_vietnamese_with_names_and_local_time(watch):
    """A summary a person reads on a phone: no cluster or ward ids, no UTC."""
    status("om-tho-001", True, T0)
    heartbeat("om-tho-001", T0)
    status("om-tho-002", True, T0)
    heartbeat("om-tho-002", T0, speakers_ok=1, amp_ok=False)
    fleet_watch.sweep(T0 + timedelta(seconds=1))
    heartbeat("om-tho-002", T0 + timedelta(seconds=90), speakers_ok=1, amp_ok=False)
    fleet_watch.sweep(T0 + timedelta(seconds=95))  # om-tho-001 fell silent after its heartbeat at 15:00:00
    assert sorted(i.summary for i in incidents()) == [
        "Khu vực 1, cụm 001, phường Thới Hòa không gửi nhịp tim từ 15:00:00 01/12/2026 +07",
        "Khu vực 1, cụm 002, phường Thới Hòa: 1 trên 2 loa hoạt động",
        "Khu vực 1, cụm 002, phường Thới Hòa: bộ khuếch đại không có dòng điện",
    ]


def test_maintenance_opens_no_incident_until_it_ends(watch, seeded):
    db.session.add(MaintenanceWindow(cluster_id="om-tho-001", starts_at=T0, ends_at=T0 + timedelta(minutes=30),
                                     reason="thay bộ khuếch đại", created_at=T0))
    status("om-tho-001", True, T0)
    status("om-tho-001", False, T0 + timedelta(seconds=1))
    fleet_watch.sweep(T0 + timedelta(minutes=5))
    assert incidents() == [] and len(db.session.scalars(select(Outage)).all()) == 1
    fleet_watch.sweep(T0 + timedelta(minutes=31))
    assert [i.kind for i in incidents()] == ["cluster_offline"]


def test_dead_speakers_and_a_silent_amplifier_raise_their_own_incidents(watch):
    status("om-tho-001", True, T0)
    heartbeat("om-tho-001", T0, speakers_ok=1, amp_ok=False)
    fleet_watch.sweep(T0 + timedelta(seconds=1))
    heartbeat("om-tho-001", T0 + timedelta(seconds=30), speakers_ok=1, amp_ok=False)
    fleet_watch.sweep(T0 + timedelta(seconds=31))
    assert sorted(i.kind for i in incidents()) == ["amplifier_fault", "speaker_fault"]
    heartbeat("om-tho-001", T0 + timedelta(seconds=60))
    fleet_watch.sweep(T0 + timedelta(seconds=61))
    assert all(i.closed_at is not None for i in incidents())


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_incidents_opened_and_closed_reach_the_webhook_once_each(watch):
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received = []
    use_settings(watch, alert_webhook_url=f"http://127.0.0.1:{server.server_port}/hook")
    try:
        status("om-tho-001", True, T0)
        status("om-tho-001", False, T0 + timedelta(seconds=1))
        fleet_watch.sweep(T0 + timedelta(seconds=2))
        assert alerts.notify(T0 + timedelta(seconds=2)) == 1
        assert alerts.notify(T0 + timedelta(seconds=4)) == 0
        status("om-tho-001", True, T0 + timedelta(seconds=10))
        fleet_watch.sweep(T0 + timedelta(seconds=11))
        assert alerts.notify(T0 + timedelta(seconds=11)) == 1
    finally:
        server.shutdown()
    assert [m["event"] for m in _Hook.received] == ["incident.opened", "incident.closed"]
    assert _Hook.received[0]["incident"]["cluster"] == "om-tho-001"
    assert _Hook.received[0]["incident"]["summary"] == \
        "Khu vực 1, cụm 001, phường Thới Hòa mất kết nối lúc 15:00:01 01/12/2026 +07"


def test_an_unreachable_webhook_is_retried_and_then_given_up(watch):
    use_settings(watch, alert_webhook_url="http://127.0.0.1:9/hook")  # the discard port: refused
    status("om-tho-001", True, T0)
    status("om-tho-001", False, T0 + timedelta(seconds=1))
    fleet_watch.sweep(T0 + timedelta(seconds=2))
    for _ in range(alerts.MAX_ATTEMPTS + 2):
        assert alerts.notify(T0 + timedelta(seconds=3)) == 0
    assert incidents()[0].notify_attempts == alerts.MAX_ATTEMPTS


def test_technicians_acknowledge_and_close_through_the_api(watch, client, technician_auth, officer_auth):
    status("om-tho-001", True, T0)
    status("om-tho-001", False, T0 + timedelta(seconds=1))
    fleet_watch.sweep(T0 + timedelta(seconds=2))
    [listed] = client.get("/api/v1/incidents", headers=technician_auth).get_json()
    assert listed["kind"] == "cluster_offline" and listed["ward"] == "thoi-hoa"
    assert listed["cluster_name"] == "Khu vực 1, cụm 001" and listed["ward_name"] == "Thới Hòa"
    assert listed["outage_started_at"] == format_time(T0 + timedelta(seconds=1)) and listed["outage_cause"] == \
        "disconnected"
    assert client.get("/api/v1/incidents", headers=officer_auth).get_json()[0]["id"] == listed["id"]
    assert client.post(f"/api/v1/incidents/{listed['id']}/ack", headers=officer_auth).status_code == 403
    acked = client.post(f"/api/v1/incidents/{listed['id']}/ack", headers=technician_auth).get_json()
    assert acked["acknowledged_at"] is not None
    assert client.post(f"/api/v1/incidents/{listed['id']}/close", headers=technician_auth).status_code == 200
    assert client.post(f"/api/v1/incidents/{listed['id']}/close", headers=technician_auth).status_code == 409
    assert client.get("/api/v1/incidents", headers=technician_auth).get_json() == []
    assert client.post("/api/v1/incidents/999/ack", headers=technician_auth).status_code == 404


def test_maintenance_windows_are_checked_before_they_are_stored(watch, client, technician_auth, officer_auth):
    good = {"starts_at": "2026-12-01T08:00", "ends_at": "2026-12-01T10:00", "reason": "Thay ắc quy", "ward": "thoi-an"}
    assert client.post("/api/v1/maintenance", headers=officer_auth, json=good).status_code == 403
    for bad in ({**good, "ends_at": "2026-12-01T07:00"}, {**good, "ward": "nowhere"}, {**good, "reason": ""},
                {**good, "starts_at": "tomorrow"}, {**good, "cluster": 5}):
        assert client.post("/api/v1/maintenance", headers=technician_auth, json=bad).status_code == 422, bad
    assert db.session.scalars(select(MaintenanceWindow)).all() == []
    assert client.post("/api/v1/maintenance", headers=technician_auth, json=good).status_code == 201


def test_an_officer_is_not_a_watcher(seeded):
    officer = create_user("o2", PASSWORD, Role.OFFICER, "thoi-hoa")
    with pytest.raises(Forbidden, match="kỹ thuật viên"):
        alerts.add_maintenance(officer, {})


def test_the_incidents_page_lists_and_handles_incidents(watch, client, technician_auth, officer_auth):
    from tests.web.test_pages import log_in

    status("om-tho-001", True, T0)
    status("om-tho-001", False, T0 + timedelta(seconds=1))
    fleet_watch.sweep(T0 + timedelta(seconds=2))
    incident = incidents()[0]
    log_in(client, "officer-thoi-hoa")
    page = client.get("/incidents").get_data(as_text=True)
    named = '<span lang="vi">Khu vực 1, cụm 001</span>, phường <span lang="vi">Thới Hòa</span>'  # names are data
    assert named in page and "Ghi nhận" not in page  # officers see, technicians handle
    assert client.post(f"/incidents/{incident.id}/ack").status_code == 403 and incident.acknowledged_at is None
    client.post("/logout")
    log_in(client, "tech")
    assert "Ghi nhận" in client.get("/incidents").get_data(as_text=True)
    client.post(f"/incidents/{incident.id}/close")
    db.session.refresh(incident)
    assert incident.closed_at is not None and "Không có sự cố nào đang mở" in client.get("/incidents").get_data(
        as_text=True)
