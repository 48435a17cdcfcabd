"""Exactly one scheduler dispatches: a second one against the same database refuses to start."""

import pytest

from pa_controller.scheduling.lock import SchedulerLocked
from pa_controller.scheduling.worker import Worker


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
