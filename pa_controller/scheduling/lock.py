"""The scheduler lock: at most one scheduler per database dispatches.

PostgreSQL: a session-level advisory lock held on a dedicated connection.
SQLite: an exclusive flock on a file beside the database (one host by nature).
"""

import fcntl
import os
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
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

    def acquire(self) -> None:
        """Take the lock or raise SchedulerLocked; never waits."""
        if self.url.get_backend_name() == "postgresql":
            engine = create_engine(self.url, poolclass=NullPool)  # one connection, held for life
            connection = engine.connect()
            if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar():
                connection.close()
                engine.dispose()
                raise SchedulerLocked("another scheduler already runs against this PostgreSQL database")
            connection.commit()
            self._connection = connection
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

    def release(self) -> None:
        if self._connection is not None:
            self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
            self._connection.close()
            self._connection.engine.dispose()
            self._connection = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def _lock_path(self) -> Path:
        database = self.url.database
        if database and database != ":memory:":
            return Path(database).with_suffix(".scheduler.lock")
        return self.instance_dir / "scheduler.lock"
