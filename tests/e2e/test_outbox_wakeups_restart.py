"""The worker's ear for outbox wake-ups outlives a PostgreSQL restart: while the server is away the publisher polls as
before, and once it is back the ear listens again by itself, looks at the outbox at once, and hears the next commit."""

import time

import pytest
from sqlalchemy import create_engine, text

from pa_controller.services import outbox_wake
from pa_controller.services.outbox_wake import OutboxWakeups
from tests.support import settings as test_settings
from tests.support.publisher import Recorder

pytestmark = pytest.mark.e2e


def wait_for(condition, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.02)


def notify(url: str) -> None:
    """Commit a transaction that rings, from a connection of another engine (as the web tier would)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("NOTIFY loanet_outbox"))
    engine.dispose()


def test_the_ear_listens_again_after_a_database_restart_and_the_poll_covers_the_outage(private_postgres, tmp_path):
    settings = test_settings.testing_settings(tmp_path / "instance", private_postgres.url)
    publisher = Recorder()
    ear = OutboxWakeups(settings, publisher)
    ear.start()
    try:
        wait_for(ear.listening.is_set)
        woken = publisher.wakes
        notify(private_postgres.url)
        wait_for(lambda: publisher.wakes > woken)

        private_postgres.stop()
        wait_for(lambda: not ear.listening.is_set())
        assert publisher.polls[-1] == outbox_wake.FALLBACK_POLL_S, "polls as before while it cannot listen"

        private_postgres.start()
        wait_for(ear.listening.is_set)
        assert publisher.polls[-1] == outbox_wake.SAFETY_POLL_S
        woken = publisher.wakes
        notify(private_postgres.url)
        wait_for(lambda: publisher.wakes > woken)
    finally:
        ear.stop()
