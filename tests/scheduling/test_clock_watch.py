import threading

from pa_controller.scheduling.clock_watch import ClockWatch


def test_a_wall_clock_set_back_is_noticed_once_and_a_slew_or_a_step_forward_is_not():
    # wall minus monotonic: steady, slewed by 0.3 s, stepped forward by a minute, then back by two
    readings = iter([0.0, 0.0, -0.3, 59.7, 59.7, -60.3])
    noticed, done = [], threading.Event()

    def read() -> float:
        value = next(readings, None)
        if value is None:
            done.set()
            return -60.3
        return value

    watch = ClockWatch(noticed.append, interval_s=0.001, reading=read)
    watch.start()
    assert done.wait(5)
    watch.stop()
    assert noticed == [120.0]


def test_the_watch_outlives_a_failing_reschedule():
    readings = iter([0.0, -10.0, -10.0, -20.0])
    calls, done = [], threading.Event()

    def fail(by_s: float) -> None:
        calls.append(by_s)
        if len(calls) == 2:
            done.set()
        raise RuntimeError("scheduler gone")

    watch = ClockWatch(fail, interval_s=0.001, reading=lambda: next(readings, -20.0))
    watch.start()
    assert done.wait(5)
    watch.stop()
    assert calls == [10.0, 10.0] and not watch.alive()
