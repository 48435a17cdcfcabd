"""Wake the worker's outbox publisher the moment outbox rows are committed, whichever process commits them.

`ring()` runs where rows are queued (`commands.queue`), in the transaction that writes them:
- PostgreSQL: a NOTIFY in that transaction, which the server delivers when it commits (and drops if it rolls
  back) to the worker's listening connection, wherever the web tier and the worker run.
- SQLite (web and worker on one host): after the commit, one byte to a Unix datagram socket the worker binds in
  the instance dir (mode 600), sent without blocking; no worker, or a worker already awake, is no error.

`OutboxWakeups` is the worker's side: each wake-up calls the publisher's `wake()`. While it listens, the publisher
polls only as a safety net (SAFETY_POLL_S), for rows written by anything that did not ring; while it cannot (the
database restarting, a socket path too long), the publisher polls as often as before (FALLBACK_POLL_S) and the
listener tries again every RETRY_S.
"""

import contextlib
import logging
import os
import select
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from pa_controller import settings as app_settings
from pa_controller.extensions import db
from pa_controller.messaging.worker_thread import WorkerThread
from pa_controller.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "loanet_outbox"
SOCKET_NAME = "outbox-wake.sock"
SAFETY_POLL_S = 1.5  # rows nobody rang for (a script, a restore) still go out within this
FALLBACK_POLL_S = 0.25  # while no wake-up can reach the worker: the poll the outbox had before them
RETRY_S = 1.0
HEAR_S = 0.5  # how long one wait lasts: the listener checks whether it is asked to stop between waits
CHECK_S = 5.0  # a quiet PostgreSQL connection is checked this often, so a server gone silently is noticed
_RUNG = "outbox_wake_socket"  # session.info key: the socket to ring once the transaction commits


def socket_path(settings: Settings) -> Path:
    """Where the worker listens for SQLite's wake-ups."""
    return settings.instance_dir / SOCKET_NAME


def ring() -> None:
    """Have the commit of the session's current transaction wake the outbox publisher."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("NOTIFY loanet_outbox"))  # CHANNEL; delivered at commit, once per transaction
    else:
        db.session.info[_RUNG] = str(socket_path(app_settings.current()))


def _after_commit(session) -> None:
    path = session.info.pop(_RUNG, None)
    if path is not None:
        send(path)


def _after_rollback(session) -> None:
    session.info.pop(_RUNG, None)


event.listen(db.session, "after_commit", _after_commit)
event.listen(db.session, "after_rollback", _after_rollback)


def send(path: str) -> None:
    """Send one wake-up datagram to `path`; never block, never raise: the publisher's poll covers a lost one."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.sendto(b"\x01", path)
    except OSError as exc:  # no worker (it looks at the outbox as it starts), or one awake already (queue full)
        log.debug("outbox wake-up to %s not sent: %s", path, exc)


class OutboxWakeups(WorkerThread):
    """The worker's ear: wake the publisher at each wake-up; poll as before while none can come."""

    def __init__(self, settings: Settings, publisher, *, safety_poll_s: float = SAFETY_POLL_S,
                 fallback_poll_s: float = FALLBACK_POLL_S):
        """`publisher` has `wake()` and `poll_every(seconds)`, like messaging.outbox.OutboxPublisher."""
        self.publisher = publisher
        self.safety_poll_s = safety_poll_s
        self.fallback_poll_s = fallback_poll_s
        url = make_url(settings.database_url)
        self.source = (_Notifications(url) if url.get_backend_name() == "postgresql"
                       else _Datagrams(socket_path(settings)))
        self.listening = threading.Event()
        self._warned = False
        super().__init__("outbox-wakeups")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self.source.open() as hear:
                    self._heard_again()
                    while not self._stop.is_set():
                        if hear(HEAR_S):
                            self.publisher.wake()
            except Exception as exc:  # the database away, the socket refused, anything: poll, and try again
                self._lost(exc)
                self._stop.wait(RETRY_S)
        self.listening.clear()

    def _heard_again(self) -> None:
        log.info("the outbox publisher is woken by %s; it polls every %.1f s besides", self.source,
                 self.safety_poll_s)
        self.listening.set()
        self.publisher.poll_every(self.safety_poll_s)
        self.publisher.wake()  # rows may have been committed while nobody listened

    def _lost(self, exc: Exception) -> None:
        if self.listening.is_set() or not self._warned:  # once an outage, not every retry
            log.warning("cannot hear outbox wake-ups by %s (%s); the outbox publisher polls every %.2f s until it "
                        "can", self.source, exc, self.fallback_poll_s)
            self._warned = True
        self.listening.clear()
        self.publisher.poll_every(self.fallback_poll_s)


class _Notifications:
    """PostgreSQL: LISTEN on a connection of its own, in autocommit."""

    def __init__(self, url):
        self.conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.where = url.render_as_string(hide_password=True)

    def __str__(self) -> str:
        return f"NOTIFY {CHANNEL} on {self.where}"

    @contextlib.contextmanager
    def open(self) -> Iterator:
        with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute("LISTEN loanet_outbox")  # CHANNEL
            check_at = time.monotonic() + CHECK_S

            def hear(timeout_s: float) -> bool:
                nonlocal check_at
                if any(True for _ in conn.notifies(timeout=timeout_s, stop_after=1)):
                    return True
                if time.monotonic() >= check_at:
                    conn.execute("SELECT 1")  # raises if the server went away without a word
                    check_at = time.monotonic() + CHECK_S
                return False

            yield hear


class _Datagrams:
    """SQLite: a Unix datagram socket in the instance dir, readable and writable by its owner only."""

    def __init__(self, path: Path):
        self.path = path

    def __str__(self) -> str:
        return f"datagrams on {self.path}"

    @contextlib.contextmanager
    def open(self) -> Iterator:
        path = str(self.path)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            _remove_stale(self.path)
            sock.bind(path)
            try:
                os.chmod(path, 0o600)
                sock.setblocking(False)

                def hear(timeout_s: float) -> bool:
                    readable, _, _ = select.select([sock], [], [], timeout_s)
                    if not readable:
                        return False
                    with contextlib.suppress(BlockingIOError):
                        while sock.recv(16):  # many commits, one wake-up
                            pass
                    return True

                yield hear
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)


def _remove_stale(path: Path) -> None:
    """Remove the socket a killed worker left (only the worker holding the scheduler lock binds it)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()
