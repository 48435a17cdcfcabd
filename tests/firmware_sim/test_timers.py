"""The timer heap and the connect pacer: the loop's notion of later."""

import pytest

from firmware_sim.pacer import ConnectPacer
from firmware_sim.timers import Timers
from tests.firmware_sim.factories import SimClock


def test_timers_run_in_due_order_and_only_when_due():
    timers, ran = Timers(), []
    for when in (3.0, 1.0, 2.0):
        timers.call_at(when, ran.append, when)
    assert timers.run_due(1.5) == 1
    assert timers.next_due() == 2.0
    timers.run_due(10)
    assert ran == [1.0, 2.0, 3.0]


def test_a_cancelled_timer_never_runs():
    timers, ran = Timers(), []
    timers.call_at(1.0, ran.append, "kept")
    timers.call_at(0.5, ran.append, "dropped").cancel()
    assert timers.next_due() == 1.0
    timers.run_due(2)
    assert ran == ["kept"]


def test_a_failing_timer_goes_to_on_error_and_the_rest_still_run():
    errors, ran = [], []
    timers = Timers(on_error=errors.append)
    timers.call_at(1.0, lambda: 1 / 0)
    timers.call_at(2.0, ran.append, "after")
    timers.run_due(3)
    assert [type(e) for e in errors] == [ZeroDivisionError] and ran == ["after"]


def test_without_on_error_a_failing_timer_raises():
    timers = Timers()
    timers.call_at(1.0, lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        timers.run_due(2)


def drive(timers: Timers, clock: SimClock, until: float) -> None:
    while (due := timers.next_due()) is not None and due <= until:
        clock.now = max(clock.now, due)
        timers.run_due(clock.now)


def test_the_pacer_lets_connections_through_at_the_configured_rate():
    clock, timers = SimClock(0.0), Timers()
    pacer, opened = ConnectPacer(timers, clock, rate=100), []
    for n in range(50):
        pacer.request(lambda n=n: opened.append((n, clock.now)))
    drive(timers, clock, until=10)
    assert [n for n, _ in opened] == list(range(50))
    assert 0.45 <= opened[-1][1] <= 0.55


def test_an_unpaced_pacer_lets_everything_through_at_once():
    clock, timers = SimClock(0.0), Timers()
    pacer, opened = ConnectPacer(timers, clock, rate=0), []
    for _ in range(500):
        pacer.request(lambda: opened.append(clock.now))
    drive(timers, clock, until=1)
    assert opened == [0.0] * 500


def test_the_timers_due_together_run_as_one_instant_and_their_io_waits_for_all_of_them():
    timers, seen = Timers(), []
    for name in ("a", "b"):
        timers.call_at(1.0, lambda name=name: (seen.append((name, timers.instant)),
                                               timers.afterwards(seen.append, f"sent {name}")))
    timers.afterwards(seen.append, "outside a batch")
    assert seen == ["outside a batch"] and timers.instant is None
    timers.run_due(1.25)
    assert seen[1:] == [("a", 1.25), ("b", 1.25), "sent a", "sent b"]
    assert timers.instant is None


def test_a_timer_due_within_the_batch_runs_in_it_before_the_io():
    timers, seen = Timers(), []

    def first():
        timers.afterwards(seen.append, "io of first")
        timers.call_at(timers.instant, seen.append, "chained")

    timers.call_at(1.0, first)
    assert timers.run_due(1.0) == 2
    assert seen == ["chained", "io of first"]


def test_failing_io_goes_to_on_error_and_the_rest_still_runs():
    errors, ran = [], []
    timers = Timers(on_error=errors.append)
    timers.call_at(1.0, lambda: (timers.afterwards(lambda: 1 / 0), timers.afterwards(ran.append, "after")))
    timers.run_due(1.0)
    assert [type(e) for e in errors] == [ZeroDivisionError] and ran == ["after"]
