"""The run report follows its run: live counts, the clusters that did not play first with why, the rest paged."""

import re

from sqlalchemy import select

from pa_controller import clock
from pa_controller.domain import REJECTION_NOTE, Role
from pa_controller.extensions import db
from pa_controller.models import Cluster, Delivery, Run
from pa_protocol import DeliveryState, RunState
from tests.factories import make_run, make_user
from tests.support.signing_in import log_in

DONE, FAILED, MISSED, PENDING = DeliveryState.DONE, DeliveryState.FAILED, DeliveryState.MISSED, DeliveryState.PENDING


def clusters_of(*wards: str) -> list[str]:
    return list(db.session.scalars(select(Cluster.id).where(Cluster.ward_id.in_(wards)).order_by(Cluster.id)))


def settle(run: Run, cluster_ids, state: DeliveryState) -> None:
    for delivery in db.session.scalars(select(Delivery).where(Delivery.run_id == run.id,
                                                              Delivery.cluster_id.in_(cluster_ids))):
        delivery.state = state
    db.session.commit()


def district_run(now_playing: dict | None = None) -> Run:
    """A run to every cluster of the district, all still pending but those named."""
    return make_run(clock.now(), {cid: PENDING for cid in clusters_of(*_all_wards())} | (now_playing or {}))


def _all_wards() -> list[str]:
    return list(db.session.scalars(select(Cluster.ward_id).distinct()))


def test_the_live_counts_follow_the_deliveries_until_the_run_is_over(client):
    run = district_run()
    make_user("can-bo", Role.OFFICER, ("thoi-hoa",))
    log_in(client, "can-bo")
    live = client.get(f"/runs/{run.id}/progress").get_json()
    assert (live["done"], live["total"], live["next_poll_ms"]) == (0, 58, 2000), "Thới Hòa's 58 clusters only"
    assert [w["name"] for w in live["by_ward"]] == ["Thới Hòa"]

    settle(run, clusters_of("thoi-hoa")[:10], DONE)
    settle(run, clusters_of("thoi-hoa")[10:12], FAILED)
    live = client.get(f"/runs/{run.id}/progress").get_json()
    assert live["headline"] == "10/58 đã phát xong"
    assert {c["state"]: c["n"] for c in live["counts"]} == {"done": 10, "failed": 2, "pending": 46}
    assert live["by_ward"] == [{"ward": "thoi-hoa", "name": "Thới Hòa", "done": 10, "total": 58}]

    run.state = RunState.FINISHED
    db.session.commit()
    live = client.get(f"/runs/{run.id}/progress").get_json()
    assert live["final"] and live["next_poll_ms"] is None, "a finished run is not asked about again"


def test_without_javascript_the_page_shows_the_current_state_and_loads_no_inline_script(client):
    run = district_run()
    settle(run, clusters_of("thoi-hoa")[:10], DONE)
    make_user("can-bo", Role.OFFICER, ("thoi-hoa",))
    log_in(client, "can-bo")
    page = client.get(f"/runs/{run.id}").get_data(as_text=True)
    assert "10/58 đã phát xong" in page and 'value="10"' in page and 'max="58"' in page
    assert f'data-url="/runs/{run.id}/progress"' in page
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts == [(' src="/static/run_live.js"', "")], "the CSP forbids inline scripts"
    assert client.get("/static/run_live.js").status_code == 200


def test_the_clusters_that_did_not_play_come_first_with_why_then_the_rest_fifty_a_page(client, admin):
    rejected = {REJECTION_NOTE: {"reason": "bad_signature", "at": "2026-12-01T00:00:00Z"}}
    run = district_run({"om-tlg-030": (FAILED, {"reason": "amplifier", "message": "no amplifier current sensed"}),
                        "om-cvl-077": (DeliveryState.REJECTED, rejected), "om-tho-058": (MISSED, None)})
    settle(run, clusters_of("long-hung"), DONE)
    log_in(client, "admin")
    first = client.get(f"/runs/{run.id}/progress").get_json()
    assert [(c["id"], c["reason"]) for c in first["clusters"][:3]] == [
        ("om-cvl-077", "cụm từ chối lệnh: Chữ ký sai"), ("om-tho-058", "cụm không phản hồi trước khi hết giờ phát"),
        ("om-tlg-030", "bộ khuếch đại không hoạt động")]
    assert {c["state"] for c in first["clusters"][3:]} == {"pending"}, "then those still under way"
    assert len(first["clusters"]) == 50 and first["cluster_summary"] == "456 cụm · trang 1/10"
    last = client.get(f"/runs/{run.id}/progress?page=10").get_json()
    assert len(last["clusters"]) == 6 and {c["state"] for c in last["clusters"]} == {"done"}, "the played last"
    page = client.get(f"/runs/{run.id}").get_data(as_text=True)
    assert "bộ khuếch đại không hoạt động" in page and f'rel="next" href="/runs/{run.id}?page=2#clusters"' in page


def test_the_cluster_list_filters_by_ward_and_state_and_refuses_nonsense(client, admin):
    run = district_run({"om-tho-001": (FAILED, None), "om-lhg-001": (FAILED, None)})
    log_in(client, "admin")
    found = client.get(f"/runs/{run.id}/progress?ward=thoi-hoa&state=failed").get_json()
    assert [c["id"] for c in found["clusters"]] == ["om-tho-001"]
    assert client.get(f"/runs/{run.id}?ward=&state=&page=1").status_code == 200, "the form's 'all' is no filter"
    for nonsense in ("state=sung", "page=0", "page=x"):
        assert client.get(f"/runs/{run.id}?{nonsense}").status_code == 422, nonsense
        assert client.get(f"/runs/{run.id}/progress?{nonsense}").status_code == 422, nonsense


def test_an_officer_is_answered_a_run_of_another_ward_as_missing_page_and_progress_alike(client):
    run = make_run(clock.now(), {cid: PENDING for cid in clusters_of("long-hung")})
    make_user("can-bo", Role.OFFICER, ("thoi-hoa",))
    log_in(client, "can-bo")
    for path in (f"/runs/{run.id}", f"/runs/{run.id}/progress", f"/runs/{run.id}/progress?ward=long-hung"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "Long Hưng" not in answer.get_data(as_text=True)


def test_an_officer_filtering_on_another_ward_sees_nothing_of_it(client):
    run = district_run({"om-lhg-001": (FAILED, None)})
    make_user("can-bo", Role.OFFICER, ("thoi-hoa",))
    log_in(client, "can-bo")
    found = client.get(f"/runs/{run.id}/progress?ward=long-hung").get_json()
    assert found["clusters"] == [] and found["total"] == 58
