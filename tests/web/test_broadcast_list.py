"""The broadcast list: filters by ward, run state and local days (each and together), pages, and wards kept apart."""

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from pa_controller import clock
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import Run
from pa_controller.services.broadcast_search import PER_PAGE
from pa_protocol import RunState
from tests.factories import bearer, make_broadcast, make_user
from tests.web.test_pages import log_in

NOW = datetime(2027, 3, 3, 9, 0, tzinfo=clock.LOCAL_ZONE)  # a Wednesday morning in Ô Môn


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 3, day, hour, minute, tzinfo=clock.LOCAL_ZONE)


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


@pytest.fixture
def district(seeded, frozen):
    """Four broadcasts around NOW, by title: played, another ward's, cancelled, and one to come."""
    made = {
        "played": make_broadcast(local(1, 7), runs=[(local(1, 7), RunState.FINISHED)], title="played"),
        "long-hung": make_broadcast(local(4, 7), ("long-hung",), runs=[(local(4, 7), RunState.SCHEDULED)],
                                    title="long-hung"),
        "cancelled": make_broadcast(local(5, 7), runs=[(local(5, 7), RunState.CANCELLED)], cancelled_at=NOW,
                                    title="cancelled"),
        "to come": make_broadcast(local(4, 17), runs=[(local(4, 17), RunState.SCHEDULED)], title="to come"),
    }
    return {title: broadcast.id for title, broadcast in made.items()}


def titles(client, auth, query: str = "") -> set[str]:
    answer = client.get(f"/api/v1/broadcasts{query}", headers=auth)
    assert answer.status_code == 200, answer.get_json()
    return {b["title"] for b in answer.get_json()["broadcasts"]}


@pytest.mark.parametrize(("query", "expected"), [
    ("", {"played", "long-hung", "to come"}),
    ("?cancelled=1", {"played", "long-hung", "cancelled", "to come"}),
    ("?ward=thoi-hoa", {"played", "to come"}),
    ("?state=finished", {"played"}),
    ("?state=cancelled", {"cancelled"}),
    ("?state=scheduled", {"long-hung", "to come"}),
    ("?from=2027-03-04&to=2027-03-04", {"long-hung", "to come"}),
    ("?day=2027-03-01", {"played"}),
    ("?from=2027-03-02", {"long-hung", "to come"}),
    ("?to=2027-03-03", {"played"}),
    ("?ward=thoi-hoa&state=scheduled&day=2027-03-04", {"to come"}),
    ("?ward=long-hung&state=finished", set()),
    ("?state=cancelled&from=2027-03-01&to=2027-03-04", set()),
])
def test_each_filter_and_their_combinations_select_the_broadcasts_they_say(client, admin, district, query, expected):
    assert titles(client, bearer(admin), query) == expected


def test_a_day_is_a_local_day_even_where_utc_has_another_date(client, admin, frozen):
    """05:30 on the 6th in Ô Môn is 22:30 UTC on the 5th: the run belongs to the 6th."""
    make_broadcast(local(6, 5, 30), runs=[(local(6, 5, 30), RunState.SCHEDULED)], title="dawn")
    auth = bearer(admin)
    assert titles(client, auth, "?day=2027-03-06") == {"dawn"}
    assert titles(client, auth, "?day=2027-03-05") == set()


def test_a_series_is_found_on_a_day_the_planner_has_not_reached(client, admin, frozen):
    make_broadcast(local(4, 5, 30), runs=[(local(4, 5, 30), RunState.SCHEDULED)], rrule="FREQ=WEEKLY;BYDAY=MO",
                   title="mondays")
    auth = bearer(admin)
    assert titles(client, auth, "?day=2027-03-22") == {"mondays"}
    assert titles(client, auth, "?day=2027-03-23&state=scheduled") == set(), "not a Monday"
    assert titles(client, auth, "?state=scheduled") == {"mondays"}


def test_the_list_comes_fifty_a_page_with_the_filters_kept(client, officer_auth, frozen):
    for n in range(PER_PAGE + 1):
        make_broadcast(local(4, 6) + timedelta(minutes=n), created_at=NOW + timedelta(seconds=n), title=f"tin {n}")
    first = client.get("/api/v1/broadcasts?ward=thoi-hoa", headers=officer_auth).get_json()
    second = client.get("/api/v1/broadcasts?ward=thoi-hoa&page=2", headers=officer_auth).get_json()
    assert (first["total"], first["pages"], len(first["broadcasts"])) == (PER_PAGE + 1, 2, PER_PAGE)
    assert [b["title"] for b in second["broadcasts"]] == ["tin 0"], "newest first: the oldest is last"
    log_in(client, "officer-thoi-hoa")
    page = client.get("/broadcasts?ward=thoi-hoa&from=2027-03-04").get_data(as_text=True)
    assert re.search(r'rel="next" href="/broadcasts\?ward=thoi-hoa&amp;from=2027-03-04&amp;page=2"', page)
    assert '<option value="thoi-hoa" selected lang="vi">' in page and 'value="04/03/2027"' in page
    typed = client.get("/broadcasts?ward=thoi-hoa&from=04/03/2027").get_data(as_text=True)
    assert re.search(r'rel="next" href="/broadcasts\?ward=thoi-hoa&amp;from=2027-03-04&amp;page=2"', typed), (
        "the form's dd/mm/yyyy is the same filter")


@pytest.mark.parametrize("query", ["?state=playing", "?from=2027-02-30", "?from=2027-03-05&to=2027-03-04",
                                   "?page=0", "?ward=" + "x" * 40])
def test_a_filter_that_cannot_be_read_is_refused_with_what_to_fix(client, officer_auth, query):
    answer = client.get(f"/api/v1/broadcasts{query}", headers=officer_auth)
    assert answer.status_code == 422 and answer.get_json()["error"]["fields"]
    log_in(client, "officer-thoi-hoa")
    assert client.get(f"/broadcasts{query}").status_code == 422


def test_the_page_reads_days_as_typed_and_the_api_only_as_documented(client, officer_auth):
    """The form's fields are dd/mm/yyyy; the API's query stays YYYY-MM-DD, where 03/04/2027 would be ambiguous."""
    answer = client.get("/api/v1/broadcasts?from=03/04/2027", headers=officer_auth)
    assert answer.status_code == 422 and answer.get_json()["error"]["fields"] == {"from": "Ngày viết dạng YYYY-MM-DD."}
    log_in(client, "officer-thoi-hoa")
    page = client.get("/broadcasts?from=03/04/2027&to=3/4/2027").get_data(as_text=True)
    assert page.count('value="03/04/2027"') == 2, "3 April, shown back as typed"
    for bad in ("31/02/2027", "2027-13-01", "04/03/27"):
        refused = client.get("/broadcasts", query_string={"to": bad})
        assert refused.status_code == 422 and "Ngày viết dạng ngày/tháng/năm, ví dụ 31/12/2026." in refused.get_data(
            as_text=True), bad


def test_an_unknown_ward_is_not_found(client, admin):
    assert client.get("/api/v1/broadcasts?ward=nowhere", headers=bearer(admin)).status_code == 404


def test_an_officer_finds_nothing_of_another_ward(client, officer_auth, district):
    assert "long-hung" not in titles(client, officer_auth) | titles(client, officer_auth, "?day=2027-03-04")
    assert client.get("/api/v1/broadcasts?ward=long-hung", headers=officer_auth).status_code == 403
    log_in(client, "officer-thoi-hoa")
    page = client.get("/broadcasts?state=scheduled")
    assert page.status_code == 200 and "to come" in page.get_data(as_text=True)
    assert "long-hung" not in page.get_data(as_text=True) and "Long Hưng" not in page.get_data(as_text=True)
    assert client.get("/broadcasts?ward=long-hung").status_code == 403


def test_each_broadcast_offers_edit_duplicate_and_a_confirmed_cancel_to_who_may_change_it(client, officer_auth,
                                                                                            district):
    make_user("xem", Role.VIEWER, ("thoi-hoa",))
    log_in(client, "officer-thoi-hoa")
    listed = client.get("/broadcasts").get_data(as_text=True)
    to_come = district["to come"]
    for link in (f"/broadcasts/{to_come}/edit", f"/broadcasts/{to_come}/duplicate", f"/broadcasts/{to_come}#huy"):
        assert f'href="{link}"' in listed
    page = client.get(f"/broadcasts/{to_come}").get_data(as_text=True)
    cancels = set(re.findall(r'action="([^"]*/cancel)"', page))
    confirmed = {action for block in re.findall(r'<details class="confirm">.*?</details>', page, re.S)
                 for action in re.findall(r'action="([^"]*/cancel)"', block)}
    run_id = db.session.scalar(select(Run.id).where(Run.broadcast_id == to_come))
    assert cancels == confirmed == {f"/broadcasts/{to_come}/cancel", f"/runs/{run_id}/cancel"}, (
        "each cancel button sits behind a second, confirming step")
    client.post("/logout")
    log_in(client, "xem")
    assert "/duplicate" not in client.get("/broadcasts").get_data(as_text=True)
