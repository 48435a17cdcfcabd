"""A private Mosquitto on a free port, started from the project's own generated config."""

import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from pa_controller.messaging import broker_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Broker:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> "Broker":
        """Start the broker; after stop(), start() restarts it on the same port with the same persistence
        directory, so persistent sessions and their queued QoS 1 messages survive, as in production."""
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = broker_config.write(self.workdir / "mosquitto.conf", self.port)
        self.log = open(self.workdir / "mosquitto.log", "ab")
        self.process = subprocess.Popen([binary, "-c", str(conf)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: see {self.workdir / 'mosquitto.log'}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not open its port within 10 s")

    def stop(self) -> None:
        """Stop the broker the way a service manager does (SIGTERM): it saves its persistence file first."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@contextmanager
def running_broker(workdir: Path):
    """Run a private broker for the duration of the block."""
    broker = Broker(workdir).start()
    try:
        yield broker
    finally:
        broker.stop()
