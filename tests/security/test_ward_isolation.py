"""Wards are hard boundaries: every endpoint and page, taken from the URL map, refuses another ward's objects.

An officer, an approver and a viewer of Thới Hòa try each route against Long Hưng's broadcast, run, cluster, group,
command, incident and rules (and an administrator's token and user pages). Each answer must be a refusal (403 or
404) or a list scoped to Thới Hòa; no answer may name Long Hưng, its clusters or its broadcast; and nothing of
anyone else may change. A route this file does not know fails the test: classify it below. And guessing ids tells
nothing: each of Long Hưng's things is answered exactly as an id that names nothing is.
"""

import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from io import BytesIO

import pytest
from sqlalchemy import func, select

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.domain import IncidentKind, Role
from pa_controller.extensions import db
from pa_controller.models import (
    ApiToken,
    Audio,
    Broadcast,
    BrokerCredential,
    Cluster,
    FleetCommand,
    Group,
    Incident,
    MaintenanceWindow,
    OutboxMessage,
    Run,
    StopOrder,
    User,
    Ward,
    WardRules,
    group_cluster,
)
from tests.conftest import PASSWORD
from tests.factories import bearer, broadcast_request, make_audio, make_user
from tests.support.pdf_text import pdf_text
from tests.support.signing_in import log_in

# Routes anyone may use: nothing of a ward behind them (media is addressed by its sha256 alone; the command keys
# are public keys, published for provisioning clusters).
PUBLIC = {"GET api.health", "GET api.openapi", "GET pages.language", "GET pages.login", "POST pages.login",
          "POST pages.logout", "GET media.clip", "GET static", "GET api_keys.command_key_list"}
REFUSED = frozenset({403, 404})
# Another ward's group or cluster named in targets: refused as ids that name nothing (422), or for the role (403).
UNKNOWN = frozenset({403, 422})
SEEN = frozenset({200})  # a list or page, scoped to the reader's wards
SECRET = "Bản tin riêng của Long Hưng"
LEAKS = ("long-hung", "Long Hưng", "om-lhg-", SECRET)


@dataclass
class Probe:
    method: str
    path: str
    expect: frozenset[int]
    json: dict | None = None
    data: dict = field(default_factory=dict)


def get(path, expect=SEEN):
    return Probe("GET", path, frozenset(expect))


def post(path, expect=REFUSED, json=None, **data):
    return Probe("POST", path, frozenset(expect), json=json, data=data)


def send(method, path, expect=REFUSED, json=None):
    return Probe(method, path, frozenset(expect), json=json)


@dataclass
class LongHung:
    """What Long Hưng has, made by an administrator."""

    broadcast: int
    run: int
    cluster: str
    command: int
    incident: int
    admin_id: int
    admin_token: int
    clip: int
    group: int


def probes(o: LongHung) -> dict[str, list[Probe]]:
    """How each route is tried against Long Hưng, keyed "METHOD endpoint"."""
    later = protocol.format_time(clock.now() + timedelta(hours=5))
    window = {"ward": "long-hung", "starts_at": "2030-01-01T08:00", "ends_at": "2030-01-01T09:00", "reason": "x"}
    return {
        "GET api.wards": [get("/api/v1/wards")],
        "GET api.clusters": [get("/api/v1/clusters"), get("/api/v1/clusters?ward=long-hung")],
        "GET api.cluster": [get(f"/api/v1/clusters/{o.cluster}", REFUSED)],
        "POST api.create_broadcast": [
            post("/api/v1/broadcasts", json=broadcast_request(1, targets={"wards": ["long-hung"]}, start_at=later)),
            post("/api/v1/broadcasts?dry_run=true", UNKNOWN,
                 json=broadcast_request(1, targets={"clusters": [o.cluster]}, start_at=later)),
            post("/api/v1/broadcasts", UNKNOWN,
                 json=broadcast_request(1, targets={"groups": [o.group]}, start_at=later))],
        "POST api_groups.create_group": [
            post("/api/v1/groups", json={"name": "x", "ward": "long-hung", "clusters": []}),
            post("/api/v1/groups", {403, 422}, json={"name": "x", "ward": "thoi-hoa", "clusters": [o.cluster]})],
        "GET api_groups.list_groups": [get("/api/v1/groups"), get("/api/v1/groups?ward=long-hung")],
        "GET api_groups.get_group": [get(f"/api/v1/groups/{o.group}", REFUSED)],
        "PATCH api_groups.update_group": [send("PATCH", f"/api/v1/groups/{o.group}", json={"name": "x"})],
        "DELETE api_groups.delete_group": [send("DELETE", f"/api/v1/groups/{o.group}")],
        "GET api_groups.count_targets": [get("/api/v1/targets/count?wards=long-hung", REFUSED),
                                         get(f"/api/v1/targets/count?groups={o.group}", UNKNOWN),
                                         get(f"/api/v1/targets/count?clusters={o.cluster}", UNKNOWN)],
        "PATCH api.update_broadcast": [send("PATCH", f"/api/v1/broadcasts/{o.broadcast}", json={"title": "x"})],
        "GET api.get_broadcast": [get(f"/api/v1/broadcasts/{o.broadcast}", REFUSED)],
        "GET api.list_broadcasts": [get("/api/v1/broadcasts"),
                                    get("/api/v1/broadcasts?state=scheduled&from=2020-01-01"),
                                    get("/api/v1/broadcasts?ward=long-hung", REFUSED)],
        "DELETE api.cancel_broadcast": [send("DELETE", f"/api/v1/broadcasts/{o.broadcast}")],
        "POST api_approvals.submit": [post(f"/api/v1/broadcasts/{o.broadcast}/submit")],
        "POST api_approvals.approve": [post(f"/api/v1/broadcasts/{o.broadcast}/approve")],
        "POST api_approvals.send_back": [post(f"/api/v1/broadcasts/{o.broadcast}/return", json={"comment": "x"})],
        "POST api_approvals.review": [post(f"/api/v1/broadcasts/{o.broadcast}/review", json={})],
        "GET api_approvals.waiting": [get("/api/v1/approvals")],
        "GET api.list_runs": [get("/api/v1/runs"), get(f"/api/v1/runs?broadcast_id={o.broadcast}")],
        "GET api.get_run": [get(f"/api/v1/runs/{o.run}", REFUSED)],
        "DELETE api.cancel_run": [send("DELETE", f"/api/v1/runs/{o.run}")],
        "GET api.ward_rules": [get("/api/v1/wards/long-hung/rules", REFUSED)],
        "PUT api.set_ward_rules": [send("PUT", "/api/v1/wards/long-hung/rules", json={"quiet_hours": None})],
        "POST api.stop_all": [post("/api/v1/stop-all", json={"reason": "x"})],
        "POST api_fleet.send_commands": [post("/api/v1/commands", json={"type": "reboot", "clusters": [o.cluster]}),
                                         post("/api/v1/commands", json={"type": "test_tone", "ward": "long-hung"})],
        "GET api_fleet.list_commands": [get("/api/v1/commands"), get(f"/api/v1/commands?cluster={o.cluster}", REFUSED)],
        "GET api_fleet.get_command": [get(f"/api/v1/commands/{o.command}", REFUSED)],
        "GET api_fleet.refused_reports": [get("/api/v1/refusals", REFUSED)],  # the district's: no ward's reader
        "POST api_fleet.add_cluster": [post("/api/v1/clusters", json={
            "id": "om-lhg-999", "name": "x", "ward": "long-hung", "lat": 10.1, "lon": 105.6, "speakers": 2})],
        "PATCH api_fleet.update_cluster": [send("PATCH", f"/api/v1/clusters/{o.cluster}", json={"name": "x"})],
        "DELETE api_fleet.retire_cluster": [send("DELETE", f"/api/v1/clusters/{o.cluster}")],
        "POST api_fleet.new_broker_password": [post(f"/api/v1/clusters/{o.cluster}/broker-password")],
        "GET api_fleet.export_clusters": [get("/api/v1/clusters.csv", REFUSED)],
        "POST api_fleet.import_clusters": [Probe("POST", "/api/v1/clusters/import", REFUSED)],
        "POST api_fleet.merge_wards": [post("/api/v1/wards/merge", json={"from": "long-hung", "into": "thoi-hoa"})],
        "GET api_incidents.incidents": [get("/api/v1/incidents"), get("/api/v1/incidents?open=false")],
        "POST api_incidents.acknowledge": [post(f"/api/v1/incidents/{o.incident}/ack")],
        "POST api_incidents.close": [post(f"/api/v1/incidents/{o.incident}/close")],
        "GET api_incidents.maintenance": [get("/api/v1/maintenance", REFUSED)],
        "POST api_incidents.add_maintenance": [post("/api/v1/maintenance", json=window)],
        "GET api.list_audio": [get("/api/v1/audio"), get("/api/v1/audio?composed=true")],
        "POST api.upload_audio": [post("/api/v1/audio", ward="long-hung", file=(BytesIO(b"RIFF"), "a.wav"))],
        "POST api.create_speech": [post("/api/v1/audio/speech", json={"text": "Họp dân", "ward": "long-hung"})],
        # A preview and a reading belong to no ward; a preview's MP3 is no text to search, so an empty text is tried.
        "POST api.preview_speech": [post("/api/v1/audio/speech/preview", {403, 422}, json={"text": ""})],
        "POST api.read_speech": [post("/api/v1/audio/speech/reading", {200, 403}, json={"text": "Họp lúc 17h30"})],
        # pages
        "GET pages.dashboard": [get("/")],
        "GET pages.audio_library": [get("/audio")],
        "POST pages.audio_library": [post("/audio", {302, 403}, ward="long-hung", file=(BytesIO(b"RIFF"), "a.wav"))],
        "POST pages.speech_save": [post("/audio/speech", text="Họp dân", ward="long-hung")],
        "POST pages.speech_preview": [post("/audio/speech/preview", {403, 422}, text="")],
        "POST pages.stop_all": [post("/stop-all", reason="x")],
        "GET broadcasts.broadcast_list": [get("/broadcasts"), get("/broadcasts?cancelled=1"),
                                          get("/broadcasts?state=scheduled&from=2020-01-01"),
                                          get("/broadcasts?ward=long-hung", REFUSED)],
        "GET broadcasts.duplicate_broadcast": [get(f"/broadcasts/{o.broadcast}/duplicate", REFUSED)],
        "POST broadcasts.duplicate_broadcast": [post(f"/broadcasts/{o.broadcast}/duplicate", title="x", audio_id="1",
                                                     wards="thoi-hoa", start_at="2030-01-01T08:00", action="save")],
        "GET broadcasts.broadcast_page": [get(f"/broadcasts/{o.broadcast}", REFUSED)],
        "POST broadcasts.cancel_broadcast": [post(f"/broadcasts/{o.broadcast}/cancel")],
        "GET broadcasts.edit_broadcast": [get(f"/broadcasts/{o.broadcast}/edit", REFUSED)],
        "POST broadcasts.edit_broadcast": [post(f"/broadcasts/{o.broadcast}/edit", title="x", audio_id="1")],
        "GET broadcasts.new_broadcast": [get("/broadcasts/new", {200, 403})],  # 403: a role that schedules nothing
        "POST broadcasts.new_broadcast": [post("/broadcasts/new", title="x", audio_id="1", wards="long-hung",
                                               start_at="2030-01-01T08:00")],
        "POST approvals.submit": [post(f"/broadcasts/{o.broadcast}/submit")],
        "POST approvals.approve": [post(f"/broadcasts/{o.broadcast}/approve")],
        "POST approvals.send_back": [post(f"/broadcasts/{o.broadcast}/return", comment="x")],
        "POST approvals.review": [post(f"/broadcasts/{o.broadcast}/review")],
        "GET approvals.waiting": [get("/approvals", {200, 403})],  # 403: a role that approves nothing
        "GET broadcasts.count_targets": [get("/broadcasts/targets/count?wards=long-hung", REFUSED),
                                         get(f"/broadcasts/targets/count?groups={o.group}", UNKNOWN)],
        "GET groups.group_list": [get("/groups")],
        "POST groups.new_group": [post("/groups", name="x", ward="long-hung")],
        "GET groups.group_page": [get(f"/groups/{o.group}", REFUSED)],
        "POST groups.edit_group": [post(f"/groups/{o.group}", name="x", clusters=o.cluster)],
        "POST groups.delete_group": [post(f"/groups/{o.group}/delete")],
        "GET broadcasts.run_report": [get(f"/runs/{o.run}", REFUSED)],
        "GET broadcasts.run_report_live": [get(f"/runs/{o.run}/progress", REFUSED),
                                           get(f"/runs/{o.run}/progress?ward=long-hung&state=pending", REFUSED)],
        "POST broadcasts.cancel_run": [post(f"/runs/{o.run}/cancel")],
        "GET reports.airtime_page": [get("/reports/airtime"), get("/reports/airtime?month=2026-12")],
        "GET reports.airtime_csv": [get("/reports/airtime.csv?month=2026-12")],
        "GET reports.airtime_pdf": [get("/reports/airtime.pdf?month=2026-12")],
        "GET api_reports.airtime_report": [get("/api/v1/reports/airtime"),
                                           get("/api/v1/reports/airtime?month=2026-12")],
        "GET api_upward.devices": [get("/api/v1/upward/v1/devices"),
                                   get("/api/v1/upward/v1/devices?ward=long-hung", REFUSED)],
        "GET api_upward.schedule": [get("/api/v1/upward/v1/schedule"),
                                    get("/api/v1/upward/v1/schedule?from=2020-01-01&to=2040-01-01"),
                                    get("/api/v1/upward/v1/schedule?ward=long-hung", REFUSED)],
        "GET api_upward.plays": [get("/api/v1/upward/v1/plays?from=2020-01-01&to=2040-01-01"),
                                 get("/api/v1/upward/v1/plays?ward=long-hung", REFUSED)],
        "GET calendar.ward_calendar": [get("/calendar/long-hung.ics", REFUSED)],
        "GET calendar_page.calendar_page": [get("/calendar"), get("/calendar?view=day"),
                                            get("/calendar?ward=long-hung", REFUSED)],
        "GET technician.summary": [get("/fleet")],
        "GET technician.clusters": [get("/fleet/clusters"), get("/fleet/clusters?q=om-lhg"),
                                    get("/fleet/clusters?ward=long-hung", REFUSED)],
        "GET technician.cluster": [get(f"/fleet/clusters/{o.cluster}", REFUSED)],
        "POST technician.send_command": [post(f"/fleet/clusters/{o.cluster}/commands", type="reboot")],
        "GET technician.cluster_map": [get("/fleet/map")],
        "GET incidents.incidents": [get("/incidents")],
        "POST incidents.handle": [post(f"/incidents/{o.incident}/ack"), post(f"/incidents/{o.incident}/close")],
        # one's own account: another person's token is not one's own
        "GET account.account": [get("/account")],
        "POST account.change_password": [post("/account/password", {422}, current_password="wrong",
                                              new_password="a new long password", new_password_again="x")],
        "POST account.end_other_sessions": [post("/account/sessions/end-others", {302})],
        "POST account.create_token": [post("/account/tokens", {201}, name="mine", scopes="read",
                                           current_password=PASSWORD)],
        "POST account.revoke_token": [post(f"/account/tokens/{o.admin_token}/revoke")],
        "POST account.revoke_calendar_links": [post("/account/calendar/revoke", {302})],
        # the administrators' pages
        "GET audit.audit_page": [get("/audit", REFUSED)],
        "GET audit.audit_csv": [get("/audit.csv", REFUSED)],
        "GET admin_users.user_list": [get("/admin/users", REFUSED)],
        "GET admin_users.new_user": [get("/admin/users/new", REFUSED)],
        "POST admin_users.new_user": [post("/admin/users/new", username="x", role="admin", password="p" * 12)],
        "GET admin_users.user_page": [get(f"/admin/users/{o.admin_id}", REFUSED)],
        "POST admin_users.edit_user": [post(f"/admin/users/{o.admin_id}", role="viewer", reach="district")],
        "POST admin_users.set_emergencies": [post(f"/admin/users/{o.admin_id}/emergencies", allowed="1")],
        "POST admin_users.set_active": [post(f"/admin/users/{o.admin_id}/active", active="0")],
        "POST admin_users.set_password": [post(f"/admin/users/{o.admin_id}/password", password="p" * 12,
                                               password_again="p" * 12)],
        "POST admin_users.end_sessions": [post(f"/admin/users/{o.admin_id}/sessions/end")],
        "POST admin_users.revoke_token": [post(f"/admin/users/{o.admin_id}/tokens/{o.admin_token}/revoke")],
    }


def routes(app) -> set[str]:
    """Every "METHOD endpoint" the app serves."""
    return {f"{method} {rule.endpoint}" for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def long_hung(client, admin) -> LongHung:
    auth = bearer(admin)
    clip = make_audio()
    theirs = make_audio(title="Bản ghi riêng của Long Hưng", ward_id="long-hung")
    later = protocol.format_time(clock.now() + timedelta(hours=2))
    made = client.post("/api/v1/broadcasts", headers=auth, json=broadcast_request(
        clip.id, title=SECRET, targets={"wards": ["long-hung"]}, start_at=later, rrule="FREQ=DAILY"))
    assert made.status_code == 201, made.get_json()
    command = client.post("/api/v1/commands", headers=auth, json={"type": "test_tone", "clusters": ["om-lhg-001"]})
    assert command.status_code == 202, command.get_json()
    incident = Incident(kind=IncidentKind.CLUSTER_OFFLINE.value, cluster_id="om-lhg-001", ward_id="long-hung",
                        summary="Cụm om-lhg-001 (Long Hưng) mất kết nối", opened_at=clock.now())
    db.session.add(incident)
    db.session.commit()
    group = client.post("/api/v1/groups", headers=auth, json={"name": "Chợ Long Hưng", "ward": "long-hung",
                                                              "clusters": ["om-lhg-001"]})
    assert group.status_code == 201, group.get_json()
    broadcast = made.get_json()["id"]
    return LongHung(broadcast=broadcast, run=db.session.scalar(select(Run.id).where(Run.broadcast_id == broadcast)),
                    cluster="om-lhg-001", command=command.get_json()[0]["id"], incident=incident.id,
                    admin_id=admin.id, admin_token=db.session.scalar(select(func.min(ApiToken.id))), clip=theirs.id,
                    group=group.get_json()["id"])


def fingerprint(me_id: int) -> tuple:
    """Everything an outsider could change, but for the reader's own account."""
    def rows(*columns, where=None):
        query = select(*columns).order_by(*columns[:1])
        return tuple(db.session.execute(query if where is None else query.where(where)).all())

    db.session.expire_all()
    return (
        rows(Broadcast.id, Broadcast.title, Broadcast.cancelled_at, Broadcast.rrule, Broadcast.approval,
             Broadcast.awaiting_review),
        rows(Run.id, Run.state, Run.start_at), rows(FleetCommand.id), rows(OutboxMessage.id), rows(StopOrder.id),
        rows(Incident.id, Incident.acknowledged_at, Incident.closed_at), rows(MaintenanceWindow.id),
        rows(WardRules.ward_id, WardRules.updated_at), rows(Ward.id, Ward.approval_required),
        rows(Cluster.id, Cluster.name, Cluster.ward_id, Cluster.retired),
        rows(User.id, User.role, User.active, User.password_hash, User.may_send_emergencies, where=User.id != me_id),
        rows(ApiToken.id, ApiToken.revoked_at, where=ApiToken.user_id != me_id), rows(Audio.id),
        rows(BrokerCredential.cluster_id, BrokerCredential.password_hash),
        rows(Group.id, Group.name, Group.ward_id), rows(group_cluster.c.group_id, group_cluster.c.cluster_id),
    )


def test_every_route_is_classified(app):
    known = PUBLIC | set(probes(LongHung(1, 1, "c", 1, 1, 1, 1, 1, 1)))
    unknown = sorted(routes(app) - known)
    assert not unknown, (
        f"routes no test knows: {unknown}. Classify each in tests/security/test_ward_isolation.py: PUBLIC if it "
        "needs no login, else add probes() that try it against Long Hưng's objects")
    assert not known - routes(app) - {"GET static"}, f"classified but not served: {sorted(known - routes(app))}"


@pytest.mark.parametrize("role", [Role.OFFICER, Role.APPROVER, Role.VIEWER])
def test_a_ward_s_people_see_and_change_nothing_of_another_ward(client, admin, role):
    o = long_hung(client, admin)
    me = make_user("nguoi-thoi-hoa", role, ("thoi-hoa",))
    auth = bearer(me)
    assert log_in(client, me.username).status_code == 302
    before = fingerprint(me.id)
    failures = []
    for route, tries in probes(o).items():
        for probe in tries:
            answer = ask(client, probe, auth)
            pdf = answer.mimetype == "application/pdf"  # its text is glyph numbers: read it back to look for leaks
            body = pdf_text(answer.get_data()) if pdf else answer.get_data(as_text=True)
            if o.cluster in probe.path + repr(probe.json):
                body = body.replace(o.cluster, "")  # a refusal may repeat the id asked for: that tells nothing
            if answer.status_code not in probe.expect:
                failures.append(f"{route} {probe.path}: {answer.status_code}, expected {sorted(probe.expect)}")
            if leaked := [word for word in LEAKS if word in body]:
                failures.append(f"{route} {probe.path}: the answer names {leaked}")
            if fingerprint(me.id) != before:
                failures.append(f"{route} {probe.path}: something outside {me.username}'s account changed")
                before = fingerprint(me.id)
    assert not failures, "\n".join(failures)


def ask(client, probe: Probe, auth: dict):
    api = probe.path.startswith("/api/")
    return client.open(probe.path, method=probe.method, json=probe.json, data=probe.data or None,
                       headers=auth if api else None)


def nothing_like(o: LongHung) -> LongHung:
    """Ids of the same kinds as Long Hưng's that name nothing."""
    return replace(o, broadcast=o.broadcast + 1000, run=o.run + 1000, cluster="om-lhg-999", command=o.command + 1000,
                   incident=o.incident + 1000, clip=o.clip + 1000, group=o.group + 1000)


def said(answer) -> str:
    """What an answer says, but the id it repeats: the error's message, or a page's main part."""
    if answer.is_json:
        text = str((answer.get_json() or {}).get("error", {}).get("message"))
    else:
        found = re.search(r"<main.*?</main>", answer.get_data(as_text=True), re.S)
        text = found.group(0) if found else ""
    return re.sub(r"\b(số|mã):? [\w-]+", r"\1 …", text)


def _sent(probe: Probe) -> tuple:
    return probe.method, probe.path, repr(probe.json), sorted((k, v) for k, v in probe.data.items()
                                                             if isinstance(v, str))


@pytest.mark.parametrize("role", [Role.OFFICER, Role.APPROVER, Role.VIEWER])
def test_another_ward_s_things_are_answered_exactly_as_ids_that_name_nothing(client, admin, role):
    """Guessing ids tells nothing of another ward, not even that something exists: every route answers Long Hưng's
    broadcast, run, cluster, group, command, incident and clip as it answers an id that names nothing (the same
    status and the same words, the id aside)."""
    o = long_hung(client, admin)
    me = make_user("nguoi-thoi-hoa", role, ("thoi-hoa",))
    auth = bearer(me)
    assert log_in(client, me.username).status_code == 302
    differ = []
    for (route, theirs), nothing in zip(probes(o).items(), probes(nothing_like(o)).values(), strict=True):
        for real, fake in zip(theirs, nothing, strict=True):
            if _sent(real) == _sent(fake):
                continue  # no id of Long Hưng's in this try
            seen, missing = ask(client, real, auth), ask(client, fake, auth)
            if (seen.status_code, said(seen)) != (missing.status_code, said(missing)):
                differ.append(f"{route} {real.path}: {seen.status_code} {said(seen)[:90]!r}, but for an id that "
                              f"names nothing {missing.status_code} {said(missing)[:90]!r}")
    assert not differ, "\n".join(differ)
