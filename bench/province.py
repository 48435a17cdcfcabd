"""Province rehearsal: 10,000 clusters through the controller, 100,000 on one broker, each beside raw paho.

Run from the repository root:
  .venv/bin/python bench/province.py [--clusters 10000] [--rounds 2] [--big 100000] [--shards 5] [--skip-100k]
                                     [--postgres URL]

Part 1, --clusters simulated clusters and the controller, on a throwaway database of the PostgreSQL server
--postgres names (the local one by default; --sqlite for SQLite, without the flood):
- fan-out: one broadcast to every cluster, from the dispatch job to every delivery's `received` stored, against a
  raw paho loop publishing the same commands (new ids, signed beforehand) to the same fleet and counting the
  `received` answers: bench/fanout.py's two sides at province size. Goal <= 1.5x.
- heartbeat flood drained by two `flask pa ingest` workers against a raw paho subscriber: goal >= 0.8x, measured
  once the ingest command exists (issue 16, build 1).
- views: the dashboard, the cluster table and the map, server time through the Flask test client on the database
  the fan-out left (every cluster heard from, the rounds' runs and deliveries), against the bare SELECT of the same
  rows where there is one. Goal < 300 ms.
The fleet runs as --shards-10k simulator processes (`python -m firmware_sim --shard K/N`), its state on /dev/shm:
every cluster saves its command ids with fsync before it answers, which costs a real cluster its own flash but
costs the simulator's one writer thread 0.9 ms a cluster on disk.

Part 2, --big clusters on one Mosquitto (max_connections set, every cluster logging in with its own account),
no controller; heartbeats and keep-alive every 300 s, so that the figures are those of connecting and fanning
out rather than of 100,000 clients' background (3,333 heartbeats/s at 30 s: bench/heartbeats.py measures that):
- connect: --shards simulator processes, each from a loopback address of its own (127.0.0.2, .3, …: one address
  has ~28,000 ephemeral ports), against as many processes of bare paho clients (CONNECT and SUBSCRIBE only, at
  most BARE_WINDOW awaiting their CONNACK each) from other addresses (127.0.1.2, …): wall time until every
  cluster is subscribed; resident memory of every process and of Mosquitto. Each side on a fresh broker.
- fan-out: one signed set_volume command to each cluster's own cmd topic, published by one paho client (QoS 1,
  message expiry, as the outbox publishes), until a subscriber in a process of its own has every cluster's
  `received`. The simulated clusters verify the signature, save the id and answer as firmware does; the bare
  clients answer at once without reading more than the id. Ratio simulator / bare.
"""

import argparse
import json
import logging
import multiprocessing
import os
import queue
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import fanout  # noqa: E402
import heartbeats  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from fanout import add_postgres_option, bench_keys, build_app, database_for, fresh_commands, schedule  # noqa: E402
from fleet_views import CASES, get, timed  # noqa: E402
from heartbeats import fleet_csv  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from simulator import rss_mb  # noqa: E402
from sqlalchemy import bindparam, create_engine, text  # noqa: E402

import pa_protocol as protocol  # noqa: E402
from bench.results import Figure, record  # noqa: E402
from pa_controller import clock  # noqa: E402
from pa_controller.scheduling.worker import Worker  # noqa: E402
from pa_controller.services.commands import new_command  # noqa: E402
from pa_controller.settings import of as settings_of  # noqa: E402
from pa_protocol import CommandType  # noqa: E402
from pa_protocol.signing import SigningKey, anchor_entry, sign_command  # noqa: E402
from tests.support.broker import connect_raw, running_broker  # noqa: E402

log = logging.getLogger("bench.province")
ADMIN_PASSWORD = "bench-password-long"  # fanout.build_app's bench administrator
VIEW_CASES = ("table, first page", "table, status=offline", "map", "dashboard")
GOAL_FANOUT_RATIO, GOAL_INGEST_RATIO, GOAL_VIEW_MS = 1.5, 0.8, 300
INGEST_WORKERS = 2
FIRST_STORED_WITHIN_S = 180
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CONNECTED = re.compile(r"\bconnected (\d+)/(\d+)")
SPARE_FDS = 1024
SHARD_RATE = 1000  # connects/s of each simulator process: together above what the two cores take
BARE_WINDOW = 20  # per bare process (bench/bare_fleet.py): all together within Mosquitto's listen backlog of 100
BIG_HEARTBEAT_S = 300
TIMEOUT_S = 600.0


# ----- both parts: the fleet as simulator processes


class Shards:
    """Simulator processes (`python -m firmware_sim --shard K/N`), each bound to its address if given; their
    connect times, from their own log lines, and their memory."""

    def __init__(self, count: int, options: list[list[str]], addresses: list[str] | None, state: Path):
        self.began = time.monotonic()
        self.processes, self.done_at = [], {}
        self._lock = threading.Lock()
        for k in range(count):
            bind = ["--bind-address", addresses[k]] if addresses else []
            command = [sys.executable, "-m", "firmware_sim", *options[k], *bind, "--shard", f"{k}/{count}",
                       "--state-dir", str(state / f"shard-{k}")]
            process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            self.processes.append(process)
            threading.Thread(target=self._read, args=(k, process), daemon=True).start()

    def _read(self, k: int, process: subprocess.Popen) -> None:
        for line in process.stderr:
            if (found := CONNECTED.search(line)) and found[1] == found[2]:
                with self._lock:
                    self.done_at.setdefault(k, time.monotonic())
            elif " ERROR " in line or "Traceback" in line:
                print(f"[shard {k}] {line}", end="", flush=True)

    def wait_connected(self, timeout_s: float) -> float:
        """Seconds from the first start until every shard logged all its clusters connected."""
        deadline = time.monotonic() + timeout_s
        while len(self.done_at) < len(self.processes):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"{len(self.done_at)} of {len(self.processes)} simulator processes had every "
                                   f"cluster connected within {timeout_s:.0f} s (exit codes "
                                   f"{[p.poll() for p in self.processes]})")
            time.sleep(0.1)
        return max(self.done_at.values()) - self.began

    def rss_mb(self) -> list[float]:
        return [rss_mb(p.pid) for p in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def simulator_options(broker, csv_path: Path, clusters: int, keys_path: Path, truth: Path) -> list[str]:
    return ["--broker", broker.url, "--fleet-csv", str(csv_path), "--clusters", str(clusters),
            "--credentials", str(broker.credentials_file), "--keys", str(keys_path), "--keys-url", "",
            "--truth", str(truth), "--seed", "1", "--connect-rate", str(SHARD_RATE), "--summary-s", "3600"]


def raise_open_files(count: int) -> None:
    """Let this process, the brokers and the simulators it starts open `count` files (root may raise the hard
    limit up to fs.nr_open)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < count:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (count, max(count, hard)))
        except (ValueError, PermissionError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            log.warning("open files limited to %d, below the %d asked for: raise the hard limit", hard, count)


@contextmanager
def scratch_state(name: str):
    """A directory on /dev/shm (memory), removed afterwards: the simulated clusters' command ids."""
    path = Path(tempfile.mkdtemp(prefix=f"loanet-{name}-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ----- part 1: 10,000 clusters and the controller


def part_10k(args, database_url: str | None) -> list[Figure]:
    fanout.STORED_TIMEOUT_S = TIMEOUT_S  # a province's deliveries take longer than a district's 60 s
    backend = "PostgreSQL" if database_url else "SQLite"
    csv_text = fleet_csv(args.clusters)
    cids = [line.split(",", 1)[0] for line in csv_text.splitlines()[1:]]
    with tempfile.TemporaryDirectory(prefix="bench-province-") as tmp, scratch_state("province") as state:
        workdir = Path(tmp)
        (workdir / "fleet.csv").write_text(csv_text, encoding="utf-8")
        with running_broker(workdir / "broker", cids) as broker:
            started = time.perf_counter()
            app = build_app(workdir, broker.controller_url, database_url, csv_text)
            app.config["WTF_CSRF_ENABLED"] = False  # the views' login is a plain POST
            keys_path = workdir / "keys.json"
            keys_path.write_text(json.dumps(bench_keys(app)[0]))
            print(f"{backend}: {args.clusters:,} clusters imported in {time.perf_counter() - started:.1f} s",
                  flush=True)
            controller, raw = fan_out(args, app, broker, workdir, keys_path, state) if args.rounds else ([], [])
            ingest = ingest_figures(args, broker, database_url, workdir)
        figures = []
        if controller:  # --rounds 0 leaves the fan-out out
            c, r = sorted(controller)[(len(controller) - 1) // 2], sorted(raw)[(len(raw) - 1) // 2]
            figures.append(Figure(f"fan-out to {args.clusters:,}: dispatch to every `received` stored, {backend}, "
                                  f"median of {len(controller)}", c, "s", r, f"≤ {GOAL_FANOUT_RATIO}×",
                                  c / r <= GOAL_FANOUT_RATIO))
        figures += ingest
        figures += view_figures(app, args.clusters, args.requests, backend)
    return figures


def fan_out(args, app, broker, workdir: Path, keys_path: Path, state: Path) -> tuple[list[float], list[float]]:
    """The fleet online as simulator processes, then --rounds of fan-out: controller and raw seconds."""
    options = simulator_options(broker, workdir / "fleet.csv", args.clusters, keys_path, workdir / "truth.jsonl")
    shards = Shards(args.shards_10k, [options] * args.shards_10k, None, state)
    worker = Worker(app, plan_interval_s=3600)  # dispatch is triggered by hand
    controller, raw = [], []
    try:
        print(f"fleet online in {shards.wait_connected(TIMEOUT_S):.1f} s ({args.shards_10k} simulator processes)",
              flush=True)
        worker.start()
        worker.link.connected.wait(10)
        time.sleep(2)  # the births and first heartbeats of 10,000 clusters drained before the clock starts
        for round_no in range(1, args.rounds + 1):
            run_id = schedule(app, args.clusters, round_no)
            try:
                timed_controller = fanout.time_controller(worker, run_id, args.clusters)
                timed_raw = fanout.time_raw(broker, fresh_commands(app, run_id), settings_of(app).mqtt_root)
            except RuntimeError as exc:  # a machine overloaded by other work: keep the rounds done
                if not controller:
                    raise
                print(f"fan-out round {round_no} gave up: {exc}; {len(controller)} round(s) kept", flush=True)
                break
            controller.append(timed_controller)
            raw.append(timed_raw)
            print(f"fan-out round {round_no}: controller {controller[-1]:.2f} s   raw paho {raw[-1]:.2f} s "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        worker.stop()
        shards.stop()
    return controller, raw


def ingest_figures(args, broker, database_url: str | None, workdir: Path) -> list[Figure]:
    """A heartbeat flood drained by INGEST_WORKERS `flask pa ingest` processes and, at the same time, by a raw paho
    subscriber (bench/heartbeats.py's publisher and subscriber); heartbeats/s stored against received."""
    from pa_controller import cli  # noqa: PLC0415 - only to ask whether the command is there

    if "ingest" not in cli.pa.commands:
        print("heartbeat flood with two ingest workers: NOT AVAILABLE (no `flask pa ingest` on this branch)")
        return []
    if database_url is None:
        print("heartbeat flood with two ingest workers: left out on SQLite (one writer at a time): use --postgres")
        return []
    env = {**os.environ, "FLASK_APP": "wsgi", "PYTHONUNBUFFERED": "1", "PA_INSTANCE_DIR": str(workdir / "instance"),
           "PA_QUIET_HOURS": "", "DATABASE_URL": database_url, "PA_MQTT_URL": broker.url,
           "PA_BROKER_DIR": str(broker.workdir), "PA_INGEST_WORKERS": str(INGEST_WORKERS)}
    engine = create_engine(database_url)
    processes = [subprocess.Popen([sys.executable, "-m", "flask", "pa", "ingest", "--worker", str(n)], cwd=ROOT,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for n in range(1, INGEST_WORKERS + 1)]
    spawn = multiprocessing.get_context("spawn")
    try:
        wait_ingest_connected(engine, processes)
        results = spawn.Queue()
        raw_ready, pub_ready, go = spawn.Event(), spawn.Event(), spawn.Event()
        raw = spawn.Process(target=heartbeats.raw_subscriber, args=(broker.tester(), args.flood, raw_ready, results),
                            daemon=True)
        pub = spawn.Process(target=heartbeats.publisher, args=(broker.tester(), args.clusters, args.flood, 0,
                                                               pub_ready, go, results), daemon=True)
        raw.start()
        pub.start()
        if not (raw_ready.wait(30) and pub_ready.wait(120)):
            raise RuntimeError("the raw subscriber or the heartbeat publisher did not get ready")
        before = stored_beats(engine)
        time.sleep(1.0)
        go.set()
        stored_at, stored = wait_beats(engine, before, args.flood)
        outcome = dict((name, values) for name, *values in (results.get(timeout=120) for _ in range(2)))
        raw.join(10)
        pub.join(10)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            _, errors = process.communicate(timeout=60)
            if process.returncode not in (0, -15):
                print(f"ingest process exited {process.returncode}: {errors[-2000:]}")
        engine.dispose()
    started, published = outcome["publisher"]
    _, raw_last, raw_count, _ = outcome["raw"]
    ingest_rate, raw_rate = stored / (stored_at - started), raw_count / (raw_last - started)
    print(f"heartbeat flood: published {args.flood:,} in {published - started:.1f} s; {INGEST_WORKERS} ingest "
          f"processes stored {stored:,} ({ingest_rate:,.0f}/s), raw paho received {raw_count:,} ({raw_rate:,.0f}/s)",
          flush=True)
    return [Figure(f"heartbeat flood, {args.flood:,} from {args.clusters:,} clusters, stored by {INGEST_WORKERS} "
                   "`flask pa ingest` (raw: one paho subscriber)", ingest_rate, "/s", raw_rate,
                   f"≥ {GOAL_INGEST_RATIO}×", ingest_rate / raw_rate >= GOAL_INGEST_RATIO and stored == args.flood)]


def wait_ingest_connected(engine, processes: list[subprocess.Popen], timeout_s: float = 60) -> None:
    """Wait until every ingest process has beaten with its link up."""
    deadline = time.monotonic() + timeout_s
    names = [f"ingest.{n}" for n in range(1, len(processes) + 1)]
    query = text("SELECT count(*) FROM service_beat WHERE mqtt_connected AND name IN :names").bindparams(
        bindparam("names", expanding=True))
    while True:
        with engine.connect() as conn:
            if conn.execute(query, {"names": names}).scalar() == len(names):
                return
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            raise RuntimeError(f"the ingest processes did not connect within {timeout_s:.0f} s")
        time.sleep(0.5)


def stored_beats(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT coalesce(sum(beats), 0) FROM telemetry_bucket")).scalar()


def wait_beats(engine, before: int, expected: int) -> tuple[float, int]:
    """Poll the stored heartbeats until `expected` more are stored or none more for heartbeats.IDLE_S; return the
    time the last count changed and the count."""
    began = last_at = time.monotonic()
    last = 0
    while last < expected:
        time.sleep(0.2)
        now, count = time.monotonic(), stored_beats(engine) - before
        if count != last:
            last_at, last = now, count
        elif now - last_at > heartbeats.IDLE_S and (last or now - began > FIRST_STORED_WITHIN_S):
            break  # on a loaded machine the first batch is committed tens of seconds after the flood began
    return last_at, last


def view_figures(app, clusters: int, requests: int, backend: str) -> list[Figure]:
    """Time the views on the database the fan-out left, as its administrator (every ward)."""
    client = app.test_client()
    client.post("/login", data={"username": "bench", "password": ADMIN_PASSWORD})
    figures = []
    with app.app_context():
        from pa_controller.extensions import db  # noqa: PLC0415 - the bench's own app's session

        for label, path, raw_sql in CASES:
            if label not in VIEW_CASES:
                continue
            answer = get(client, path)()
            if answer.status_code != 200:
                raise RuntimeError(f"{path} answered {answer.status_code}")
            server, worst, _ = timed(get(client, path), requests)
            raw = None
            if raw_sql:
                raw, _, _ = timed(lambda sql=raw_sql: db.session.connection().exec_driver_sql(sql).fetchall(),
                                  requests)
                db.session.rollback()
            print(f"{label:28} {server * 1000:8.1f} ms (worst {worst * 1000:.1f}; raw SQL "
                  f"{'—' if raw is None else f'{raw * 1000:.1f} ms'})", flush=True)
            figures.append(Figure(f"{label} at {clusters:,} clusters heard from, {backend}, median of "
                                  f"{requests}", server * 1000, "ms", raw * 1000 if raw else None,
                                  f"< {GOAL_VIEW_MS} ms", server * 1000 < GOAL_VIEW_MS))
        db.engine.dispose()
    return figures


# ----- part 2: 100,000 clusters on one broker


class Answers(queue.Queue):
    """What the counting subscriber says: "ready", then the time of the last answer (or why there is none)."""

    send = queue.Queue.put

    def get(self, timeout: float):
        try:
            return super().get(timeout=timeout)
        except queue.Empty:
            return None


def counter(urls: list[str], root: str, expected: list[str], channel) -> None:
    """Count the `received` of every command id in `expected`, on every broker (QoS 0: the counting is not the
    figure); send the monotonic time of the last."""
    pending = set(expected)
    done = threading.Event()
    lock = threading.Lock()
    subscribed = []

    def on_message(client, userdata, message):
        try:
            cmd_id = json.loads(message.payload)["cmd_id"]
        except (ValueError, KeyError):
            return
        with lock:
            pending.discard(cmd_id)
            if not pending and not done.is_set():
                channel.send(time.monotonic())
                done.set()

    def on_subscribe(*_):
        with lock:
            subscribed.append(1)
            if len(subscribed) == len(urls):
                channel.send("ready")

    clients = []
    for url in urls:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.on_message = on_message
        client.on_subscribe = on_subscribe
        connect_raw(client, url)
        client.subscribe(protocol.wildcard(root, protocol.EVENTS), qos=0)
        client.loop_start()
        clients.append(client)
    if not done.wait(TIMEOUT_S):
        channel.send(f"{len(pending)} of {len(expected)} commands never answered")
    for client in clients:
        client.disconnect()
        client.loop_stop()


def signed_commands(cids: list[str], key: SigningKey) -> list[tuple[str, str, bytes]]:
    """One set_volume per cluster, as the controller would sign it (fresh ids), off the clock."""
    now = clock.now()
    commands = []
    for cid in cids:
        command = sign_command(new_command(cid, CommandType.SET_VOLUME, now, now + timedelta(minutes=30), volume=70),
                               key)
        commands.append((command["id"], cid, protocol.encode(command)))
    return commands


def time_big_fanout(brokers: list, home: dict[str, int], commands: list[tuple[str, str, bytes]], root: str) -> float:
    """Seconds from the first publish (each command to its cluster's broker, `home`) until a subscriber has every
    command's `received`."""
    answers = Answers()
    count = threading.Thread(target=counter, args=([b.tester() for b in brokers], root, [c[0] for c in commands],
                                                   answers), daemon=True)  # a thread: a spawned process took
    count.start()  # over a minute to import on a loaded machine, and its paho threads do the work either way
    if answers.get(120) != "ready":
        raise RuntimeError("the counting subscriber did not subscribe")
    publishers = []
    for broker in brokers:
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        publisher.max_inflight_messages_set(100)
        connect_raw(publisher, broker.tester())
        publisher.loop_start()
        publishers.append(publisher)
    time.sleep(0.5)
    properties = Properties(PacketTypes.PUBLISH)
    properties.MessageExpiryInterval = 1800
    started = time.monotonic()
    for _, cid, payload in commands:
        publishers[home[cid]].publish(protocol.topic(root, cid, protocol.CMD), payload, qos=1, properties=properties)
    published = time.monotonic()
    answer = answers.get(TIMEOUT_S + 30) or "no answer from the counting subscriber"
    for publisher in publishers:
        publisher.disconnect()
        publisher.loop_stop()
    count.join(30)
    if not isinstance(answer, float):
        raise RuntimeError(f"fan-out to {len(commands):,}: {answer}")
    print(f"  published {len(commands):,} in {published - started:.1f} s; every `received` after "
          f"{answer - started:.1f} s", flush=True)
    return answer - started


class BigFleet:
    """--big clusters in --shards groups, shard k simulated (or bare) by one process from its own loopback
    address, on broker k % --brokers: a process may hold only as many sockets as its open-files limit."""

    def __init__(self, args, cids: list[str]):
        self.shards, self.brokers = args.shards, args.brokers
        self.groups = [cids[k::args.shards] for k in range(args.shards)]
        self.home = {cid: k % args.brokers for k, group in enumerate(self.groups) for cid in group}
        self.accounts = [[cid for cid in cids if self.home[cid] == b] for b in range(args.brokers)]

    @contextmanager
    def running_brokers(self, workdir: Path):
        with ExitStack() as stack:
            yield [stack.enter_context(running_broker(workdir / f"broker-{b}", accounts,
                                                      max_connections=len(accounts) + SPARE_FDS))
                   for b, accounts in enumerate(self.accounts)]


def check_capacity(args) -> None:
    """Refuse at once a split this machine's open-files limit cannot hold, saying where it stops."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    per_shard, per_broker = -(-args.big // args.shards), -(-args.big // args.brokers)
    for what, count in (("simulator process", per_shard), ("broker", per_broker)):
        if hard != resource.RLIM_INFINITY and count + SPARE_FDS > hard:
            raise RuntimeError(f"{args.big:,} clusters: a {what} would hold {count:,} connections, but this machine's "
                               f"hard open-files limit is {hard:,} (raising it needs CAP_SYS_RESOURCE): use more "
                               f"--shards / --brokers")


def part_100k(args) -> list[Figure]:
    check_capacity(args)
    csv_text = fleet_csv(args.big)
    cids = [line.split(",", 1)[0] for line in csv_text.splitlines()[1:]]
    big = BigFleet(args, cids)
    root = protocol.DEFAULT_ROOT
    key = SigningKey.generate()
    with tempfile.TemporaryDirectory(prefix="bench-province-100k-") as tmp:
        workdir = Path(tmp)
        (workdir / "fleet.csv").write_text(csv_text, encoding="utf-8")
        (workdir / "keys.json").write_text(json.dumps([anchor_entry(key)]))
        sim = big_simulated(args, big, workdir, cids, key, root)
        bare = big_bare(args, big, workdir, cids, key, root)
    n, on = f"{args.big:,}", f"{args.shards} processes and addresses, {args.brokers} brokers"
    return [
        Figure(f"{n} clusters online from {on} (raw: bare paho clients)", sim["connect_s"], "s", bare["connect_s"]),
        Figure(f"{n} clusters online: memory of the {args.shards} simulator processes (raw: bare)",
               sum(sim["rss"]), "MB", sum(bare["rss"])),
        Figure(f"{n} clusters online: memory of the {args.brokers} Mosquitto (simulated fleet; raw: bare fleet)",
               sum(sim["broker_mb"]), "MB", sum(bare["broker_mb"])),
        Figure(f"fan-out of one command to each of {n} clusters' cmd topic, every `received` back (raw: bare)",
               sim["fanout_s"], "s", bare["fanout_s"]),
    ]


def big_simulated(args, big: BigFleet, workdir: Path, cids: list[str], key: SigningKey, root: str) -> dict:
    addresses = [f"127.0.0.{k + 2}" for k in range(args.shards)]
    print(f"\n{args.big:,} simulated clusters: {args.shards} processes from {addresses[0]}…{addresses[-1]}, "
          f"{args.brokers} brokers", flush=True)
    started = time.perf_counter()
    with big.running_brokers(workdir / "sim") as brokers, scratch_state("province-100k") as state:
        print(f"  brokers with {len(cids):,} accounts up in {time.perf_counter() - started:.1f} s", flush=True)
        options = [simulator_options(broker, workdir / "fleet.csv", args.big, workdir / "keys.json",
                                     workdir / "truth.jsonl") for broker in brokers]
        extra = ["--heartbeat-s", str(BIG_HEARTBEAT_S), "--keepalive", str(BIG_HEARTBEAT_S)]
        shards = Shards(args.shards, [options[k % args.brokers] + extra for k in range(args.shards)], addresses, state)
        try:
            figures = {"connect_s": shards.wait_connected(TIMEOUT_S)}
            time.sleep(2)
            figures |= {"rss": shards.rss_mb(), "broker_mb": [rss_mb(b.process.pid) for b in brokers]}
            print(f"  online in {figures['connect_s']:.1f} s; simulators {sum(figures['rss']):,.0f} MB "
                  f"({', '.join(f'{m:.0f}' for m in figures['rss'])}), Mosquitto {sum(figures['broker_mb']):,.0f} MB "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
            figures["fanout_s"] = time_big_fanout(brokers, big.home, signed_commands(cids, key), root)
        finally:
            shards.stop()
    return figures


def big_bare(args, big: BigFleet, workdir: Path, cids: list[str], key: SigningKey, root: str) -> dict:
    addresses = [f"127.0.1.{k + 2}" for k in range(args.shards)]
    print(f"\n{args.big:,} bare paho clients: {args.shards} processes from {addresses[0]}…{addresses[-1]}, "
          f"{args.brokers} brokers", flush=True)
    with big.running_brokers(workdir / "bare") as brokers:
        for k, group in enumerate(big.groups):
            (workdir / f"bare-{k}.txt").write_text("\n".join(group) + "\n")
        for broker in brokers:
            broker.credentials_file  # noqa: B018 - written before the clock starts
        began = time.monotonic()
        processes = [subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "bare_fleet.py"), "--broker", brokers[k % args.brokers].url,
             "--credentials", str(brokers[k % args.brokers].credentials_file), "--cids", str(workdir / f"bare-{k}.txt"),
             "--bind-address", address, "--keepalive", str(BIG_HEARTBEAT_S), "--window", str(BARE_WINDOW),
             "--answer"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for k, address in enumerate(addresses)]
        try:
            reports = [json.loads(process.stdout.readline() or "null") for process in processes]
            if None in reports or sum(r["subscribed"] for r in reports) < len(cids):
                raise RuntimeError(f"bare clients: {reports}")
            figures = {"connect_s": time.monotonic() - began, "rss": [rss_mb(p.pid) for p in processes]}
            time.sleep(2)
            figures["broker_mb"] = [rss_mb(b.process.pid) for b in brokers]
            each = ", ".join(f"{report['seconds']:.1f}" for report in reports)
            print(f"  online in {figures['connect_s']:.1f} s (each process {each} s); bare "
                  f"{sum(figures['rss']):,.0f} MB, Mosquitto {sum(figures['broker_mb']):,.0f} MB "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
            figures["fanout_s"] = time_big_fanout(brokers, big.home, signed_commands(cids, key), root)
        finally:
            for broker in brokers:
                broker.stop()  # before the clients: the broker's side takes the TIME_WAITs
            for process in processes:
                process.stdin.close()  # the shard's signal to stop
            for process in processes:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=10_000, help="part 1: clusters through the controller")
    parser.add_argument("--rounds", type=int, default=2, help="part 1: fan-out rounds (the median is shown); 0: no "
                        "fan-out and no simulated fleet (the flood makes every cluster heard from for the views)")
    parser.add_argument("--requests", type=int, default=5, help="part 1: requests per view (the median is shown)")
    parser.add_argument("--flood", type=int, default=100_000, help="part 1: heartbeats in the flood")
    parser.add_argument("--shards-10k", type=int, default=2, help="part 1: simulator processes")
    parser.add_argument("--big", type=int, default=100_000, help="part 2: clusters on one broker")
    parser.add_argument("--shards", type=int, default=6, help="part 2: simulator (and bare) processes, one "
                        "loopback address each")
    parser.add_argument("--brokers", type=int, default=6, help="part 2: Mosquitto processes, the clusters split "
                        "among them by shard (one holds as many connections as its open-files limit)")
    parser.add_argument("--skip-10k", action="store_true", help="leave part 1 out")
    parser.add_argument("--skip-100k", action="store_true", help="leave part 2 out")
    add_postgres_option(parser)
    parser.add_argument("--sqlite", action="store_true", help="part 1 on SQLite (the heartbeat flood left out)")
    parser.set_defaults(postgres=POSTGRES)  # a province runs on PostgreSQL (docs/operations.md)
    args = parser.parse_args()
    if args.sqlite:
        args.postgres = None
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    raise_open_files(resource.getrlimit(resource.RLIMIT_NOFILE)[1])  # the brokers and simulators inherit it
    began = time.monotonic()
    failed = False
    if not args.skip_10k:
        try:
            with database_for(args) as url:
                figures = part_10k(args, url)
            flood = any("ingest" in f.name for f in figures)
            note = "" if flood else "heartbeat flood with ingest workers not measured"
            failed |= report("province", figures, note)
        except RuntimeError as exc:
            print(f"\n{args.clusters:,}-cluster part stopped: {exc}", flush=True)
            report("province", [], f"FAILED: {exc}")
            failed = True
    if not args.skip_100k:
        try:
            failed |= report("province_100k", part_100k(args))
        except RuntimeError as exc:  # this machine's limits: say where it stopped
            print(f"\n{args.big:,}-cluster part stopped: {exc}", flush=True)
            report("province_100k", [], f"FAILED: {exc}")
            failed = True
    print(f"\nprovince rehearsal in {(time.monotonic() - began) / 60:.1f} min; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 1 if failed else 0


def report(name: str, figures: list[Figure], note: str = "") -> bool:
    """Print and record one part's figures; return whether a goal was missed."""
    for figure in figures:
        ratio = f"{figure.ratio:.2f}×" if figure.ratio else "—"
        met = {True: "met", False: "NOT met", None: ""}[figure.met]
        print(f"  {figure.name}: {figure.value:,.2f} {figure.unit} (raw {figure.baseline or 0:,.2f}; {ratio}) "
              f"{figure.goal} {met}")
    record(name, figures, note=note)
    return any(figure.met is False for figure in figures)

if __name__ == "__main__":
    sys.exit(main())
