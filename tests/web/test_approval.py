"""Approval (issue 14): an officer's broadcast in a ward that asks for approval has no runs until an approver of
its wards approves it; an administrator's and an allowed emergency go out at once."""

import pytest
from sqlalchemy import select, update

from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import AuditEntry, Broadcast, Run, Ward
from pa_controller.services import people
from tests.factories import bearer, broadcast_request, make_audio, make_user
from tests.support.signing_in import log_in


@pytest.fixture
def approval_on(seeded):
    """Every ward asks for its officers' broadcasts to be approved, as in production."""
    db.session.execute(update(Ward).values(approval_required=True))
    db.session.commit()


@pytest.fixture
def clip(seeded):
    return make_audio()


@pytest.fixture
def officer(approval_on):
    return make_user("canbo-thoi-hoa", Role.OFFICER, ("thoi-hoa",))


@pytest.fixture
def approver(approval_on):
    return make_user("duyet-thoi-hoa", Role.APPROVER, ("thoi-hoa",))


def runs_of(broadcast_id: int) -> list[Run]:
    db.session.expire_all()
    return list(db.session.scalars(select(Run).where(Run.broadcast_id == broadcast_id)))


def submitted(client, officer, clip, **overrides) -> int:
    made = client.post("/api/v1/broadcasts", headers=bearer(officer), json=broadcast_request(clip.id, **overrides))
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["approval"]["state"] == "submitted"
    return made.get_json()["id"]


def test_an_officer_s_broadcast_waits_for_approval_and_is_planned_once_approved(client, officer, approver, clip):
    broadcast_id = submitted(client, officer, clip)
    assert runs_of(broadcast_id) == []
    approved = client.post(f"/api/v1/broadcasts/{broadcast_id}/approve", headers=bearer(approver))
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["approval"] | {"at": None} == {
        "state": "approved", "by": "duyet-thoi-hoa", "at": None, "comment": None, "awaiting_review": False}
    assert [s["action"] for s in approved.get_json()["history"]] == ["submit", "approve"]
    assert len(runs_of(broadcast_id)) == 1


def test_an_approver_of_another_ward_cannot_approve(client, officer, clip):
    broadcast_id = submitted(client, officer, clip)
    elsewhere = make_user("duyet-long-hung", Role.APPROVER, ("long-hung",))
    answer = client.post(f"/api/v1/broadcasts/{broadcast_id}/approve", headers=bearer(elsewhere))
    assert answer.status_code in (403, 404)
    assert runs_of(broadcast_id) == []
    assert client.get("/api/v1/approvals", headers=bearer(elsewhere)).get_json() == []


def test_a_district_approver_approves_a_broadcast_reaching_several_wards(client, officer, clip):
    two = make_user("canbo-hai-phuong", Role.OFFICER, ("thoi-hoa", "long-hung"))
    broadcast_id = submitted(client, two, clip, targets={"wards": ["thoi-hoa", "long-hung"]})
    one_ward = make_user("duyet-mot-phuong", Role.APPROVER, ("thoi-hoa",))
    assert client.post(f"/api/v1/broadcasts/{broadcast_id}/approve", headers=bearer(one_ward)).status_code == 403
    district = make_user("duyet-quan", Role.APPROVER)
    assert client.post(f"/api/v1/broadcasts/{broadcast_id}/approve", headers=bearer(district)).status_code == 200


def test_an_officer_cannot_approve_their_own_broadcast(client, officer, clip):
    broadcast_id = submitted(client, officer, clip)
    answer = client.post(f"/api/v1/broadcasts/{broadcast_id}/approve", headers=bearer(officer))
    assert answer.status_code == 403
    assert runs_of(broadcast_id) == []


def test_an_administrator_cannot_approve_what_they_saved_as_a_draft_themselves(client, admin, clip, approval_on):
    made = client.post("/api/v1/broadcasts", headers=bearer(admin),
                       json=broadcast_request(clip.id, draft=True)).get_json()
    assert client.post(f"/api/v1/broadcasts/{made['id']}/submit", headers=bearer(admin)).status_code == 200
    db.session.execute(update(Broadcast).values(approval="submitted"))  # as if an officer of theirs had saved it
    db.session.commit()
    assert client.post(f"/api/v1/broadcasts/{made['id']}/approve", headers=bearer(admin)).status_code == 403


def test_returned_with_a_comment_edited_and_submitted_again(client, officer, approver, clip):
    broadcast_id = submitted(client, officer, clip)
    url = f"/api/v1/broadcasts/{broadcast_id}"
    no_comment = client.post(f"{url}/return", headers=bearer(approver), json={"comment": "  "})
    assert no_comment.status_code == 422
    returned = client.post(f"{url}/return", headers=bearer(approver), json={"comment": "Sửa lại tiêu đề"})
    assert returned.get_json()["approval"]["state"] == "returned"
    assert returned.get_json()["approval"]["comment"] == "Sửa lại tiêu đề"
    assert client.post(f"{url}/approve", headers=bearer(approver)).status_code == 409
    edited = client.patch(url, headers=bearer(officer), json={"title": "Lịch cắt điện (đã sửa)"})
    assert edited.get_json()["approval"]["state"] == "returned"  # an edit keeps it with the officer
    again = client.post(f"{url}/submit", headers=bearer(officer))
    assert again.get_json()["approval"]["state"] == "submitted"
    assert client.post(f"{url}/submit", headers=bearer(officer)).status_code == 409
    assert client.post(f"{url}/approve", headers=bearer(approver)).status_code == 200
    assert len(runs_of(broadcast_id)) == 1


def test_editing_an_approved_broadcast_withdraws_its_runs_until_approved_again(client, officer, approver, clip):
    broadcast_id = submitted(client, officer, clip)
    client.post(f"/api/v1/broadcasts/{broadcast_id}/approve", headers=bearer(approver))
    edited = client.patch(f"/api/v1/broadcasts/{broadcast_id}", headers=bearer(officer), json={"title": "Đổi"})
    assert edited.get_json()["approval"]["state"] == "submitted"
    assert edited.get_json()["history"][-1]["action"] == "edit"
    assert runs_of(broadcast_id) == []


def test_an_officer_saves_a_draft_that_nobody_is_asked_to_approve(client, officer, approver, clip):
    made = client.post("/api/v1/broadcasts", headers=bearer(officer), json=broadcast_request(clip.id, draft=True))
    assert made.get_json()["approval"]["state"] == "draft"
    assert client.get("/api/v1/approvals", headers=bearer(approver)).get_json() == []
    assert client.post(f"/api/v1/broadcasts/{made.get_json()['id']}/approve",
                       headers=bearer(approver)).status_code == 409


def test_an_allowed_officer_s_emergency_goes_out_at_once_and_waits_for_review(client, officer, approver, clip):
    people.set_emergencies(officer, True)
    made = client.post("/api/v1/broadcasts", headers=bearer(officer),
                       json=broadcast_request(clip.id, priority="emergency", start_at="now"))
    assert made.status_code == 201, made.get_json()
    broadcast_id = made.get_json()["id"]
    assert made.get_json()["approval"]["state"] == "approved"
    assert made.get_json()["approval"]["awaiting_review"] is True
    assert runs_of(broadcast_id)[0].state.value == "dispatched"
    waiting = client.get("/api/v1/approvals", headers=bearer(approver)).get_json()
    assert [w["id"] for w in waiting] == [broadcast_id]
    reviewed = client.post(f"/api/v1/broadcasts/{broadcast_id}/review", headers=bearer(approver),
                           json={"comment": "Đúng quy trình"})
    assert reviewed.get_json()["approval"]["awaiting_review"] is False
    assert client.get("/api/v1/approvals", headers=bearer(approver)).get_json() == []
    again = client.post(f"/api/v1/broadcasts/{broadcast_id}/review", headers=bearer(approver), json={})
    assert again.status_code == 409


def test_an_officer_without_the_right_must_have_an_emergency_approved(client, officer, clip):
    made = client.post("/api/v1/broadcasts", headers=bearer(officer),
                       json=broadcast_request(clip.id, priority="emergency"))
    assert made.get_json()["approval"]["state"] == "submitted"
    assert runs_of(made.get_json()["id"]) == []
    now = client.post("/api/v1/broadcasts", headers=bearer(officer),
                      json=broadcast_request(clip.id, priority="emergency", start_at="now"))
    assert now.status_code == 422  # "now" cannot wait for an approver


def test_an_administrator_s_broadcast_is_scheduled_at_once(client, admin, clip, approval_on):
    made = client.post("/api/v1/broadcasts", headers=bearer(admin), json=broadcast_request(clip.id))
    assert made.status_code == 201
    assert made.get_json()["approval"]["state"] == "approved"
    assert made.get_json()["history"][0]["action"] == "approve"
    assert len(made.get_json()["next_runs"]) == 1
    assert len(runs_of(made.get_json()["id"])) == 1


def test_a_ward_without_the_rule_schedules_its_officer_s_broadcast_at_once(client, clip, seeded, admin):
    officer = make_user("canbo", Role.OFFICER, ("thoi-hoa",))
    turned = client.put("/api/v1/wards/thoi-hoa/rules", headers=bearer(admin), json={"approval_required": False})
    assert turned.get_json()["approval_required"] is False
    made = client.post("/api/v1/broadcasts", headers=bearer(officer), json=broadcast_request(clip.id))
    assert made.get_json()["approval"]["state"] == "approved"
    assert made.get_json()["history"][0]["action"] == "not_required"


def test_each_action_is_in_the_audit_log_with_before_and_after(client, officer, approver, clip):
    broadcast_id = submitted(client, officer, clip)
    client.post(f"/api/v1/broadcasts/{broadcast_id}/approve", headers=bearer(approver))
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "broadcast.approve"))
    assert entry.detail["before"] == {"approval": "submitted"}
    assert entry.detail["after"] == {"approval": "approved"}
    assert entry.actor == "duyet-thoi-hoa"


def test_the_pages_show_the_state_and_let_the_approver_send_back_with_a_comment(client, officer, approver, clip):
    broadcast_id = submitted(client, officer, clip)
    assert log_in(client, approver.username).status_code == 302
    waiting = client.get("/approvals").get_data(as_text=True)
    assert "Thông báo lịch cắt điện" in waiting
    page = client.get(f"/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert "Chờ duyệt" in page and f"/broadcasts/{broadcast_id}/approve" in page
    refused = client.post(f"/broadcasts/{broadcast_id}/return", data={"comment": ""})
    assert refused.status_code == 422
    sent_back = client.post(f"/broadcasts/{broadcast_id}/return", data={"comment": "Giờ phát chưa hợp lý"},
                            follow_redirects=True)
    assert "Giờ phát chưa hợp lý" in sent_back.get_data(as_text=True)
    assert "Bị trả lại" in client.get("/broadcasts").get_data(as_text=True)


def test_an_officer_s_form_saves_a_draft_or_sends_it_for_approval(client, officer, clip):
    assert log_in(client, officer.username).status_code == 302
    form = client.get("/broadcasts/new").get_data(as_text=True)
    assert "Lưu nháp" in form and "Gửi duyệt" in form
    fields = {"title": "Họp tổ dân phố", "audio_id": str(clip.id), "wards": "thoi-hoa",
              "start_at": "2030-01-01T08:00"}
    assert client.post("/broadcasts/new", data={**fields, "action": "draft"}).status_code == 302
    later = {**fields, "start_at": "2030-01-01T09:00"}  # a draft holds its slot, as any saved broadcast does
    assert client.post("/broadcasts/new", data={**later, "action": "submit"}).status_code == 302
    states = db.session.scalars(select(Broadcast.approval).order_by(Broadcast.id)).all()
    assert [s.value for s in states] == ["draft", "submitted"]


def test_the_ward_calendar_lists_a_broadcast_only_once_approved(client, officer, approver, clip):
    broadcast_id = submitted(client, officer, clip)
    feed = client.get("/calendar/thoi-hoa.ics", headers=bearer(officer)).get_data(as_text=True)
    assert "Thông báo lịch cắt điện" not in feed
    client.post(f"/api/v1/broadcasts/{broadcast_id}/approve", headers=bearer(approver))
    feed = client.get("/calendar/thoi-hoa.ics", headers=bearer(officer)).get_data(as_text=True)
    assert "Thông báo lịch cắt điện" in feed
