"""The technician sees forged commands and refused reports: on the cluster's page, the fleet summary and the API."""

from collections import Counter

from pa_controller import clock
from pa_controller.domain import RefusalKind
from pa_controller.extensions import db
from pa_controller.services import refusals
from tests.web.test_pages import log_in


def refuse(cid: str, kind: RefusalKind, reason: str, times: int) -> None:
    refusals.count(Counter({(cid, kind, reason): times}), clock.now())
    db.session.commit()


def test_the_cluster_page_lists_each_refusal_with_its_reason_and_count(client, technician_auth):
    refuse("om-tho-001", RefusalKind.FORGED_COMMAND, "bad_signature", 4)
    refuse("om-tho-001", RefusalKind.REPORT, "unknown_command", 2)
    log_in(client, "tech")
    page = client.get("/fleet/clusters/om-tho-001").get_data(as_text=True)
    assert "Lệnh giả mạo bị cụm loa từ chối" in page and "Chữ ký sai" in page and ">4<" in page
    assert "Về lệnh chưa từng được gửi" in page and ">2<" in page
    quiet = client.get("/fleet/clusters/om-tho-002").get_data(as_text=True)
    assert "Chưa có lệnh giả mạo hay báo cáo nào bị từ chối." in quiet


def test_the_fleet_summary_totals_refusals_and_names_the_clusters_within_the_readers_wards(client, officer_auth):
    refuse("om-tho-001", RefusalKind.FORGED_COMMAND, "replay", 3)
    refuse("om-cvl-001", RefusalKind.FORGED_COMMAND, "bad_signature", 5)
    log_in(client, "officer-thoi-hoa")
    page = client.get("/fleet").get_data(as_text=True)
    assert "om-tho-001" in page and "om-cvl-001" not in page, "another ward's clusters are not shown"
    assert "Lệnh giả mạo bị cụm loa từ chối: <b class=\"bad\">3</b>" in page


def test_the_clusters_api_answer_carries_its_refusals_by_kind_and_reason(client, technician_auth):
    refuse("om-tho-001", RefusalKind.FORGED_COMMAND, "unsigned", 1)
    answer = client.get("/api/v1/clusters/om-tho-001", headers=technician_auth).get_json()
    assert answer["refusals"] == {"forged_command": {"unsigned": 1}, "report": {}}


def test_the_district_summary_counts_reports_on_unknown_clusters_and_malformed_topics_for_a_whole_district_reader(
        client, technician_auth, officer_auth):
    refuse(None, RefusalKind.REPORT, "bad_topic", 6)
    refuse("om-nowhere-9", RefusalKind.REPORT, "unknown_cluster", 2)
    refuse("om-tho-001", RefusalKind.REPORT, "malformed", 1)
    log_in(client, "tech")
    page = client.get("/fleet").get_data(as_text=True)
    assert "9 báo cáo bị từ chối" in page
    assert "Trên kênh không thuộc cụm loa nào" in page and ">6<" in page
    assert "Từ cụm loa không có trong danh sách" in page and ">2<" in page
    client.post("/logout")
    log_in(client, "officer-thoi-hoa")
    ward_page = client.get("/fleet").get_data(as_text=True)
    assert 'id="district-refused"' not in ward_page, "a ward's reader sees its ward's counts, not the district's"


def test_the_district_s_refusals_are_answered_to_its_readers_and_not_without_a_login(client, technician_auth,
                                                                                      officer_auth):
    assert client.get("/api/v1/refusals", headers=technician_auth).get_json()["refused_reports"] == 0
    refuse(None, RefusalKind.REPORT, "bad_topic", 2)
    refuse("om-tho-001", RefusalKind.FORGED_COMMAND, "bad_signature", 1)
    answer = client.get("/api/v1/refusals", headers=technician_auth).get_json()
    assert answer == {"refused_reports": 3,
                      "refused": {"forged_command": {"bad_signature": 1}, "report": {"bad_topic": 2}}}
    assert client.get("/api/v1/refusals").status_code == 401
    assert client.get("/api/v1/refusals", headers=officer_auth).status_code == 403, "a ward's reader"
    assert "refused" not in client.get("/api/v1/health").get_json(), "a forger learns nothing from the health check"
