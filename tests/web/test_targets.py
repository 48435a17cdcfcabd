"""Targets: a group reaches exactly its clusters, and the form says how far a choice reaches before it is saved."""

from sqlalchemy import select, update

from pa_controller import clock
from pa_controller.domain import ClusterStatus
from pa_controller.extensions import db
from pa_controller.models import BroadcastWard, Cluster, ClusterState, Delivery, Group, Run
from pa_controller.services import dispatch
from tests.factories import broadcast_request, make_audio
from tests.support.signing_in import log_in
from tests.web.test_groups import MARKET, make_group

COUNT = "/api/v1/targets/count"


def offline(*cids: str) -> None:
    db.session.execute(update(ClusterState).where(ClusterState.cluster_id.in_(cids))
                       .values(status=ClusterStatus.OFFLINE, online=False))
    db.session.commit()


def test_a_broadcast_to_a_group_reaches_exactly_its_clusters_on_dispatch(client, officer_auth):
    group = make_group(officer_auth, client=client)
    made = client.post("/api/v1/broadcasts", headers=officer_auth,
                       json=broadcast_request(make_audio().id, targets={"groups": [group["id"]]}))
    assert made.status_code == 201, made.get_json()
    broadcast = made.get_json()
    assert db.session.scalars(select(BroadcastWard.ward_id).where(
        BroadcastWard.broadcast_id == broadcast["id"])).all() == ["thoi-hoa"]
    run_id = client.get(f"/api/v1/runs?broadcast_id={broadcast['id']}", headers=officer_auth).get_json()[0]["id"]
    db.session.get(Run, run_id).dispatch_at = clock.now()  # due now, as the scheduler would find it
    db.session.commit()
    assert dispatch.dispatch_run(run_id) == 3
    assert sorted(db.session.scalars(select(Delivery.cluster_id).where(Delivery.run_id == run_id))) == MARKET


def test_a_group_and_a_cluster_of_another_ward_reach_both_wards(client, admin_auth):
    group = make_group(admin_auth, client=client)
    made = client.post("/api/v1/broadcasts", headers=admin_auth, json=broadcast_request(
        make_audio().id, targets={"groups": [group["id"]], "clusters": ["om-lhg-001"]}))
    assert made.status_code == 201, made.get_json()
    assert sorted(db.session.scalars(select(BroadcastWard.ward_id).where(
        BroadcastWard.broadcast_id == made.get_json()["id"]))) == ["long-hung", "thoi-hoa"]


def test_a_member_moved_to_another_ward_leaves_its_group_s_reach(client, admin_auth):
    group = make_group(admin_auth, client=client)
    db.session.execute(update(Cluster).where(Cluster.id == MARKET[0]).values(ward_id="long-hung"))
    db.session.commit()
    answer = client.get(f"{COUNT}?groups={group['id']}", headers=admin_auth).get_json()
    assert (answer["clusters"], answer["wards"]) == (2, 1)
    assert client.get(f"/api/v1/groups/{group['id']}", headers=admin_auth).get_json()["clusters"] == MARKET[1:]


def test_the_count_on_the_seeded_fleet(client, admin_auth, officer_auth):
    ward = client.get(f"{COUNT}?wards=thoi-hoa", headers=officer_auth).get_json()
    assert ward == {"clusters": 58, "speakers": 118, "wards": 1, "offline": 0}
    two = client.get(f"{COUNT}?wards=thoi-hoa&wards=long-hung", headers=admin_auth).get_json()
    assert two == {"clusters": 114, "speakers": 238, "wards": 2, "offline": 0}
    district = client.get(f"{COUNT}?all=true", headers=admin_auth).get_json()
    assert district == {"clusters": 456, "speakers": 928, "wards": 7, "offline": 0}


def test_the_count_says_how_many_are_offline_and_counts_a_cluster_once(client, officer_auth):
    group = make_group(officer_auth, client=client)
    offline("om-tho-001", "om-tho-010")
    answer = client.get(f"{COUNT}?wards=thoi-hoa&groups={group['id']}&clusters=om-tho-001", headers=officer_auth)
    assert answer.get_json() == {"clusters": 58, "speakers": 118, "wards": 1, "offline": 2}
    just_group = client.get(f"{COUNT}?groups={group['id']}", headers=officer_auth).get_json()
    assert (just_group["clusters"], just_group["offline"]) == (3, 1)


def test_the_count_refuses_another_ward_and_unknown_places(client, officer_auth):
    assert client.get(f"{COUNT}?wards=long-hung", headers=officer_auth).status_code == 403
    assert client.get(f"{COUNT}?all=true", headers=officer_auth).status_code == 403
    assert client.get(f"{COUNT}?clusters=om-lhg-001", headers=officer_auth).status_code == 422, "as if it did not exist"
    assert client.get(f"{COUNT}?groups=abc", headers=officer_auth).status_code == 422
    assert client.get(f"{COUNT}?groups=999", headers=officer_auth).status_code == 422
    assert client.get(COUNT, headers=officer_auth).get_json() == {"clusters": 0, "speakers": 0, "wards": 0,
                                                                  "offline": 0}


def test_a_dry_run_says_how_far_the_broadcast_reaches(client, officer_auth):
    offline("om-tho-002")
    review = client.post("/api/v1/broadcasts?dry_run=true", headers=officer_auth,
                         json=broadcast_request(make_audio().id, targets={"wards": ["thoi-hoa"]}))
    assert review.status_code == 200, review.get_json()
    assert review.get_json()["reach"] == {"clusters": 58, "speakers": 118, "wards": 1, "offline": 1}


def test_the_form_s_check_button_says_how_far_it_reaches_without_javascript(client, officer_auth):
    clip = make_audio()
    log_in(client, "officer-thoi-hoa")
    page = client.post("/broadcasts/new", data={"title": "Họp tổ", "audio_id": str(clip.id), "wards": "thoi-hoa",
                                                "start_at": "2031-01-05T08:00", "action": "check"})
    assert page.status_code == 200
    assert "Sẽ phát trên 58 cụm loa, 118 loa ở 1 phường." in page.get_data(as_text=True)


def test_the_form_s_live_line_comes_from_the_page_s_own_json(client, officer_auth):
    group = make_group(officer_auth, client=client)
    log_in(client, "officer-thoi-hoa")
    answer = client.get(f"/broadcasts/targets/count?groups={group['id']}&clusters=om-tho-010")
    assert answer.get_json()["text"] == "Sẽ phát trên 4 cụm loa, 8 loa ở 1 phường."
    refused = client.get("/broadcasts/targets/count?wards=long-hung")
    assert refused.status_code == 403 and "Long Hưng" not in refused.get_data(as_text=True)


def test_the_form_offers_groups_clusters_and_a_map_of_the_officer_s_ward_only(client, officer_auth, admin_auth):
    group = make_group(officer_auth, client=client)
    make_group(admin_auth, "Chợ Long Hưng", "long-hung", ["om-lhg-001"], client=client)
    log_in(client, "officer-thoi-hoa")
    page = client.get("/broadcasts/new").get_data(as_text=True)
    assert f'name="groups" value="{group["id"]}"' in page
    assert 'name="clusters" value="om-tho-058"' in page and 'data-cluster="om-tho-001"' in page
    assert '<text lang="vi" data-ward="thoi-hoa"' in page
    assert "om-lhg-" not in page and "Chợ Long Hưng" not in page
    assert "targets.js" in page


def test_a_broadcast_saved_from_the_form_to_a_group_keeps_it_when_edited(client, officer_auth):
    group = make_group(officer_auth, client=client)
    clip = make_audio()
    log_in(client, "officer-thoi-hoa")
    saved = client.post("/broadcasts/new", data={"title": "Họp chợ", "audio_id": str(clip.id),
                                                 "groups": str(group["id"]), "start_at": "2031-01-05T08:00"})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    edit = client.get(saved.headers["Location"] + "/edit").get_data(as_text=True)
    assert f'name="groups" value="{group["id"]}" checked' in edit
    assert db.session.get(Group, group["id"]) is not None
