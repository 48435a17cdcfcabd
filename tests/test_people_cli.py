"""`flask pa users …` and `flask pa tokens …`, and the older `create-user` and `create-token` that scripts use."""

import pytest
from sqlalchemy import select

from pa_controller.domain import Role, Scope
from pa_controller.extensions import db
from pa_controller.models import ApiToken, AuditEntry, User
from pa_controller.services import tokens
from tests.conftest import PASSWORD

PASSWORD_INPUT = f"{PASSWORD}\n{PASSWORD}\n"


@pytest.fixture
def run(seeded):
    runner = seeded.test_cli_runner()

    def invoke(*args, input=None):
        return runner.invoke(args=["pa", *args], input=input)

    return invoke


def person(username: str) -> User:
    db.session.expire_all()
    return db.session.scalars(select(User).where(User.username == username)).one()


def test_users_are_created_listed_and_changed_from_the_command_line(run):
    assert run("users", "create", "canbo", "--role", "officer", "--ward", "thoi-hoa", "--ward", "thoi-an",
               input=PASSWORD_INPUT).exit_code == 0
    assert run("users", "create", "xem", "--role", "viewer", "--district", input=PASSWORD_INPUT).exit_code == 0
    assert run("users", "list").output.splitlines() == ["canbo officer thoi-an,thoi-hoa active",
                                                        "xem viewer district active"]
    assert run("users", "set-role", "canbo", "approver", "--ward", "long-hung").output.strip() == (
        "canbo approver long-hung active")
    assert run("users", "set-wards", "xem", "thoi-long").output.strip() == "xem viewer thoi-long active"
    assert run("users", "set-wards", "xem", "--district").output.strip() == "xem viewer district active"
    assert run("users", "deactivate", "xem").output.strip() == "xem viewer district inactive"
    assert run("users", "activate", "xem").output.strip() == "xem viewer district active"
    assert run("users", "set-password", "xem", input="another long one\nanother long one\n").exit_code == 0
    assert person("xem").check_password("another long one")
    actors = set(db.session.scalars(select(AuditEntry.actor).where(AuditEntry.action.like("user.%"))))
    assert len(actors) == 1 and actors.pop().startswith("cli:")


@pytest.mark.parametrize("args, message", [
    (("users", "create", "x", "--role", "approver"), "give --ward … or --district"),
    (("users", "create", "x", "--role", "officer"), "ít nhất một phường"),
    (("users", "create", "x", "--role", "officer", "--ward", "atlantis"), "Không có phường mang mã atlantis"),
    (("users", "set-role", "nobody", "viewer", "--district"), "Không có người dùng “nobody”"),
    (("users", "set-wards", "nobody"), "name the wards, or give --district"),
])
def test_a_command_line_mistake_says_what_to_do_and_changes_nothing(run, args, message):
    result = run(*args, input=PASSWORD_INPUT)
    assert result.exit_code != 0 and message in result.output
    assert db.session.scalars(select(User)).all() == []


def test_create_user_and_create_token_keep_working_for_scripts(run):
    assert run("create-user", "canbo", "--role", "officer", "--ward", "thoi-hoa", input=PASSWORD_INPUT
               ).exit_code == 0
    result = run("create-token", "canbo")
    secret = result.stdout.strip()
    assert result.exit_code == 0 and secret.startswith("loa_") and "\n" not in secret
    token = tokens.authenticate(secret, Scope.SCHEDULE)
    assert token.user.username == "canbo" and token.scope_set == Role.OFFICER.scopes


def test_tokens_are_created_with_scopes_and_a_lifetime_listed_and_revoked(run):
    run("users", "create", "kythuat", "--role", "technician", input=PASSWORD_INPUT)
    made = run("tokens", "create", "kythuat", "--name", "giám sát", "--scope", "read", "--days", "7")
    assert made.exit_code == 0 and "read, expires" in made.stderr
    token = db.session.scalars(select(ApiToken)).one()
    assert token.scopes == "read" and (token.expires_at - token.created_at).days == 7
    assert run("tokens", "create", "kythuat", "--scope", "admin").exit_code != 0
    listed = run("tokens", "list", "kythuat").output
    assert f"{token.id} kythuat 'giám sát' read expires" in listed and "used never live" in listed
    assert run("tokens", "revoke", str(token.id)).exit_code == 0
    assert run("tokens", "list").output.rstrip().endswith("revoked")


def test_the_right_to_send_emergencies_before_approval_is_given_and_taken_from_the_command_line(run):
    assert run("users", "create", "canbo", "--role", "officer", "--ward", "thoi-hoa",
               input=PASSWORD_INPUT).exit_code == 0
    assert run("users", "emergencies", "canbo", "--allow").output.strip() == (
        "canbo may send emergencies before approval")
    assert person("canbo").may_send_emergencies
    assert run("users", "emergencies", "canbo", "--deny").exit_code == 0
    assert not person("canbo").may_send_emergencies
    assert run("users", "emergencies", "canbo").exit_code != 0  # say which
