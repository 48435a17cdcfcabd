"""Every form post needs its anti-forgery token: the HTML POST routes, taken from the URL map, refuse one without.

Signed in as an administrator, who may do everything, so a route that skipped the check would act.
"""

import re
from datetime import timedelta

import pytest
from flask import g
from sqlalchemy import select

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.domain import IncidentKind, Role
from pa_controller.extensions import db
from pa_controller.models import ApiToken, Incident, Run
from tests.factories import bearer, broadcast_request, make_audio, make_user
from tests.security.test_ward_isolation import fingerprint

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_posts(app) -> list:
    return sorted((rule for rule in app.url_map.iter_rules()
                   if "POST" in rule.methods and not rule.rule.startswith("/api/")), key=lambda rule: rule.rule)


def csrf_token(client, path: str = "/login") -> str:
    """The token a page's forms carry (Flask-WTF caches it in `g`, which a test's requests share: drop it)."""
    g.pop("csrf_token", None)
    return TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


@pytest.fixture
def guarded(seeded):
    seeded.config["WTF_CSRF_ENABLED"] = True
    yield seeded.test_client()
    seeded.config["WTF_CSRF_ENABLED"] = False


def test_logging_in_needs_the_form_s_token(guarded, admin):
    refused = guarded.post("/login", data={"username": "admin", "password": "correct horse battery staple"})
    assert refused.status_code == 400 and "tải lại trang" in refused.get_data(as_text=True)
    assert guarded.post("/login", data={"username": "admin", "password": "correct horse battery staple",
                                        "csrf_token": csrf_token(guarded)}).status_code == 302


def test_every_form_post_without_its_token_is_refused_and_changes_nothing(seeded, guarded, admin):
    clip = make_audio()
    later = protocol.format_time(clock.now() + timedelta(hours=2))
    made = seeded.test_client().post("/api/v1/broadcasts", headers=bearer(admin), json=broadcast_request(
        clip.id, start_at=later, rrule="FREQ=DAILY"))
    group = seeded.test_client().post("/api/v1/groups", headers=bearer(admin), json={
        "name": "Chợ", "ward": "thoi-hoa", "clusters": ["om-tho-001"]}).get_json()
    officer = make_user("canbo", Role.OFFICER, ("thoi-hoa",))
    bearer(officer)
    incident = Incident(kind=IncidentKind.CLUSTER_OFFLINE.value, cluster_id="om-tho-001", ward_id="thoi-hoa",
                        summary="x", opened_at=clock.now())
    db.session.add(incident)
    db.session.commit()
    values = {"broadcast_id": made.get_json()["id"], "run_id": db.session.scalar(select(Run.id)),
              "cid": "om-tho-001", "incident_id": incident.id, "action": "close", "user_id": officer.id,
              "token_id": db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == officer.id)),
              "code": "en", "group_id": group["id"]}
    guarded.post("/login", data={"username": "admin", "password": "correct horse battery staple",
                                 "csrf_token": csrf_token(guarded)})
    form = {"reason": "x", "title": "x", "active": "0", "password": "p" * 16, "password_again": "p" * 16,
            "role": "viewer", "reach": "district", "type": "reboot", "name": "x", "current_password": "x",
            "new_password": "q" * 16, "new_password_again": "q" * 16, "username": "admin"}
    before = fingerprint(0)
    failures = []
    for rule in form_posts(seeded):
        if unknown := set(rule.arguments) - set(values):
            failures.append(f"{rule.rule}: give this test a value for {sorted(unknown)}")
            continue
        path = rule.build(values, append_unknown=False)[1]
        answer = guarded.post(path, data=form)
        if answer.status_code != 400:
            failures.append(f"POST {path} without its token: {answer.status_code}, not 400")
        if fingerprint(0) != before:
            failures.append(f"POST {path} without its token changed something")
            before = fingerprint(0)
    assert len(form_posts(seeded)) >= 20
    assert not failures, "\n".join(failures)
    # and with its token the same session's form is taken: the token, not anything else, refused them
    answer = guarded.post("/account/calendar/revoke", data={"csrf_token": csrf_token(guarded, "/account")})
    assert answer.status_code == 302, answer.get_data(as_text=True)
