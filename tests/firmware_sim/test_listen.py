"""`python -m firmware_sim listen`: one cluster on the bench, its traffic shown one line a message."""

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from firmware_sim.listen import describe_heartbeat, line
from pa_controller.messaging import protocol
from tests.firmware_sim.factories import Listener, make_command
from tests.support.broker import free_port

REPO = Path(__file__).resolve().parents[2]
CID = "om-tho-001"
LOCAL_CLOCK = r"\d\d:\d\d:\d\d\.\d{3}"


class Bench:
    """`python -m firmware_sim listen` in a child process, its stdout lines gathered by a thread."""

    def __init__(self, broker_url: str, tmp_path: Path, *options: str):
        command = [sys.executable, "-m", "firmware_sim", "listen", "--cid", CID, "--broker", broker_url,
                   "--truth", str(tmp_path / "truth.jsonl"), *options]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._gather, daemon=True).start()

    def _gather(self) -> None:
        for text in self.process.stdout:
            self.lines.put(text.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 10.0) -> str:
        """Return the first line (from those not yet waited past) matching `pattern`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                text = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(text)
            if re.search(pattern, text):
                return text
        raise AssertionError(f"no line matching {pattern!r} within {timeout} s; saw:\n" + "\n".join(self.seen))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture
def controller(broker):
    stand_in = Listener(broker.url, protocol.wildcard(protocol.DEFAULT_ROOT, protocol.EVENTS))
    yield stand_in
    stand_in.close()


@pytest.mark.timeout(60)
def test_listen_shows_a_command_and_what_the_cluster_answers_then_stops_on_ctrl_c(broker, controller, tmp_path):
    bench = Bench(broker.url, tmp_path, "--heartbeat-s", "1")
    try:
        boot = bench.wait_for(rf"^{LOCAL_CLOCK} → status    online boot ")
        bench.wait_for(rf"^{LOCAL_CLOCK} → heartbeat #1 idle volume 70 .* speakers 2/2 amp ok")
        tone = make_command("test_tone", CID, time.time(), duration_ms=200)
        controller.command(protocol.DEFAULT_ROOT, tone)
        short = tone["id"][:8]
        bench.wait_for(rf"^{LOCAL_CLOCK} ← cmd       test_tone {short} 0\.2 s$")
        bench.wait_for(rf"^{LOCAL_CLOCK} → events    received cmd {short}$")
        bench.wait_for(rf"^{LOCAL_CLOCK} → events    done cmd {short} ended_at {LOCAL_CLOCK} amp_ok True$")
        bench.process.send_signal(signal.SIGINT)
        assert bench.process.wait(10) == 0
        bench.wait_for(rf"^{LOCAL_CLOCK} → status    offline boot {boot.split('boot ')[1].split()[0]} ")
    finally:
        bench.close()


@pytest.mark.timeout(60)
def test_listen_json_prints_each_message_raw(broker, controller, tmp_path):
    bench = Bench(broker.url, tmp_path, "--json")
    try:
        status = json.loads(bench.wait_for(r'"topic": "pa/v1/clusters/om-tho-001/status"'))
        assert status["payload"]["online"] is True and status["retained"] is False
        volume = make_command("set_volume", CID, time.time(), volume=40)
        controller.command(protocol.DEFAULT_ROOT, volume)
        command = json.loads(bench.wait_for(r'"topic": "pa/v1/clusters/om-tho-001/cmd"'))
        assert command["payload"] == volume
        bench.process.send_signal(signal.SIGTERM)
        assert bench.process.wait(10) == 0
    finally:
        bench.close()


def test_a_line_is_in_asia_ho_chi_minh_time_and_says_which_way_the_message_went():
    arrived = datetime(2026, 11, 26, 22, 0, 1, 250_000, tzinfo=UTC)
    started = "2026-11-26T22:00:00.010Z"
    raw = protocol.encode({"v": 1, "cid": CID, "cmd_id": "c0ffee00-1111", "run_id": "17", "state": "playing",
                           "at": started, "detail": {"started_at": started}})  # fmt: skip
    assert line(protocol.EVENTS, raw, False, arrived) == (
        "05:00:01.250 → events    playing cmd c0ffee00 run 17 started_at 05:00:00.010"
    )
    unreadable = line(protocol.CMD, b"\xff\xfe", False, arrived)
    assert unreadable == "05:00:01.250 ← cmd       2 bytes that are not JSON: b'\\xff\\xfe'"


def test_a_heartbeat_line_flags_a_silent_amplifier():
    beat = {"seq": 4, "state": "armed", "playing": None, "armed": ["17"], "volume": 70, "rssi_dbm": -80,
            "temp_c": 35.5, "speakers_ok": 1, "speakers_total": 2, "amp_ok": False, "uptime_s": 120}  # fmt: skip
    assert describe_heartbeat(beat) == (
        "#4 armed armed 17 volume 70 rssi -80 dBm 35.5 °C speakers 1/2 AMP FAULT up 120 s"
    )


def test_an_unreachable_broker_exits_2_with_what_to_check(tmp_path):
    url = f"mqtt://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "firmware_sim", "listen", "--cid", CID, "--broker", url]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    finished = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert finished.returncode == 2
    assert "cannot reach the broker at 127.0.0.1" in finished.stderr and "check --broker" in finished.stderr
    assert "Traceback" not in finished.stderr
