"""The scheduler lock: at most one scheduler per database dispatches.

PostgreSQL: a session-level advisory lock held on a dedicated connection.
SQLite: an exclusive flock on a file beside the database (one host by nature).
"""

import fcntl
import os
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

ADVISORY_KEY = 0x4C6F614E6574  # "LoaNet"


class SchedulerLocked(RuntimeError):
    """Another scheduler holds the lock for this database."""


class SchedulerLock:
    def __init__(self, database_url: str, instance_dir: Path):
        self.url = make_url(database_url)
        self.instance_dir = instance_dir
        self._connection = None
        self._file = None
        self._held = False  # acquired and not released: on PostgreSQL, to be held again if its session ends

    def acquire(self) -> None:
        """Take the lock or raise SchedulerLocked; never waits."""
        if self.url.get_backend_name() == "postgresql":
            self._connection = self._advisory_lock()
            self._held = True
            return
        path = self._lock_path()
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise SchedulerLocked(f"another scheduler (pid {holder}) already runs against this database") from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def hold(self) -> bool:
        """Make sure the lock is still ours; return True if it had to be taken again.

        PostgreSQL releases an advisory lock with the session that held it: a database restart ends it, and
        another scheduler could then start. So the held connection is asked each time; if it has gone, the lock
        is taken again, or SchedulerLocked is raised if another scheduler took it meanwhile.
        """
        if not self._held:
            return False
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1"))
                self._connection.commit()
                return False
            except DBAPIError:
                self._drop_connection()
        self._connection = self._advisory_lock()  # raises while the database is still away: asked again later
        return True

    def _advisory_lock(self):
        engine = create_engine(self.url, poolclass=NullPool)  # one connection, held for life
        connection = engine.connect()
        if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar():
            connection.close()
            engine.dispose()
            raise SchedulerLocked("another scheduler already runs against this PostgreSQL database")
        connection.commit()
        return connection

    def _drop_connection(self) -> None:
        self._connection.invalidate()
        self._connection.close()
        self._connection.engine.dispose()
        self._connection = None

    def release(self) -> None:
        self._held = False
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
                self._connection.close()
                self._connection.engine.dispose()
                self._connection = None
            except DBAPIError:  # its session is gone, and the lock with it
                self._drop_connection()
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def _lock_path(self) -> Path:
        database = self.url.database
        if database and database != ":memory:":
            return Path(database).with_suffix(".scheduler.lock")
        return self.instance_dir / "scheduler.lock"
