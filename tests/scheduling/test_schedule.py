"""The Run rows are the schedule: the worker's dispatch jobs are a copy in memory, derived again at every tick."""

from contextlib import contextmanager
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from pa_controller import clock
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import OutboxMessage, Run
from pa_controller.scheduling import jobs
from pa_controller.scheduling.schedule import DispatchSchedule
from pa_controller.scheduling.worker import Worker
from pa_controller.services import broadcasts, people
from pa_protocol import RunState
from tests.conftest import PASSWORD
from tests.factories import broadcast_request, make_audio


def dispatch_times(scheduler) -> dict[str, object]:
    return {job.id: job.trigger.run_date for job in scheduler.get_jobs() if job.id.startswith("dispatch-run-")}


@contextmanager
def paused(scheduler):
    """A started scheduler that fires nothing: jobs are in its store, as in the running worker's."""
    scheduler.start(paused=True)
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)


@contextmanager
def worker_on(app):
    worker = Worker(app)
    with paused(worker.scheduler):
        yield worker


def test_the_jobs_follow_the_runs_they_are_given():
    with paused(BackgroundScheduler(timezone="UTC")) as scheduler:
        check_the_jobs_follow_the_runs(scheduler)


def check_the_jobs_follow_the_runs(scheduler):
    dispatched = []
    schedule = DispatchSchedule(scheduler, dispatched.append)
    now = clock.now()
    soon, later = now + timedelta(minutes=5), now + timedelta(minutes=9)

    assert schedule.sync([(1, soon), (2, now - timedelta(seconds=3))], now) == [2], "due already: dispatch it now"
    assert dispatch_times(scheduler) == {"dispatch-run-1": soon}
    assert schedule.sync([(1, soon), (2, now - timedelta(seconds=3))], now) == [], "nothing twice"

    schedule.sync([(1, later), (3, soon)], now)  # run 1 moved by an edit, run 2 dispatched, run 3 new
    assert dispatch_times(scheduler) == {"dispatch-run-1": later, "dispatch-run-3": soon}
    schedule.sync([(3, soon)], now)  # run 1 cancelled
    assert dispatch_times(scheduler) == {"dispatch-run-3": soon}

    schedule.forget(3)  # its dispatch failed: the next tick gives it again
    scheduler.remove_job("dispatch-run-3")
    schedule.sync([(3, soon)], now)
    assert dispatch_times(scheduler) == {"dispatch-run-3": soon}
    schedule.clear()
    assert dispatch_times(scheduler) == {}
    assert dispatched == []


def test_a_worker_derives_its_dispatch_jobs_from_the_database_alone(seeded):
    admin = people.create_user("planner", PASSWORD, Role.ADMIN)
    broadcast, _ = broadcasts.create_broadcast(admin, broadcast_request(make_audio().id))
    run = broadcast.runs[0]  # due in an hour, dispatched a minute before: within the horizon
    run_id, dispatch_at = run.id, run.dispatch_at

    with worker_on(seeded) as first:
        jobs.sync_dispatch_jobs(first)
        assert dispatch_times(first.scheduler) == {f"dispatch-run-{run_id}": dispatch_at}

    with worker_on(seeded) as restarted:  # killed and started again: nothing was kept but the rows
        jobs.sync_dispatch_jobs(restarted)
        assert dispatch_times(restarted.scheduler) == {f"dispatch-run-{run_id}": dispatch_at}
        broadcasts.cancel_broadcast(admin, broadcast.id)
        jobs.sync_dispatch_jobs(restarted)
        assert dispatch_times(restarted.scheduler) == {}


def test_a_run_found_due_at_start_is_dispatched_by_that_tick(seeded):
    admin = people.create_user("planner", PASSWORD, Role.ADMIN)
    broadcast, _ = broadcasts.create_broadcast(admin, broadcast_request(make_audio().id))
    run = broadcast.runs[0]
    run.dispatch_at = clock.now()  # the worker was down when it fell due
    db.session.commit()

    with worker_on(seeded) as worker:
        jobs.sync_dispatch_jobs(worker)
        db.session.rollback()
        assert db.session.get(Run, run.id).state is RunState.DISPATCHED
        sent = db.session.scalar(select(func.count()).select_from(OutboxMessage))
        assert sent == len(db.session.get(Run, run.id).deliveries) > 0
        assert dispatch_times(worker.scheduler) == {}
        jobs.sync_dispatch_jobs(worker)  # the next tick sends nothing again
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == sent
