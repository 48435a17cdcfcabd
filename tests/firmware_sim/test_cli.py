"""`python -m firmware_sim`: arguments, progress, and a clean exit that leaves the wills behind."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pa_protocol as protocol
from firmware_sim import read_truth
from firmware_sim.cli import main
from tests.firmware_sim.factories import TEST_KEYS, Listener

REPO = Path(__file__).resolve().parents[2]


def key_file(tmp_path: Path) -> list[str]:
    """The options that provision the test key from a file, and fetch no key list."""
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(TEST_KEYS))
    return ["--keys", str(path), "--keys-url", ""]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--clusters", "0"], "not a positive whole number"),
        (["--broker", "http://127.0.0.1:1883"], "must look like mqtt://"),
        (["--broker", "mqtts://127.0.0.1:8884"], "TLS is not simulated; use the broker's plain listener"),
        (["--api", "http://127.0.0.1:5000"], "--api needs a token: cannot read the API token from"),
        (["--clusters", "500"], "add --synthetic"),
        (["--fleet-csv", "/nonexistent/fleet.csv"], "/nonexistent/fleet.csv"),
        (["--connect-rate", "-1"], "use 0 for no pacing"),
        (["--scenario", "no-such-day"], "choose one of clock-skew"),
        (["--fault", "loss:rate=2"], "fault 1 (loss): field 'rate': must be at most 1"),
        (["--fault", "offline:clusters=om-cvl-001", "--fault", "meteor"], "--fault 'meteor': fault 2: field 'kind'"),
        (["--shard", "2/2"], "0 <= K < N"),
        (["--shard", "0/2"], "--shard needs --seed"),
        (["--credentials", "/nonexistent/credentials.csv"], "/nonexistent/credentials.csv"),
        (["--keys-url", ""], "leaves the clusters no command keys: give --keys FILE or a --keys-url"),
        (["--keys", "/nonexistent/keys.json"], "cannot read the key file /nonexistent/keys.json"),
    ],
)
def test_bad_arguments_get_a_clear_message_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PA_INSTANCE_DIR", str(tmp_path))  # no bootstrap token there
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_a_bad_scenario_file_is_named_with_its_fault_and_field_and_nothing_starts(tmp_path, capsys):
    path = tmp_path / "storm.toml"
    path.write_text('name = "storm"\n[description]\nvi = "bão"\nen = "storm"\n[[faults]]\nkind = "power_cut"\n'
                    '[[faults]]\nkind = "flap"\ncycles = 0\n', encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        main(["--scenario", str(path), "--broker", "mqtt://127.0.0.1:1"])
    assert stopped.value.code == 2
    assert f"{path}: fault 2 (flap): field 'cycles': must be at least 1" in capsys.readouterr().err


def test_list_scenarios_names_every_scenario_of_the_library_in_both_languages(capsys):
    assert main(["--list-scenarios"]) == 0
    out = capsys.readouterr().out
    assert "power-cut-thoi-hoa (1 fault)" in out and "Thới Hòa ward" in out and "Phường Thới Hòa" in out
    assert main(["--list-faults"]) == 0
    assert "clock_drift" in capsys.readouterr().out


@pytest.mark.timeout(60)
def test_the_summary_line_counts_the_faults_applied(broker, tmp_path):
    command = [sys.executable, "-m", "firmware_sim", "--clusters", "6", "--broker", broker.url, "--shard", "1/2",
               "--credentials", str(broker.credentials_file),
               "--truth", str(tmp_path / "truth.jsonl"), "--fault", "dead_amplifier:count=4", "--seed", "3",
               "--summary-s", "0.2", *key_file(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("connected 3/3, " in line and "faults active" in line
                                                      for line in seen):
            seen.append(process.stderr.readline())
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    line = next(line for line in seen if "connected 3/3, " in line and "faults active" in line)
    mine = {"om-cvl-002", "om-cvl-004", "om-cvl-006"}
    chosen = {r["cid"] for r in read_truth(tmp_path / "truth.jsonl", event="fault", phase="start")}
    assert chosen <= mine and f"faults active {len(chosen)}, applied {len(chosen)}/{len(chosen)}" in line


@pytest.mark.timeout(60)
def test_sigterm_disconnects_every_cluster_with_its_will_and_exits_0(broker, tmp_path):
    command = [sys.executable, "-m", "firmware_sim", "--clusters", "5", "--broker", broker.url,
               "--credentials", str(broker.credentials_file),
               "--truth", str(tmp_path / "truth.jsonl"), "--heartbeat-s", "1", "--summary-s", "0.2",
               *key_file(tmp_path)]
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
    watcher = Listener(broker.tester(), protocol.wildcard(protocol.DEFAULT_ROOT, protocol.STATUS))
    try:
        wills = watcher.wait_for(lambda t, p, r: p["online"] is False and r, 5)
    finally:
        watcher.close()
    assert len(wills) == 5
