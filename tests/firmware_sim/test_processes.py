"""`python -m firmware_sim --processes N`: one fleet over N child simulators, seen out together."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pa_protocol as protocol
from firmware_sim import load_csv
from firmware_sim.processes import main
from tests.firmware_sim.factories import Listener

REPO = Path(__file__).resolve().parents[2]
CLUSTERS = 6


class Parent:
    """`python -m firmware_sim --processes 2 …` in a child process (in tmp_path: its state stays there)."""

    def __init__(self, broker, tmp_path: Path, *options: str):
        command = [sys.executable, "-m", "firmware_sim", "--processes", "2", "--broker", broker.url,
                   "--credentials", str(broker.credentials_file), "--truth", str(tmp_path / "truth.jsonl"),
                   *options]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
        self.seen: list[str] = []

    def wait_for(self, pattern: str, timeout: float = 15.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.process.stderr.readline()
            if not text:
                break
            self.seen.append(text)
            if found := re.search(pattern, text):
                return found
        raise AssertionError(f"no line matching {pattern!r}; saw:\n" + "".join(self.seen))

    def rest(self) -> str:
        """Return the log lines after the process has exited."""
        return self.process.stderr.read()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture
def statuses(broker):
    watcher = Listener(broker.tester(), protocol.wildcard(protocol.DEFAULT_ROOT, protocol.STATUS))
    yield watcher
    watcher.close()


@pytest.mark.timeout(60)
def test_two_processes_connect_every_cluster_and_leave_their_wills_on_sigterm(broker, statuses, tmp_path):
    parent = Parent(broker, tmp_path, "--clusters", str(CLUSTERS))
    try:
        parent.wait_for(rf"firmware_sim.processes: all 2 shards: connected {CLUSTERS}/{CLUSTERS} in ")
        births = statuses.wait_for(lambda topic, payload, retained: payload["online"] is True, CLUSTERS)
        parent.process.send_signal(signal.SIGTERM)
        assert parent.process.wait(20) == 0
        log = "".join(parent.seen) + parent.rest()
    finally:
        parent.close()
    fleet = [spec.cid for spec in load_csv(limit=CLUSTERS)]
    assert sorted(payload["cid"] for _, payload, _ in births) == sorted(fleet)
    for shard in ("0/2", "1/2"):
        assert f"[{shard}] " in log and re.search(rf"\[{shard}\] .*connected 3/3 in ", log), log
        assert re.search(rf"\[{shard}\] .*stopping: disconnecting 3 sessions with their will", log), log
    wills = statuses.wait_for(lambda topic, payload, retained: payload["online"] is False, CLUSTERS)
    assert sorted(payload["cid"] for _, payload, _ in wills) == sorted(fleet)


@pytest.mark.timeout(60)
def test_when_one_child_dies_the_others_are_stopped_and_the_exit_code_says_so(broker, tmp_path):
    parent = Parent(broker, tmp_path, "--clusters", "4")
    try:
        pids = parent.wait_for(r"started 2 simulator processes: (\d+), (\d+)")
        parent.wait_for(r"all 2 shards: connected 4/4 in ")
        os.kill(int(pids[1]), signal.SIGKILL)
        parent.wait_for(r"shard 0/2 exited with -9; stopping the others")
        assert parent.process.wait(20) == 1
        assert re.search(r"\[1/2\] .*stopping: disconnecting 2 sessions", parent.rest())
    finally:
        parent.close()


@pytest.mark.timeout(60)
def test_a_child_that_cannot_start_fails_the_whole_run(tmp_path):
    command = [sys.executable, "-m", "firmware_sim", "--processes", "2", "--clusters", "500"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    finished = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert finished.returncode == 2
    assert re.search(r"\[[01]/2\] .*add --synthetic", finished.stderr)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--processes", "3", "--clusters", "2"], "--processes 3 is more than --clusters 2"),
        (["--processes", "2", "--shard", "0/2"], "--processes gives each child its --shard"),
        (["--processes", "0"], "0 is not a positive whole number"),
        (["--processes", "2", "--connect-rate", "-1"], "use 0 for no pacing"),
    ],
)
def test_bad_arguments_are_refused_once_before_any_child_starts(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
