"""Exactly one scheduler dispatches: a second one against the same database refuses to start."""

import time

import pytest
from apscheduler.schedulers.base import STATE_PAUSED
from sqlalchemy import func, select

from pa_controller.extensions import db
from pa_controller.models import OutboxMessage, Run
from pa_controller.scheduling import jobs
from pa_controller.scheduling.lock import SchedulerLock, SchedulerLocked
from pa_controller.scheduling.worker import Worker
from pa_controller.services import planning
from pa_protocol import RunState
from tests.factories import broadcast_request, make_audio


def test_a_second_scheduler_on_the_same_database_refuses_to_start(seeded):
    first = Worker(seeded)
    first.start()
    try:
        with pytest.raises(SchedulerLocked, match="another scheduler"):
            Worker(seeded).start()
    finally:
        first.stop()


def test_the_lock_is_free_again_once_the_scheduler_stops(seeded):
    first = Worker(seeded)
    first.start()
    first.stop()
    second = Worker(seeded)
    second.start()
    second.stop()


def test_the_cli_says_why_it_will_not_start(seeded):
    running = Worker(seeded)
    running.start()
    try:
        result = seeded.test_cli_runner().invoke(args=["pa", "scheduler"])
    finally:
        running.stop()
    assert result.exit_code != 0 and "only one scheduler may dispatch" in result.output


def test_a_broadcast_saved_on_the_web_is_dispatched_once_by_the_running_scheduler(seeded, admin_auth):
    running = Worker(seeded)
    running.start()
    try:
        with pytest.raises(SchedulerLocked):
            Worker(seeded).start()
        client = seeded.test_client()
        saved_at = time.monotonic()
        answer = client.post("/api/v1/broadcasts", headers=admin_auth, json=broadcast_request(
            make_audio().id, start_at="now", targets={"wards": ["thoi-an"]}))
        assert answer.status_code == 201, answer.get_json()
        deadline = saved_at + 10  # a safety bound only: "now" is dispatched by the request, not the plan tick
        while time.monotonic() < deadline:
            db.session.rollback()
            if db.session.scalar(select(func.count()).select_from(OutboxMessage)):
                break
            time.sleep(0.05)
        time.sleep(1.5)  # a few more plan ticks: nothing goes out twice
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 66
        assert db.session.scalar(select(Run.state)) is RunState.DISPATCHED
    finally:
        running.stop()


def test_after_postgresql_restarts_the_scheduler_takes_its_lock_again_and_a_second_is_still_refused(
        private_postgres, tmp_path):
    lock = SchedulerLock(private_postgres.url, tmp_path)
    lock.acquire()
    try:
        assert lock.hold() is False, "held all along"
        private_postgres.restart()  # the session that held the lock ends, and the lock with it
        private_postgres.wait_answering()
        assert lock.hold() is True
        with pytest.raises(SchedulerLocked, match="another scheduler"):
            SchedulerLock(private_postgres.url, tmp_path).acquire()
    finally:
        lock.release()


def test_a_scheduler_whose_lock_another_took_while_the_database_was_away_stops(private_postgres, tmp_path):
    lock = SchedulerLock(private_postgres.url, tmp_path)
    lock.acquire()
    private_postgres.restart()
    private_postgres.wait_answering()
    other = SchedulerLock(private_postgres.url, tmp_path)
    other.acquire()  # the first one's session ended in the restart
    try:
        with pytest.raises(SchedulerLocked):
            lock.hold()
    finally:
        other.release()
        lock.release()


def test_a_scheduler_that_lost_its_lock_dispatches_and_publishes_nothing_more(seeded, monkeypatch):
    worker = Worker(seeded)
    worker.start()
    try:
        def taken():
            raise SchedulerLocked("another scheduler holds the lock")

        planned = []
        monkeypatch.setattr(worker.lock, "hold", taken)
        monkeypatch.setattr(planning, "extend_plans", lambda *a, **k: planned.append(1))
        jobs.plan(worker)
        assert worker.lock_lost.is_set()
        assert worker.scheduler.state == STATE_PAUSED, "no dispatch job may start"
        assert not worker.outbox.alive(), "nothing more is published"
        assert planned == [], "the rest of the tick does not run"
    finally:
        monkeypatch.undo()
        worker.stop()
