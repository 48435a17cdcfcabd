"""Five roles: what each may see and do, as access.ward_scope and the routes answer it."""

from datetime import timedelta

import pytest

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.domain import Role, Scope
from pa_controller.services import access
from tests.factories import bearer, broadcast_request, make_audio, make_user
from tests.security.test_ward_isolation import PUBLIC, fingerprint, long_hung, probes, routes
from tests.support.signing_in import log_in

OWN_ACCOUNT = "account."


@pytest.mark.parametrize("role, wards, scope", [
    (Role.ADMIN, (), None), (Role.TECHNICIAN, (), None),
    (Role.OFFICER, ("thoi-hoa",), {"thoi-hoa"}), (Role.OFFICER, ("thoi-hoa", "thoi-an"), {"thoi-hoa", "thoi-an"}),
    (Role.APPROVER, ("long-hung",), {"long-hung"}), (Role.APPROVER, (), None),
    (Role.VIEWER, ("thoi-an",), {"thoi-an"}), (Role.VIEWER, (), None),
])
def test_each_role_s_reach(seeded, role, wards, scope):
    assert access.ward_scope(make_user("someone", role, wards)) == scope


@pytest.mark.parametrize("role, wards", [(Role.OFFICER, ()), (Role.ADMIN, ("thoi-hoa",)),
                                         (Role.TECHNICIAN, ("thoi-hoa",)), (Role.OFFICER, ("nowhere",))])
def test_a_role_s_wards_must_fit_it(seeded, role, wards):
    with pytest.raises(Exception, match="phường"):
        make_user("someone", role, wards)


def test_what_scopes_each_role_can_use():
    assert {role: {s.value for s in role.scopes} for role in Role} == {
        Role.ADMIN: {"read", "report", "schedule", "fleet", "admin"}, Role.APPROVER: {"read", "report", "schedule"},
        Role.OFFICER: {"read", "report", "schedule"}, Role.TECHNICIAN: {"read", "report", "fleet"},
        Role.VIEWER: {"read", "report"}}
    assert [r for r in Role if r.schedules] == [Role.ADMIN, Role.OFFICER]
    assert [r for r in Role if r.tends_fleet] == [Role.ADMIN, Role.TECHNICIAN]
    assert all(Scope.READ in r.scopes for r in Role)


def test_a_viewer_of_the_district_sees_everything_and_changes_nothing(client, admin):
    """Every route that is not a read, taken from the URL map (one's own account aside), is refused."""
    o = long_hung(client, admin)
    viewer = make_user("xem", Role.VIEWER)
    auth = bearer(viewer)
    log_in(client, "xem")
    assert client.get(f"/api/v1/broadcasts/{o.broadcast}", headers=auth).status_code == 200
    assert client.get(f"/fleet/clusters/{o.cluster}").status_code == 200
    before, failures, tried = fingerprint(viewer.id), [], 0
    changing = {route for route in routes(client.application) if not route.startswith("GET ")}
    for route, tries in probes(o).items():
        if route not in changing or route in PUBLIC or route.split(" ")[1].startswith(OWN_ACCOUNT):
            continue
        for probe in tries:
            headers = auth if probe.path.startswith("/api/") else None
            answer = client.open(probe.path, method=probe.method, json=probe.json, data=probe.data or None,
                                 headers=headers)
            tried += 1
            if answer.status_code != 403:
                failures.append(f"{route} {probe.path}: {answer.status_code}, not 403")
    assert not failures, "\n".join(failures)
    assert tried >= 30 and fingerprint(viewer.id) == before


def test_a_technician_tends_the_fleet_and_schedules_nothing(client):
    tech = make_user("kythuat", Role.TECHNICIAN)
    auth = bearer(tech)
    later = protocol.format_time(clock.now() + timedelta(hours=2))
    assert client.post("/api/v1/broadcasts", headers=auth, json=broadcast_request(
        make_audio().id, start_at=later)).status_code == 403
    assert client.post("/api/v1/commands", headers=auth, json={"type": "test_tone", "clusters": ["om-lhg-001"]}
                       ).status_code == 202
    log_in(client, "kythuat")
    assert client.get("/broadcasts/new").status_code == 403
    assert client.post("/audio", data={"title": "x"}).status_code == 403


def test_an_approver_reads_what_its_wards_schedule_and_schedules_nothing(client, admin):
    o = long_hung(client, admin)
    approver = make_user("duyet", Role.APPROVER, ("long-hung",))
    auth = bearer(approver)
    assert client.get(f"/api/v1/broadcasts/{o.broadcast}", headers=auth).status_code == 200
    assert client.get(f"/api/v1/runs/{o.run}", headers=auth).status_code == 200
    assert client.delete(f"/api/v1/broadcasts/{o.broadcast}", headers=auth).status_code == 403
    assert client.post("/api/v1/audio", headers=auth).status_code == 403
