"""API tokens: scoped, never beyond their user's role, expiring, revocable, their last use shown."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from pa_controller import clock
from pa_controller.domain import Role, Scope
from pa_controller.extensions import db
from pa_controller.models import ApiToken
from pa_controller.services import people, tokens
from tests.conftest import PASSWORD
from tests.factories import bearer, make_user
from tests.support.signing_in import log_in

PUBLIC_API = {"api.health", "api.openapi", "api_keys.command_key_list"}  # the keys: for provisioning clusters


@pytest.fixture
def officer(seeded):
    return make_user("canbo", Role.OFFICER, ("thoi-hoa",))


def api_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.endpoint not in PUBLIC_API:
            yield rule, app.view_functions[rule.endpoint]


def test_every_api_route_names_the_scope_it_needs_and_reads_need_only_read(app):
    """A read needs `read`, or `report` (which `read` grants) for the upward API; nothing else needs either."""
    for rule, view in api_routes(app):
        scope = getattr(view, "required_scope", None)
        assert isinstance(scope, Scope), f"{rule.rule} names no scope: @authenticated(Scope.…)"
        reading = rule.methods - {"HEAD", "OPTIONS"} == {"GET"}
        assert (Scope.READ in scope.granted_by) == reading, rule.rule
        assert (scope is Scope.REPORT) == rule.rule.startswith("/api/v1/upward/"), rule.rule


def test_the_api_document_shows_each_operation_s_scope(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert paths["/broadcasts"]["post"]["security"] == [{"bearer": ["schedule"]}]
    assert paths["/stop-all"]["post"]["security"] == [{"bearer": ["admin"]}]
    assert paths["/commands"]["post"]["security"] == [{"bearer": ["fleet"]}]
    assert paths["/wards"]["get"]["security"] == [{"bearer": ["read"]}]
    assert paths["/health"]["get"]["security"] == []


def test_a_read_token_reads_and_may_not_schedule_and_says_which_scope_is_missing(client, officer):
    read_only = bearer(officer, "read")
    assert client.get("/api/v1/wards", headers=read_only).status_code == 200
    answer = client.delete("/api/v1/broadcasts/1", headers=read_only)
    assert answer.status_code == 403
    error = answer.get_json()["error"]
    assert error["code"] == "insufficient_scope" and error["required_scope"] == "schedule"
    assert error["token_scopes"] == ["read"] and "“schedule”" in error["message"]
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="schedule"'


def test_a_token_never_grants_more_than_its_user_s_role(client, officer, admin):
    with pytest.raises(Exception, match="không dùng được quyền fleet"):
        tokens.issue(officer, "too much", ["read", "fleet"])
    full = bearer(admin)
    assert client.put("/api/v1/wards/thoi-hoa/rules", headers=full, json={"quiet_hours": None}).status_code == 200
    make_user("spare-admin", Role.ADMIN)
    people.assign(admin, Role.VIEWER, [])  # demoted: the admin scope its token holds no longer counts
    answer = client.put("/api/v1/wards/thoi-hoa/rules", headers=full, json={"quiet_hours": None})
    assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "insufficient_scope"
    assert "vai trò" in answer.get_json()["error"]["message"]


def test_an_expired_token_is_refused_with_when_it_expired(client, officer, monkeypatch):
    headers = bearer(officer, days=1)
    assert client.get("/api/v1/wards", headers=headers).status_code == 200
    later = clock.now() + timedelta(days=1, seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    answer = client.get("/api/v1/wards", headers=headers)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    error = answer.get_json()["error"]
    assert error["code"] == "token_expired" and "hết hạn" in error["message"] and error["expired_at"]


def test_a_revoked_token_is_refused_at_its_next_request(client, officer):
    headers = bearer(officer)
    assert client.get("/api/v1/wards", headers=headers).status_code == 200
    tokens.revoke(db.session.scalars(select(ApiToken)).one())
    answer = client.get("/api/v1/wards", headers=headers)
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "token_revoked"


def test_no_token_or_a_made_up_one_is_refused_alike(client, officer):
    for headers in ({}, {"Authorization": "Bearer loa_made-up"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}):
        answer = client.get("/api/v1/wards", headers=headers)
        assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "unauthorized"
        assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_deactivating_a_user_revokes_their_tokens_for_good(client, officer, admin):
    headers = bearer(officer)
    people.set_active(officer, False)
    people.set_active(officer, True)
    assert client.get("/api/v1/wards", headers=headers).get_json()["error"]["code"] == "token_revoked"


def test_a_token_lasts_ninety_days_unless_asked_and_at_most_a_year(officer):
    token, _secret = tokens.issue(officer, "script")
    assert token.expires_at - token.created_at == timedelta(days=90)
    assert tokens.issue(officer, "yearly", days=365)[0].expires_at - clock.now() > timedelta(days=364)
    with pytest.raises(Exception, match="từ 1 đến 365 ngày"):
        tokens.issue(officer, "forever", days=366)


def test_only_the_digest_of_a_token_is_stored(officer):
    token, secret = tokens.issue(officer, "script")
    assert secret.startswith("loa_") and secret not in (token.token_sha256, token.name)
    assert token.token_sha256 == ApiToken.digest(secret)


def test_the_account_page_shows_a_new_token_once_and_its_last_use_later(client, officer):
    log_in(client, "canbo")
    made = client.post("/account/tokens", data={"name": "báo cáo tuần", "scopes": ["read"], "days": "30",
                                                "current_password": PASSWORD})
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    secret = re.search(r'value="(loa_[^"]+)"', made.get_data(as_text=True)).group(1)
    assert client.get("/api/v1/runs", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    page = client.get("/account").get_data(as_text=True)
    assert secret not in page and "báo cáo tuần" in page and "Dùng được" in page
    used = db.session.scalars(select(ApiToken)).one().last_used_at
    assert used is not None and used.astimezone(clock.LOCAL_ZONE).strftime("%H:%M %d/%m/%Y") in page


def test_an_officer_cannot_ask_the_page_for_a_scope_beyond_their_role(client, officer):
    log_in(client, "canbo")
    answer = client.post("/account/tokens", data={"name": "x", "scopes": ["read", "admin"], "days": "30",
                                                  "current_password": PASSWORD})
    assert answer.status_code == 422 and "không dùng được quyền admin" in answer.get_data(as_text=True)
    assert db.session.scalars(select(ApiToken)).all() == []


def test_a_token_needs_the_current_password_so_an_open_session_does_not_become_one(client, officer):
    log_in(client, "canbo")
    answer = client.post("/account/tokens", data={"name": "x", "scopes": ["read"], "days": "30",
                                                  "current_password": "not mine"})
    assert answer.status_code == 422 and "Mật khẩu hiện tại không đúng" in answer.get_data(as_text=True)
    assert db.session.scalars(select(ApiToken)).all() == []


def test_an_administrator_sees_and_revokes_anyone_s_token(client, officer, admin):
    headers = bearer(officer)
    token = db.session.scalars(select(ApiToken)).one()
    log_in(client, "admin")
    assert token.name in client.get(f"/admin/users/{officer.id}").get_data(as_text=True)
    assert client.post(f"/admin/users/{officer.id}/tokens/{token.id}/revoke").status_code == 302
    assert client.get("/api/v1/wards", headers=headers).status_code == 401
