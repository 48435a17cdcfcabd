"""Signing in on the pages, as a browser does."""

from tests.conftest import PASSWORD


def log_in(client, username: str, password: str = PASSWORD, **kwargs):
    return client.post("/login", data={"username": username, "password": password}, **kwargs)
