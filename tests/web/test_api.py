"""API v1: who may do what, and every bad request gets a clear 4xx that changes nothing."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import Broadcast, Run
from tests.factories import broadcast_request, make_audio


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_health_needs_no_token_and_names_what_is_missing(client):
    answer = client.get("/api/v1/health").get_json()
    assert answer["db"] == "ok"
    assert "never started" in answer["scheduler"]


def test_the_openapi_document_lists_every_endpoint(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/health", "/wards", "/clusters", "/clusters/{id}", "/audio", "/broadcasts", "/broadcasts/{id}",
                 "/runs", "/runs/{id}", "/wards/{id}/rules"):
        assert path in paths


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic YWRtaW46YWRtaW4="])
def test_without_a_valid_token_the_api_answers_401(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/clusters", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_wards_list_clusters_and_speakers(client, admin_auth):
    wards = {w["id"]: w for w in client.get("/api/v1/wards", headers=admin_auth).get_json()}
    assert len(wards) == 7
    assert sum(w["clusters"] for w in wards.values()) == 456
    assert sum(w["speakers"] for w in wards.values()) == 928


def test_clusters_filter_by_ward_and_status(client, admin_auth):
    thoi_hoa = client.get("/api/v1/clusters?ward=thoi-hoa", headers=admin_auth).get_json()
    assert thoi_hoa and {c["ward"] for c in thoi_hoa} == {"thoi-hoa"}
    assert client.get("/api/v1/clusters?status=online", headers=admin_auth).get_json() == []
    assert client.get("/api/v1/clusters?status=weird", headers=admin_auth).status_code == 422


def test_an_officer_sees_only_their_own_ward(client, officer_auth):
    clusters = client.get("/api/v1/clusters", headers=officer_auth).get_json()
    assert {c["ward"] for c in clusters} == {"thoi-hoa"}
    assert client.get("/api/v1/clusters/om-cvl-001", headers=officer_auth).status_code == 404


def test_an_unknown_cluster_is_404_in_json(client, admin_auth):
    response = client.get("/api/v1/clusters/om-none-999", headers=admin_auth)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_an_officer_schedules_for_their_ward_and_gets_the_next_runs(client, officer_auth):
    clip = make_audio()
    response = client.post("/api/v1/broadcasts", headers=officer_auth, json=broadcast_request(clip.id))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert len(body["next_runs"]) == 1 and count(Run) == 1


def test_an_officer_cannot_target_another_ward(client, officer_auth):
    clip = make_audio()
    request = broadcast_request(clip.id, targets={"wards": ["thoi-hoa", "long-hung"]})
    response = client.post("/api/v1/broadcasts", headers=officer_auth, json=request)
    assert response.status_code == 403
    assert "Long Hưng" in response.get_json()["error"]["message"], "wards by name"
    assert count(Broadcast) == 0


def test_a_technician_cannot_schedule(client, technician_auth):
    clip = make_audio()
    response = client.post("/api/v1/broadcasts", headers=technician_auth, json=broadcast_request(clip.id))
    assert response.status_code == 403 and count(Broadcast) == 0


def test_a_daily_rule_is_evaluated_in_vietnam_time(client, admin_auth):
    clip = make_audio()
    tomorrow = (clock.now() + timedelta(days=1)).astimezone(clock.LOCAL_ZONE).date()
    request = broadcast_request(clip.id, start_at=f"{tomorrow}T05:30:00", rrule="FREQ=DAILY;COUNT=3")
    body = client.post("/api/v1/broadcasts", headers=admin_auth, json=request).get_json()
    assert [t[11:19] for t in body["next_runs"]] == ["22:30:00"] * 3  # 05:30 in Hanoi is 22:30 UTC


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": 42}, "title"),
        ({"audio_id": 999}, "audio_id"),
        ({"audio_id": "1"}, "audio_id"),
        ({"priority": "urgent"}, "priority"),
        ({"targets": {}}, "targets"),
        ({"targets": {"wards": ["atlantis"]}}, "targets"),
        ({"targets": {"all": True, "wards": ["thoi-hoa"]}}, "targets"),
        ({"targets": {"clusters": "om-tho-001"}}, "targets.clusters"),  # nested, as clusters.0 for commands
        ({"start_at": "2020-01-01T00:00:00Z"}, "start_at"),
        ({"start_at": "tomorrow"}, "start_at"),
        ({"start_at": None}, "start_at"),
        ({"rrule": "FREQ=SOMETIMES"}, "rrule"),
        ({"rrule": "FREQ=DAILY;UNTIL=20200101T000000Z"}, "rrule"),
        ({"until": "2020-01-01T00:00:00Z"}, "until"),
    ],
)
def test_an_impossible_broadcast_is_refused_with_the_field_and_stores_nothing(client, admin_auth, overrides, field):
    clip = make_audio()
    response = client.post("/api/v1/broadcasts", headers=admin_auth, json=broadcast_request(clip.id, **overrides))
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert count(Broadcast) == 0 and count(Run) == 0


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_gets_422(client, admin_auth, body):
    response = client.post("/api/v1/broadcasts", headers={**admin_auth, "Content-Type": "application/json"}, data=body)
    assert response.status_code == 422
    assert response.get_json()["error"]["message"]


def test_unknown_paths_and_methods_answer_json_not_html(client, admin_auth):
    assert client.get("/api/v1/nothing", headers=admin_auth).status_code == 404
    response = client.put("/api/v1/wards", headers=admin_auth)
    assert response.status_code == 405 and response.get_json()["error"]["code"]


def test_cancelling_a_broadcast_cancels_its_scheduled_runs(client, admin_auth):
    clip = make_audio()
    created = client.post("/api/v1/broadcasts", headers=admin_auth, json=broadcast_request(clip.id)).get_json()
    response = client.delete(f"/api/v1/broadcasts/{created['id']}", headers=admin_auth)
    assert response.status_code == 200 and response.get_json()["cancelled_at"]
    runs = client.get(f"/api/v1/runs?broadcast_id={created['id']}", headers=admin_auth).get_json()
    assert [r["state"] for r in runs] == ["cancelled"]


def test_times_in_answers_are_utc(client, admin_auth):
    clip = make_audio()
    start = (clock.now() + timedelta(hours=2)).replace(microsecond=0)
    local = start.astimezone(clock.LOCAL_ZONE).replace(tzinfo=None).isoformat()
    created = client.post("/api/v1/broadcasts", headers=admin_auth,
                          json=broadcast_request(clip.id, start_at=local)).get_json()
    assert created["start_at"] == protocol.format_time(start)


def test_an_officer_sees_the_scheduled_runs_of_their_ward_but_not_of_another(client, admin_auth, officer_auth):
    clip = make_audio()
    own = client.post("/api/v1/broadcasts", headers=officer_auth, json=broadcast_request(clip.id)).get_json()
    other = client.post("/api/v1/broadcasts", headers=admin_auth,
                        json=broadcast_request(clip.id, targets={"wards": ["long-hung"]})).get_json()
    assert len(client.get(f"/api/v1/runs?broadcast_id={own['id']}", headers=officer_auth).get_json()) == 1
    other_run = client.get(f"/api/v1/runs?broadcast_id={other['id']}", headers=admin_auth).get_json()[0]
    assert client.get(f"/api/v1/runs/{other_run['id']}", headers=officer_auth).status_code == 404
    assert client.get(f"/api/v1/broadcasts/{other['id']}", headers=officer_auth).status_code == 404
    assert [r["broadcast_id"] for r in client.get("/api/v1/runs", headers=officer_auth).get_json()] == [own["id"]]
