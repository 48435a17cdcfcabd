"""Simulator connect: a full simulated fleet coming online, beside a bare paho loop doing the least MQTT work.

Run from the repository root:  .venv/bin/python bench/simulator.py [--clusters 1000 10000] [--rounds 3]

Each size runs both sides, each in a process of its own on a fresh private Mosquitto:
- simulator: firmware_sim.Fleet of the O Môn fleet plus made-up clusters, unpaced (connect_rate 0):
  one paho client per cluster with will and session expiry, SUBSCRIBE to its cmd topic, retained
  birth, firmware state and heartbeats (30 s), all on one selector loop thread;
- bare: one paho client per cluster (MQTT 5, its own client id) on a selector through paho's external
  loop API (socket(), loop_read, loop_write, want_write, loop_misc): CONNECT and SUBSCRIBE, nothing
  else, with at most 64 clients awaiting their CONNACK, so that it is the floor (bench/bare_fleet.py).
Measured in each process from before the first client is made until every cluster has its SUBACK:
wall time, resident-set growth (MB) and CPU seconds of the process, and alongside the broker's CPU and
the host's SYN retransmits (each one a connect() that stalled its loop for 1 s). The median round of
each side is shown; the ratio is simulator time / bare time. Goal: 10,000 full simulated clusters
connected within 2× the bare loop's time, in ≤ 500 MB.
"""

import argparse
import logging
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt  # noqa: E402
from bare_fleet import BareLoop  # noqa: E402

from bench.results import Figure, record  # noqa: E402
from firmware_sim import Fleet, load_credentials, load_csv, synthesize  # noqa: E402
from firmware_sim.cli import prepare_process  # noqa: E402
from pa_protocol.signing import SigningKey, anchor_entry  # noqa: E402
from tests.support.broker import running_broker  # noqa: E402

TIMEOUT_S = 180.0
GOAL_CLUSTERS = 10_000
GOAL_RATIO = 2.0
GOAL_MB = 500.0
BROKER_SPARE_FDS = 64


def fleet_of(size: int):
    """Return the first `size` clusters of the O Môn fleet, made-up ones beyond it."""
    real = load_csv(limit=size)
    return real + synthesize(size - len(real))


def rss_mb(pid: str | int = "self") -> float:
    """Return a process's resident set size in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int | None = None) -> float:
    """Return the user + system CPU seconds of this process (all threads), or of another by pid."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def syn_retransmits() -> int:
    """Return the host's count of retransmitted SYNs: each is a connect() that waited 1 s or more.

    Mosquitto listens with a backlog of 100; a connect storm that outruns its accept() overflows it,
    the SYN is dropped, and the blocking connect() of that client (and the loop it runs on) stalls.
    """
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=True):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=True))["TCPSynRetrans"])
    return 0


class Meter:
    """Wall time, RSS growth and CPU of this process, the broker's CPU and SYN retransmits, start() to stop()."""

    def __init__(self, broker_pid: int):
        self.broker_pid = broker_pid

    def start(self) -> None:
        self.rss, self.cpu, self.broker_cpu = rss_mb(), cpu_s(), cpu_s(self.broker_pid)
        self.syn = syn_retransmits()
        self.began = time.perf_counter()

    def stop(self, connected: int) -> dict:
        return {
            "seconds": time.perf_counter() - self.began,
            "rss_mb": rss_mb() - self.rss,
            "cpu_s": cpu_s() - self.cpu,
            "broker_cpu_s": cpu_s(self.broker_pid) - self.broker_cpu,
            "syn_retransmits": syn_retransmits() - self.syn,
            "connected": connected,
        }


# ----- side (a): the full simulator


def measure_simulator(url: str, size: int, broker_pid: int, credentials: str, workdir: str) -> dict:
    """Bring a simulated fleet online unpaced, in a process prepared as `python -m firmware_sim` prepares its own;
    return the meter's figures (and its stop time)."""
    prepare_process(size)
    specs = fleet_of(size)
    meter = Meter(broker_pid)
    meter.start()
    anchor = SigningKey.generate()  # the fleet only connects here: any key will do
    fleet = Fleet(specs, url, truth_path=Path(workdir) / "truth.jsonl", connect_rate=0, seed=1,
                  credentials=credentials, keys=[anchor_entry(anchor)])
    fleet.start()
    return meter.stop(fleet.wait_connected(timeout=TIMEOUT_S))


# ----- side (b): a bare paho loop


def measure_bare(url: str, size: int, broker_pid: int, credentials: str) -> dict:
    """Bring `size` bare paho clients online; return the meter's figures."""
    passwords = load_credentials(credentials)
    meter = Meter(broker_pid)
    meter.start()
    return meter.stop(BareLoop(url, passwords).run())


# ----- running each side in a process of its own


def _child(function, args, channel) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    channel.send(function(*args))
    channel.recv()  # the broker has gone: our sockets are closed by it, so none lingers in TIME_WAIT here
    os._exit(0)  # nothing to tidy: skip joining the loop and the fetch workers


def in_process(function, broker, size: int, *extra) -> dict:
    """Run `function(broker URL, size, broker pid, credentials CSV, *extra)` in a fresh interpreter; return its
    figures.

    The broker stops before the measuring process exits, so the broker closes every connection
    first. Were the clients to close first, each would hold its port in TIME_WAIT for 60 s, and the
    next run's connects would hunt for free ports among them (with ~30,000 such, paho's bind() before
    each connect took 1.2 ms).
    """
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    arguments = (broker.url, size, broker.process.pid, str(broker.credentials_file), *extra)
    process = context.Process(target=_child, args=(function, arguments, theirs))
    process.start()
    figures = ours.recv() if ours.poll(TIMEOUT_S + 30) else None
    broker.stop()
    if figures is not None:
        ours.send("broker stopped")
    process.join(30)
    if figures is None or process.exitcode != 0:
        process.kill()
        raise RuntimeError(f"{function.__name__} failed (exit code {process.exitcode})")
    return figures


def check_broker_capacity(broker, size: int) -> None:
    """Refuse to time a broker whose config or open-files limit cannot hold `size` connections."""
    conf = broker.files.conf.read_text()
    for line in conf.splitlines():
        if line.startswith("max_connections") and 0 <= int(line.split()[1]) < size:
            raise RuntimeError(f"{broker.files.conf}: {line} is below {size}")
    for line in Path(f"/proc/{broker.process.pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            if soft != "unlimited" and int(soft) < size + BROKER_SPARE_FDS:
                raise RuntimeError(f"the broker may open {soft} files, fewer than {size} clients need")


def one_side(side: str, size: int) -> dict:
    """Time one side at one size on a fresh private broker, in a process of its own."""
    cids = [spec.cid for spec in fleet_of(size)]  # each with an account, as make run's clusters have
    with tempfile.TemporaryDirectory(prefix=f"bench-sim-{side}-") as tmp, running_broker(Path(tmp), cids) as broker:
        check_broker_capacity(broker, size)
        load = os.getloadavg()[0]
        if side == "simulator":
            figures = in_process(measure_simulator, broker, size, tmp)
        else:
            figures = in_process(measure_bare, broker, size)
    if figures["connected"] < size:
        raise RuntimeError(f"{side}: {figures['connected']}/{size} online within {TIMEOUT_S:.0f} s")
    return {**figures, "load": load}


def median_round(rounds: list[dict]) -> dict:
    """Return the round with the median time."""
    ordered = sorted(rounds, key=lambda figures: figures["seconds"])
    return ordered[(len(ordered) - 1) // 2]


def verdict(size: int, sim: dict, bare: dict) -> str:
    """Judge the goal's size against it; other sizes are shown for the trend only."""
    if size != GOAL_CLUSTERS:
        return "—"
    ratio = sim["seconds"] / bare["seconds"]
    misses = []
    if ratio > GOAL_RATIO:
        misses.append(f"time {ratio:.2f}× > {GOAL_RATIO:.0f}×")
    if sim["rss_mb"] > GOAL_MB:
        misses.append(f"memory {sim['rss_mb']:.0f} MB > {GOAL_MB:.0f} MB")
    return "misses the goal: " + ", ".join(misses) if misses else "meets the goal"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, nargs="+", default=[1000, GOAL_CLUSTERS], help="fleet sizes")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per side and size; the median is shown")
    options = parser.parse_args()
    prepare_process(max(options.clusters) + BROKER_SPARE_FDS)  # the brokers and the workers inherit it
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, paho-mqtt {paho.mqtt.__version__}; "
          "CPU and broker CPU in s, load = 1-min load average before the simulator / the bare run")  # fmt: skip
    header = ("clusters", "sim s", "sim MB", "sim CPU", "broker", "SYN rtx", "bare s", "bare MB", "bare CPU", "broker",
              "SYN rtx", "ratio", "CPU×", "load", "verdict")  # fmt: skip
    print(" ".join(f"{name:>8}" for name in header[:-1]), f" {header[-1]}")
    figures = []
    for size in options.clusters:
        sims, bares = [], []
        for _ in range(options.rounds):
            sims.append(one_side("simulator", size))
            bares.append(one_side("bare", size))
        sim, bare = median_round(sims), median_round(bares)
        cells = [f"{size:8d}"]
        for side in (sim, bare):
            cells += [f"{side['seconds']:8.2f}", f"{side['rss_mb']:8.1f}", f"{side['cpu_s']:8.2f}",
                      f"{side['broker_cpu_s']:8.2f}", f"{side['syn_retransmits']:8d}"]  # fmt: skip
        cells += [f"{sim['seconds'] / bare['seconds']:7.2f}×", f"{sim['cpu_s'] / bare['cpu_s']:7.2f}×",
                  f"{sim['load']:3.1f}/{bare['load']:<4.1f}", f" {verdict(size, sim, bare)}"]  # fmt: skip
        print(" ".join(cells))
        if options.rounds > 1:
            print(f"{'':8} rounds: simulator {[round(r['seconds'], 2) for r in sims]} s, "
                  f"bare {[round(r['seconds'], 2) for r in bares]} s")  # fmt: skip
        ratio = sim["seconds"] / bare["seconds"]
        time_goal = (f"≤ {GOAL_RATIO:.0f}×", ratio <= GOAL_RATIO) if size == GOAL_CLUSTERS else ()
        memory_goal = (f"≤ {GOAL_MB:.0f} MB", sim["rss_mb"] <= GOAL_MB) if size == GOAL_CLUSTERS else ()
        figures += [Figure(f"{size:,} clusters online (raw: bare paho clients), median of {options.rounds}",
                           sim["seconds"], "s", bare["seconds"], *time_goal),
                    Figure(f"{size:,} clusters online: memory of the simulator process", sim["rss_mb"], "MB",
                           bare["rss_mb"], *memory_goal)]
    record("simulator", figures)


if __name__ == "__main__":
    main()
