"""The technician's views: fleet summary, cluster table, cluster page and map, scoped to what each role may see."""

import re
from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from sqlalchemy import event, select

from pa_controller import clock
from pa_controller.domain import ClusterStatus, IncidentKind, OutageCause
from pa_controller.extensions import db
from pa_controller.models import (
    Broadcast,
    Cluster,
    ClusterState,
    Delivery,
    Incident,
    Outage,
    Run,
    TelemetryBucket,
    User,
)
from pa_controller.services import fleet, fleet_health
from pa_protocol import DeliveryState, Priority, RunState
from tests.web.test_pages import log_in

NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)  # 12:00 in Việt Nam
BEAT = 30.0  # PA_HEARTBEAT_S: stale after 60 s of silence, offline after 90 s
PAGES = ["/fleet", "/fleet/clusters", "/fleet/clusters/om-cvl-001", "/fleet/map"]


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


def set_state(cid: str, *, silence_s: float | None = 5, online: bool = True, **values) -> None:
    """Make a cluster report: online with its last heartbeat silence_s ago, and any measurements given."""
    state = db.session.get(ClusterState, cid)
    state.status = ClusterStatus.ONLINE if online else ClusterStatus.OFFLINE
    state.online = online
    state.heartbeat_at = state.last_seen = None if silence_s is None else NOW - timedelta(seconds=silence_s)
    state.status_at = NOW - timedelta(hours=1)
    for key, value in values.items():
        setattr(state, key, value)
    db.session.commit()


def hear_everyone() -> None:
    """Make every cluster heard from (availability judges only those)."""
    for state in db.session.scalars(select(ClusterState)):
        state.status, state.online, state.status_at = ClusterStatus.ONLINE, True, NOW - timedelta(days=30)
    db.session.commit()


def add_outage(cid: str, started_ago: timedelta, ended_ago: timedelta | None, cause: str = "silent") -> None:
    db.session.add(Outage(cluster_id=cid, started_at=NOW - started_ago, detected_at=NOW - started_ago,
                          ended_at=None if ended_ago is None else NOW - ended_ago, cause=cause))
    db.session.commit()


def cluster_ids(page: str) -> list[str]:
    """The cluster ids of the table's rows, in order."""
    return re.findall(r'<td><a href="/fleet/clusters/([a-z0-9-]+)">', page)


def mixed_fleet() -> dict[str, ClusterStatus]:
    """Give Châu Văn Liêm every status; leave the rest unknown. Return the expected status of the changed ones."""
    expected = {}
    for n in range(1, 11):
        cid = f"om-cvl-{n:03d}"
        set_state(cid, silence_s=5, rssi_dbm=-60.0 - n, temp_c=40.0 + n)
        expected[cid] = ClusterStatus.ONLINE
    for n in range(11, 14):
        set_state(f"om-cvl-{n:03d}", silence_s=75)
        expected[f"om-cvl-{n:03d}"] = ClusterStatus.STALE
    for n in range(14, 16):
        set_state(f"om-cvl-{n:03d}", silence_s=600)
        expected[f"om-cvl-{n:03d}"] = ClusterStatus.OFFLINE
    set_state("om-cvl-016", online=False)  # its last will arrived
    expected["om-cvl-016"] = ClusterStatus.OFFLINE
    return expected


# --- who sees what ------------------------------------------------------------------------------------------


def test_the_pages_need_a_login(client):
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_technicians_and_admins_see_every_page(client, admin_auth, technician_auth):
    for username in ("admin", "tech"):
        client.post("/logout")
        log_in(client, username)
        for path in PAGES:
            response = client.get(path)
            assert response.status_code == 200, (username, path)
            assert "Mạng loa" in response.get_data(as_text=True)  # the nav link


def test_the_summary_shows_every_ward_and_the_whole_district(client, technician_auth):
    log_in(client, "tech")
    page = client.get("/fleet").get_data(as_text=True)
    for ward in ("Châu Văn Liêm", "Thới Hòa", "Thới An", "Phước Thới", "Trường Lạc", "Long Hưng", "Thới Long"):
        assert ward in page
    assert "Toàn địa bàn" in page and ">456<" in page


def test_an_officer_sees_only_their_own_ward(client, officer_auth):
    log_in(client, "officer-thoi-hoa")
    summary = client.get("/fleet").get_data(as_text=True)
    assert "Thới Hòa" in summary and "Long Hưng" not in summary and "Toàn địa bàn" not in summary
    table = client.get("/fleet/clusters").get_data(as_text=True)
    assert "58 cụm" in table and set(c[:6] for c in cluster_ids(table)) == {"om-tho"}
    assert client.get("/fleet/map").get_data(as_text=True).count("<circle") == 58
    assert client.get("/fleet/clusters/om-tho-001").status_code == 200


def test_an_officer_cannot_open_another_wards_cluster_or_filter_on_it(client, officer_auth):
    log_in(client, "officer-thoi-hoa")
    assert client.get("/fleet/clusters/om-lhg-001").status_code == 404
    assert client.get("/fleet/clusters?ward=long-hung").status_code == 403


def test_an_unknown_cluster_is_not_found(client, technician_auth):
    log_in(client, "tech")
    assert client.get("/fleet/clusters/om-nowhere-999").status_code == 404


def test_the_pages_speak_english_on_request(client, technician_auth):
    log_in(client, "tech")
    client.get("/lang/en")
    page = client.get("/fleet").get_data(as_text=True)
    assert "Availability 24 h" in page and "Whole district" in page
    assert "Cluster map" in client.get("/fleet/map").get_data(as_text=True)


# --- status judged in SQL -----------------------------------------------------------------------------------


def test_the_table_judges_status_exactly_as_the_dashboard_does(seeded, technician_auth):
    edges = list(product([True, False], [None, 0, 59.999, 60, 60.001, 89.999, 90, 90.001, 3600]))
    for n, (online, silence_s) in enumerate(edges, start=1):
        set_state(f"om-cvl-{n:03d}", silence_s=silence_s, online=online)
    tech = db.session.scalar(select(User).where(User.username == "tech"))
    rows = fleet_health.list_clusters(tech, fleet_health.ClusterQuery(ward="chau-van-liem"), NOW, BEAT).rows
    judged = {cid: fleet.effective_status(db.session.get(ClusterState, cid), NOW, BEAT) for cid in cluster_ids_of(rows)}
    assert {row.id: row.status for row in rows} == judged
    assert {judged[f"om-cvl-{n:03d}"] for n in range(1, len(edges) + 1)} == {
        ClusterStatus.ONLINE, ClusterStatus.STALE, ClusterStatus.OFFLINE}
    for status in ClusterStatus:  # and the filter finds the same ones
        query = fleet_health.ClusterQuery(ward="chau-van-liem", status=status)
        found = fleet_health.list_clusters(tech, query, NOW, BEAT).rows
        assert cluster_ids_of(found) == sorted(cid for cid, s in judged.items() if s is status)


def cluster_ids_of(rows) -> list[str]:
    return [row.id for row in rows]


def test_a_cluster_never_heard_from_is_unknown_and_one_without_a_heartbeat_time_online(seeded):
    set_state("om-cvl-002", silence_s=None)
    db.session.get(ClusterState, "om-cvl-002").status_at = None
    db.session.commit()
    points = {p.id: p.status for p in fleet_health.map_points(None, NOW, BEAT)}
    assert points["om-cvl-001"] is ClusterStatus.UNKNOWN and points["om-cvl-002"] is ClusterStatus.ONLINE


# --- the cluster table --------------------------------------------------------------------------------------


def test_the_table_pages_through_all_456_clusters_100_at_a_time(client, technician_auth):
    log_in(client, "tech")
    seen = []
    for number in range(1, 6):
        page = client.get(f"/fleet/clusters?page={number}").get_data(as_text=True)
        ids = cluster_ids(page)
        assert len(ids) == (100 if number < 5 else 56)
        assert f"trang {number}/5" in page
        seen += ids
    assert seen == sorted(seen) and len(set(seen)) == 456
    last = client.get("/fleet/clusters?page=99").get_data(as_text=True)
    assert "trang 5/5" in last and len(cluster_ids(last)) == 56  # past the end: the last page


def test_the_paging_links_keep_the_filter_and_sort(client, technician_auth):
    log_in(client, "tech")
    page = client.get("/fleet/clusters?ward=chau-van-liem&sort=name&order=desc").get_data(as_text=True)
    assert "trang 1/1" in page and 'rel="next"' not in page
    page = client.get("/fleet/clusters?status=unknown&sort=name").get_data(as_text=True)
    assert 'rel="next" href="/fleet/clusters?status=unknown&amp;sort=name&amp;page=2"' in page


def test_filtering_by_ward_and_status_gives_exactly_those_clusters(client, technician_auth):
    expected = mixed_fleet()
    log_in(client, "tech")
    for status in ClusterStatus:
        page = client.get(f"/fleet/clusters?ward=chau-van-liem&status={status.value}").get_data(as_text=True)
        wanted = sorted(cid for cid, s in expected.items() if s is status) if status is not ClusterStatus.UNKNOWN \
            else [f"om-cvl-{n:03d}" for n in range(17, 79)]
        assert cluster_ids(page) == wanted[:100], status
    everywhere = client.get("/fleet/clusters?status=offline").get_data(as_text=True)
    assert cluster_ids(everywhere) == ["om-cvl-014", "om-cvl-015", "om-cvl-016"]


def test_search_finds_id_and_name_substrings_whatever_the_diacritics_and_case(client, technician_auth):
    log_in(client, "tech")
    by_id = cluster_ids(client.get("/fleet/clusters", query_string={"q": "lhg-00"}).get_data(as_text=True))
    assert by_id == [f"om-lhg-{n:03d}" for n in range(1, 10)]
    by_name = client.get("/fleet/clusters", query_string={"q": "cụm 078"}).get_data(as_text=True)
    assert cluster_ids(by_name) == ["om-cvl-078"]
    # Diacritics and case do not matter, as people type on a phone without Vietnamese input.
    for typed in ("CUM 078", "khu vuc 10, cum 078", "Khu Vực 10, Cụm 078"):
        assert cluster_ids(client.get("/fleet/clusters", query_string={"q": typed}).get_data(as_text=True)) == [
            "om-cvl-078"], typed
    db.session.get(Cluster, "om-tan-010").name = "Đình Thới An"
    db.session.commit()
    assert cluster_ids(client.get("/fleet/clusters", query_string={"q": "dinh thoi"}).get_data(as_text=True)) == [
        "om-tan-010"]
    assert cluster_ids(client.get("/fleet/clusters", query_string={"q": "OM-TAN-010"}).get_data(as_text=True)) == [
        "om-tan-010"]
    for wildcard in ("%", "om_cvl"):  # taken literally, not as LIKE patterns
        assert cluster_ids(client.get("/fleet/clusters", query_string={"q": wildcard}).get_data(as_text=True)) == []


def test_sorting_by_each_column_orders_the_rows_with_missing_values_last(client, technician_auth):
    mixed_fleet()
    db.session.get(Cluster, "om-tan-010").name = "Zz cuối bảng chữ cái"
    db.session.get(Cluster, "om-tlc-020").name = "Aa đầu bảng chữ cái"
    db.session.commit()
    log_in(client, "tech")

    def ids(query: str) -> list[str]:
        return cluster_ids(client.get(f"/fleet/clusters?{query}").get_data(as_text=True))

    first_16 = [f"om-cvl-{n:03d}" for n in range(1, 17)]
    assert ids("sort=rssi&order=desc")[:10] == first_16[:10]  # -61 … -70 dBm, then the clusters without a value
    assert ids("sort=rssi")[:10] == first_16[9::-1]
    assert ids("sort=temp&order=desc")[:10] == first_16[9::-1]  # 50 … 41 °C
    assert ids("sort=status")[:16] == first_16  # online, stale, offline, then unknown
    assert ids("ward=chau-van-liem&sort=status&order=desc")[-16:] == first_16[13:] + first_16[10:13] + first_16[:10]
    assert ids("sort=last_seen&order=desc")[:16] == first_16[:10] + ["om-cvl-016"] + first_16[10:15]
    by_ward = ids("sort=ward")
    assert by_ward[0] == "om-cvl-001" and by_ward[78] == "om-lhg-001"  # Châu Văn Liêm, then Long Hưng
    assert ids("sort=name")[0] == "om-tlc-020" and ids("sort=name&order=desc")[0] == "om-tan-010"
    assert ids("sort=id&order=desc")[0] == "om-tlg-062"


def test_the_table_refuses_values_its_form_never_sends(client, technician_auth):
    log_in(client, "tech")
    for query in ("status=gone", "sort=password", "order=up", "page=0", "page=x", "q=" + "x" * 65):
        assert client.get(f"/fleet/clusters?{query}").status_code == 422, query


def test_the_table_costs_the_same_few_queries_for_any_number_of_rows(client, technician_auth):
    log_in(client, "tech")
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert len(cluster_ids(client.get("/fleet/clusters").get_data(as_text=True))) == 100
        table = len(statements)
        statements.clear()
        assert client.get("/fleet/map").get_data(as_text=True).count("<circle") == 456
        assert len(statements) <= 4
        statements.clear()
        client.get("/fleet")
        assert len(statements) <= 8  # user, their wards, session; wards, counts, availability, refusals, district's
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert table <= 7  # user, their wards, session; count, page, availability of the page, wards for the form


# --- availability -------------------------------------------------------------------------------------------


def test_availability_counts_outages_clipped_to_each_window_and_open_ones_up_to_now(seeded):
    hear_everyone()
    hours = timedelta(hours=1)
    add_outage("om-cvl-001", 30 * hours, 23 * hours)  # across the 24 h edge: 1 h of 24 h, 7 h of 7 d
    add_outage("om-cvl-002", 2 * hours, None)  # open: 2 h in both
    add_outage("om-cvl-003", 9 * 24 * hours, 6 * 24 * hours)  # across the 7 d edge: 0 of 24 h, 1 d of 7 d
    add_outage("om-cvl-004", 10 * 24 * hours, 8 * 24 * hours)  # before both windows
    add_outage("om-cvl-005", 30 * 24 * hours, None)  # open since before both windows: all of both
    add_outage("om-cvl-006", 3 * hours, 2 * hours)
    add_outage("om-cvl-006", 50 * hours, 49 * hours)  # two outages of one cluster add up: 1 h and 2 h
    add_outage("om-lhg-001", 24 * hours, 12 * hours)  # another ward: half of its day
    day, week = (w.total_seconds() / 3600 for w in fleet_health.WINDOWS)
    clusters = [f"om-cvl-{n:03d}" for n in range(1, 8)]
    got = fleet_health.cluster_availability(clusters, NOW)
    expected = {"om-cvl-001": (1, 7), "om-cvl-002": (2, 2), "om-cvl-003": (0, 24), "om-cvl-004": (0, 0),
                "om-cvl-005": (day, week), "om-cvl-006": (1, 2), "om-cvl-007": (0, 0)}
    for cid, (off_day, off_week) in expected.items():
        assert got[cid].day == pytest.approx(1 - off_day / day), cid
        assert got[cid].week == pytest.approx(1 - off_week / week), cid

    summary = fleet_health.summary(None, NOW, BEAT)
    ward = next(row for row in summary.wards if row.ward.id == "chau-van-liem")
    assert ward.total == 78
    assert ward.availability.day == pytest.approx(1 - (1 + 2 + 0 + 0 + 24 + 1) / (78 * day))
    assert ward.availability.week == pytest.approx(1 - (7 + 2 + 24 + 0 + 168 + 2) / (78 * week))
    assert summary.district.total == 456
    assert summary.district.availability.day == pytest.approx(1 - (28 + 12) / (456 * day))
    assert summary.district.availability.week == pytest.approx(1 - (203 + 12) / (456 * week))


def test_overlapping_or_backwards_outages_never_make_availability_leave_0_to_1(seeded):
    add_outage("om-cvl-001", timedelta(days=3), None)
    add_outage("om-cvl-001", timedelta(days=2), None)  # a duplicate open episode from a buggy writer
    add_outage("om-cvl-002", timedelta(hours=1), timedelta(hours=3))  # ends before it starts: counts nothing
    got = fleet_health.cluster_availability(["om-cvl-001", "om-cvl-002"], NOW)
    assert got["om-cvl-001"].day == 0.0 and got["om-cvl-001"].week == pytest.approx(1 - 5 / 7)
    assert got["om-cvl-002"] == fleet_health.Availability(1.0, 1.0)


def test_an_outage_in_the_future_or_of_a_retired_cluster_does_not_count(seeded):
    hear_everyone()
    add_outage("om-cvl-001", -timedelta(hours=1), None)  # the writer's clock ahead of ours
    add_outage("om-cvl-002", timedelta(hours=5), None)
    db.session.get(Cluster, "om-cvl-002").retired = True
    db.session.commit()
    summary = fleet_health.summary(None, NOW, BEAT)
    assert summary.district.total == 455 and summary.district.availability.day == 1.0


def test_a_cluster_never_heard_from_counts_towards_no_availability(client, technician_auth):
    set_state("om-cvl-001")
    add_outage("om-cvl-001", timedelta(hours=12), None)  # heard, then offline for half the day
    summary = fleet_health.summary(None, NOW, BEAT)
    ward = next(row for row in summary.wards if row.ward.id == "chau-van-liem")
    assert ward.availability.day == pytest.approx(0.5)  # 1 cluster judged, not 78
    assert summary.district.availability.day == pytest.approx(0.5)
    assert next(r for r in summary.wards if r.ward.id == "thoi-hoa").availability == fleet_health.NOT_JUDGED
    tech = db.session.scalar(select(User).where(User.username == "tech"))
    page = fleet_health.list_clusters(tech, fleet_health.ClusterQuery(ward="chau-van-liem"), NOW, BEAT)
    judged = {row.id: row.availability for row in page.rows}
    assert judged["om-cvl-001"].day == pytest.approx(0.5) and judged["om-cvl-002"] == fleet_health.NOT_JUDGED
    assert fleet_health.cluster_health(db.session.get(Cluster, "om-cvl-002"), NOW, BEAT).availability == \
        fleet_health.NOT_JUDGED


def test_the_summary_page_shows_counts_and_availability(client, technician_auth):
    mixed_fleet()
    add_outage("om-cvl-014", timedelta(hours=12), None)
    log_in(client, "tech")
    page = client.get("/fleet").get_data(as_text=True)
    row = page.split("Châu Văn Liêm</a>")[1].split("</tr>")[0]
    cells = re.findall(r'<td class="num">(?:<a [^>]*>)?([^<]+)', row)
    # 12 h offline of the 16 clusters ever heard × 24 h, and × 7 d; the 62 unknown ones are not judged
    assert cells == ["10", "3", "3", "62", "78", "96,9%", "99,6%"]


# --- one cluster --------------------------------------------------------------------------------------------


def test_the_cluster_page_shows_latest_values_charts_outages_and_deliveries(client, technician_auth):
    set_state("om-cvl-001", rssi_dbm=-71.5, temp_c=47.3, volume=80, speakers_ok=1, speakers_total=2, amp_ok=False,
              fw="1.4.2", uptime_s=93784)
    for n in range(7 * 24 * 12):  # a week of five-minute buckets, with a gap of an hour
        at = NOW - timedelta(minutes=5 * (n + 1))
        if timedelta(hours=3) <= NOW - at < timedelta(hours=4):
            continue
        db.session.add(TelemetryBucket(cluster_id="om-cvl-001", bucket_at=at, beats=10, rssi_avg=-70.0 - n % 7,
                                       rssi_min=-80.0, temp_avg=40.0 + n % 5, temp_max=50.0, amp_faults=0))
    add_outage("om-cvl-001", timedelta(days=2, hours=3), timedelta(days=2, hours=1), cause="disconnected")
    add_outage("om-cvl-001", timedelta(minutes=42), None)
    make_deliveries("om-cvl-001", 25)
    log_in(client, "tech")
    page = client.get("/fleet/clusters/om-cvl-001").get_data(as_text=True)
    assert "-71,5" in page and "47,3" in page and "1/2" in page and "Hỏng" in page and "1.4.2" in page
    assert "1 ngày 2 giờ" in page  # uptime 93,784 s
    assert page.count('class="chart"') == 4 and page.count('<path class="line') == 8
    day_rssi = re.search(r"Tín hiệu \(dBm\), 24 giờ qua</figcaption>.*?<path class=\"line avg\" d=\"([^\"]+)\"",
                         page, re.S).group(1)
    assert day_rssi.count("M") == 2  # one break for the missing hour
    assert "Đang mất kết nối" in page and "42 phút 0 giây" in page
    assert "2 giờ 0 phút" in page and "Mất kết nối đột ngột" in page
    deliveries = page.split("Lượt phát gần đây")[1]
    assert deliveries.count("<tr>") == 1 + 20  # header and the last 20
    assert "Bản tin 24<" in deliveries and "Bản tin 5<" in deliveries and "Bản tin 4<" not in deliveries
    assert "Đã phát xong" in deliveries and "Không phản hồi" in deliveries


def test_a_cluster_without_history_says_so(client, technician_auth):
    log_in(client, "tech")
    page = client.get("/fleet/clusters/om-cvl-001").get_data(as_text=True)
    assert page.count("Chưa có số liệu.") == 4
    assert "Chưa ghi nhận lần mất kết nối nào." in page and "Chưa có lượt phát nào." in page


def make_deliveries(cid: str, count: int) -> None:
    """Broadcasts "Bản tin 0" … each with one run an hour apart in the past, delivered to the cluster."""
    for n in range(count):
        start = NOW - timedelta(hours=count - n)
        broadcast = Broadcast(title=f"Bản tin {n}", duration_ms=60_000, priority=Priority.NORMAL,
                              targets={"clusters": [cid]}, start_at=start, created_at=start - timedelta(days=1))
        db.session.add(broadcast)
        db.session.flush()
        run = Run(broadcast_id=broadcast.id, start_at=start, dispatch_at=start - timedelta(minutes=1),
                  closes_at=start + timedelta(minutes=5), state=RunState.FINISHED)
        db.session.add(run)
        db.session.flush()
        db.session.add(Delivery(run_id=run.id, cluster_id=cid, cmd_id=f"cmd-{n}", at=start,
                                state=DeliveryState.MISSED if n % 3 == 0 else DeliveryState.DONE))
    db.session.commit()


# --- incidents ----------------------------------------------------------------------------------------------


def incidents_of_every_kind() -> None:
    """Thới An's cluster 010 offline since 11:32:26, a power cut in Trường Lạc, a dead speaker, a closed amplifier.

    Their stored summaries are in English with UTC times, as rows written before the page worded them itself are.
    """
    db.session.get(Cluster, "om-tan-010").name = "Cụm 010 · Đình Thới An"
    outage = Outage(cluster_id="om-tan-010", started_at=datetime(2026, 11, 27, 4, 32, 26, tzinfo=UTC),
                    detected_at=NOW - timedelta(minutes=27), cause=OutageCause.DISCONNECTED)
    db.session.add(outage)
    db.session.flush()
    opened = NOW - timedelta(minutes=20)  # 11:40 in Việt Nam
    db.session.add_all([
        Incident(kind=IncidentKind.CLUSTER_OFFLINE, cluster_id="om-tan-010", ward_id="thoi-an", outage_id=outage.id,
                 summary="om-tan-010 offline (disconnected) since 04:32:26 UTC", opened_at=opened),
        Incident(kind=IncidentKind.WARD_OUTAGE, ward_id="truong-lac", detail={"offline": 40, "clusters": 64},
                 summary="truong-lac: 40 of 64 clusters offline at once", opened_at=opened),
        Incident(kind=IncidentKind.SPEAKER_FAULT, cluster_id="om-tho-001", ward_id="thoi-hoa",
                 detail={"speakers_ok": 1, "speakers_total": 2}, summary="om-tho-001: 1 of 2 speakers working",
                 opened_at=opened),
        Incident(kind=IncidentKind.AMPLIFIER_FAULT, cluster_id="om-tho-002", ward_id="thoi-hoa",
                 summary="om-tho-002: amplifier draws no current", opened_at=opened,
                 closed_at=NOW - timedelta(minutes=5)),
    ])
    db.session.commit()


def main_of(page: str) -> str:
    """The page's text without its header and footer (the footer names the offset: UTC+7), names unmarked."""
    return re.sub(r'<span lang="vi">([^<]*)</span>', r"\1", page.split("<main>")[1].split("</main>")[0])


def test_the_incidents_page_names_clusters_and_wards_at_local_time_in_vietnamese(client, technician_auth):
    incidents_of_every_kind()
    log_in(client, "tech")
    page = main_of(client.get("/incidents").get_data(as_text=True))
    assert "Cụm 010 · Đình Thới An, phường Thới An mất kết nối lúc 11:32:26 27/11/2026" in page
    assert "Phường Trường Lạc: 40 trên 64 cụm mất kết nối cùng lúc" in page
    assert "Khu vực 1, cụm 001, phường Thới Hòa: 1 trên 2 loa hoạt động" in page
    assert "Khu vực 1, cụm 002, phường Thới Hòa: bộ khuếch đại không có dòng điện" in page
    assert "11:40:00 27/11/2026" in page and "Đã đóng 11:55:00 27/11/2026" in page
    for foreign in ("UTC", "offline", "om-tan-010", "thoi-an", "truong-lac", "04:32:26"):
        assert foreign not in page, foreign


def test_the_incidents_page_says_the_same_in_english(client, technician_auth):
    incidents_of_every_kind()
    log_in(client, "tech")
    page = main_of(client.get("/incidents", headers={"Accept-Language": "en"}).get_data(as_text=True))
    assert "Cụm 010 · Đình Thới An, Thới An ward disconnected at 11:32:26 27/11/2026" in page
    assert "Trường Lạc ward: 40 of 64 clusters offline at once" in page
    assert "Khu vực 1, cụm 001, Thới Hòa ward: 1 of 2 speakers working" in page
    assert "Khu vực 1, cụm 002, Thới Hòa ward: the amplifier draws no current" in page
    assert "11:40:00 27/11/2026" in page and "Closed 11:55:00 27/11/2026" in page
    for foreign in ("UTC", "phường", "mất kết nối", "om-tan-010", "04:32:26"):
        assert foreign not in page, foreign


# --- the map ------------------------------------------------------------------------------------------------


def test_the_map_draws_456_circles_coloured_by_status_with_a_tooltip_and_link_each(client, technician_auth):
    expected = mixed_fleet()
    log_in(client, "tech")
    page = client.get("/fleet/map").get_data(as_text=True)
    circles = re.findall(r'<a href="/fleet/clusters/([a-z0-9-]+)"><circle class="s-(\w+)" cx="([\d.]+)" '
                         r'cy="([\d.]+)" r="[\d.]+"><title>([^<]+)</title></circle></a>', page)
    assert len(circles) == page.count("<circle") == 456
    colours = {cid: ClusterStatus(status) for cid, status, *_ in circles}
    assert colours == {**{cid: ClusterStatus.UNKNOWN for cid in colours}, **expected}
    assert [cid for cid, *_ in circles][-3:] == ["om-cvl-014", "om-cvl-015", "om-cvl-016"]  # trouble on top
    tips = {cid: tip for cid, _s, _x, _y, tip in circles}
    assert tips["om-cvl-014"] == "om-cvl-014 · Khu vực 2, cụm 014 · Mất kết nối"
    width, height = map(float, re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', page).groups())
    assert all(0 <= float(x) <= width and 0 <= float(y) <= height for _c, _s, x, y, _t in circles)
    assert "Trực tuyến</span>: 10" in page and "Mất kết nối</span>: 3" in page and "Chưa rõ</span>: 440" in page
    assert "tile" not in page and "<script" not in page


def test_the_map_puts_north_up_and_east_right(seeded):
    points = [fleet_health.MapPoint("a", "A", 10.0, 105.0, ClusterStatus.ONLINE),
              fleet_health.MapPoint("b", "B", 10.1, 105.1, ClusterStatus.OFFLINE)]
    from pa_controller.web.technician import project

    view = project(points)
    (ax, ay), (bx, by) = view.positions
    assert bx > ax and by < ay
    assert view.height > view.width  # a degree of longitude is shorter than one of latitude, away from the equator


def test_the_stylesheet_colours_each_status():
    from pathlib import Path

    css = (Path(fleet_health.__file__).parents[1] / "web" / "static" / "loanet.css").read_text()
    for status in ClusterStatus:
        assert f".s-{status.value} {{ --status: #" in css
    assert ".fleet-map circle { fill: var(--status)" in css


def test_a_flat_chart_gets_readable_ticks_and_no_line_across_a_gap(seeded):
    from pa_controller.web.technician import line_chart

    step = timedelta(minutes=5)
    points = [fleet_health.TelemetryPoint(NOW - step * n, -70.0, -70.0, 40.0, 40.0) for n in (1, 2, 3, 10, 11)]
    with seeded.test_request_context():
        chart = line_chart(sorted(points, key=lambda p: p.at), NOW - timedelta(hours=1), NOW, ("temp_avg",), step)
    assert [text for _y, text in chart.y_ticks] == ["39,0", "39,5", "40,0", "40,5", "41,0"]
    assert chart.paths[0][1].count("M") == 2 and chart.paths[0][1].count("L") == 3
