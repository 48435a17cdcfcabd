"""Heartbeat ingest: heartbeats from 10,000 clusters stored with their history, beside a raw paho subscriber.

Run from the repository root:
  .venv/bin/python bench/heartbeats.py [--clusters 10000] [--count 100000] [--rate 0] [--postgres URL]
                                       [--without-watch] [--writer-only] [--stages] [--profile FILE]
                                       [--max-batch N]

One private Mosquitto. A publisher process sends `--count` heartbeats (QoS 0, the firmware's payload) on the
topics of `--clusters` cluster ids, round robin, unpaced (or `--rate` per second). Two subscribers take the
same stream at the same time, each in its own process:
- controller: the worker as `flask pa scheduler` builds it (MqttLink, Inbox, ingest.APPLY_IN_ORDER, outbox,
  scheduler) on a database holding the 10,000 clusters. Every heartbeat updates the cluster's ClusterState and
  is stored as a HeartbeatSample and in its five-minute TelemetryBucket. Timed from the first publish until
  the inbox has committed the last heartbeat; the rows are counted afterwards.
- raw: a bare paho subscriber on the heartbeat wildcard that counts messages. No decoding, no database.
The ratio is controller heartbeats/s / raw messages/s. Goal: >= 5,000/s and >= 0.7 of raw.
--stages times the inbox writer's stages; --profile writes a cProfile of the writer thread (pstats file);
--without-watch pauses the worker's fleet-watch job, which shares the controller's process and GIL.
--writer-only leaves MQTT out: it decodes the heartbeats into an Inbox, then times its writer (flush) alone.
"""

import argparse
import cProfile
import logging
import multiprocessing
import os
import pstats
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from fanout import add_postgres_option, build_app, database_for  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

import pa_protocol as protocol  # noqa: E402
from bench.results import Figure, record  # noqa: E402
from pa_controller.extensions import db  # noqa: E402
from pa_controller.messaging.inbox import Inbox  # noqa: E402
from pa_controller.models import HeartbeatSample, TelemetryBucket  # noqa: E402
from pa_controller.scheduling import jobs  # noqa: E402
from pa_controller.scheduling.worker import Worker  # noqa: E402
from pa_controller.services import fleet, ingest, telemetry  # noqa: E402
from pa_controller.services.report_writer import ReportWriter  # noqa: E402
from pa_controller.settings import of as settings_of  # noqa: E402
from tests.support.broker import connect_raw, running_broker  # noqa: E402

log = logging.getLogger("bench.heartbeats")
IDLE_S = 10.0  # a side that has received nothing new for this long is done (QoS 0 may drop)


def fleet_csv(clusters: int) -> str:
    """A registry of `clusters` made-up clusters (the ids firmware_sim.synthesize uses) in 20 wards."""
    lines = [",".join(fleet.COLUMNS)]
    for n in range(1, clusters + 1):
        ward = n % 20
        lines.append(f"sim-{n:06d},Cụm {n},sim-ward-{ward:02d},Phường {ward},10.1{n % 1000:03d},105.6{n % 997:03d},2")
    return "\n".join(lines) + "\n"


def client_for(broker_url: str, client_id: str = "") -> mqtt.Client:
    """A raw client with the login `broker_url` carries (one with every right: it publishes for every cluster)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    connect_raw(client, broker_url, keepalive=60)
    return client


# ----- the other processes (spawned: neither shares the controller's GIL)


def heartbeats(clusters: int, count: int, seed: int = 1) -> list[tuple[str, bytes]]:
    """The firmware's heartbeat payloads, round robin over the clusters, with plausible measurements."""
    rng = random.Random(seed)
    boot = {n: uuid.uuid4().hex[:12] for n in range(1, clusters + 1)}
    at = protocol.format_time(datetime.now(UTC))
    messages = []
    for i in range(count):
        n = i % clusters + 1
        cid = f"sim-{n:06d}"
        payload = {
            "v": 1, "cid": cid, "at": at, "boot_id": boot[n], "seq": i // clusters + 1,
            "uptime_s": 3600 + 30 * (i // clusters), "state": "idle", "playing": None, "armed": [],
            "volume": 80, "rssi_dbm": round(rng.uniform(-105, -60), 1), "temp_c": round(rng.uniform(28, 52), 1),
            "speakers_ok": 2, "speakers_total": 2, "amp_ok": n % 500 != 0, "fw": "1.4.2",  # 20 in 10,000 faulty
        }
        messages.append((protocol.topic(protocol.DEFAULT_ROOT, cid, protocol.HEARTBEAT), protocol.encode(payload)))
    return messages


def publisher(broker_url: str, clusters: int, count: int, rate: float, ready, go, results) -> None:
    messages = heartbeats(clusters, count)
    client = client_for(broker_url, "bench-publisher")
    client.loop_start()
    ready.set()
    go.wait()
    started = time.monotonic()
    info = None
    for i, (topic, payload) in enumerate(messages):
        if rate and i % 100 == 0:
            ahead = started + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        info = client.publish(topic, payload, qos=0)
    info.wait_for_publish(60)
    results.put(("publisher", started, time.monotonic()))
    client.disconnect()
    client.loop_stop()


def raw_subscriber(broker_url: str, expected: int, ready, results) -> None:
    received = 0
    first = last = None
    done = threading.Event()

    def on_message(client, userdata, message):
        nonlocal received, first, last
        last = time.monotonic()
        if first is None:
            first = last
        received += 1
        if received >= expected:
            done.set()

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        ready.set()

    client = client_for(broker_url, "bench-raw")
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.subscribe(protocol.wildcard(protocol.DEFAULT_ROOT, protocol.HEARTBEAT), qos=0)
    cpu = time.process_time()
    client.loop_start()
    seen = -1
    while not done.wait(IDLE_S):
        if received == seen:
            break
        seen = received
    results.put(("raw", first, last, received, time.process_time() - cpu))
    client.disconnect()
    client.loop_stop()


# ----- instruments for the controller's writer thread


class Stages:
    """Wall time spent per stage of the inbox writer (its own thread, so the sums are exclusive)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.batches: list[int] = []

    def timed(self, name: str, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
                self.calls[name] += 1
        return wrapper

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()
        self.batches.clear()

    def install(self, inbox) -> None:
        original_flush, original_commit = inbox.flush, inbox._commit

        def flush(batch):
            self.batches.append(len(batch))
            return original_flush(batch)

        inbox.flush = self.timed("flush (whole batch)", flush)
        inbox._commit = self.timed("apply + commit", original_commit)
        inbox.apply = {kind: self.timed(f"apply_{kind}", apply) for kind, apply in inbox.apply.items()}
        telemetry.record = self.timed("  telemetry.record", telemetry.record)
        db.session.commit = self.timed("  session.commit (ORM flush + COMMIT)", db.session.commit)
        # Not the writer's: the scheduler's fleet watch, which shares the process (and its GIL) with it.
        if watch := getattr(jobs, "fleet_watch", None):
            watch.sweep = self.timed("[scheduler thread] fleet_watch.sweep", watch.sweep)

    def report(self, total_s: float) -> None:
        batches = self.batches
        print(f"\ninbox writer stages ({len(batches)} batches, mean {sum(batches) / max(1, len(batches)):.0f} "
              f"messages, max {max(batches, default=0)}; share of {total_s:.2f} s):")
        for name, seconds in self.seconds.items():
            per_batch = f"{seconds / max(1, len(batches)) * 1000:6.1f} ms/batch"
            if name.startswith("["):
                per_batch = f"{seconds / self.calls[name] * 1000:6.1f} ms/call, {self.calls[name]} calls"
            print(f"  {name:42s} {seconds:7.2f} s  {seconds / total_s:5.0%}  {per_batch}")


class Disconnects(logging.Handler):
    """Count the controller's MQTT disconnections (MqttLink logs each one)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.reasons: list[str] = []
        logging.getLogger("pa_controller.messaging.link").addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("disconnected from the broker"):
            self.reasons.append(record.getMessage().split(": ", 1)[-1])


@contextmanager
def profiled(inbox, path: str | None):
    """Profile the writer thread's flushes (cProfile follows only the thread that enables it)."""
    if not path:
        yield
        return
    profiler = cProfile.Profile()
    original = inbox.flush

    def flush(batch):
        profiler.enable()
        try:
            return original(batch)
        finally:
            profiler.disable()

    inbox.flush = flush
    try:
        yield
    finally:
        profiler.dump_stats(path)
        print(f"\nprofile of the inbox writer written to {path}; top 25 by cumulative time:")
        pstats.Stats(path).sort_stats("cumulative").print_stats(25)


# ----- the run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=10_000)
    parser.add_argument("--count", type=int, default=100_000, help="heartbeats to publish")
    parser.add_argument("--rate", type=float, default=0, help="heartbeats/s to publish at; 0: as fast as possible")
    parser.add_argument("--max-batch", type=int, help="override the inbox's max_batch (default: the Worker's)")
    parser.add_argument("--without-watch", action="store_true",
                        help="pause the worker's fleet-watch job (if any) before publishing: ingest alone")
    parser.add_argument("--writer-only", action="store_true",
                        help="no broker: decode the heartbeats into an inbox, then time its writer alone")
    parser.add_argument("--stages", action="store_true", help="time the inbox writer's stages")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the inbox writer thread")
    add_postgres_option(parser)
    args = parser.parse_args()
    with database_for(args) as url:
        return (measure_writer if args.writer_only else measure)(args, url)


def wait_stored(inbox, expected: int) -> list[tuple[float, int, float]]:
    """Poll the inbox's committed count until it reaches `expected` or stops moving.

    Return (time, count, CPU seconds of this whole process so far) at each change.
    """
    progress = [(time.monotonic(), inbox.applied, time.process_time())]
    while progress[-1][1] < expected:
        time.sleep(0.005)
        now, applied = time.monotonic(), inbox.applied
        if applied != progress[-1][1]:
            progress.append((now, applied, time.process_time()))
        elif now - progress[-1][0] > IDLE_S:
            break
    return progress


def sustained(progress: list[tuple[float, int]], low: float = 0.1, high: float = 0.9) -> float:
    """Heartbeats/s between the moments `low` and `high` of the final count were committed."""
    final = progress[-1][1]
    t_low, n_low = next((t, n) for t, n, _ in progress if n >= low * final)
    t_high, n_high = next((t, n) for t, n, _ in progress if n >= high * final)
    return (n_high - n_low) / (t_high - t_low) if t_high > t_low else float("nan")


def measure(args, database_url: str | None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    backend = "PostgreSQL" if database_url else "SQLite"
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp, running_broker(Path(tmp)) as broker:
        setup = time.perf_counter()
        app = build_app(Path(tmp), broker.controller_url, database_url, fleet_csv(args.clusters))
        print(f"{backend}: {args.clusters:,} clusters imported in {time.perf_counter() - setup:.1f} s", flush=True)
        worker = Worker(app, plan_interval_s=3600)  # the plan and prune jobs run once, at start
        if args.max_batch:
            worker.inbox.max_batch = args.max_batch
        stages = Stages()
        if args.stages:
            stages.install(worker.inbox)
        results = spawn.Queue()
        raw_ready, pub_ready, go = spawn.Event(), spawn.Event(), spawn.Event()
        raw = spawn.Process(target=raw_subscriber, args=(broker.tester(), args.count, raw_ready, results), daemon=True)
        pub = spawn.Process(target=publisher, args=(broker.tester(), args.clusters, args.count, args.rate, pub_ready,
                                                    go, results), daemon=True)
        with profiled(worker.inbox, args.profile):
            worker.start()
            raw.start()
            pub.start()
            if not (worker.link.connected.wait(10) and raw_ready.wait(30) and pub_ready.wait(120)):
                raise RuntimeError("the controller, raw subscriber or publisher did not get ready")
            time.sleep(1.0)  # the controller's SUBACK, and the plan job's first tick, out of the way
            if args.without_watch and worker.scheduler.get_job("watch"):
                worker.scheduler.pause_job("watch")
                time.sleep(5.0)  # the sweep the worker ran at start (about 3 s with 10,000 clusters) ends first
            load = os.getloadavg()[0]
            stages.reset()
            disconnects = Disconnects()
            go.set()
            progress = wait_stored(worker.inbox, args.count)
            lost_session = list(disconnects.reasons)
            outcome = {}
            for _ in range(2):
                name, *values = results.get(timeout=120)
                outcome[name] = values
            raw.join(10)
            pub.join(10)
        worker.stop()
        with app.app_context():
            samples = db.session.scalar(select(func.count()).select_from(HeartbeatSample))
            beats = db.session.scalar(select(func.coalesce(func.sum(TelemetryBucket.beats), 0)))
            buckets = db.session.scalar(select(func.count()).select_from(TelemetryBucket))
            db.session.remove()

    started, published = outcome["publisher"]
    raw_first, raw_last, raw_count, raw_cpu = outcome["raw"]
    stored_at, stored, cpu_end = progress[-1]
    controller_cpu = cpu_end - progress[0][2]
    controller_s, raw_s, pub_s = stored_at - started, raw_last - started, published - started
    controller_rate, raw_rate = stored / controller_s, raw_count / raw_s
    print(f"published {args.count:,} heartbeats from {args.clusters:,} clusters in {pub_s:.2f} s "
          f"({args.count / pub_s:,.0f}/s)")
    print(f"raw paho:   received {raw_count:,} in {raw_s:.2f} s: {raw_rate:,.0f} messages/s "
          f"(CPU {raw_cpu / max(1, raw_count) * 1e6:.0f} µs a message)")
    print(f"controller: committed {stored:,} in {controller_s:.2f} s: {controller_rate:,.0f} heartbeats/s "
          f"(10-90 %: {sustained(progress):,.0f}/s; CPU {controller_cpu / max(1, stored) * 1e6:.0f} µs a heartbeat, "
          f"all threads); stored {samples:,} samples, {beats:,} beats in {buckets:,} buckets; "
          f"rejected {dict(worker.inbox.rejected) or 0}")
    if stored < args.count or raw_count < args.count:
        print(f"LOST (QoS 0): controller {args.count - stored:,}, raw {args.count - raw_count:,}; the controller's "
              f"session dropped {len(lost_session)} time(s) while measuring: {', '.join(lost_session) or '-'}")
    if args.stages:
        stages.report(controller_s)
    print(f"load average (1 min) {load:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs")
    ratio = controller_rate / raw_rate
    verdict = "met" if controller_rate >= 5000 and ratio >= 0.7 and stored == args.count else "NOT met"
    print(f"\n{args.clusters:,} clusters, {args.count:,} heartbeats, {backend}: controller {controller_rate:,.0f}/s, "
          f"raw paho {raw_rate:,.0f}/s, ratio {ratio:.2f} (goal >= 5,000/s and >= 0.7: {verdict})")
    record("heartbeats", [Figure(f"heartbeat flood, {args.count:,} from {args.clusters:,} clusters, {backend}, one "
                                 "worker (raw: a paho subscriber)", controller_rate, "/s", raw_rate,
                                 "≥ 5,000/s and ≥ 0.7×", verdict == "met")])
    return 0


def measure_writer(args, database_url: str | None) -> int:
    """The inbox's two halves apart, in this one thread: decoding (`receive`), then writing (`flush`)."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    backend = "PostgreSQL" if database_url else "SQLite"
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp), "mqtt://127.0.0.1:1", database_url, fleet_csv(args.clusters))
        inbox = Inbox(settings_of(app).mqtt_root, ReportWriter(app, ingest.APPLY_IN_ORDER))
        if args.max_batch:
            inbox.max_batch = args.max_batch
        stages = Stages()
        if args.stages:
            stages.install(inbox)
        messages = heartbeats(args.clusters, args.count)
        load = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        for topic, raw in messages:
            inbox.receive(topic, raw)
        decode_wall, decode_cpu = time.perf_counter() - wall, time.process_time() - cpu
        queued = [inbox._queue.get_nowait() for _ in range(inbox._queue.qsize())]
        with profiled(inbox, args.profile):
            wall, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(queued), inbox.max_batch):
                inbox.flush(queued[start:start + inbox.max_batch])
            write_wall, write_cpu = time.perf_counter() - wall, time.process_time() - cpu
        with app.app_context():
            samples = db.session.scalar(select(func.count()).select_from(HeartbeatSample))
            db.session.remove()
    n = len(messages)
    print(f"{backend}, {args.clusters:,} clusters, {n:,} heartbeats, batches of {inbox.max_batch}, "
          f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after:")
    print(f"  Inbox.receive (decode, validate, queue): {n / decode_wall:8,.0f}/s  "
          f"{decode_cpu / n * 1e6:6.1f} µs CPU each")
    print(f"  Inbox.flush (ingest + telemetry + commit): {n / write_wall:6,.0f}/s  {write_cpu / n * 1e6:6.1f} µs CPU "
          f"each (this process; the PostgreSQL server's work is not in it); applied {inbox.applied:,}, "
          f"{samples:,} samples stored")
    if args.stages:
        stages.report(write_wall)
    return 0


if __name__ == "__main__":
    sys.exit(main())
