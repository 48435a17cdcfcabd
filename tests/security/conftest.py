"""People of every role, signed in on the pages or holding a token."""

import pytest

from pa_controller.domain import Role
from pa_controller.services import people, tokens
from tests.conftest import PASSWORD


def make_user(username: str, role: Role, wards: tuple[str, ...] = ()):
    return people.create_user(username, PASSWORD, role, wards=list(wards))


def bearer(user, *scopes: str, days: int | None = None) -> dict:
    """Headers with a new token of the user's (with `scopes`, default all their role has)."""
    return {"Authorization": f"Bearer {tokens.issue(user, 'test', scopes, days)[1]}"}


def log_in(client, username: str, password: str = PASSWORD, **kwargs):
    return client.post("/login", data={"username": username, "password": password}, **kwargs)


@pytest.fixture
def admin(seeded):
    return make_user("admin", Role.ADMIN)
