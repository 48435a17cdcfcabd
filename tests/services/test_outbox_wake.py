"""A commit of outbox rows wakes the worker's publisher at once, from any process, and never holds up the commit."""

import socket
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from pa_controller import clock, create_app
from pa_controller.extensions import db
from pa_controller.messaging.fake import FakeLink
from pa_controller.messaging.outbox import OutboxPublisher
from pa_controller.models import User
from pa_controller.services import commands, outbox_wake, silence
from pa_controller.services.command_keys import KeyFiles, Signer
from pa_controller.services.outbox import OutboxStore
from pa_controller.services.outbox_wake import OutboxWakeups
from pa_controller.settings import of as settings_of
from pa_protocol import CommandType
from tests.support import settings as test_settings
from tests.support.publisher import Recorder

NEVER_S = 3600.0  # a poll that never comes within a test: whatever is published was woken


def wait_for(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def woken(seeded, command_key):
    """A publisher on a fake link that never polls, and the wake-ups that may wake it, started."""
    settings = settings_of(seeded)
    store = OutboxStore(seeded, Signer(KeyFiles(settings.key_dir)))
    publisher = OutboxPublisher(store, lambda on_acked: FakeLink("", "", settings.mqtt_root, {}, on_acked),
                                poll_s=NEVER_S)
    wakeups = OutboxWakeups(settings, publisher, safety_poll_s=NEVER_S, fallback_poll_s=NEVER_S)
    publisher.link.start()
    publisher.start()
    wakeups.start()
    assert wakeups.listening.wait(10), "the wake-ups never began to listen"
    time.sleep(0.2)  # the first look at the (empty) outbox is over; the publisher waits for NEVER_S now
    yield publisher
    wakeups.stop()
    publisher.stop()


def test_a_stop_all_committed_by_another_process_wakes_the_publisher_without_its_poll(woken, admin, make_settings,
                                                                                    database_url):
    web = create_app(make_settings(database_url))  # the web tier: its own engine and connections
    with web.app_context():
        silence.stop_all(db.session.scalar(select(User).where(User.username == "admin")), "thử")
        db.session.remove()
        db.engine.dispose()
    assert wait_for(lambda: len(woken.link.published) == 456), f"{len(woken.link.published)} of 456 published"


def queue_reboot() -> None:
    now = clock.now()
    expires_at = now + timedelta(minutes=5)
    commands.queue([commands.outbox_row(commands.new_command("om-tho-001", CommandType.REBOOT, now, expires_at),
                                        now, expires_at)])


def test_rows_rolled_back_wake_nobody(woken):
    queue_reboot()
    db.session.rollback()
    db.session.commit()  # a later commit of nothing rings for nothing either
    time.sleep(0.5)
    assert woken.link.published == []
    queue_reboot()
    db.session.commit()
    assert wait_for(lambda: len(woken.link.published) == 1)


def test_ringing_a_worker_that_is_away_or_busy_never_blocks_nor_fails(tmp_path):
    outbox_wake.send(str(tmp_path / "nobody.sock"))  # no worker
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as gone:
        gone.bind(str(stale))
    outbox_wake.send(str(stale))  # a killed worker's socket
    busy = tmp_path / "busy.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as deaf:
        deaf.bind(str(busy))
        started = time.monotonic()
        for _ in range(500):  # its queue fills after a few: the rest are dropped, not waited on
            outbox_wake.send(str(busy))
        assert time.monotonic() - started < 5  # a generous bound: blocking would hang here


def test_the_worker_socket_is_its_owners_alone_and_a_stale_one_is_replaced(tmp_path, make_settings):
    settings = make_settings(f"sqlite:///{tmp_path / 'x.db'}")
    settings.instance_dir.mkdir()
    path = outbox_wake.socket_path(settings)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as gone:
        gone.bind(str(path))  # what a killed worker leaves
    recorder = Recorder()
    wakeups = OutboxWakeups(settings, recorder)
    wakeups.start()
    try:
        assert wakeups.listening.wait(10)
        assert path.stat().st_mode & 0o777 == 0o600
        assert recorder.polls == [outbox_wake.SAFETY_POLL_S]
    finally:
        wakeups.stop()
    assert not path.exists()


def test_without_a_wake_up_the_publisher_polls_as_before(tmp_path):
    deep = tmp_path / ("d" * 120)  # longer than a Unix socket's path may be
    settings = test_settings.testing_settings(deep, f"sqlite:///{tmp_path / 'x.db'}")
    recorder = Recorder()
    wakeups = OutboxWakeups(settings, recorder)
    wakeups.start()
    try:
        assert wait_for(lambda: recorder.polls, 5)
        assert recorder.polls[0] == outbox_wake.FALLBACK_POLL_S
        assert not wakeups.listening.is_set()
    finally:
        wakeups.stop()
