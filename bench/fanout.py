"""Fan-out: from the dispatch trigger to every cluster's `received` stored, beside a raw paho loop.

Run from the repository root:  .venv/bin/python bench/fanout.py [--clusters 456] [--rounds 5] [--postgres URL]

Both sides talk to the same private Mosquitto and the same simulated fleet (firmware_sim):
- controller: dispatch_run() writes 456 deliveries and outbox rows in one transaction; the outbox
  publisher sends them (QoS 1, message expiry); the fleet answers `received`; the inbox stores them.
  Timed until the database holds a non-pending state for every delivery.
- raw: one paho client publishes the same 456 commands (QoS 1, message expiry), signed beforehand, in a loop,
  and a paho subscriber on the events topic counts the 456 `received` answers. No database, no signing on the
  clock: the controller's side signs each command as it publishes it.
The ratio is controller / raw (medians over the rounds).
"""

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

import pa_protocol as protocol  # noqa: E402
from bench.results import Figure, record  # noqa: E402
from firmware_sim import Fleet, load_csv  # noqa: E402
from pa_controller import clock, create_app  # noqa: E402
from pa_controller.domain import Role  # noqa: E402
from pa_controller.extensions import db  # noqa: E402
from pa_controller.models import Audio, Delivery, OutboxMessage  # noqa: E402
from pa_controller.scheduling import jobs  # noqa: E402
from pa_controller.scheduling.worker import Worker  # noqa: E402
from pa_controller.services import broadcasts, command_keys, fleet, people  # noqa: E402
from pa_controller.settings import Settings  # noqa: E402
from pa_controller.settings import of as settings_of  # noqa: E402
from pa_protocol import DeliveryState  # noqa: E402
from pa_protocol.signing import SigningKey, sign_command  # noqa: E402
from tests.support.broker import connect_raw, running_broker  # noqa: E402

log = logging.getLogger("bench.fanout")
FLEET_CSV = ROOT / "pa_controller" / "data" / "o-mon-fleet.csv"
STORED_TIMEOUT_S = 60
GOAL_RATIO = 1.5


def bench_config(workdir: Path, database_url: str | None) -> Settings:
    """The production configuration on a throwaway instance dir and database (SQLite in `workdir` unless
    `database_url`), as a fresh shell gives it, and without the district's default quiet hours (21:30–05:00):
    a bench measures speed, so it runs the same at any hour and whatever PA_* the tester's shell exports."""
    settings = Settings.from_env({"PA_INSTANCE_DIR": str(workdir / "instance"), "PA_QUIET_HOURS": ""})
    return replace(settings, database_url=database_url or f"sqlite:///{workdir / 'bench.db'}")


def build_app(workdir: Path, broker_url: str, database_url: str | None, fleet_text: str | None = None):
    """The controller on bench_config's database, migrated, holding a fleet (by default Ô Môn's), a bench
    administrator and a command key; the other benches use it too."""
    app = create_app(replace(bench_config(workdir, database_url), mqtt_url=broker_url))
    with app.app_context():
        upgrade()
        fleet.import_csv(fleet_text or FLEET_CSV.read_text(encoding="utf-8"))
        people.create_user("bench", "bench-password-long", Role.ADMIN)
        command_keys.init(command_keys.KeyFiles(settings_of(app).key_dir))
    return app


def bench_keys(app) -> tuple[list[dict], SigningKey]:
    """The controller's key list, to provision a bench's fleet with, and its current key, to sign the raw side's
    commands with (the clusters verify both sides alike)."""
    with app.app_context():
        entries, kid = command_keys.published(), command_keys.current_key().kid
    return entries, command_keys.KeyFiles(settings_of(app).key_dir).read(kid)


def schedule(app, clusters: int, round_no: int) -> int:
    """Create a broadcast far enough ahead that nothing plays while we measure; return its run id.

    Each round's starts a minute after the one before: two runs of one priority overlapping on a cluster are
    refused (409), and a quick round on few clusters took less than the clip's second.
    """
    with app.app_context():
        admin = db.session.scalar(select(people.User).where(people.User.username == "bench"))
        clip = Audio(sha256="0" * 64, title="bench", original_name="bench.mp3", bytes=1000, duration_ms=1000,
                     loudness_lufs=-16.0, created_at=clock.now())
        db.session.add(clip)
        db.session.commit()
        ids = [c.id for c in fleet.active_clusters()][:clusters]
        start = protocol.format_time(clock.now() + timedelta(minutes=30 + round_no))
        broadcast, _ = broadcasts.create_broadcast(admin, {
            "title": "bench", "audio_id": clip.id, "priority": "normal", "targets": {"clusters": ids},
            "start_at": start})
        run = broadcast.runs[0]
        run.dispatch_at = clock.now()  # due now: dispatch_run leaves a run alone before its dispatch time
        db.session.commit()
        return run.id


def time_controller(worker, run_id: int, expected: int) -> float:
    """Seconds from dispatch_run() to every delivery of the run stored past `pending`."""
    started = time.perf_counter()
    jobs.dispatch_run(worker, run_id)
    with worker.app.app_context():
        query = select(func.count()).select_from(Delivery).where(
            Delivery.run_id == run_id, Delivery.state != DeliveryState.PENDING)
        while (stored := db.session.scalar(query)) < expected:
            if time.perf_counter() - started > STORED_TIMEOUT_S:
                raise RuntimeError(f"only {stored} of {expected} deliveries stored past pending after "
                                   f"{STORED_TIMEOUT_S} s")
            db.session.rollback()
            time.sleep(0.01)
        db.session.remove()
    return time.perf_counter() - started


def time_raw(broker, commands: list[tuple[str, str, bytes]], root: str) -> float:
    """Seconds for a bare paho publish loop to get a `received` back for every command."""
    pending = {cmd_id for cmd_id, _, _ in commands}
    done = threading.Event()
    lock = threading.Lock()

    def on_event(client, userdata, message):
        cmd_id = protocol.decode(protocol.EVENTS, message.topic.split("/")[3], message.payload)["cmd_id"]
        with lock:
            pending.discard(cmd_id)
            if not pending:
                done.set()

    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    subscriber.message_callback_add(protocol.wildcard(root, protocol.EVENTS), on_event)
    connect_raw(subscriber, broker.tester())
    subscriber.subscribe(protocol.wildcard(root, protocol.EVENTS), qos=1)
    subscriber.loop_start()
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.max_inflight_messages_set(100)
    connect_raw(publisher, broker.tester())
    publisher.loop_start()
    time.sleep(0.5)  # both sessions up and subscribed before the clock starts
    started = time.perf_counter()
    for _, cid, payload in commands:
        properties = Properties(PacketTypes.PUBLISH)
        properties.MessageExpiryInterval = 1800
        publisher.publish(protocol.topic(root, cid, protocol.CMD), payload, qos=1, properties=properties)
    if not done.wait(60):
        raise RuntimeError(f"raw loop: {len(pending)} commands never answered")
    elapsed = time.perf_counter() - started
    for client in (publisher, subscriber):
        client.disconnect()
        client.loop_stop()
    return elapsed


def fresh_commands(app, run_id: int) -> list[tuple[str, str, bytes]]:
    """The controller's own commands for a run, re-issued with new ids (so the fleet does not dedupe them) and
    signed, before the clock starts."""
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage.payload).where(OutboxMessage.topic.like("%/cmd"))).all()
    _, key = bench_keys(app)
    commands = []
    for raw in rows:
        command = json.loads(raw)
        if command.get("run_id") != str(run_id):
            continue
        command["id"] = str(uuid.uuid4())
        commands.append((command["id"], command["cid"], protocol.encode(sign_command(command, key))))
    return commands


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=456)
    parser.add_argument("--rounds", type=int, default=5)
    add_postgres_option(parser)
    args = parser.parse_args()
    with database_for(args) as url:
        return measure(args, url)


def add_postgres_option(parser: argparse.ArgumentParser) -> None:
    """--postgres URL: run on a throwaway database of that server instead of SQLite (see database_for)."""
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to make a throwaway database on "
                        "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres); default: SQLite")


def database_for(args):
    """A context giving the throwaway PostgreSQL database's URL for --postgres, or None (SQLite)."""
    return throwaway_database(args.postgres) if args.postgres else nullcontext(None)


@contextmanager
def throwaway_database(server_url: str):
    """A fresh PostgreSQL database for one bench run, dropped afterwards (the other benches use it too)."""
    name = f"loanet_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(args, database_url: str | None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp, running_broker(Path(tmp)) as broker:
        app = build_app(Path(tmp), broker.controller_url, database_url)
        worker = Worker(app, plan_interval_s=3600)  # dispatch is triggered by hand below
        worker.start()
        specs = load_csv(limit=args.clusters)
        controller, raw = [], []
        with Fleet(specs, broker.url, truth_path=Path(tmp) / "truth.jsonl", heartbeat_s=30, connect_rate=0,
                   credentials=broker.passwords, keys=bench_keys(app)[0]) as sim:
            sim.wait_connected(timeout=60)
            worker.link.connected.wait(10)
            for round_no in range(1, args.rounds + 1):
                run_id = schedule(app, args.clusters, round_no)
                controller.append(time_controller(worker, run_id, args.clusters))
                raw.append(time_raw(broker, fresh_commands(app, run_id), settings_of(app).mqtt_root))
                ms = controller[-1] * 1000, raw[-1] * 1000
                print(f"round {round_no}: controller {ms[0]:7.1f} ms   raw paho {ms[1]:7.1f} ms", flush=True)
        worker.stop()
    c, r = statistics.median(controller), statistics.median(raw)
    backend = "PostgreSQL" if database_url else "SQLite"
    print(f"\n{args.clusters} clusters, {backend}, median of {args.rounds}: controller {c * 1000:.1f} ms, "
          f"raw paho {r * 1000:.1f} ms, ratio {c / r:.2f}x (goal <= 1.5x)")
    record("fanout", [Figure(f"dispatch to {args.clusters} `received` stored, {backend} (median of {args.rounds})",
                             c * 1000, "ms", r * 1000, "≤ 1.5×", c / r <= GOAL_RATIO)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
