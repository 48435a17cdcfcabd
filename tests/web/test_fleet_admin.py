"""Managing the fleet: only administrators add, edit, retire, export, import and merge; bad input changes nothing."""

import csv
import io

import pytest
from sqlalchemy import delete, func, select

from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import Cluster, ClusterState, FleetCommand, Ward
from pa_controller.services import fleet_admin, people
from tests.conftest import FLEET_CSV, PASSWORD
from tests.factories import broadcast_request, make_audio

HEADER = "id,name,ward_id,ward_name,lat,lon,speakers\n"
NEW = {"id": "om-tho-901", "name": "Chợ Thới Hòa", "ward": "thoi-hoa", "lat": 10.1091234, "lon": 105.6182,
       "speakers": 3}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def snapshot() -> list[tuple]:
    """Every cluster as stored, to show that a refused request changed nothing."""
    query = select(Cluster.id, Cluster.name, Cluster.ward_id, Cluster.lat, Cluster.lon, Cluster.speakers,
                   Cluster.retired).order_by(Cluster.id)
    return [tuple(row) for row in db.session.execute(query)] + [tuple(w) for w in db.session.execute(
        select(Ward.id, Ward.name).order_by(Ward.id))]


def rows(text: str) -> dict[str, dict]:
    return {r["id"]: r for r in csv.DictReader(io.StringIO(text))}


def test_an_administrator_adds_a_cluster_that_can_be_heard_from(client, admin_auth):
    response = client.post("/api/v1/clusters", headers=admin_auth, json=NEW)
    assert response.status_code == 201, response.get_json()
    added = client.get("/api/v1/clusters/om-tho-901", headers=admin_auth).get_json()
    assert (added["name"], added["ward"], added["lat"], added["speakers"], added["status"]) == (
        "Chợ Thới Hòa", "thoi-hoa", 10.1091234, 3, "unknown")
    assert db.session.get(ClusterState, "om-tho-901") is not None  # ingest only records clusters with a state
    wards = {w["id"]: w for w in client.get("/api/v1/wards", headers=admin_auth).get_json()}
    assert wards["thoi-hoa"]["clusters"] == 59


def test_technicians_and_officers_cannot_manage_the_fleet(client, technician_auth, officer_auth):
    before = snapshot()
    for auth in (technician_auth, officer_auth):
        calls = [
            client.post("/api/v1/clusters", headers=auth, json=NEW),
            client.patch("/api/v1/clusters/om-tho-001", headers=auth, json={"name": "Đổi tên"}),
            client.delete("/api/v1/clusters/om-tho-001", headers=auth),
            client.get("/api/v1/clusters.csv", headers=auth),
            client.post("/api/v1/clusters/import", headers={**auth, "Content-Type": "text/csv"},
                        data=FLEET_CSV.read_bytes()),
            client.post("/api/v1/wards/merge", headers=auth, json={"from": "thoi-an", "into": "thoi-hoa"}),
        ]
        assert [c.status_code for c in calls] == [403] * 6
    assert snapshot() == before


def unknown(body) -> int:
    """An id that names nothing is 404; any other refusal 422."""
    return 404 if "atlantis" in str(body) or "om-nowhere" in str(body) else 422


@pytest.mark.parametrize(
    "overrides",
    [
        {"id": "OM-THO-901"}, {"id": "om/tho"}, {"id": "x" * 33}, {"id": 901}, {"id": "a\x00b"},
        {"name": ""}, {"name": "   "}, {"name": "x" * 121}, {"name": "Cụm\nmột"}, {"name": "=HYPERLINK(1)"},
        {"name": 7},
        {"ward": "atlantis"}, {"ward": "thoi-hoa\x00"}, {"ward": None},
        {"lat": 0}, {"lat": 91}, {"lat": "10.1"}, {"lat": True}, {"lon": 0}, {"lon": -105.6}, {"lon": None},
        {"speakers": 0}, {"speakers": 4}, {"speakers": 2.0}, {"speakers": "2"},
        {"colour": "red"}, {"retired": False},
    ],
)
def test_a_bad_new_cluster_is_422_and_adds_nothing(client, admin_auth, overrides):
    before = snapshot()
    response = client.post("/api/v1/clusters", headers=admin_auth, json={**NEW, **overrides})
    assert response.status_code == unknown(overrides), response.get_json()
    assert response.get_json()["error"]["fields"]
    assert snapshot() == before


def test_a_new_cluster_needs_every_field(client, admin_auth):
    for missing in NEW:
        body = {k: v for k, v in NEW.items() if k != missing}
        assert client.post("/api/v1/clusters", headers=admin_auth, json=body).status_code == 422, missing
    assert db.session.get(Cluster, "om-tho-901") is None


def test_an_existing_id_is_a_conflict(client, admin_auth):
    response = client.post("/api/v1/clusters", headers=admin_auth, json={**NEW, "id": "om-tho-001"})
    assert response.status_code == 409
    assert db.session.get(Cluster, "om-tho-001").name == "Khu vực 1, cụm 001"


def test_editing_renames_and_moves_a_cluster_to_another_ward(client, admin_auth):
    response = client.patch("/api/v1/clusters/om-tho-001", headers=admin_auth,
                            json={"name": " Trạm y tế ", "ward": "thoi-an", "speakers": 1, "lat": 10.11})
    assert response.status_code == 200, response.get_json()
    cluster = db.session.get(Cluster, "om-tho-001")
    assert (cluster.name, cluster.ward_id, cluster.speakers, cluster.lat) == ("Trạm y tế", "thoi-an", 1, 10.11)


@pytest.mark.parametrize(
    "body",
    [{}, {"id": "om-tho-999"}, {"ward": "atlantis"}, {"speakers": 9}, {"lat": 10.1, "lon": "east"},
     {"retired": True}, {"name": "ok", "colour": "red"}],
)
def test_a_bad_edit_is_422_and_changes_nothing(client, admin_auth, body):
    before = snapshot()
    response = client.patch("/api/v1/clusters/om-tho-001", headers=admin_auth, json=body)
    assert response.status_code == unknown(body), response.get_json()
    assert snapshot() == before


def test_an_unknown_cluster_is_404_for_edit_and_retire(client, admin_auth):
    assert client.patch("/api/v1/clusters/om-nowhere", headers=admin_auth, json={"name": "x"}).status_code == 404
    assert client.delete("/api/v1/clusters/om-nowhere", headers=admin_auth).status_code == 404
    assert client.delete("/api/v1/clusters/NOT%20AN%20ID", headers=admin_auth).status_code == 404


def test_retiring_keeps_history_and_takes_the_cluster_out_of_service(client, admin_auth):
    client.post("/api/v1/commands", headers=admin_auth, json={"type": "reboot", "clusters": ["om-tho-001"]})
    response = client.delete("/api/v1/clusters/om-tho-001", headers=admin_auth)
    assert response.status_code == 200 and response.get_json()["retired"] is True
    assert db.session.get(Cluster, "om-tho-001").retired
    assert count(FleetCommand) == 1
    listed = {c["id"] for c in client.get("/api/v1/clusters?ward=thoi-hoa", headers=admin_auth).get_json()}
    assert "om-tho-001" not in listed and len(listed) == 57
    again = client.delete("/api/v1/clusters/om-tho-001", headers=admin_auth)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "retired"
    assert "retired" in client.post("/api/v1/clusters", headers=admin_auth,
                                    json={**NEW, "id": "om-tho-001"}).get_json()["error"]["message"]


def test_a_retired_cluster_can_be_brought_back_into_service(client, admin_auth):
    client.delete("/api/v1/clusters/om-tho-001", headers=admin_auth)
    response = client.patch("/api/v1/clusters/om-tho-001", headers=admin_auth, json={"retired": False})
    assert response.status_code == 200 and not db.session.get(Cluster, "om-tho-001").retired


def test_the_export_is_the_fleet_file_the_import_reads(client, admin_auth):
    response = client.get("/api/v1/clusters.csv", headers=admin_auth)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith(HEADER)
    exported, shipped = rows(text), rows(FLEET_CSV.read_text(encoding="utf-8"))
    assert exported.keys() == shipped.keys()
    for cid, row in shipped.items():
        assert {k: float(v) if k in ("lat", "lon") else v for k, v in exported[cid].items()} == \
            {k: float(v) if k in ("lat", "lon") else v for k, v in row.items()}, cid


def test_export_then_import_round_trips(client, admin_auth):
    """Whatever changed since, importing an export restores the clusters in service as they were."""
    client.post("/api/v1/clusters", headers=admin_auth, json={**NEW, "name": 'Cụm "chợ", bến đò'})
    client.delete("/api/v1/clusters/om-tho-002", headers=admin_auth)
    exported = client.get("/api/v1/clusters.csv", headers=admin_auth).get_data()
    before = snapshot()
    client.patch("/api/v1/clusters/om-tho-901", headers=admin_auth, json={"name": "Đổi", "lat": 10.2})
    client.patch("/api/v1/clusters/om-cvl-001", headers=admin_auth, json={"ward": "thoi-an", "speakers": 1})
    answer = client.post("/api/v1/clusters/import", headers={**admin_auth, "Content-Type": "text/csv"}, data=exported)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"wards": 7, "clusters": 456, "speakers": 928 - 2 + 3}
    assert snapshot() == before
    assert client.get("/api/v1/clusters.csv", headers=admin_auth).get_data() == exported


def test_import_takes_a_multipart_file_and_adds_and_updates(client, admin_auth):
    text = (HEADER + "om-tho-001,Cụm mới tên,thoi-hoa,Thới Hòa,10.1,105.6,1\n"
            "om-xyz-001,Cụm mới,xom-moi,Xóm Mới,10.2,105.7,2\n")
    data = {"file": (io.BytesIO(("\ufeff" + text).encode()), "fleet.csv")}
    answer = client.post("/api/v1/clusters/import", headers=admin_auth, data=data, content_type="multipart/form-data")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"wards": 2, "clusters": 2, "speakers": 3}
    assert db.session.get(Cluster, "om-tho-001").name == "Cụm mới tên"
    assert db.session.get(Ward, "xom-moi").name == "Xóm Mới"
    assert db.session.get(ClusterState, "om-xyz-001") is not None


def test_a_bad_import_reports_every_bad_row_by_number_and_imports_nothing(client, admin_auth):
    before = snapshot()
    text = (HEADER + "om-tho-001,Đổi tên,thoi-hoa,Thới Hòa,10.1,105.6,2\n"
            "OM/BAD,Cụm 2,thoi-hoa,Thới Hòa,10.1,105.6,2\n"
            "om-tho-003,Cụm 3,thoi-hoa,Thới Hòa,north,105.6,2\n"
            "om-tho-001,Cụm 4,thoi-hoa,Thới Hòa,10.1,105.6,0\n")
    answer = client.post("/api/v1/clusters/import", headers={**admin_auth, "Content-Type": "text/csv"}, data=text)
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "fleet_invalid" and "chưa nhập gì cả" in error["message"]
    assert [e.split(":")[0] for e in error["errors"]] == ["dòng 3", "dòng 4", "dòng 5"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"cluster,where\nx,y\n", "text/csv", 422),
        (HEADER.encode(), "text/csv", 422),
        ((HEADER + "om-a,Cụm,thoi-hoa,Thới Hòa,10.1,105.6,2\n").encode("utf-16"), "text/csv", 422),
        ((HEADER + "om-a,C\x00m,thoi-hoa,Thới Hòa,10.1,105.6,2\n").encode(), "text/csv", 422),
        ((HEADER + 'om-a,"' + "x" * 200_000 + '",thoi-hoa,Thới Hòa,10.1,105.6,2\n').encode(), "text/csv", 422),
        (FLEET_CSV.read_bytes(), "application/json", 422),
        (b"x" * (fleet_admin.MAX_CSV_BYTES + 1), "text/csv", 413),
    ],
)
def test_an_unreadable_import_is_refused_and_changes_nothing(client, admin_auth, body, content_type, status):
    before = snapshot()
    answer = client.post("/api/v1/clusters/import", headers={**admin_auth, "Content-Type": content_type}, data=body)
    assert answer.status_code == status, answer.get_json()
    assert answer.get_json()["error"]["message"]
    assert snapshot() == before


def test_an_import_without_the_file_field_is_422(client, admin_auth):
    answer = client.post("/api/v1/clusters/import", headers=admin_auth, data={"other": "x"},
                         content_type="multipart/form-data")
    assert answer.status_code == 422 and answer.get_json()["error"]["fields"] == {"file": "missing"}


def test_merging_wards_moves_every_cluster_and_keeps_the_emptied_ward(client, admin_auth):
    people.create_user("officer-thoi-an", PASSWORD, Role.OFFICER, "thoi-an")
    created = client.post("/api/v1/broadcasts", headers=admin_auth,
                          json=broadcast_request(make_audio().id, targets={"wards": ["thoi-an"]})).get_json()
    client.delete("/api/v1/clusters/om-tan-001", headers=admin_auth)
    answer = client.post("/api/v1/wards/merge", headers=admin_auth, json={"from": "thoi-an", "into": "thoi-long"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"from": "thoi-an", "into": "thoi-long", "moved": 66, "in_service": 65,
                                 "officers_left": ["officer-thoi-an"], "broadcasts_naming_from": [created["id"]]}
    wards = {w["id"]: w for w in client.get("/api/v1/wards", headers=admin_auth).get_json()}
    assert wards["thoi-an"]["clusters"] == 0 and wards["thoi-long"]["clusters"] == 62 + 65
    assert db.session.scalar(select(func.count()).where(Cluster.ward_id == "thoi-an")) == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"from": "thoi-an"}, {"from": "thoi-an", "into": "thoi-an"}, {"from": "atlantis", "into": "thoi-hoa"},
     {"from": "thoi-an", "into": "thoi-hoa\x00"}, {"from": ["thoi-an"], "into": "thoi-hoa"}],
)
def test_a_bad_merge_is_422_and_moves_nothing(client, admin_auth, body):
    before = snapshot()
    answer = client.post("/api/v1/wards/merge", headers=admin_auth, json=body)
    assert answer.status_code == unknown(body), answer.get_json()
    assert snapshot() == before


def test_fleet_management_is_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "patch", "delete"} <= set(paths["/clusters/{id}"]) and "post" in paths["/clusters"]
    for path in ("/clusters.csv", "/clusters/import", "/wards/merge"):
        assert path in paths


def test_an_export_imported_into_an_empty_database_exports_the_same(seeded):
    admin = people.create_user("root", PASSWORD, Role.ADMIN)
    fleet_admin.add_cluster(admin, {**NEW, "name": "Bến đò, \"Cái Vồn\"", "lat": 10.123456789})
    exported = fleet_admin.export_csv(admin)
    for model in (ClusterState, Cluster, Ward):
        db.session.execute(delete(model))
    db.session.commit()
    fleet_admin.import_fleet(admin, exported.encode())
    assert fleet_admin.export_csv(admin) == exported
    assert db.session.get(Cluster, "om-tho-901").lat == 10.123456789
