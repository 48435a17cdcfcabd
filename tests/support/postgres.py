"""A private PostgreSQL on a free port, in a temporary directory, that a test may stop, start and restart.

The machine's own PostgreSQL (5432) serves the rest of the suite and other work: a test that takes the
database away uses one of its own. The server runs as the `postgres` user (it refuses to run as root), owns
a directory of its own, and trusts every local connection on 127.0.0.1.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.support.broker import free_port

BINARIES = Path(os.environ.get("PA_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
OWNER = "postgres"
ENABLE = (f"install PostgreSQL's server binaries ({BINARIES}: apt-get install postgresql-15, or set PA_TEST_PG_BIN) "
          f"and run as root or as the `{OWNER}` user")


def missing() -> str | None:
    """Say why a private PostgreSQL cannot be started here, or None if it can."""
    if not (BINARIES / "initdb").is_file():
        return f"no initdb in {BINARIES}"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "no runuser to start PostgreSQL as its own user"
        try:
            pwd.getpwnam(OWNER)
        except KeyError:
            return f"no `{OWNER}` user to run PostgreSQL as"
    return None


class PrivatePostgres:
    """initdb, pg_ctl start/stop/restart; `url` names its `loanet` database."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.data = workdir / "data"
        self.log = workdir / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql+psycopg://{OWNER}@127.0.0.1:{self.port}/loanet"

    def _run(self, *args: str, timeout_s: float = 60) -> None:
        command = [str(BINARIES / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OWNER, "--", *command]
        subprocess.run(command, check=True, timeout=timeout_s, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def init(self) -> "PrivatePostgres":
        """Create the cluster (trust on 127.0.0.1, a socket in its own directory) and the `loanet` database."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, OWNER, OWNER)
        self._run("initdb", "-D", str(self.data), "-U", OWNER, "--auth=trust", "-E", "UTF8", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.workdir}'\nfsync = off\nmax_connections = 200\n")
        self.start()
        admin = create_engine(self.url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE loanet"))
        admin.dispose()
        return self

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start")

    def stop(self) -> None:
        """Stop it as an operator restarting it would (`-m fast`): sessions are cut, transactions rolled back."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", "fast", "stop")

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "-m", "fast", "restart")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        """Stop it at once if it runs, and delete its files."""
        if self.running():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", "immediate", "stop")
            except subprocess.SubprocessError:
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)

    def wait_answering(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        engine = create_engine(self.url)
        try:
            while True:
                try:
                    with engine.connect() as conn:
                        conn.execute(text("SELECT 1"))
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        finally:
            engine.dispose()


@contextmanager
def private_postgres():
    """A private PostgreSQL for the block, stopped and removed however the block ends."""
    workdir = Path(tempfile.mkdtemp(prefix="loanet-pg-"))
    server = PrivatePostgres(workdir)
    try:
        yield server.init()
    finally:
        server.remove()
