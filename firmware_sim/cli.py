"""`python -m firmware_sim`: run a simulated fleet until Ctrl-C or SIGTERM, with the faults of a scenario."""

import argparse
import gc
import logging
import resource
import signal
import sys
import threading
import time
from pathlib import Path

import pa_protocol as protocol
from firmware_sim import defaults
from firmware_sim.controller_api import TokenFileError, read_token_file
from firmware_sim.faults import FLAG_SYNTAX, KINDS, ScenarioError, combine, describe_kinds, library
from firmware_sim.fleet import Fleet
from firmware_sim.keyring import KeysError, read_key_file
from firmware_sim.localtime import local_struct_time
from firmware_sim.roster import (
    DEFAULT_FLEET_CSV,
    RosterError,
    load_api,
    load_credentials,
    load_csv,
    parse_shard,
    synthesize,
)
from firmware_sim.session import BrokerURLError, SessionSettings

log = logging.getLogger("firmware_sim")

PROGRESS_EVERY_S = 0.5
FDS_PER_CLUSTER = 1
SPARE_FDS = 256
GC_THRESHOLDS = (50_000, 20, 20)  # Python's are (700, 10, 10)


def _positive_int(text: str) -> int:
    """Read a whole number of at least 1 (an argparse type)."""
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


def _shard(text: str) -> tuple[int, int]:
    try:
        return parse_shard(text)
    except RosterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m firmware_sim",
        description="Simulate loudspeaker clusters speaking protocol v1 over MQTT 5 (see PROTOCOL.md).",
    )
    parser.add_argument("--clusters", type=_positive_int, help="how many clusters (default: the whole fleet)")
    add_broker_option(parser)
    parser.add_argument("--fleet-csv", default=str(DEFAULT_FLEET_CSV), help="fleet CSV when --api is not given")
    parser.add_argument("--api", nargs="?", const=defaults.api_url(), metavar="URL",
                        help="take the fleet from GET {URL}/api/v1/clusters instead of the CSV; without a URL, "
                        "%(const)s (" + defaults.API_SOURCE + ")")
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--token", help="bearer token for --api")
    token.add_argument("--token-file", default=str(defaults.token_file()),
                       help=f"file holding the token for --api (default %(default)s; {defaults.INSTANCE_SOURCE})")
    add_truth_option(parser)
    parser.add_argument("--heartbeat-s", type=_positive_float, help="heartbeat period (30, or the scenario's)")
    parser.add_argument("--keepalive", type=_positive_int, help="MQTT keep-alive in s (30, or the scenario's)")
    parser.add_argument("--bind-address", default="", metavar="ADDRESS",
                        help="local address the clusters connect from (one address has ~28,000 ephemeral ports: "
                        "a bigger fleet on loopback runs several processes from 127.0.0.2, 127.0.0.3 …)")
    parser.add_argument("--root", default=protocol.DEFAULT_ROOT, help="topic root (%(default)s)")
    parser.add_argument("--connect-rate", type=_rate,
                        help="new connections per s, 0 = unpaced (200, or the scenario's)")
    parser.add_argument("--seed", type=int, help="seed for the faults' clusters and outcomes, heartbeat offsets, "
                        "sensor readings and backoff (drawn and logged if absent; required with --shard)")
    faults = parser.add_argument_group("faults")
    faults.add_argument("--scenario", metavar="NAME|FILE",
                        help="a scenario of the library (--list-scenarios) or a TOML file of faults")
    faults.add_argument("--fault", action="append", default=[], metavar="SPEC",
                        help=f"one more fault, repeatable: {FLAG_SYNTAX}; fields: clusters, ward, share, count, "
                        f"group, at, duration, spread and the kind's own; kinds: {', '.join(KINDS)} (--list-faults)")
    faults.add_argument("--time-scale", type=_positive_float, default=1.0, metavar="F",
                        help="multiply every fault time (at, duration, spread, flap periods) by F, e.g. 0.01")
    faults.add_argument("--list-scenarios", action="store_true", help="list the scenario library and exit")
    faults.add_argument("--list-faults", action="store_true", help="list the fault kinds and their fields and exit")
    parser.add_argument("--state-dir", default=str(defaults.state_dir()),
                        help="where each cluster keeps the command ids it accepted, across reboots and restarts "
                        f"(default %(default)s; {defaults.INSTANCE_SOURCE})")
    parser.add_argument("--credentials", metavar="CSV", default=defaults.credentials_file(),
                        help="broker passwords, rows of cid,password; every cluster connects with username = its cid "
                        f"(default {defaults.credentials_path()} if it exists; {defaults.INSTANCE_SOURCE})")
    add_keys_options(parser)
    parser.add_argument("--shard", type=_shard, metavar="K/N",
                        help="simulate only clusters K, K+N, K+2N … of the fleet (faults are chosen on all of it, "
                        "so every shard needs the same --seed)")
    parser.add_argument("--summary-s", type=_positive_float, default=10.0, help="summary line period (%(default)s)")
    parser.add_argument(
        "--synthetic", action="store_true", help="make up sim-NNNNNN clusters when --clusters exceeds the fleet"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    return parser


def add_broker_option(parser: argparse.ArgumentParser) -> None:
    """--broker, by default the broker of `make run` (the simulator and `listen` share it)."""
    default = defaults.broker_url()
    parser.add_argument("--broker", default=default, metavar="URL",
                        help=f"mqtt://host:port (default {defaults.shown(default)}; {defaults.BROKER_SOURCE})")


def add_keys_options(parser: argparse.ArgumentParser) -> None:
    """--keys and --keys-url: the controller's command keys, as provisioned and as published."""
    keys = parser.add_argument_group("command keys (a cluster runs only commands the controller signed)")
    keys.add_argument("--keys", metavar="FILE", help="key entries to trust as provisioned: the JSON of "
                      "GET /api/v1/keys/commands saved to a file")
    keys.add_argument("--keys-url", default=defaults.keys_url(), metavar="URL",
                      help=f"the controller's key list, fetched every 10 minutes and when a command names an unknown "
                      f"key; without --keys the first list fetched is trusted; '' for none (default %(default)s; "
                      f"{defaults.KEYS_SOURCE})")


def keys_of(args: argparse.Namespace) -> dict:
    """Return the Fleet arguments for the keys asked for; raise KeysError if there are none or the file is bad."""
    entries = read_key_file(args.keys) if args.keys else None
    url = args.keys_url or None
    if entries is None and url is None:
        raise KeysError("--keys-url '' leaves the clusters no command keys: give --keys FILE or a --keys-url")
    return {"keys": entries, "keys_url": url}


def add_truth_option(parser: argparse.ArgumentParser) -> None:
    """--truth, by default the truth log of `make run` (the simulator and `listen` share it)."""
    parser.add_argument("--truth", default=str(defaults.truth_path()),
                        help=f"ground-truth JSON lines (default %(default)s; {defaults.INSTANCE_SOURCE})")


def load_fleet(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """Return the cluster specs the arguments ask for, or exit with a message."""
    try:
        if args.api:
            specs = load_api(args.api, args.token or read_token_file(Path(args.token_file)))
        else:
            specs = load_csv(args.fleet_csv)
    except TokenFileError as exc:
        parser.error(f"--api needs a token: {exc}")
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


def prepare_process(clusters: int) -> None:
    """Ready this process for many clusters: a socket each, and a garbage collector that does not keep
    rescanning the growing heap of sessions (at 10,000 clusters, ten full passes took 1 s of a 6 s start)."""
    gc.set_threshold(*GC_THRESHOLDS)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = clusters * FDS_PER_CLUSTER + SPARE_FDS
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            log.warning("open-files limit %d is below the %d this fleet needs: raise `ulimit -n`", target, needed)


def list_scenarios() -> str:
    """Return the library as lines: name, fault count, and the English and Vietnamese descriptions."""
    lines = []
    for scenario in library():
        count = len(scenario.faults)
        lines.append(f"{scenario.name} ({count} fault{'' if count == 1 else 's'})")
        lines.append(f"    {scenario.description['en']}")
        lines.append(f"    {scenario.description['vi']}")
    return "\n".join(lines) + "\n"


def configure_logging(verbose: bool) -> None:
    """Log to stderr, INFO (DEBUG with --verbose), each line stamped in Asia/Ho_Chi_Minh time."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        if handler.formatter is not None:
            handler.formatter.converter = local_struct_time


def main(argv: list[str] | None = None) -> int:
    """Run the simulator; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_scenarios or args.list_faults:
        sys.stdout.write(list_scenarios() if args.list_scenarios else describe_kinds() + "\n")
        return 0
    configure_logging(args.verbose)
    try:
        SessionSettings.from_url(args.broker)
        scenario = combine(args.scenario, args.fault)
        credentials = load_credentials(args.credentials) if args.credentials else {}
        keys = keys_of(args)
    except (BrokerURLError, ScenarioError, RosterError, KeysError) as exc:
        parser.error(str(exc))
    if args.shard is not None and args.seed is None:
        parser.error("--shard needs --seed: every shard must choose the same faults (--processes passes one)")
    specs = load_fleet(args, parser)
    try:
        fleet = Fleet(
            specs,
            args.broker,
            truth_path=args.truth,
            root=args.root,
            seed=args.seed,
            scenario=scenario,
            time_scale=args.time_scale,
            state_dir=args.state_dir,
            credentials=credentials,
            shard=args.shard,
            heartbeat_s=args.heartbeat_s,  # None: the scenario's [fleet] value, else the default
            keepalive=args.keepalive,
            connect_rate=args.connect_rate,
            bind_address=args.bind_address,
            **keys,
        )
    except ValueError as exc:
        parser.error(str(exc))
    if scenario is not None:
        log.info("scenario %s: %d faults on %d clusters of this process", scenario.name, len(scenario.faults),
                 len({a.cid for a in fleet.plan.afflictions}))
    prepare_process(len(fleet.clusters))
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    fleet.start()
    try:
        log_progress(fleet, stopping, args.summary_s)
    finally:
        log.info("stopping: disconnecting %d sessions with their will", len(fleet.clusters))
        fleet.stop()
        log.info("stopped; %s", fleet.summary())
    return 0


def log_progress(fleet: Fleet, stopping: threading.Event, summary_s: float) -> None:
    """Log connect progress until every cluster is up, then a summary line every `summary_s`.

    Once a fault has started, some clusters may stay down on purpose: the summary lines take over.
    """
    total = len(fleet.clusters)
    began = time.monotonic()
    shown = -1
    while not stopping.is_set() and fleet.connected_count < total and not fleet.tally.faults_applied:
        if fleet.connected_count != shown:
            shown = fleet.connected_count
            log.info("connected %d/%d", shown, total)
        stopping.wait(PROGRESS_EVERY_S)
    if not stopping.is_set() and fleet.connected_count == total:
        log.info("connected %d/%d in %.1f s", total, total, time.monotonic() - began)
    while not stopping.wait(summary_s):
        log.info("%s", fleet.summary())
