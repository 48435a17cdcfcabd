"""Guessing passwords is throttled per account and per address, in the database that every web worker shares, and
a guesser elsewhere cannot lock the real person out."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from pa_controller import clock, create_app
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import AuditEntry
from pa_controller.services.logins import FROM_ONE_ADDRESS, PER_ACCOUNT, PER_ADDRESS
from tests.conftest import PASSWORD
from tests.factories import make_user
from tests.support.signing_in import log_in


def from_address(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


@pytest.fixture
def officer(seeded):
    return make_user("canbo", Role.OFFICER, ("thoi-hoa",))


@pytest.fixture
def frozen(monkeypatch):
    """LoaNet's clock, held still and moved on by hand."""
    moment = [clock.now()]
    monkeypatch.setattr(clock, "now", lambda: moment[0])

    def move(by: timedelta) -> None:
        moment[0] += by

    return move


def test_twenty_wrong_passwords_in_three_seconds_are_throttled_and_then_even_the_right_one_waits(client, officer):
    answers = [log_in(client, "canbo", f"guess {n}") for n in range(20)]
    limit = FROM_ONE_ADDRESS.failures
    assert [a.status_code for a in answers] == [401] * limit + [429] * (20 - limit)
    locked = log_in(client, "canbo")
    assert locked.status_code == 429
    page = locked.get_data(as_text=True)
    assert "tài khoản này tạm khóa. Hãy thử lại sau 15 phút" in page
    assert 14 * 60 < int(locked.headers["Retry-After"]) <= 15 * 60


def test_the_lock_ends_when_its_failures_are_fifteen_minutes_old(client, officer, frozen):
    for n in range(FROM_ONE_ADDRESS.failures):
        log_in(client, "canbo", f"guess {n}")
    frozen(timedelta(minutes=14, seconds=59))
    assert log_in(client, "canbo").status_code == 429
    frozen(timedelta(seconds=2))
    assert log_in(client, "canbo").status_code == 302


def test_a_typo_prone_officer_has_nine_tries_and_a_success_starts_the_count_again(client, officer):
    for _round in range(2):
        for n in range(FROM_ONE_ADDRESS.failures - 1):
            assert log_in(client, "canbo", f"typo {n}").status_code == 401
        assert log_in(client, "canbo").status_code == 302
        client.post("/logout")


def test_a_name_nobody_has_locks_like_a_real_one(client, officer):
    """Otherwise the lock would tell which names exist."""
    for n in range(FROM_ONE_ADDRESS.failures):
        assert log_in(client, "nobody", f"guess {n}").status_code == 401
    assert log_in(client, "nobody", "anything at all").status_code == 429
    assert log_in(client, "canbo").status_code == 302, "another account is not locked"


def test_one_address_guessing_many_accounts_is_throttled_and_other_addresses_are_not(client, officer):
    for n in range(PER_ADDRESS.failures):
        assert log_in(client, f"user{n}", "guess", **from_address("203.0.113.7")).status_code == 401
    assert log_in(client, "canbo", **from_address("203.0.113.7")).status_code == 429
    answer = log_in(client, "canbo", **from_address("203.0.113.7"))
    assert "từ địa chỉ mạng này" in answer.get_data(as_text=True)
    assert log_in(client, "canbo", **from_address("198.51.100.2")).status_code == 302


def test_a_guesser_elsewhere_cannot_lock_the_real_person_out(client, officer):
    for n in range(FROM_ONE_ADDRESS.failures + 5):
        log_in(client, "canbo", f"guess {n}", **from_address("203.0.113.7"))
    assert log_in(client, "canbo", **from_address("203.0.113.7")).status_code == 429
    assert log_in(client, "canbo", **from_address("198.51.100.2")).status_code == 302


def test_guessing_one_account_from_many_addresses_locks_it_everywhere(client, officer):
    per_address = FROM_ONE_ADDRESS.failures - 1  # each address stays below its own limit
    addresses = [f"203.0.113.{n}" for n in range(-(-PER_ACCOUNT.failures // per_address))]
    for address in addresses:
        for n in range(per_address):
            log_in(client, "canbo", f"guess {n}", **from_address(address))
    assert log_in(client, "canbo", **from_address("198.51.100.2")).status_code == 429


def test_an_administrator_ends_a_lock_from_the_command_line(client, officer, seeded):
    for n in range(FROM_ONE_ADDRESS.failures):
        log_in(client, "canbo", f"guess {n}")
    assert log_in(client, "canbo").status_code == 429
    result = seeded.test_cli_runner().invoke(args=["pa", "users", "unlock", "canbo"])
    assert result.exit_code == 0 and "forgotten" in result.output
    assert log_in(client, "canbo").status_code == 302
    assert db.session.scalars(select(AuditEntry.action).where(AuditEntry.action == "login.unlocked")).all()


def test_a_name_nobody_has_is_audited_as_a_digest_not_as_typed(client, officer):
    log_in(client, "my secret password", "x")
    targets = db.session.scalars(select(AuditEntry.target).where(AuditEntry.action == "login.failed")).all()
    assert targets and all("secret" not in t and t.startswith("user:?") for t in targets)


def test_every_web_worker_counts_the_same_failures(seeded, officer, make_settings):
    """gunicorn runs several processes: a second app on the same database stands for a second worker."""
    other_worker = create_app(make_settings(seeded.extensions["settings"].database_url)).test_client()
    for n in range(FROM_ONE_ADDRESS.failures // 2):
        log_in(seeded.test_client(), "canbo", f"guess {n}")
        log_in(other_worker, "canbo", f"guess again {n}")
    assert log_in(seeded.test_client(), "canbo").status_code == 429


def test_failed_logins_and_the_lock_are_audited_with_the_address(client, officer):
    for n in range(FROM_ONE_ADDRESS.failures + 3):
        log_in(client, "canbo", f"guess {n}", **from_address("203.0.113.9"))
    entries = db.session.execute(select(AuditEntry.action, AuditEntry.target, AuditEntry.address)).all()
    assert entries.count(("login.failed", "user:canbo", "203.0.113.9")) == FROM_ONE_ADDRESS.failures
    assert entries.count(("login.locked", "user:canbo", "203.0.113.9")) == 1
    log_in(client, "canbo", **from_address("203.0.113.9"))
    assert ("login", "user:canbo", "203.0.113.9") not in db.session.execute(
        select(AuditEntry.action, AuditEntry.target, AuditEntry.address)).all()


def test_a_successful_login_is_audited_as_the_person(client, officer):
    log_in(client, "canbo", **from_address("198.51.100.4"))
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "login")).one()
    assert (entry.actor, entry.user_id, entry.address, entry.target) == ("canbo", officer.id, "198.51.100.4",
                                                                          "user:canbo")


def test_the_right_password_of_a_deactivated_account_is_refused_and_says_why(client, officer):
    officer.active = False
    db.session.commit()
    answer = log_in(client, "canbo")
    assert answer.status_code == 401 and "Tài khoản này đã bị khóa" in answer.get_data(as_text=True)
    assert log_in(client, "canbo", "wrong").get_data(as_text=True).count("đã bị khóa") == 0


def test_guessing_the_current_password_on_the_account_page_counts_too(client, officer):
    log_in(client, "canbo")
    for n in range(FROM_ONE_ADDRESS.failures):
        client.post("/account/password", data={"current_password": f"guess {n}", "new_password": PASSWORD * 2,
                                               "new_password_again": PASSWORD * 2})
    answer = client.post("/account/password", data={"current_password": PASSWORD, "new_password": PASSWORD * 2,
                                                    "new_password_again": PASSWORD * 2})
    assert answer.status_code == 429


@pytest.mark.parametrize("proxies, seen", [(0, "127.0.0.1"), (1, "203.0.113.5")])
def test_a_forwarded_address_counts_only_behind_a_trusted_proxy(make_settings, database_url, proxies, seen):
    """Otherwise a guesser would name a new address with each try and never reach the address limit."""
    app = create_app(make_settings(database_url, trusted_proxies=proxies))
    with app.app_context():
        make_user("kythuat", Role.TECHNICIAN)
        log_in(app.test_client(), "kythuat", "wrong", headers={"X-Forwarded-For": "203.0.113.5"})
        assert db.session.scalars(select(AuditEntry.address).where(AuditEntry.action == "login.failed")).one() == seen
        db.session.remove()
        db.engine.dispose()
