"""An ingest process (`flask pa ingest --worker N`): the clusters' reports, shared with the other ingest processes.

Each of the N processes has its own broker account and client id (`loanet.ingest.N`) and a persistent session
subscribed to `$share/loanet-ingest/<root>/+/status`, `…/heartbeat` and `…/events`: the broker hands each report
to one member of the group, and a report is acknowledged only once stored (messaging/inbox.py), so a process killed
with reports in hand gets them again when it comes back. Two processes may now hold one cluster's birth and will at
once: services/ingest.py takes the cluster's row lock before judging which is stale.
"""

import logging
import threading

from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.messaging.broker.accounts import ingest_username
from pa_controller.messaging.broker.config import BrokerFiles
from pa_controller.messaging.inbox import Inbox
from pa_controller.messaging.link import Login, MqttLink, without_login
from pa_controller.models import ServiceBeat
from pa_controller.services import ingest
from pa_controller.services.report_writer import ReportWriter
from pa_controller.settings import Settings

log = logging.getLogger(__name__)
SHARE_GROUP = "loanet-ingest"
BEAT_S = 2.0  # as often as the scheduler's plan tick beats, well inside health's 10 s


def beat_name(number: int) -> str:
    """The ServiceBeat row of ingest process `number`."""
    return f"ingest.{number}"


class IngestWorker:
    """Receive and store the reports of this process's share; beat its own ServiceBeat row."""

    def __init__(self, app, settings: Settings, number: int):
        if not 1 <= number <= settings.ingest_workers:
            raise ValueError(f"ingest worker {number} is not one of the {settings.ingest_workers} that "
                             "PA_INGEST_WORKERS provides accounts for (1 to PA_INGEST_WORKERS)")
        self.app = app
        self.number = number
        self.name = beat_name(number)
        self.inbox = Inbox(settings.mqtt_root, ReportWriter(app, ingest.APPLY_IN_ORDER))
        username = ingest_username(number)
        login = Login(username, BrokerFiles(settings.broker_dir).ingest_secret(number))
        self.link = MqttLink(without_login(settings.mqtt_url), username,
                             settings.mqtt_root, self.inbox.handlers(), _publishes_nothing, login=login,
                             ca_file=settings.mqtt_ca_file, shared_group=SHARE_GROUP)
        self._stop = threading.Event()
        self._beats = threading.Thread(target=self._beat_loop, name=f"{self.name}-beat", daemon=True)

    def start(self) -> None:
        self.inbox.start()
        self.link.start()
        self._beats.start()
        log.info("%s started: sharing the reports as %s", self.name, self.link.subscription("status"))

    def stop(self) -> None:
        self._stop.set()
        self._beats.join(10)
        self.inbox.stop()  # stores and acknowledges what it holds while the link is up
        self.link.stop()
        self.beat()
        log.info("%s stopped; reports handled: %s", self.name, self.counts())

    def counts(self) -> str:
        """What this process handed to the database, per kind: `status=… heartbeat=… events=…`."""
        return " ".join(f"{kind}={count}" for kind, count in sorted(self.inbox.handled.items())) or "none"

    def beat(self) -> None:
        """Record that this process runs, whether it is connected, and what it has handled so far."""
        with self.app.app_context():
            try:
                beat = db.session.get(ServiceBeat, self.name) or ServiceBeat(name=self.name)
                beat.beat_at = clock.now()
                beat.mqtt_connected = self.link.connected.is_set() and self.inbox.alive() and not self._stop.is_set()
                beat.detail = f"reports: {self.counts()}"[:200]
                db.session.add(beat)
                db.session.commit()
            except Exception:  # the database may be away: the next beat tries again
                db.session.rollback()
                log.exception("%s could not beat", self.name)
            finally:
                db.session.remove()

    def _beat_loop(self) -> None:
        while not self._stop.is_set():
            self.beat()
            self._stop.wait(BEAT_S)


def _publishes_nothing(mid: int, accepted: bool) -> None:
    """An ingest process publishes nothing: no PUBACK to hear of."""

