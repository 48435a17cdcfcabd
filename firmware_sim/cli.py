"""`python -m firmware_sim`: run a simulated fleet until Ctrl-C or SIGTERM."""

import argparse
import logging
import resource
import signal
import sys
import threading
import time

from firmware_sim.fleet import Fleet
from firmware_sim.roster import DEFAULT_FLEET_CSV, RosterError, load_api, load_csv, synthesize
from firmware_sim.session import BrokerURLError, SessionSettings
from firmware_sim.truth import DEFAULT_TRUTH_PATH
from pa_controller.messaging import protocol

log = logging.getLogger("firmware_sim")

PROGRESS_EVERY_S = 0.5
FDS_PER_CLUSTER = 1
SPARE_FDS = 256


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; use 0 for no pacing")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m firmware_sim",
        description="Simulate loudspeaker clusters speaking protocol v1 over MQTT 5 (see PROTOCOL.md).",
    )
    parser.add_argument("--clusters", type=_positive_int, help="how many clusters (default: the whole fleet)")
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt://host:port (default %(default)s)")
    parser.add_argument("--fleet-csv", default=str(DEFAULT_FLEET_CSV), help="fleet CSV when --api is not given")
    parser.add_argument("--api", help="controller base URL; the fleet comes from GET {URL}/api/v1/clusters")
    parser.add_argument("--token", help="bearer token for --api")
    parser.add_argument("--truth", default=str(DEFAULT_TRUTH_PATH), help="ground-truth JSON lines (%(default)s)")
    parser.add_argument("--heartbeat-s", type=_positive_float, default=30.0, help="heartbeat period (%(default)s)")
    parser.add_argument("--keepalive", type=_positive_int, default=30, help="MQTT keep-alive in s (%(default)s)")
    parser.add_argument("--root", default=protocol.DEFAULT_ROOT, help="topic root (%(default)s)")
    parser.add_argument("--connect-rate", type=_rate, default=200.0, help="new connections per s, 0 = unpaced")
    parser.add_argument("--seed", type=int, help="seed for heartbeat offsets, sensor readings and backoff")
    parser.add_argument("--summary-s", type=_positive_float, default=10.0, help="summary line period (%(default)s)")
    parser.add_argument(
        "--synthetic", action="store_true", help="make up sim-NNNNNN clusters when --clusters exceeds the fleet"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    return parser


def load_fleet(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """Return the cluster specs the arguments ask for, or exit with a message."""
    if args.api and not args.token:
        parser.error("--api needs --token (create one with `flask pa tokens`)")
    try:
        specs = load_api(args.api, args.token) if args.api else load_csv(args.fleet_csv)
    except RosterError as exc:
        parser.error(str(exc))
    wanted = args.clusters or len(specs)
    if wanted > len(specs):
        if not args.synthetic or args.api:
            parser.error(
                f"the fleet has {len(specs)} clusters, fewer than --clusters {wanted}; "
                "ask for fewer, or add --synthetic (CSV only) to make up the rest"
            )
        specs = specs + synthesize(wanted - len(specs))
    if not specs:
        parser.error("the fleet is empty")
    return specs[:wanted]


def raise_file_limit(clusters: int) -> None:
    """Raise the soft open-files limit so every cluster can hold a socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = clusters * FDS_PER_CLUSTER + SPARE_FDS
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            log.warning("open-files limit %d is below the %d this fleet needs: raise `ulimit -n`", target, needed)


def main(argv: list[str] | None = None) -> int:
    """Run the simulator; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        SessionSettings.from_url(args.broker)
    except BrokerURLError as exc:
        parser.error(str(exc))
    specs = load_fleet(args, parser)
    raise_file_limit(len(specs))
    fleet = Fleet(
        specs,
        args.broker,
        truth_path=args.truth,
        heartbeat_s=args.heartbeat_s,
        keepalive=args.keepalive,
        root=args.root,
        connect_rate=args.connect_rate,
        seed=args.seed,
    )
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    fleet.start()
    try:
        report(fleet, stopping, args.summary_s)
    finally:
        log.info("stopping: disconnecting %d sessions with their will", len(specs))
        fleet.stop()
        log.info("stopped; %s", fleet.summary())
    return 0


def report(fleet: Fleet, stopping: threading.Event, summary_s: float) -> None:
    """Log connect progress until every cluster is up, then a summary line every `summary_s`."""
    total = len(fleet.clusters)
    began = time.monotonic()
    shown = -1
    while not stopping.is_set() and fleet.connected_count < total:
        if fleet.connected_count != shown:
            shown = fleet.connected_count
            log.info("connected %d/%d", shown, total)
        stopping.wait(PROGRESS_EVERY_S)
    if not stopping.is_set():
        log.info("connected %d/%d in %.1f s", total, total, time.monotonic() - began)
    while not stopping.wait(summary_s):
        log.info("%s", fleet.summary())
