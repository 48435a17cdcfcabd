"""`python -m firmware_sim`: arguments, progress, and a clean exit that leaves the wills behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from firmware_sim.cli import main
from pa_controller.messaging import protocol
from tests.firmware_sim.factories import Listener

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--clusters", "0"], "not a positive whole number"),
        (["--broker", "http://127.0.0.1:1883"], "must look like mqtt://"),
        (["--api", "http://127.0.0.1:5000"], "--api needs --token"),
        (["--clusters", "500"], "add --synthetic"),
        (["--fleet-csv", "/nonexistent/fleet.csv"], "/nonexistent/fleet.csv"),
        (["--connect-rate", "-1"], "use 0 for no pacing"),
    ],
)
def test_bad_arguments_get_a_clear_message_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_sigterm_disconnects_every_cluster_with_its_will_and_exits_0(broker, tmp_path):
    command = [sys.executable, "-m", "firmware_sim", "--clusters", "5", "--broker", broker.url,
               "--truth", str(tmp_path / "truth.jsonl"), "--heartbeat-s", "1", "--summary-s", "0.2"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("connected 5/5" in line for line in seen):
            seen.append(process.stderr.readline())
        while time.monotonic() < deadline and not any("playing 0, done 0" in line for line in seen):
            seen.append(process.stderr.readline())
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert any("connected 5/5" in line for line in seen), "".join(seen)
    watcher = Listener(broker.url, protocol.wildcard(protocol.DEFAULT_ROOT, protocol.STATUS))
    try:
        wills = watcher.wait_for(lambda t, p, r: p["online"] is False and r, 5)
    finally:
        watcher.close()
    assert len(wills) == 5
