"""The upward API (docs/upward-api.md): versioned answers, keyset pages, time windows, a read-only scoped token."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from pa_controller import clock
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import Cluster, ClusterState, Delivery, Outage
from pa_controller.web.schemas import upward as schemas
from pa_protocol import DeliveryState, RunState
from tests.factories import bearer, make_broadcast, make_run, make_user
from tests.security.test_ward_isolation import routes
from tests.web.test_openapi import DOCUMENTED_METHODS

API = "/api/v1/upward/v1"
FORMAT = "loanet.upward/1"
DAY = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 08:00 in Việt Nam


@pytest.fixture
def province(seeded):
    """The province's system: a district-wide viewer, with a token for the upward API only."""
    return bearer(make_user("so-tttt", Role.VIEWER), "report")


def walk(client, auth, first: str) -> list[dict]:
    """Every page from `first` on, following `next`; the items of all of them in order."""
    items, path, pages = [], first, 0
    while path:
        answer = client.get(path, headers=auth)
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        items += body["items"]
        path, pages = body["next"], pages + 1
        assert pages < 1000
    return items


def test_every_answer_names_its_format_and_is_what_the_document_says(client, province):
    make_run(DAY, {"om-tho-001": DeliveryState.DONE, "om-tho-002": (DeliveryState.FAILED, {"reason": "amplifier"})})
    window = "from=2026-12-01&to=2026-12-02"
    for name, schema in (("devices", schemas.UpwardDevices), ("schedule", schemas.UpwardSchedule),
                         ("plays", schemas.UpwardPlays)):
        answer = client.get(f"{API}/{name}?{window}&limit=5", headers=province)
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        assert body["format"] == FORMAT and body["list"] == name and body["items"]
        assert schema().validate(body) == {}, name
    document = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/upward/v1/devices", "/upward/v1/schedule", "/upward/v1/plays"} <= set(document)
    assert document["/upward/v1/plays"]["get"]["security"] == [{"bearer": ["report"]}]


def test_the_device_list_walks_every_cluster_once_while_clusters_are_added(client, province):
    first = client.get(f"{API}/devices?limit=100", headers=province).get_json()
    assert len(first["items"]) == 100 and first["next"]
    for cid in ("om-aaa-001", "om-zzz-001"):  # one before the walk's place, one after
        db.session.add_all([Cluster(id=cid, name="Cụm mới", ward_id="thoi-hoa", lat=10.1, lon=105.6, speakers=2),
                            ClusterState(cluster_id=cid)])
    db.session.commit()
    ids = [d["id"] for d in first["items"]] + [d["id"] for d in walk(client, province, first["next"])]
    assert len(ids) == len(set(ids)) and ids == sorted(ids)
    assert set(ids) >= {c.id for c in db.session.query(Cluster) if c.id != "om-aaa-001"} and "om-zzz-001" in ids
    assert len(ids) == db.session.query(Cluster).count() - 1


def test_a_device_says_since_when_it_is_offline_and_what_it_last_measured(client, province):
    now = clock.now()
    state = db.session.get(ClusterState, "om-tho-003")
    state.status, state.online, state.boot_id = "online", False, "b1"
    state.status_at = state.last_seen = now - timedelta(minutes=30)
    state.heartbeat_at, state.rssi_dbm, state.amp_ok, state.volume, state.fw = (now - timedelta(minutes=31), -71.0,
                                                                                 False, 80, "1.4.2")
    db.session.add(Outage(cluster_id="om-tho-003", started_at=now - timedelta(minutes=31),
                          detected_at=now - timedelta(minutes=30), cause="disconnected"))
    db.session.commit()
    found = client.get(f"{API}/devices?ward=thoi-hoa&limit=3", headers=province).get_json()["items"]
    device = found[2]
    assert device["id"] == "om-tho-003" and device["status"] == "offline" and device["ward"] == "thoi-hoa"
    assert device["status_since"] == clock_text(now - timedelta(minutes=31))
    assert (device["rssi_dbm"], device["amp_ok"], device["volume"], device["firmware"]) == (-71.0, False, 80, "1.4.2")
    assert found[0]["status"] == "unknown" and found[0]["status_since"] is None and found[0]["in_service"]


def clock_text(moment: datetime) -> str:
    from pa_protocol import format_time

    return format_time(moment)


def test_the_play_log_walks_every_delivery_once_while_runs_are_dispatched(client, province):
    clusters = [f"om-tho-{n:03d}" for n in range(1, 21)]
    for hour in range(5):
        make_run(DAY + timedelta(hours=hour), {cid: DeliveryState.DONE for cid in clusters})
    query = f"{API}/plays?from=2026-12-01T00:00:00%2B07:00&to=2026-12-02T00:00:00%2B07:00&limit=30"
    first = client.get(query, headers=province).get_json()
    assert len(first["items"]) == 30 and first["next"]
    # runs dispatched meanwhile: one that starts before the walk's place, one after it
    make_run(DAY - timedelta(minutes=30), {cid: DeliveryState.PENDING for cid in clusters[:3]})
    make_run(DAY + timedelta(hours=10), {cid: DeliveryState.PENDING for cid in clusters[:3]})
    seen = [(p["run_id"], p["cluster"]) for p in first["items"] + walk(client, province, first["next"])]
    assert len(seen) == len(set(seen)) == 5 * 20 + 3  # the earlier one is behind the walk; the later one is met
    starts = [p["start_at"] for p in first["items"]]
    assert starts == sorted(starts)


def test_a_window_starts_included_ends_excluded_reads_vietnam_time_and_holds_across_pages(client, province,
                                                                                         monkeypatch):
    inside = make_run(DAY, {"om-tho-001": DeliveryState.DONE})  # 08:00 in Việt Nam
    make_run(DAY + timedelta(hours=1), {"om-tho-001": DeliveryState.DONE})  # 09:00: the end, excluded
    make_run(DAY - timedelta(seconds=1), {"om-tho-001": DeliveryState.DONE})
    for name in ("plays", "schedule"):
        body = client.get(f"{API}/{name}?from=2026-12-01T08:00&to=2026-12-01T09:00", headers=province).get_json()
        assert [item["run_id"] for item in body["items"]] == [inside.id], name
        assert body["window"] == {"from": "2026-12-01T01:00:00.000Z", "to": "2026-12-01T02:00:00.000Z"}
    # "+07:00" sent unencoded arrives as " 07:00": still read as the offset
    body = client.get(f"{API}/plays?from=2026-12-01T08:00:00+07:00&to=2026-12-01T09:00:00+07:00",
                      headers=province).get_json()
    assert body["window"]["from"] == "2026-12-01T01:00:00.000Z" and len(body["items"]) == 1
    # no window asked: the default ends now, and the next page must not move with the clock
    for minutes in (10, 20, 30):
        make_run(DAY - timedelta(minutes=minutes), {"om-tho-001": DeliveryState.DONE, "om-tho-002": "done"})
    monkeypatch.setattr(clock, "now", lambda: DAY)
    body = client.get(f"{API}/plays?limit=2", headers=province).get_json()
    query = parse_qs(urlsplit(body["next"]).query)
    assert query["from"] == ["2026-11-30T01:00:00.000Z"] and query["to"] == ["2026-12-01T01:00:00.000Z"]
    assert query["limit"] == ["2"] and body["window"]["to"] == "2026-12-01T01:00:00.000Z"
    monkeypatch.setattr(clock, "now", lambda: DAY + timedelta(days=3))
    assert len(walk(client, province, body["next"])) == 5  # 7 in the day behind, 2 of them on the first page


def test_the_schedule_gives_each_run_its_broadcast_wards_and_outcome_and_the_log_each_play_s_end(client,
                                                                                                   province):
    planned = make_broadcast(DAY, wards=("thoi-hoa", "long-hung"), rrule="FREQ=DAILY", priority="priority",
                             runs=[(DAY + timedelta(days=d), RunState.SCHEDULED) for d in range(3)])
    make_run(DAY, {"om-tho-001": DeliveryState.DONE, "om-tho-002": DeliveryState.MISSED})
    items = client.get(f"{API}/schedule?from=2026-12-01&to=2026-12-03", headers=province).get_json()["items"]
    mine = [i for i in items if i["broadcast_id"] == planned.id]
    assert [i["start_at"] for i in mine] == ["2026-12-01T01:00:00.000Z", "2026-12-02T01:00:00.000Z"]
    first = mine[0]
    assert first["priority"] == "priority" and first["recurring"] and first["state"] == "scheduled"
    assert {w["id"] for w in first["wards"]} == {"thoi-hoa", "long-hung"}
    assert first["end_at"] == "2026-12-01T01:01:30.000Z"
    dispatched = next(i for i in items if i["broadcast_id"] != planned.id)
    assert dispatched["state"] == "dispatched" and dispatched["wards"] == [{"id": "thoi-hoa", "name": "Thới Hòa"}]
    # and the play log says how each cluster's play ended, and why not
    run = make_run(DAY + timedelta(days=3), {"om-tho-001": DeliveryState.DONE, "om-tho-003": DeliveryState.PLAYING,
                                             "om-tho-002": (DeliveryState.FAILED, {"reason": "fetch"})})
    began = db.session.get(Delivery, (run.id, "om-tho-001"))
    began.started_at = DAY + timedelta(days=3, seconds=1)
    db.session.commit()
    plays = client.get(f"{API}/plays?from=2026-12-04&to=2026-12-05", headers=province).get_json()["items"]
    done, failed, playing = plays
    assert (done["run_id"], done["state"], done["final"], done["ended_at"]) == (run.id, "done", True,
                                                                                "2026-12-04T01:00:00.000Z")
    assert done["started_at"] == "2026-12-04T01:00:01.000Z" and done["reason"] is None and done["reason_text"] is None
    assert failed["reason"] == "fetch" and "tải" in failed["reason_text"]
    assert playing["final"] is False and playing["ended_at"] is None


# --- who may read --------------------------------------------------------------------------------------------


def test_no_token_is_401_a_token_without_report_or_read_403_and_read_or_wider_reads(client):
    assert client.get(f"{API}/devices").status_code == 401
    officer = make_user("canbo", Role.OFFICER, ("thoi-hoa",))
    answer = client.get(f"{API}/plays", headers=bearer(officer, "schedule"))
    assert answer.status_code == 403
    error = answer.get_json()["error"]
    assert error["code"] == "insufficient_scope" and error["required_scope"] == "report"
    viewer, admin = make_user("xem", Role.VIEWER), make_user("quantri", Role.ADMIN)
    for auth in (bearer(viewer, "read"), bearer(officer, "read", "schedule"), bearer(admin)):
        assert client.get(f"{API}/devices?limit=1", headers=auth).status_code == 200


def test_a_report_token_reads_the_upward_api_and_nothing_else(client, province):
    """Every other route of the API, reads included, is refused to it, and no write is possible."""
    app = client.application
    assert client.get(f"{API}/devices?limit=1", headers=province).status_code == 200
    tried = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule.startswith(API):
            continue
        for method in rule.methods & DOCUMENTED_METHODS:
            path = rule.rule.replace("<int:id>", "1").replace("<id>", "om-tho-001")
            answer = client.open(path, method=method, headers=province, json={})
            tried += 1
            if rule.endpoint in ("api.health", "api.openapi", "api_keys.command_key_list"):
                continue  # public
            assert answer.status_code == 403, (method, path, answer.status_code)
            assert answer.get_json()["error"]["code"] == "insufficient_scope", (method, path)
    assert tried >= 40 and len(routes(app)) > tried


def test_a_ward_s_token_sees_its_ward_only_and_a_district_reader_sees_all(client, province):
    make_run(DAY, {"om-tho-001": DeliveryState.DONE, "om-lhg-001": DeliveryState.DONE})
    make_broadcast(DAY, wards=("long-hung",), runs=[(DAY + timedelta(hours=1), RunState.SCHEDULED)])
    ward = bearer(make_user("xem-thoi-hoa", Role.VIEWER, ("thoi-hoa",)), "report")
    window = "from=2026-12-01&to=2026-12-02"
    devices = walk(client, ward, f"{API}/devices?limit=1000")
    assert devices and {d["ward"] for d in devices} == {"thoi-hoa"}
    assert len(walk(client, province, f"{API}/devices?limit=1000")) == db.session.query(Cluster).count()
    plays = client.get(f"{API}/plays?{window}", headers=ward).get_json()["items"]
    assert [p["cluster"] for p in plays] == ["om-tho-001"]
    schedule = client.get(f"{API}/schedule?{window}", headers=ward).get_json()["items"]
    assert len(schedule) == 1 and [w["id"] for w in schedule[0]["wards"]] == ["thoi-hoa"]
    assert len(client.get(f"{API}/schedule?{window}", headers=province).get_json()["items"]) == 2
    assert client.get(f"{API}/plays?ward=long-hung", headers=ward).status_code == 403


# --- bad questions -------------------------------------------------------------------------------------------


BAD_QUESTIONS = [
    ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"), ("from=yesterday", "from"),
    ("from=2026-12-02&to=2026-12-01", "to"), ("to=2026-13-01", "to"), ("cursor=abc", "cursor"),
    ("cursor=" + "eyJsaXN0IjoiZGV2aWNlcyIsImFmdGVyIjpbIngiXX0", "cursor"),  # a device list's cursor
    ("ward=nowhere", None),
]


def test_a_bad_question_is_answered_with_a_message_for_the_field(client, province):
    for query, field in BAD_QUESTIONS:
        answer = client.get(f"{API}/plays?{query}", headers=province)
        error = answer.get_json()["error"]
        if field is None:  # a ward that does not exist
            assert answer.status_code == 404 and error["message"], query
            continue
        assert answer.status_code == 422, (query, answer.get_json())
        assert error["code"] == "invalid" and field in error["fields"] and error["message"], query
