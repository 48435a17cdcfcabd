"""The world the browser tests and the screenshots look at: Ô Môn's fleet, a person of each role, broadcasts."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from werkzeug.serving import make_server

from pa_controller import clock
from pa_controller.domain import ClusterStatus, IncidentKind, Role
from pa_controller.extensions import db
from pa_controller.models import ClusterState, Delivery, Incident, Ward
from pa_controller.services import broadcasts, groups
from pa_protocol import DeliveryState, RunState
from tests.conftest import PASSWORD
from tests.factories import broadcast_request, make_audio, make_user
from tests.support.broker import free_port

# Who signs in, as what, for which wards.
PEOPLE = {
    "officer": (Role.OFFICER, ("thoi-hoa",)),
    "approver": (Role.APPROVER, ("thoi-hoa",)),
    "technician": (Role.TECHNICIAN, ()),
    "admin": (Role.ADMIN, ()),
    "viewer": (Role.VIEWER, ("thoi-hoa",)),
}
OFFLINE = ("om-tho-003", "om-tho-017", "om-lhg-004", "om-pth-010")  # the four that missed the district's run


@dataclass(frozen=True)
class Scene:
    """The objects a page with an id in its URL is shown with, by the URL's argument name; when the run began."""

    known: dict[str, object]
    run_start: datetime


def build_scene() -> Scene:
    """Add people, a finished district run (452/456), a daily ward broadcast, one waiting for approval, a market's
    group of clusters, live clusters and an incident."""
    people = {name: make_user(name, role, wards) for name, (role, wards) in PEOPLE.items()}
    now = clock.now()
    _fleet_reports(now)
    clip = make_audio(title="Thông báo lịch tiêm chủng", uploaded_by=people["officer"].id)
    district, _ = broadcasts.create_broadcast(people["admin"], broadcast_request(
        clip.id, title="Cảnh báo triều cường", targets={"all": True}, start_at="now", priority="emergency"))
    run = district.runs[0]
    for delivery in db.session.scalars(select(Delivery).where(Delivery.run_id == run.id)):
        delivery.state = DeliveryState.FAILED if delivery.cluster_id in OFFLINE else DeliveryState.DONE
    run.state = RunState.FINISHED
    daily, _ = broadcasts.create_broadcast(people["officer"], broadcast_request(
        clip.id, title="Thông báo lịch cắt điện", rrule="FREQ=DAILY",
        start_at=(now + timedelta(hours=3)).isoformat()))
    _submitted(people["officer"], clip.id, now)
    market = groups.create_group(people["officer"], {"name": "Chợ Thới Hòa", "ward": "thoi-hoa",
                                                     "clusters": ["om-tho-001", "om-tho-002", "om-tho-003"]})
    db.session.add(Incident(kind=IncidentKind.CLUSTER_OFFLINE.value, cluster_id="om-tho-003", ward_id="thoi-hoa",
                            summary="Cụm om-tho-003 (Thới Hòa) mất kết nối", opened_at=now - timedelta(minutes=40)))
    db.session.commit()
    return Scene(known={"broadcast_id": daily.id, "run_id": run.id, "cid": "om-tho-001",
                        "user_id": people["officer"].id, "ward_id": "thoi-hoa",
                        "group_id": market.id}, run_start=run.start_at)


def _submitted(officer, clip_id: int, now: datetime):
    """An officer's broadcast waiting for an approver: the ward asks for approval just while it is saved, so the
    rest of the scene (and the tests that look at it) keeps the seeded rule."""
    ward = db.session.get(Ward, "thoi-hoa")
    ward.approval_required = True
    waiting, _ = broadcasts.create_broadcast(officer, broadcast_request(
        clip_id, title="Thông báo họp tổ dân phố", start_at=(now + timedelta(days=1)).isoformat()))
    ward.approval_required = False
    db.session.commit()
    return waiting


def _fleet_reports(now) -> None:
    """Every cluster reported a moment ago but the four offline ones."""
    for state in db.session.scalars(select(ClusterState)):
        live = state.cluster_id not in OFFLINE
        state.status = ClusterStatus.ONLINE if live else ClusterStatus.OFFLINE
        state.online = live
        state.status_at = state.last_seen = state.heartbeat_at = now if live else now - timedelta(hours=1)
        state.fw, state.volume, state.rssi_dbm, state.temp_c = "2.4.1", 80, -67.0, 41.5
        state.speakers_ok = state.speakers_total = 2


@contextmanager
def serving(app) -> Iterator[str]:
    """Serve the app over real HTTP on a free port in a thread; yield its base URL."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join()


def sign_in(browser, base_url: str, username: str, language: str) -> dict:
    """Sign in on the login form as a person does; return the cookies (Playwright's storage state)."""
    context = browser.new_context(locale=language)
    log_in(context.new_page(), base_url, username)
    state = context.storage_state()
    context.close()
    return state


def log_in(page, base_url: str, username: str) -> None:
    """Open the login page, fill in the form and send it; wait for the dashboard it leads to."""
    page.goto(base_url + "/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form.card button").click()
    page.wait_for_url(base_url + "/")
