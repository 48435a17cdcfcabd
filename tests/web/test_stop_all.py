"""Stop-all: only an administrator may silence the district, and must say why."""

import json

from sqlalchemy import func, select

import pa_protocol as protocol
from pa_controller.extensions import db
from pa_controller.models import OutboxMessage, StopOrder
from tests.conftest import PASSWORD


def test_an_administrator_silences_every_cluster_with_one_stop_each(client, admin_auth):
    response = client.post("/api/v1/stop-all", headers=admin_auth, json={"reason": "Báo nhầm cảnh báo bão"})
    assert response.status_code == 202
    assert response.get_json()["clusters"] == 456
    commands = [json.loads(p) for p in db.session.scalars(select(OutboxMessage.payload))]
    assert len(commands) == 456 and {c["type"] for c in commands} == {"stop"}
    assert len({c["cid"] for c in commands}) == 456
    row = db.session.scalars(select(OutboxMessage)).first()
    assert protocol.decode(protocol.CMD, row.topic.split("/")[3], row.payload)["type"] == "stop"
    assert db.session.get(StopOrder, response.get_json()["id"]).reason == "Báo nhầm cảnh báo bão"


def test_officers_and_technicians_cannot_stop_all(client, officer_auth, technician_auth):
    for auth in (officer_auth, technician_auth):
        assert client.post("/api/v1/stop-all", headers=auth, json={"reason": "thử"}).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_stop_all_needs_a_reason(client, admin_auth):
    for body in ({}, {"reason": ""}, {"reason": 42}, {"reason": "x" * 501}):
        assert client.post("/api/v1/stop-all", headers=admin_auth, json=body).status_code == 422
    assert db.session.scalar(select(func.count()).select_from(StopOrder)) == 0


def test_the_red_button_is_on_the_administrators_dashboard_only(client, admin_auth, officer_auth):
    client.post("/login", data={"username": "officer-thoi-hoa", "password": PASSWORD})
    assert "DỪNG PHÁT TOÀN BỘ" not in client.get("/").get_data(as_text=True)
    client.post("/logout")
    client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert "DỪNG PHÁT TOÀN BỘ" in client.get("/").get_data(as_text=True)
    response = client.post("/stop-all", data={"reason": "Diễn tập"})
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(StopOrder)) == 1
