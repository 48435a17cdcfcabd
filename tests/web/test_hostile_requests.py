"""No request, however malformed, gets a 500: each gets a 4xx that says what is wrong."""

import pytest

from tests.factories import broadcast_request, make_audio


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/runs?broadcast_id=²"),
        ("get", "/api/v1/runs?broadcast_id=99999999999999999999"),
        ("get", "/api/v1/runs/99999999999999999999"),
        ("get", "/api/v1/broadcasts/99999999999999999999"),
        ("delete", "/api/v1/broadcasts/99999999999999999999"),
        ("get", "/api/v1/clusters/a%00b"),
        ("get", "/api/v1/clusters?ward=%00"),
        ("get", "/api/v1/runs?state=%00"),
        ("get", "/api/v1/commands?limit=1e3"),
        ("get", "/api/v1/commands?cluster=%00"),
        ("get", "/api/v1/incidents?open=maybe"),
        ("get", "/api/v1/audio?composed=%FF"),
    ],
)
def test_odd_ids_and_queries_get_a_4xx(client, admin_auth, method, path):
    response = getattr(client, method)(path, headers=admin_auth)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"start_at": "0001-01-01T00:00:00"},
        {"until": "9999-12-31T23:00:00-12:00"},
        {"audio_id": 10**30},
        {"audio_id": True},
        {"title": "a\x00b"},
        {"targets": {"wards": ["thoi-hoa\x00"]}},
        {"targets": {"clusters": [f"c{i}" for i in range(2001)]}},
        {"targets": {"clusters": ["0"], "all": {}}},  # a message with JSON braces was read by str.format: a 500
        {"rrule": "FREQ=SECONDLY"},
        {"rrule": "FREQ=DAILY;INTERVAL=0"},
        {"rrule": "FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12;BYMINUTE=0,30"},
    ],
)
def test_impossible_values_in_a_broadcast_get_422(client, admin_auth, overrides):
    clip = make_audio()
    response = client.post("/api/v1/broadcasts", headers=admin_auth, json=broadcast_request(clip.id, **overrides))
    assert response.status_code == 422, response.get_data(as_text=True)


def test_deeply_nested_json_is_refused(client, admin_auth):
    response = client.post("/api/v1/broadcasts", headers={**admin_auth, "Content-Type": "application/json"},
                           data="[" * 100_000)
    assert response.status_code == 422


def test_a_nul_in_a_login_form_is_400(client):
    assert client.post("/login", data={"username": "a\x00", "password": "x"}).status_code == 400


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/commands", {"type": "set_volume", "clusters": ["om-tho-001"], "volume": True}, "volume"),
        ("/api/v1/commands", {"type": "play", "clusters": ["om-tho-001"]}, "type"),
        ("/api/v1/commands", {"type": "reboot", "clusters": ["om-tho-001\x00"]}, "clusters.0"),
        ("/api/v1/commands", {"type": "reboot", "clusters": "om-tho-001"}, "clusters"),
        ("/api/v1/stop-all", {"reason": "thử", "force": True}, "force"),
        ("/api/v1/stop-all", {"reason": ["thử"]}, "reason"),
        ("/api/v1/maintenance", {"starts_at": "2026-12-01T08:00", "ends_at": "2026-12-01T10:00",
                                 "reason": "Thay\x00 ắc quy"}, "reason"),
    ],
)
def test_a_body_its_schema_refuses_is_422_naming_the_field(client, admin_auth, path, body, field):
    response = client.post(path, headers=admin_auth, json=body)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in response.get_json()["error"]["fields"]


@pytest.mark.parametrize("path", ["/api/v1/commands", "/api/v1/stop-all", "/api/v1/maintenance"])
@pytest.mark.parametrize("data", ["[1, 2]", '"text"', "{", "[" * 100_000])
def test_a_body_that_is_not_an_object_is_422(client, admin_auth, path, data):
    response = client.post(path, headers={**admin_auth, "Content-Type": "application/json"}, data=data)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"weekdays": [True]}, "weekdays.0"), ({"weekdays": []}, "weekdays"), ({"max_session_minutes": 1.5},
     "max_session_minutes"), ({"quiet_hours": {"start": "21:30"}}, "quiet_hours.end"),
     ({"quiet_hours": {"start": "21:30\x00", "end": "05:00"}}, "quiet_hours.start"), ({"holidays": []}, "holidays")],
)
def test_ward_rules_the_schema_refuses_are_422_naming_the_field(client, admin_auth, body, field):
    response = client.put("/api/v1/wards/thoi-hoa/rules", headers=admin_auth, json=body)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in response.get_json()["error"]["fields"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"chime": 1}, "chime"), ({"repeat": None}, "repeat"), ({"gap_s": "1"}, "gap_s"), ({"gap_s": float("nan")},
     "gap_s"), ({"items": ["x"]}, "items.0"), ({"times": [530]}, "times.0"), ({"exdates": "2027-01-01"}, "exdates"),
     ({"title": "Họp\x00"}, "title"), ({"targets": "all"}, "targets"), ({"override_reason": 42}, "override_reason"),
     ({"kind": "relay", "stream_url": "http://radio.example/\x00", "duration_s": 600}, "stream_url"),
     ({"rrule": False}, "rrule"), ({"colour": "red"}, "colour")],
)
def test_a_broadcast_body_its_schema_refuses_is_422_naming_the_field(client, admin_auth, overrides, field):
    body = broadcast_request(make_audio().id, **overrides)
    for path in ("/api/v1/broadcasts", "/api/v1/broadcasts?dry_run=true"):
        response = client.post(path, headers=admin_auth, json=body)
        assert response.status_code == 422, response.get_data(as_text=True)
        assert field in response.get_json()["error"]["fields"]


def test_an_edit_is_checked_by_the_same_schema_and_changes_nothing_when_refused(client, admin_auth):
    made = client.post("/api/v1/broadcasts", headers=admin_auth, json=broadcast_request(make_audio().id)).get_json()
    for body, field in (({"repeat": True}, "repeat"), ({"targets": {"wards": "thoi-hoa"}}, "targets.wards"),
                        ({"title": ""}, "title"), ({"id": 7}, "id")):
        response = client.patch(f"/api/v1/broadcasts/{made['id']}", headers=admin_auth, json=body)
        assert response.status_code == 422 and field in response.get_json()["error"]["fields"], response.get_json()
    assert client.get(f"/api/v1/broadcasts/{made['id']}", headers=admin_auth).get_json()["title"] == made["title"]


def test_who_may_schedule_comes_before_the_shape_of_the_body(client, technician_auth):
    response = client.post("/api/v1/broadcasts", headers=technician_auth, json={"title": 42})
    assert response.status_code == 403


def test_a_put_of_ward_rules_without_a_body_is_422_and_resets_nothing(client, admin_auth):
    rules = {"max_sessions_per_day": 3, "weekdays": [1, 2, 3, 4, 5]}
    assert client.put("/api/v1/wards/thoi-hoa/rules", headers=admin_auth, json=rules).status_code == 200
    assert client.put("/api/v1/wards/thoi-hoa/rules", headers=admin_auth).status_code == 422
    kept = client.get("/api/v1/wards/thoi-hoa/rules", headers=admin_auth).get_json()
    assert (kept["max_sessions_per_day"], kept["weekdays"]) == (3, [1, 2, 3, 4, 5])
