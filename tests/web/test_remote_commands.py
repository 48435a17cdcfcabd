"""Remote commands: technicians and administrators send them, every cluster's answer is tracked like a delivery."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

import pa_protocol as protocol
from pa_controller.extensions import db
from pa_controller.messaging.inbox import Inbox
from pa_controller.models import Cluster, FleetCommand, OutboxMessage
from pa_controller.services import ingest
from pa_controller.services.report_writer import ReportWriter
from pa_protocol import DeliveryState
from tests.factories import event

THREE = ["om-tho-001", "om-tho-002", "om-cvl-001"]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def outbox_commands() -> dict[str, dict]:
    """The queued commands by id, decoded as a cluster would decode them."""
    rows = db.session.scalars(select(OutboxMessage))
    return {row.cmd_id: protocol.decode(protocol.CMD, row.topic.split("/")[3], row.payload) for row in rows}


def send(client, auth, **body):
    return client.post("/api/v1/commands", headers=auth, json=body)


def deliver(app, *events) -> None:
    """Feed events through the inbox as the MQTT link would, and apply them."""
    inbox = Inbox("pa/v1", ReportWriter(app, ingest.APPLY_IN_ORDER))
    for cid, raw in events:
        inbox.receive(protocol.topic("pa/v1", cid, protocol.EVENTS), raw)
    inbox.flush([inbox._queue.get_nowait() for _ in range(inbox._queue.qsize())])
    db.session.expire_all()


def test_a_technician_sends_a_test_tone_one_command_per_cluster(client, technician_auth):
    response = send(client, technician_auth, type="test_tone", clusters=THREE, duration_ms=2000)
    assert response.status_code == 202, response.get_json()
    answer = response.get_json()
    assert [c["cluster"] for c in answer] == THREE
    assert {(c["type"], c["state"]) for c in answer} == {("test_tone", "pending")}
    queued = outbox_commands()
    assert set(queued) == {c["cmd_id"] for c in answer}
    for sent in answer:
        command = queued[sent["cmd_id"]]
        assert (command["cid"], command["type"], command["duration_ms"]) == (sent["cluster"], "test_tone", 2000)
        assert protocol.parse_time(command["expires_at"]) > protocol.parse_time(command["issued_at"])


def test_set_volume_to_a_ward_reaches_every_cluster_in_service_there(client, admin_auth):
    db.session.execute(update(Cluster).where(Cluster.id == "om-tho-058").values(retired=True))
    db.session.commit()
    answer = send(client, admin_auth, type="set_volume", ward="thoi-hoa", volume=35).get_json()
    assert len(answer) == 57 and "om-tho-058" not in {c["cluster"] for c in answer}
    assert {(c["type"], c["volume"]) for c in outbox_commands().values()} == {("set_volume", 35)}


def test_a_reboot_carries_no_parameters(client, admin_auth):
    [sent] = send(client, admin_auth, type="reboot", clusters=["om-tho-001"]).get_json()
    command = outbox_commands()[sent["cmd_id"]]
    assert command["type"] == "reboot" and "volume" not in command and "duration_ms" not in command


def test_a_test_tone_lasts_three_seconds_unless_told(client, admin_auth):
    send(client, admin_auth, type="test_tone", clusters=["om-tho-001"])
    assert [c["duration_ms"] for c in outbox_commands().values()] == [3000]


def test_an_officer_cannot_send_remote_commands_even_to_their_own_ward(client, officer_auth):
    for body in ({"type": "reboot", "clusters": ["om-tho-001"]}, {"type": "set_volume", "ward": "thoi-hoa"}, {}):
        response = client.post("/api/v1/commands", headers=officer_auth, json=body)
        assert response.status_code == 403, body
    assert count(FleetCommand) == count(OutboxMessage) == 0


def unknown(body) -> int:
    """A cluster or ward that does not exist is 404; any other refusal 422."""
    return 404 if "atlantis" in str(body) or "om-nowhere" in str(body) else 422


@pytest.mark.parametrize(
    "body",
    [
        {"type": "shutdown", "clusters": ["om-tho-001"]},
        {"type": "play", "clusters": ["om-tho-001"]},
        {"clusters": ["om-tho-001"]},
        {"type": "set_volume", "clusters": ["om-tho-001"]},
        {"type": "set_volume", "clusters": ["om-tho-001"], "volume": 101},
        {"type": "set_volume", "clusters": ["om-tho-001"], "volume": -1},
        {"type": "set_volume", "clusters": ["om-tho-001"], "volume": "50"},
        {"type": "set_volume", "clusters": ["om-tho-001"], "volume": True},
        {"type": "set_volume", "clusters": ["om-tho-001"], "volume": 50.5},
        {"type": "set_volume", "clusters": ["om-tho-001"], "volume": 10**30},
        {"type": "test_tone", "clusters": ["om-tho-001"], "duration_ms": 499},
        {"type": "test_tone", "clusters": ["om-tho-001"], "duration_ms": 30_001},
        {"type": "reboot", "clusters": ["om-tho-001"], "volume": 50},
        {"type": "reboot", "clusters": ["om-tho-001"], "ward": "thoi-hoa"},
        {"type": "reboot"},
        {"type": "reboot", "clusters": []},
        {"type": "reboot", "clusters": "om-tho-001"},
        {"type": "reboot", "clusters": [1, 2]},
        {"type": "reboot", "clusters": ["om-tho-001", "om-nowhere-1"]},
        {"type": "reboot", "clusters": ["a\x00b"]},
        {"type": "reboot", "clusters": [f"c{i}" for i in range(2001)]},
        {"type": "reboot", "ward": "atlantis"},
        {"type": "reboot", "ward": ["thoi-hoa"]},
    ],
)
def test_a_bad_command_request_is_422_and_queues_nothing(client, technician_auth, body):
    response = client.post("/api/v1/commands", headers=technician_auth, json=body)
    assert response.status_code == unknown(body), response.get_json()
    assert response.get_json()["error"]["message"]
    assert count(FleetCommand) == count(OutboxMessage) == 0


def test_a_body_that_is_not_json_is_422(client, technician_auth):
    headers = {**technician_auth, "Content-Type": "application/json"}
    assert client.post("/api/v1/commands", headers=headers, data="[1,").status_code == 422


def test_a_retired_cluster_takes_no_command_and_nothing_is_sent_to_the_others(client, admin_auth):
    client.delete("/api/v1/clusters/om-tho-002", headers=admin_auth)
    response = send(client, admin_auth, type="reboot", clusters=["om-tho-001", "om-tho-002"])
    assert response.status_code == 409
    assert "om-tho-002" in response.get_json()["error"]["message"]
    assert count(FleetCommand) == count(OutboxMessage) == 0


def test_events_advance_a_command_never_backwards_and_keep_the_tone_result(client, seeded, admin_auth):
    [good, dead] = send(client, admin_auth, type="test_tone", clusters=["om-tho-001", "om-tho-002"]).get_json()
    deliver(seeded, *[(c["cluster"], event(c["cluster"], c["cmd_id"], "received")) for c in (good, dead)])
    deliver(seeded,
            (good["cluster"], event(good["cluster"], good["cmd_id"], "done", amp_ok=True, ended_at="x")),
            (dead["cluster"], event(dead["cluster"], dead["cmd_id"], "playing", started_at="x")),
            (dead["cluster"], event(dead["cluster"], dead["cmd_id"], "done", amp_ok=False, ended_at="x")),
            (good["cluster"], event(good["cluster"], good["cmd_id"], "received", duplicate=True)),
            (dead["cluster"], event(dead["cluster"], dead["cmd_id"], "failed", reason="late")))
    answers = {c["cluster"]: client.get(f"/api/v1/commands/{c['id']}", headers=admin_auth).get_json()
               for c in (good, dead)}
    assert (answers["om-tho-001"]["state"], answers["om-tho-001"]["amp_ok"]) == ("done", True)
    assert (answers["om-tho-002"]["state"], answers["om-tho-002"]["amp_ok"]) == ("done", False)
    assert answers["om-tho-002"]["detail"] == {"started_at": "x", "amp_ok": False, "ended_at": "x"}
    assert answers["om-tho-001"]["at"] is not None


def test_an_event_from_another_cluster_does_not_move_a_command(client, seeded, admin_auth):
    [sent] = send(client, admin_auth, type="reboot", clusters=["om-tho-001"]).get_json()
    deliver(seeded, ("om-tho-002", event("om-tho-002", sent["cmd_id"], "received")))
    assert db.session.get(FleetCommand, sent["id"]).state is DeliveryState.PENDING


def test_an_amplifier_failure_reads_as_amp_ok_false(client, seeded, admin_auth):
    [sent] = send(client, admin_auth, type="test_tone", clusters=["om-tho-001"]).get_json()
    deliver(seeded, ("om-tho-001", event("om-tho-001", sent["cmd_id"], "failed", reason="amplifier")))
    answer = client.get(f"/api/v1/commands/{sent['id']}", headers=admin_auth).get_json()
    assert (answer["state"], answer["amp_ok"]) == ("failed", False)


def test_a_command_never_answered_is_missed_once_it_expired(client, admin_auth):
    [sent] = send(client, admin_auth, type="reboot", clusters=["om-tho-001"]).get_json()
    command = db.session.get(FleetCommand, sent["id"])
    command.issued_at -= timedelta(minutes=10)
    db.session.commit()
    assert client.get(f"/api/v1/commands/{sent['id']}", headers=admin_auth).get_json()["state"] == "missed"


def test_commands_are_listed_newest_first_and_filtered_by_cluster(client, admin_auth):
    send(client, admin_auth, type="set_volume", clusters=["om-tho-001", "om-cvl-001"], volume=40)
    send(client, admin_auth, type="reboot", clusters=["om-tho-001"])
    listed = client.get("/api/v1/commands", headers=admin_auth).get_json()
    assert [c["type"] for c in listed][0] == "reboot" and len(listed) == 3
    mine = client.get("/api/v1/commands?cluster=om-tho-001&limit=1", headers=admin_auth).get_json()
    assert [(c["cluster"], c["type"]) for c in mine] == [("om-tho-001", "reboot")]


def test_an_officer_reads_only_their_wards_commands(client, admin_auth, officer_auth):
    sent = send(client, admin_auth, type="set_volume", clusters=["om-tho-001", "om-cvl-001"], volume=40).get_json()
    listed = client.get("/api/v1/commands", headers=officer_auth).get_json()
    assert [c["cluster"] for c in listed] == ["om-tho-001"]
    other = next(c for c in sent if c["cluster"] == "om-cvl-001")
    assert client.get(f"/api/v1/commands/{other['id']}", headers=officer_auth).status_code == 404
    assert client.get("/api/v1/commands?cluster=om-cvl-001", headers=officer_auth).status_code == 404


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/v1/commands?limit=0", 422), ("/api/v1/commands?limit=1001", 422), ("/api/v1/commands?limit=x", 422),
     ("/api/v1/commands?cluster=om-nowhere", 404), ("/api/v1/commands/12345", 404),
     ("/api/v1/commands/99999999999999999999", 404), ("/api/v1/commands/abc", 404)],
)
def test_odd_command_queries_get_a_clear_4xx(client, admin_auth, path, status):
    response = client.get(path, headers=admin_auth)
    assert response.status_code == status
    assert response.get_json()["error"]["message"]


def test_the_commands_api_needs_a_token(client):
    assert client.get("/api/v1/commands").status_code == 401
    assert client.post("/api/v1/commands", json={"type": "reboot", "ward": "thoi-hoa"}).status_code == 401
    assert count(OutboxMessage) == 0


def test_commands_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"post", "get"} <= set(paths["/commands"]) and "get" in paths["/commands/{id}"]


def test_the_technician_has_test_tone_volume_and_reboot_on_the_cluster_page(client, technician_auth, officer_auth):
    from tests.web.test_pages import log_in

    log_in(client, "tech")
    page = client.get("/fleet/clusters/om-tho-001").get_data(as_text=True)
    for word in ("Phát âm thử", "Đặt âm lượng", "Khởi động lại"):
        assert word in page
    sent = client.post("/fleet/clusters/om-tho-001/commands", data={"type": "set_volume", "volume": "40"},
                       follow_redirects=True)
    assert "Đã gửi lệnh đặt âm lượng 40." in sent.get_data(as_text=True)
    [command] = outbox_commands().values()
    assert (command["cid"], command["type"], command["volume"]) == ("om-tho-001", "set_volume", 40)
    refused = client.post("/fleet/clusters/om-tho-001/commands", data={"type": "set_volume", "volume": "400"},
                          follow_redirects=True)
    assert "volume phải là số nguyên từ 0 đến 100." in refused.get_data(as_text=True) and count(OutboxMessage) == 1
    client.post("/logout")
    log_in(client, "officer-thoi-hoa")
    assert "Đặt âm lượng" not in client.get("/fleet/clusters/om-tho-001").get_data(as_text=True)


def test_a_volume_change_the_cluster_only_acknowledged_is_done_once_its_heartbeat_shows_it(client, technician_auth):
    from pa_controller import clock
    from pa_controller.models import ClusterState
    from pa_controller.services import remote

    [sent] = send(client, technician_auth, type="set_volume", clusters=["om-tho-001"], volume=35).get_json()
    deliver(client.application, ("om-tho-001", event("om-tho-001", sent["cmd_id"], "received")))
    state = db.session.get(ClusterState, "om-tho-001")
    state.volume, state.heartbeat_at = 70, clock.now() + timedelta(seconds=1)  # not applied yet
    db.session.commit()
    assert remote.confirm_volumes(clock.now()) == 0
    state.volume, state.heartbeat_at = 35, clock.now() + timedelta(seconds=2)
    db.session.commit()
    assert remote.confirm_volumes(clock.now()) == 1
    command = db.session.get(FleetCommand, sent["id"])
    assert command.state is DeliveryState.DONE and command.detail["confirmed_by"] == "heartbeat"
    from tests.web.test_pages import log_in

    log_in(client, "tech")
    page = client.get("/fleet/clusters/om-tho-001").get_data(as_text=True)
    row = re.search(r"<tr><td>[^<]*</td><td>Đặt âm lượng 35</td>.*?</tr>", page, re.S).group(0)
    assert "Đã thực hiện" in row and "Đã phát xong" not in row, row
