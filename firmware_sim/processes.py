"""`python -m firmware_sim --processes N …`: one fleet split over N simulator processes.

A simulator process drives all its clusters from one loop thread, so one core bounds it. With
`--processes N` this parent starts N children, `python -m firmware_sim … --shard K/N` with the same
options, each simulating every Nth cluster (cli.py), and

- prefixes each child's log lines with its shard, `[K/N]`;
- logs a combined progress line, the sum of the children's `connected X/Y`;
- forwards SIGINT and SIGTERM to every child, so each disconnects its clusters with their wills;
- stops the others when one child fails, and exits with that child's code (0 when all exit 0);
- draws the seed when none is given and hands it to every child, so all choose the same faults.

The children append to the one truth log: each record is a single write of one line to a file
opened for appending, so records of different children do not interleave.
"""

import argparse
import logging
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from typing import TextIO

from firmware_sim import cli
from firmware_sim.fleet import STOP_GRACE_S as FLEET_STOP_GRACE_S

log = logging.getLogger("firmware_sim.processes")

SHARD_OPTION = "--shard"
CONNECTED = re.compile(r"\bconnected (\d+)/(\d+)")
PROGRESS_EVERY_S = 0.5
STOP_GRACE_S = FLEET_STOP_GRACE_S + 10.0  # a child closes its sessions, writes its last lines, and exits
FAILED_TO_STOP = 1


class Shard:
    """One child simulator: its process, the last `connected X/Y` it logged, and a thread relaying its log."""

    def __init__(self, index: int, count: int, options: list[str], sink: TextIO, lock: threading.Lock):
        self.label = f"{index}/{count}"
        command = [sys.executable, "-m", "firmware_sim", *options, SHARD_OPTION, self.label]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.connected = 0
        self.total: int | None = None  # known from the child's first progress line
        self._sink, self._lock = sink, lock
        self.relay = threading.Thread(target=self._relay, name=f"shard-{index}", daemon=True)
        self.relay.start()

    def _relay(self) -> None:
        for text in self.process.stdout:
            if found := CONNECTED.search(text):
                self.connected, self.total = int(found[1]), int(found[2])
            with self._lock:
                self._sink.write(f"[{self.label}] {text}")
                self._sink.flush()

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.running:
            self.process.send_signal(signum)


class Progress:
    """Log the sum of the shards' connected counts whenever it changes, and once when all are up."""

    def __init__(self, shards: list[Shard]):
        self.shards = shards
        self.began = time.monotonic()
        self.shown: tuple[int, int] | None = None
        self.all_up = False

    def update(self) -> None:
        if any(shard.total is None for shard in self.shards):
            return
        connected = sum(shard.connected for shard in self.shards)
        total = sum(shard.total for shard in self.shards)
        if (connected, total) == self.shown:
            return
        self.shown = (connected, total)
        if connected == total and not self.all_up:
            self.all_up = True
            elapsed = time.monotonic() - self.began
            log.info("all %d shards: connected %d/%d in %.1f s", len(self.shards), connected, total, elapsed)
        else:
            log.info("all %d shards: connected %d/%d", len(self.shards), connected, total)


def build_parser() -> argparse.ArgumentParser:
    """Describe the one option this module reads; every other goes to the children unchanged."""
    parser = argparse.ArgumentParser(prog="python -m firmware_sim", add_help=False, allow_abbrev=False)
    parser.add_argument("--processes", type=cli._positive_int, required=True, help="child simulator processes")
    return parser


def main(argv: list[str]) -> int:
    """Run the fleet as `--processes` children; return 0, or the exit code of the first child that failed."""
    args, options = build_parser().parse_known_args(argv)
    sim_parser = cli.build_parser()
    if any(option == SHARD_OPTION or option.startswith(SHARD_OPTION + "=") for option in options):
        sim_parser.error(f"--processes gives each child its {SHARD_OPTION}; do not pass one")
    sim_args = sim_parser.parse_args(options)  # a usage error shows once here, not once per child
    if sim_args.clusters is not None and args.processes > sim_args.clusters:
        sim_parser.error(f"--processes {args.processes} is more than --clusters {sim_args.clusters}")
    if args.processes == 1 or sim_args.list_scenarios or sim_args.list_faults:
        return cli.main(options)
    cli.configure_logging(sim_args.verbose)
    if sim_args.seed is None:
        # Every child must draw the same faults from the whole fleet, so they share one seed.
        seed = random.SystemRandom().randrange(2**31)
        log.info("seed %d (pass --seed %d to repeat this run)", seed, seed)
        options = [*options, "--seed", str(seed)]
    return run(args.processes, options)


def run(count: int, options: list[str]) -> int:
    """Start the shards, relay and sum their progress, and see them all out."""
    stopping = threading.Event()
    lock = threading.Lock()
    shards: list[Shard] = []

    def forward(signum, frame) -> None:
        stopping.set()
        for shard in shards:
            shard.signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    shards.extend(Shard(index, count, options, sys.stderr, lock) for index in range(count))
    log.info("started %d simulator processes: %s", count, ", ".join(str(s.process.pid) for s in shards))
    progress = Progress(shards)
    failed: Shard | None = None
    while any(shard.running for shard in shards):
        if failed is None and (failed := _first_failure(shards)) is not None and not stopping.is_set():
            log.error("shard %s exited with %d; stopping the others", failed.label, failed.process.returncode)
            forward(signal.SIGTERM, None)
        if not stopping.is_set():
            progress.update()
        if stopping.wait(PROGRESS_EVERY_S):
            return _see_out(shards, failed)
    return _see_out(shards, failed or _first_failure(shards))


def _first_failure(shards: list[Shard]) -> Shard | None:
    return next((s for s in shards if s.process.poll() not in (None, 0)), None)


def _see_out(shards: list[Shard], failed: Shard | None) -> int:
    """Wait for every child to exit (killing those that outstay STOP_GRACE_S); return the exit code."""
    deadline = time.monotonic() + STOP_GRACE_S
    stuck = False
    for shard in shards:
        try:
            shard.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("shard %s did not stop within %.0f s; killing it", shard.label, STOP_GRACE_S)
            shard.process.kill()
            shard.process.wait()
            stuck = True
        shard.relay.join(1.0)
    failed = failed or _first_failure(shards)
    if failed is not None:
        code = failed.process.returncode
        return code if code > 0 else FAILED_TO_STOP  # negative: killed by a signal
    return FAILED_TO_STOP if stuck else 0
