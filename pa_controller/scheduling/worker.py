"""The worker process: scheduler, MQTT link, inbox and outbox, started together, stopped together."""

import logging
import threading

from apscheduler.schedulers.background import BackgroundScheduler

from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.messaging.fake import FakeLink
from pa_controller.messaging.inbox import Inbox
from pa_controller.messaging.link import Login, MqttLink
from pa_controller.messaging.outbox import OutboxPublisher
from pa_controller.models import ServiceBeat
from pa_controller.scheduling import jobs
from pa_controller.scheduling.clock_watch import ClockWatch
from pa_controller.scheduling.lock import SchedulerLock, SchedulerLocked
from pa_controller.scheduling.schedule import DispatchSchedule
from pa_controller.services import ingest
from pa_controller.services.broker_access import BrokerSync
from pa_controller.services.command_keys import KeyFiles, Signer
from pa_controller.services.outbox import OutboxStore
from pa_controller.services.report_writer import ReportWriter
from pa_controller.settings import Settings
from pa_controller.settings import of as settings_of

log = logging.getLogger(__name__)
LINKS = {"mqtt": MqttLink, "fake": FakeLink}
BROKER_SYNC_S = 2.0  # a cluster enrolled or retired reaches the broker's accounts within this
SWEEP_S = 600.0  # how often the leftovers of killed requests are looked for (and at start)
TICKS = ("plan", "watch", "sweep", "broker")  # the interval jobs; the others are the dispatch jobs (schedule.py)


class Worker:
    """Everything that must run in exactly one process."""

    def __init__(self, app, settings: Settings | None = None, *, plan_interval_s: float = 0.5):
        """Build on `settings` (by default those the app was built with); starts nothing."""
        self.app = app
        self.settings = given = settings or settings_of(app)
        self.inbox = Inbox(given.mqtt_root, ReportWriter(app, ingest.APPLY_IN_ORDER))
        link_class = LINKS[given.messaging]
        login = Login(given.mqtt_username, given.mqtt_password_file)
        self.store = OutboxStore(app, Signer(KeyFiles(given.key_dir)))
        # With ingest processes (PA_INGEST_WORKERS), the reports are theirs: this session only publishes.
        handlers = {} if given.ingest_workers else self.inbox.handlers()
        self.outbox = OutboxPublisher(
            self.store,
            lambda on_acked: link_class(given.mqtt_url, given.mqtt_client_id, given.mqtt_root,
                                        handlers, on_acked, login=login,
                                        ca_file=given.mqtt_ca_file),
        )
        self.link = self.outbox.link
        self.scheduler = BackgroundScheduler(  # jobs in memory only: the Run rows are the schedule
            timezone="UTC",
            # A dispatch that fires late still goes out; dispatch_run decides whether it is too late.
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        self.schedule = DispatchSchedule(self.scheduler, lambda run_id: jobs.dispatch_run(self, run_id))
        self.plan_interval_s = plan_interval_s
        self.clock_watch = ClockWatch(self._clock_set_back)
        self.lock = SchedulerLock(given.database_url, given.instance_dir)
        # The one process that talks to the broker keeps its accounts too (the web tier may be on other hosts).
        self.broker_sync = BrokerSync(given) if given.manage_broker else None
        self.stopped = threading.Event()
        self.lock_lost = threading.Event()  # another scheduler took the lock: this one must stop (cli.py)

    def start(self) -> None:
        """Take the scheduler lock (or raise SchedulerLocked), then start everything.

        The first plan tick runs at once and derives the dispatch jobs from the Run rows (schedule.py).
        """
        self.lock.acquire()
        self.inbox.start()
        self.link.start()
        self.outbox.start()
        self.scheduler.start()
        self.scheduler.add_job(jobs.plan, "interval", args=[self], seconds=self.plan_interval_s, id="plan",
                               replace_existing=True, next_run_time=clock.now())
        self.scheduler.add_job(jobs.watch, "interval", args=[self], seconds=self.settings.fleet_watch_s,
                               id="watch", replace_existing=True, next_run_time=clock.now())
        self.scheduler.add_job(jobs.sweep_leftovers, "interval", args=[self], seconds=SWEEP_S, id="sweep",
                               replace_existing=True, next_run_time=clock.now())
        if self.broker_sync is not None:
            self.scheduler.add_job(jobs.sync_broker, "interval", args=[self], seconds=BROKER_SYNC_S, id="broker",
                                   replace_existing=True, next_run_time=clock.now())
        self.clock_watch.start()
        log.info("worker started: scheduler, MQTT link, inbox and outbox")

    def stop(self) -> None:
        # APScheduler 3 looks for due jobs once more after shutting its executor down, and logs an error for
        # each: every job goes first. Nothing is lost, the next start derives the dispatch jobs again.
        self.clock_watch.stop()
        for job in self.scheduler.get_jobs():
            if job.id in TICKS:
                self.scheduler.remove_job(job.id)
        self.schedule.clear()
        self.scheduler.shutdown(wait=True)
        self.outbox.stop()
        self.inbox.stop()  # stores and acknowledges what it holds while the link is up
        self.link.stop()
        self.lock.release()
        self.stopped.set()

    def _clock_set_back(self, by_s: float) -> None:
        """Run the interval jobs now, not when the wall clock is back where they were due; the dispatch jobs keep
        their times, which the clock has yet to reach again."""
        now = clock.now()
        for job in self.scheduler.get_jobs():
            if job.id in TICKS:
                job.modify(next_run_time=now)
        log.warning("the clock went back by %.0f s: the plan tick, the fleet watch, the sweep and the broker sync "
                    "run now", by_s)

    def hold_lock(self) -> None:
        """Keep the scheduler lock (a database restart ends the session that held it); stop dispatching if another
        scheduler has taken it meanwhile."""
        try:
            if self.lock.hold():
                log.warning("took the scheduler lock again: the database session that held it had ended")
        except SchedulerLocked as exc:
            log.error("%s: this scheduler lost its lock (the database restarted?) and stops", exc)
            self.lock_lost.set()
            self.scheduler.pause()  # no dispatch job starts from now on, nor the rest of this tick (jobs.plan)
            self.outbox.stop()  # and nothing more is published: the other scheduler publishes

    def beat(self) -> None:
        """Record that the scheduler runs and whether MQTT is connected (read by /api/v1/health)."""
        beat = db.session.get(ServiceBeat, "worker") or ServiceBeat(name="worker")
        beat.beat_at = clock.now()
        threads = {"inbox": self.inbox.alive, "outbox": self.outbox.alive}
        dead = [name for name, alive in threads.items() if not alive()]
        beat.mqtt_connected = self.link.connected.is_set() and not dead
        beat.detail = f"dead threads: {', '.join(dead)}" if dead else None
        beat.signing = self.store.check_signing()  # a word: health shows it to anyone; the log has the path
        db.session.add(beat)
        db.session.commit()
