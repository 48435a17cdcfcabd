"""Broker passwords over the API: given once to the administrator who enrols or re-provisions a cluster."""

import pytest

from pa_controller.extensions import db
from pa_controller.messaging.broker import accounts
from pa_controller.models import BrokerCredential
from tests.web.test_fleet_admin import NEW


def stored(cid: str) -> str | None:
    credential = db.session.get(BrokerCredential, cid)
    return credential.password_hash if credential else None


def test_a_cluster_added_comes_with_its_broker_password_shown_once(client, admin_auth):
    answer = client.post("/api/v1/clusters", headers=admin_auth, json=NEW)
    assert answer.status_code == 201 and answer.headers["Cache-Control"] == "no-store"
    assert accounts.password_matches(answer.get_json()["broker_password"], stored(NEW["id"]))
    again = client.get(f"/api/v1/clusters/{NEW['id']}", headers=admin_auth).get_json()
    assert "broker_password" not in again


def test_an_administrator_gives_a_cluster_a_new_password_and_the_old_stops_matching(client, admin_auth):
    first = client.post("/api/v1/clusters/om-tho-001/broker-password", headers=admin_auth)
    second = client.post("/api/v1/clusters/om-tho-001/broker-password", headers=admin_auth)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.get_json()["cluster"] == "om-tho-001" and second.headers["Cache-Control"] == "no-store"
    assert accounts.password_matches(second.get_json()["password"], stored("om-tho-001"))
    assert not accounts.password_matches(first.get_json()["password"], stored("om-tho-001"))


@pytest.mark.parametrize("who", ["officer_auth", "technician_auth"])
def test_no_one_but_an_administrator_gets_a_broker_password(client, who, request):
    answer = client.post("/api/v1/clusters/om-tho-001/broker-password", headers=request.getfixturevalue(who))
    assert answer.status_code == 403 and stored("om-tho-001") is None


def test_no_password_for_an_unknown_or_retired_cluster(client, admin_auth):
    assert client.post("/api/v1/clusters/om-zzz-404/broker-password", headers=admin_auth).status_code == 404
    assert client.delete("/api/v1/clusters/om-tho-002", headers=admin_auth).status_code == 200
    retired = client.post("/api/v1/clusters/om-tho-002/broker-password", headers=admin_auth)
    assert retired.status_code == 409 and retired.get_json()["error"]["code"] == "retired"
    assert stored("om-tho-002") is None


def test_without_a_token_it_is_401(client):
    assert client.post("/api/v1/clusters/om-tho-001/broker-password").status_code == 401
