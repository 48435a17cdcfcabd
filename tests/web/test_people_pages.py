"""Administrators manage people on the pages; everyone has an account page."""

import pytest
from sqlalchemy import select

from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import AuditEntry, User
from tests.factories import make_user
from tests.support.signing_in import log_in


@pytest.fixture
def signed_in_admin(client, admin):
    log_in(client, "admin")
    return client


def user(username: str) -> User:
    db.session.expire_all()
    return db.session.scalars(select(User).where(User.username == username)).one()


def test_an_administrator_adds_an_officer_of_two_wards(signed_in_admin):
    answer = signed_in_admin.post("/admin/users/new", data={
        "username": "canbo-hai-phuong", "role": "officer", "reach": "wards", "wards": ["thoi-hoa", "thoi-an"],
        "password": "a long first password"})
    assert answer.status_code == 302
    made = user("canbo-hai-phuong")
    assert made.role is Role.OFFICER and made.ward_ids == {"thoi-hoa", "thoi-an"}
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user.create",
                                                        AuditEntry.target == "user:canbo-hai-phuong")).one()
    assert (entry.actor, entry.target) == ("admin", "user:canbo-hai-phuong")
    assert entry.detail["after"] == {"role": "officer", "wards": ["thoi-an", "thoi-hoa"], "active": True}
    assert "Thới An, Thới Hòa" in signed_in_admin.get("/admin/users").get_data(as_text=True)


@pytest.mark.parametrize("form, status, message", [
    ({"role": "officer", "reach": "district"}, 422, "ít nhất một phường"),
    ({"role": "officer", "reach": "wards"}, 422, "Hãy chọn ít nhất một phường, hoặc chọn cả quận."),
    ({"role": "technician", "reach": "wards", "wards": "thoi-hoa"}, 422, "cả quận; đừng chọn phường nào"),
    ({"role": "viewer", "reach": "district", "username": "admin"}, 409, "Đã có người dùng “admin”"),
    ({"role": "viewer", "reach": "district", "password": "short"}, 422, "ít nhất 12 ký tự"),
    ({"role": "viewer", "reach": "district", "username": "tên có dấu"}, 422, "chữ cái không dấu"),
    ({"role": "chief", "reach": "district"}, 422, "Hãy chọn một vai trò."),
])
def test_the_new_user_form_says_what_is_wrong_and_adds_nobody(signed_in_admin, form, status, message):
    answer = signed_in_admin.post("/admin/users/new", data={
        "username": "nguoi-moi", "password": "a long first password", **form})
    assert answer.status_code == status and message in answer.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.username == "nguoi-moi")) is None


def test_an_administrator_changes_a_role_and_wards_and_the_audit_has_before_and_after(signed_in_admin):
    officer = make_user("canbo", Role.OFFICER, ("thoi-hoa",))
    answer = signed_in_admin.post(f"/admin/users/{officer.id}", data={
        "role": "approver", "reach": "wards", "wards": ["thoi-hoa", "long-hung"]})
    assert answer.status_code == 302
    assert user("canbo").role is Role.APPROVER and user("canbo").ward_ids == {"thoi-hoa", "long-hung"}
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user.edit")).one()
    assert entry.detail == {"before": {"role": "officer", "wards": ["thoi-hoa"]},
                            "after": {"role": "approver", "wards": ["long-hung", "thoi-hoa"]}}
    signed_in_admin.post(f"/admin/users/{officer.id}", data={"role": "viewer", "reach": "district"})
    assert user("canbo").role is Role.VIEWER and user("canbo").ward_ids == set()


def test_the_last_administrator_can_be_neither_deactivated_nor_demoted(signed_in_admin, admin):
    for path, form in ((f"/admin/users/{admin.id}/active", {"active": "0"}),
                       (f"/admin/users/{admin.id}", {"role": "viewer", "reach": "district"})):
        answer = signed_in_admin.post(path, data=form)
        assert answer.status_code == 409 and "quản trị viên cuối cùng" in answer.get_data(as_text=True)
    assert user("admin").active and user("admin").role is Role.ADMIN


def test_an_administrator_deactivates_and_reactivates_and_both_are_audited(signed_in_admin):
    officer = make_user("canbo", Role.OFFICER, ("thoi-hoa",))
    signed_in_admin.post(f"/admin/users/{officer.id}/active", data={"active": "0"})
    assert not user("canbo").active
    assert log_in(signed_in_admin.application.test_client(), "canbo").status_code == 401
    signed_in_admin.post(f"/admin/users/{officer.id}/active", data={"active": "1"})
    assert user("canbo").active
    assert db.session.scalars(select(AuditEntry.action).where(
        AuditEntry.target == "user:canbo", AuditEntry.action.like("user.%")).order_by(AuditEntry.id)).all() == [
        "user.create", "user.deactivate", "user.activate"]


def test_an_administrator_sets_a_new_password_typed_twice(signed_in_admin):
    officer = make_user("canbo", Role.OFFICER, ("thoi-hoa",))
    mismatch = signed_in_admin.post(f"/admin/users/{officer.id}/password", data={
        "password": "a brand new password", "password_again": "a brand new passw0rd"})
    assert mismatch.status_code == 422 and "không giống nhau" in mismatch.get_data(as_text=True)
    signed_in_admin.post(f"/admin/users/{officer.id}/password", data={
        "password": "a brand new password", "password_again": "a brand new password"})
    assert log_in(signed_in_admin.application.test_client(), "canbo", "a brand new password").status_code == 302


def test_the_menu_offers_people_to_administrators_and_an_account_to_everyone(client, admin):
    make_user("xem", Role.VIEWER)
    log_in(client, "xem")
    page = client.get("/").get_data(as_text=True)
    assert 'href="/account"' in page and 'href="/admin/users"' not in page and 'href="/broadcasts"' in page
    client.post("/logout")
    log_in(client, "admin")
    assert 'href="/admin/users"' in client.get("/").get_data(as_text=True)


def test_the_people_pages_read_in_english_too(signed_in_admin):
    signed_in_admin.get("/lang/en")
    assert "Add a user" in signed_in_admin.get("/admin/users").get_data(as_text=True)
    assert "Change password" in signed_in_admin.get("/account").get_data(as_text=True)


def test_an_administrator_lets_an_officer_send_emergencies_at_once_and_takes_it_back(signed_in_admin):
    officer = make_user("canbo", Role.OFFICER, ("thoi-hoa",))
    assert "Cho phép phát khẩn cấp ngay" in signed_in_admin.get(f"/admin/users/{officer.id}").get_data(as_text=True)
    signed_in_admin.post(f"/admin/users/{officer.id}/emergencies", data={"allowed": "1"})
    assert user("canbo").may_send_emergencies
    signed_in_admin.post(f"/admin/users/{officer.id}/emergencies", data={"allowed": "0"})
    assert not user("canbo").may_send_emergencies
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user.emergencies")
                                 .order_by(AuditEntry.id)).all()
    assert [e.detail["after"] for e in entries] == [{"may_send_emergencies": True}, {"may_send_emergencies": False}]
