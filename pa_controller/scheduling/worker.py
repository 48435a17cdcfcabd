"""The worker process: scheduler, MQTT link, inbox and outbox, started together, stopped together."""

import logging
import threading
from datetime import datetime

from apscheduler.jobstores.base import ConflictingIdError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import create_engine

from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.messaging.fake import FakeLink
from pa_controller.messaging.inbox import Inbox
from pa_controller.messaging.link import MqttLink
from pa_controller.messaging.outbox import OutboxPublisher
from pa_controller.models import ServiceBeat
from pa_controller.scheduling import jobs
from pa_controller.scheduling.lock import SchedulerLock
from pa_controller.services import ingest
from pa_controller.services.outbox import OutboxStore
from pa_controller.services.report_writer import ReportWriter

log = logging.getLogger(__name__)
LINKS = {"mqtt": MqttLink, "fake": FakeLink}


class Worker:
    """Everything that must run in exactly one process."""

    def __init__(self, app, *, plan_interval_s: float = 0.5):
        self.app = app
        config = app.config
        self.inbox = Inbox(config["MQTT_ROOT"], ReportWriter(app, ingest.APPLY_IN_ORDER))
        link_class = LINKS[config["MESSAGING"]]
        self.outbox = OutboxPublisher(
            OutboxStore(app),
            lambda on_acked: link_class(config["MQTT_URL"], config["MQTT_CLIENT_ID"], config["MQTT_ROOT"],
                                        self.inbox.handlers(), on_acked),
        )
        self.link = self.outbox.link
        # The job store gets its own engine: APScheduler runs outside any app context.
        jobstore = SQLAlchemyJobStore(engine=create_engine(config["SQLALCHEMY_DATABASE_URI"], pool_pre_ping=True))
        self.scheduler = BackgroundScheduler(
            jobstores={"default": jobstore},
            timezone="UTC",
            # A dispatch that fires late still goes out; dispatch_run decides whether it is too late.
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        self.plan_interval_s = plan_interval_s
        self.lock = SchedulerLock(config["SQLALCHEMY_DATABASE_URI"], config["INSTANCE_DIR"])
        self.stopped = threading.Event()
        self._dispatch_jobs: dict[int, datetime] = {}  # run → the dispatch time its job was given, in this process

    def start(self) -> None:
        """Take the scheduler lock (or raise SchedulerLocked), then start everything."""
        self.lock.acquire()
        jobs.bind(self)
        self.inbox.start()
        self.link.start()
        self.outbox.start()
        self.scheduler.start()
        self.scheduler.add_job(jobs.plan, "interval", seconds=self.plan_interval_s, id="plan",
                               replace_existing=True, next_run_time=clock.now())
        self.scheduler.add_job(jobs.watch, "interval", seconds=self.app.config["FLEET_WATCH_S"], id="watch",
                               replace_existing=True, next_run_time=clock.now())
        log.info("worker started: scheduler, MQTT link, inbox and outbox")

    def stop(self) -> None:
        # APScheduler 3 looks for due jobs once more after shutting its executor down, and logs an error for
        # each; the interval jobs are due every tick, so they go first (start adds them again). Dispatch jobs stay.
        for job_id in ("plan", "watch"):
            self.scheduler.remove_job(job_id)
        self.scheduler.shutdown(wait=True)
        self.outbox.stop()
        self.link.stop()
        self.inbox.stop()
        self.lock.release()
        self.stopped.set()

    def schedule_dispatch(self, run_id: int, dispatch_at: datetime) -> None:
        """Add the dispatch job of a run unless it exists (it may, from before a restart).

        A job is keyed by run and time: an edit replans runs, and SQLite may give a new run a deleted one's id.
        A job whose time no longer matches finds its run not yet due and leaves it to the right one.
        """
        if self._dispatch_jobs.get(run_id) == dispatch_at:
            return
        self._dispatch_jobs[run_id] = dispatch_at
        if dispatch_at <= clock.now():  # due already (a "now" broadcast, or after downtime): no job, no wait
            jobs.dispatch_run(run_id)
            return
        try:
            self.scheduler.add_job(jobs.dispatch_run, "date", run_date=dispatch_at, args=[run_id],
                                   id=f"dispatch-run-{run_id}-{dispatch_at.timestamp():.0f}", replace_existing=False)
        except ConflictingIdError:
            pass

    def forget_dispatch(self, run_id: int) -> None:
        """Drop a run from the jobs given: dispatched, or to be given a job again after a failed attempt."""
        self._dispatch_jobs.pop(run_id, None)

    def beat(self) -> None:
        """Record that the scheduler runs and whether MQTT is connected (read by /api/v1/health)."""
        beat = db.session.get(ServiceBeat, "worker") or ServiceBeat(name="worker")
        beat.beat_at = clock.now()
        threads = {"inbox": self.inbox.alive, "outbox": self.outbox.alive}
        dead = [name for name, alive in threads.items() if not alive()]
        beat.mqtt_connected = self.link.connected.is_set() and not dead
        beat.detail = f"dead threads: {', '.join(dead)}" if dead else None
        db.session.add(beat)
        db.session.commit()
