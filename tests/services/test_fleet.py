"""The fleet is data: imported all or nothing, with row-numbered errors."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from pa_controller import clock
from pa_controller.domain import ClusterStatus
from pa_controller.extensions import db
from pa_controller.models import Cluster, ClusterState, Ward
from pa_controller.services import fleet
from tests.conftest import FLEET_CSV


def test_the_shipped_fleet_is_o_mon_7_wards_456_clusters_928_speakers(app):
    result = fleet.import_csv(FLEET_CSV.read_text(encoding="utf-8"))
    assert (result.wards, result.clusters, result.speakers) == (7, 456, 928)
    assert db.session.scalar(select(func.sum(Cluster.speakers))) == 928
    assert {w.name for w in db.session.scalars(select(Ward))} == {
        "Châu Văn Liêm", "Thới Hòa", "Thới An", "Phước Thới", "Trường Lạc", "Long Hưng", "Thới Long"}
    lats = [c.lat for c in db.session.scalars(select(Cluster))]
    assert 10.0 < min(lats) and max(lats) < 10.2


def test_importing_twice_updates_instead_of_duplicating(app):
    text = FLEET_CSV.read_text(encoding="utf-8")
    fleet.import_csv(text)
    fleet.import_csv(text)
    assert db.session.scalar(select(func.count()).select_from(Cluster)) == 456
    assert db.session.scalar(select(func.count()).select_from(ClusterState)) == 456


def test_a_bad_file_names_each_bad_row_and_imports_nothing(app):
    text = (
        "id,name,ward_id,ward_name,lat,lon,speakers\n"
        "om-tho-001,Cụm 1,thoi-hoa,Thới Hòa,10.1,105.6,2\n"
        "OM/BAD,Cụm 2,thoi-hoa,Thới Hòa,10.1,105.6,2\n"
        "om-tho-003,Cụm 3,thoi-hoa,Thới Hòa,north,105.6,2\n"
        "om-tho-001,Cụm 4,thoi-hoa,Thới Hòa,10.1,105.6,0\n"
    )
    with pytest.raises(fleet.FleetImportError) as caught:
        fleet.import_csv(text)
    errors = "\n".join(caught.value.errors)
    assert "dòng 3: id “OM/BAD”" in errors
    assert "dòng 4: lat “north”" in errors
    assert "dòng 5: speakers “0”" in errors
    assert db.session.scalar(select(func.count()).select_from(Cluster)) == 0


@pytest.mark.parametrize(("row", "error"), [
    ("om-tho-001,Cụm 1,thoi-hoa,Thới Hòa,10.1,105.6,4", "dòng 2: speakers “4” phải là số nguyên từ 1 đến 3"),
    ("om-tho-001,Cụm 1,thoi-hoa,Thới Hòa,105.6,10.1,2", "dòng 2: lat “105.6” không phải số trong khoảng 8.0 đến 23.5"),
])
def test_the_import_holds_a_cluster_to_what_the_api_accepts(app, row, error):
    with pytest.raises(fleet.FleetImportError) as caught:
        fleet.import_csv(f"{','.join(fleet.COLUMNS)}\n{row}\n")
    assert error in caught.value.errors


HEADER = ",".join(fleet.COLUMNS)


@pytest.mark.parametrize(("text", "error"), [
    (f"{HEADER}\nom-tho-001,Cụm\0 1,thoi-hoa,Thới Hòa,10.1,105.6,2\n", "dòng 2: name có ký tự điều khiển"),
    (f'{HEADER}\n"om-tho-001,Cụm 1', "dòng 2: không đọc được dạng CSV"),
    (f'{HEADER}\nom-tho-001,"Cụm" 1,thoi-hoa,Thới Hòa,10.1,105.6,2\n', "dòng 2: không đọc được dạng CSV"),
])
def test_a_file_that_is_not_clean_csv_is_refused_with_its_row_and_imports_nothing(app, text, error):
    with pytest.raises(fleet.FleetImportError) as caught:
        fleet.import_csv(text)
    assert caught.value.errors[0].startswith(error)
    assert db.session.scalar(select(func.count()).select_from(Cluster)) == 0


def test_a_file_without_the_expected_columns_is_refused(app):
    with pytest.raises(fleet.FleetImportError, match="chưa nhập gì cả") as caught:
        fleet.import_csv("cluster,where\nx,y\n")
    assert "thiếu cột" in caught.value.errors[0]


@pytest.mark.parametrize(
    ("online", "silence_s", "expected"),
    [(True, 10, ClusterStatus.ONLINE), (True, 61, ClusterStatus.STALE), (True, 91, ClusterStatus.OFFLINE),
     (False, 1, ClusterStatus.OFFLINE)],
)
def test_status_is_judged_on_the_controllers_clock(online, silence_s, expected):
    now = clock.now()
    state = ClusterState(status=ClusterStatus.ONLINE, online=online, heartbeat_at=now - timedelta(seconds=silence_s))
    assert fleet.effective_status(state, now, heartbeat_s=30) is expected


def test_a_cluster_never_heard_from_is_unknown():
    assert fleet.effective_status(ClusterState(status=ClusterStatus.UNKNOWN), clock.now(), 30) is ClusterStatus.UNKNOWN


def test_the_wards_statuses_are_counted_as_each_cluster_is_judged(seeded):
    now = clock.now()
    judged = {  # a cluster of Thới Hòa in each status; the others were never heard from
        "om-tho-001": dict(status=ClusterStatus.ONLINE, online=True, heartbeat_at=now - timedelta(seconds=10)),
        "om-tho-002": dict(status=ClusterStatus.ONLINE, online=True, heartbeat_at=now - timedelta(seconds=61)),
        "om-tho-003": dict(status=ClusterStatus.ONLINE, online=True, status_at=now - timedelta(seconds=91)),
        "om-tho-004": dict(status=ClusterStatus.OFFLINE, online=False, status_at=now),
    }
    for cid, values in judged.items():
        state = db.session.get(ClusterState, cid) or ClusterState(cluster_id=cid)
        for name, value in values.items():
            setattr(state, name, value)
        db.session.add(state)
    if (nothing_yet := db.session.get(ClusterState, "om-tho-005")) is not None:
        db.session.delete(nothing_yet)  # no state row at all: unknown too
    db.session.get(Cluster, "om-tho-006").retired = True
    db.session.commit()
    by_ward = {ward.id: (counts, total) for ward, counts, total in fleet.status_by_ward(None, now, 30)}
    clusters = db.session.scalar(select(func.count()).select_from(Cluster).where(
        Cluster.ward_id == "thoi-hoa", Cluster.retired.is_(False)))
    counts, total = by_ward["thoi-hoa"]
    assert total == clusters
    assert counts == {"online": 1, "stale": 1, "offline": 2, "unknown": clusters - 4}
    assert [ward.id for ward, _counts, _total in fleet.status_by_ward({"thoi-hoa"}, now, 30)] == ["thoi-hoa"]
