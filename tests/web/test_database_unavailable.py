"""While the database does not answer, every request gets a clear 503 that says to try again, never a 500."""

import pytest

from pa_controller import create_app
from tests.support.broker import free_port


@pytest.fixture
def away(make_settings):
    """An app whose PostgreSQL is not there: nothing listens on its port."""
    return create_app(make_settings(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/loanet"))


def test_an_api_request_is_answered_503_with_a_retry_after(away):
    answer = away.test_client().get("/api/v1/wards", headers={"Authorization": "Bearer some-token"})
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0
    assert answer.json["error"]["code"] == "database_unavailable"
    assert answer.json["error"]["message"].startswith("Cơ sở dữ liệu tạm thời không trả lời")


def test_a_page_says_so_in_the_readers_language_without_asking_the_database_who_is_signed_in(away):
    answer = away.test_client().post("/login", data={"username": "admin", "password": "x"},
                                     headers={"Accept-Language": "en"})
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert "The database is not answering for the moment" in answer.text


def test_the_health_check_says_the_database_is_unreachable(away):
    answer = away.test_client().get("/api/v1/health")
    assert answer.status_code == 503 and answer.json["db"] == "unreachable"
