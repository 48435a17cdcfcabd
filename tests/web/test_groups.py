"""Groups of clusters: a ward's officers and administrators make them; nobody sees, uses or edits another ward's."""

from sqlalchemy import select

from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import AuditEntry, Group
from tests.factories import bearer, broadcast_request, make_audio, make_user
from tests.support.signing_in import log_in

MARKET = ["om-tho-001", "om-tho-002", "om-tho-003"]


def make_group(auth, name="Chợ Thới Hòa", ward="thoi-hoa", clusters=MARKET, *, client) -> dict:
    made = client.post("/api/v1/groups", headers=auth, json={"name": name, "ward": ward, "clusters": clusters})
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def test_an_officer_makes_a_group_of_their_ward_s_clusters_and_the_audit_log_says_so(client, officer_auth):
    group = make_group(officer_auth, client=client)
    assert (group["name"], group["ward"], group["clusters"]) == ("Chợ Thới Hòa", "thoi-hoa", MARKET)
    assert client.get(f"/api/v1/groups/{group['id']}", headers=officer_auth).get_json()["clusters"] == MARKET
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "group.create"))
    assert (entry.target, entry.ward_id) == (f"group:{group['id']}", "thoi-hoa")


def test_a_group_cannot_hold_another_ward_s_cluster(client, officer_auth, admin_auth):
    refused = client.post("/api/v1/groups", headers=officer_auth,
                          json={"name": "Lẫn", "ward": "thoi-hoa", "clusters": ["om-tho-001", "om-lhg-001"]})
    assert refused.status_code == 422
    assert "om-lhg" not in refused.get_data(as_text=True), "says nothing of the other ward's cluster"
    also_admin = client.post("/api/v1/groups", headers=admin_auth,
                             json={"name": "Lẫn", "ward": "thoi-hoa", "clusters": ["om-lhg-001"]})
    assert also_admin.status_code == 422
    group = make_group(admin_auth, client=client)
    moved_in = client.patch(f"/api/v1/groups/{group['id']}", headers=admin_auth, json={"clusters": ["om-lhg-001"]})
    assert moved_in.status_code == 422
    db.session.expire_all()
    assert [c.id for c in db.session.get(Group, group["id"]).clusters] == MARKET, "the refused edit changed nothing"


def test_an_officer_cannot_see_use_edit_or_delete_another_ward_s_group(client, officer_auth, admin_auth):
    theirs = make_group(admin_auth, "Chợ Long Hưng", "long-hung", ["om-lhg-001"], client=client)
    path = f"/api/v1/groups/{theirs['id']}"
    assert client.get("/api/v1/groups", headers=officer_auth).get_json() == []
    assert client.get(path, headers=officer_auth).status_code == 404
    assert client.patch(path, headers=officer_auth, json={"name": "x"}).status_code == 404
    assert client.delete(path, headers=officer_auth).status_code == 404
    assert client.post("/api/v1/groups", headers=officer_auth,
                       json={"name": "x", "ward": "long-hung", "clusters": []}).status_code == 403
    used = client.post("/api/v1/broadcasts?dry_run=true", headers=officer_auth,
                       json=broadcast_request(make_audio().id, targets={"groups": [theirs["id"]]}))
    assert used.status_code == 422, "another ward's group is named as one that does not exist"
    assert "Long Hưng" not in used.get_data(as_text=True)
    assert db.session.get(Group, theirs["id"]).name == "Chợ Long Hưng"


def test_only_officers_and_administrators_manage_groups(client, seeded):
    approver = bearer(make_user("duyet", Role.APPROVER, ("thoi-hoa",)))
    assert client.post("/api/v1/groups", headers=approver,
                       json={"name": "x", "ward": "thoi-hoa", "clusters": MARKET}).status_code == 403


def test_a_ward_has_one_group_of_a_name(client, officer_auth):
    make_group(officer_auth, client=client)
    again = client.post("/api/v1/groups", headers=officer_auth,
                        json={"name": "Chợ  Thới Hòa", "ward": "thoi-hoa", "clusters": []})
    assert again.status_code == 409 and again.get_json()["error"]["fields"] == {"name": "taken"}


def test_a_group_in_use_is_not_deleted_and_the_answer_names_the_broadcasts(client, officer_auth):
    group = make_group(officer_auth, client=client)
    made = client.post("/api/v1/broadcasts", headers=officer_auth,
                       json=broadcast_request(make_audio().id, title="Họp chợ", targets={"groups": [group["id"]]}))
    assert made.status_code == 201, made.get_json()
    refused = client.delete(f"/api/v1/groups/{group['id']}", headers=officer_auth)
    assert refused.status_code == 409
    assert refused.get_json()["error"]["broadcasts"] == [made.get_json()["id"]]
    assert "Họp chợ" in refused.get_json()["error"]["message"]
    client.delete(f"/api/v1/broadcasts/{made.get_json()['id']}", headers=officer_auth)
    assert client.delete(f"/api/v1/groups/{group['id']}", headers=officer_auth).status_code == 204
    assert db.session.get(Group, group["id"]) is None
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.action == "group.delete"))


def test_bad_input_gets_a_clear_error_and_changes_nothing(client, officer_auth):
    for body in ({"name": "", "ward": "thoi-hoa"}, {"name": "x", "ward": "nowhere"}, {"name": "x"},
                 {"name": "x", "ward": "thoi-hoa", "clusters": "om-tho-001"},
                 {"name": "x", "ward": "thoi-hoa", "y": 1}):
        answer = client.post("/api/v1/groups", headers=officer_auth, json=body)
        assert answer.status_code in (404, 422), (body, answer.status_code)
        assert "error" in answer.get_json()
    assert client.patch("/api/v1/groups/99", headers=officer_auth, json={"name": "x"}).status_code == 404
    assert client.get("/api/v1/groups/99999999999", headers=officer_auth).status_code == 404
    assert db.session.scalar(select(Group.id)) is None


def test_the_pages_make_a_group_and_choose_its_clusters(client, officer_auth):
    log_in(client, "officer-thoi-hoa")
    made = client.post("/groups", data={"name": "Đường 26/3", "ward": "thoi-hoa"})
    assert made.status_code == 302
    group = db.session.scalar(select(Group))
    page = client.get(made.headers["Location"]).get_data(as_text=True)
    assert 'value="om-tho-001"' in page and "om-lhg-" not in page
    saved = client.post(f"/groups/{group.id}", data={"name": "Đường 26/3", "clusters": ["om-tho-004", "om-tho-005"]})
    assert saved.status_code == 302
    db.session.expire_all()
    assert [c.id for c in db.session.get(Group, group.id).clusters] == ["om-tho-004", "om-tho-005"]
    assert "Đường 26/3" in client.get("/groups").get_data(as_text=True)
    assert client.post(f"/groups/{group.id}/delete").status_code == 302
    assert db.session.get(Group, group.id) is None
