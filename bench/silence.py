"""Time to silence: stop-all to every playing cluster's `cancelled` stored, beside a raw paho stop loop.

Run from the repository root:  .venv/bin/python bench/silence.py [--rounds 3] [--postgres URL]

Each round plays a long emergency clip on all 456 simulated clusters twice:
- controller: silence.stop_all() commits 456 `stop` commands as the web process would; the commit wakes the
  worker's outbox publisher (services/outbox_wake.py: NOTIFY on PostgreSQL, a datagram on SQLite); timed until
  the database holds `cancelled` for every delivery of the run.
- raw paho: one paho client publishes 456 `stop` commands; a subscriber counts the 456 `cancelled` events.
The simulated clusters keep the ids they accept on disk, as a cluster does (docs/protocol.md, "Replay rules").
The ratio is controller / raw (medians). Goal of issue 16: under 0.5 s for 456 clusters, and at most 1.5 x raw.
"""

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from fanout import add_postgres_option, bench_keys, build_app, database_for  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

import audio  # noqa: E402
import pa_protocol as protocol  # noqa: E402
from bench.results import Figure, record  # noqa: E402
from firmware_sim import Fleet, load_csv  # noqa: E402
from pa_controller import clock  # noqa: E402
from pa_controller.extensions import db  # noqa: E402
from pa_controller.models import Audio, Delivery, User  # noqa: E402
from pa_controller.scheduling import jobs  # noqa: E402
from pa_controller.scheduling.worker import Worker  # noqa: E402
from pa_controller.services import broadcasts, commands, fleet, silence  # noqa: E402
from pa_controller.settings import of as settings_of  # noqa: E402
from pa_protocol import CommandType, DeliveryState  # noqa: E402
from pa_protocol.signing import sign_command  # noqa: E402
from tests.support.broker import connect_raw, free_port, running_broker  # noqa: E402
from tests.support.settings import use_settings  # noqa: E402

CLUSTERS = 456
GOAL_MS, GOAL_RATIO = 500, 1.5  # issue 16: under 0.5 s and at most 1.5 × the raw paho loop


def add_clip(app, workdir: Path) -> int:
    source = workdir / "long.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=120", str(source)], check=True)
    with app.app_context():
        prepared = audio.prepare(source, settings_of(app).media_dir)
        clip = Audio(sha256=prepared.sha256, title="long", original_name="long.wav", bytes=prepared.bytes,
                     duration_ms=prepared.duration_ms, loudness_lufs=prepared.loudness_lufs, created_at=clock.now())
        db.session.add(clip)
        db.session.commit()
        return clip.id


def play_everywhere(worker, clip_id: int) -> int:
    """Dispatch an emergency to all and wait until every cluster plays it; return the run id."""
    app = worker.app
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "bench"))
        broadcast, _ = broadcasts.create_broadcast(admin, {
            "title": "bench", "audio_id": clip_id, "priority": "emergency", "targets": {"all": True},
            "start_at": "now"})
        run_id = broadcast.runs[0].id
    jobs.dispatch_run(worker, run_id)
    wait_for_state(app, run_id, DeliveryState.PLAYING, timeout_s=30)
    return run_id


def wait_for_state(app, run_id: int, state: DeliveryState, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with app.app_context():
        query = select(func.count()).select_from(Delivery).where(Delivery.run_id == run_id, Delivery.state == state)
        while db.session.scalar(query) < CLUSTERS:
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run_id}: not every cluster reached {state.value} in {timeout_s} s")
            db.session.rollback()
            time.sleep(0.01)
        db.session.remove()


def time_controller(app, run_id: int) -> float:
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "bench"))
        started = time.perf_counter()
        silence.stop_all(admin, "bench")
    wait_for_state(app, run_id, DeliveryState.CANCELLED, timeout_s=30)
    return time.perf_counter() - started


def time_raw(app, broker, run_id: int) -> float:
    root = settings_of(app).mqtt_root
    _, key = bench_keys(app)
    with app.app_context():
        now = clock.now()
        stops = [sign_command(commands.new_command(c.id, CommandType.STOP, now, now + timedelta(seconds=60)), key)
                 for c in fleet.active_clusters()]
    pending, done, lock = {c["cid"] for c in stops}, threading.Event(), threading.Lock()

    def on_event(client, userdata, message):
        cid = message.topic.split("/")[3]
        event = protocol.decode(protocol.EVENTS, cid, message.payload)
        if event["state"] == "cancelled" and event.get("run_id") == str(run_id):
            with lock:
                pending.discard(cid)
                if not pending:
                    done.set()

    clients = [mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5) for _ in range(2)]
    subscriber, publisher = clients
    subscriber.message_callback_add(protocol.wildcard(root, protocol.EVENTS), on_event)
    for client in clients:
        connect_raw(client, broker.tester())
        client.loop_start()
    subscriber.subscribe(protocol.wildcard(root, protocol.EVENTS), qos=1)
    time.sleep(0.5)
    started = time.perf_counter()
    for stop in stops:
        publisher.publish(protocol.topic(root, stop["cid"], protocol.CMD), protocol.encode(stop), qos=1)
    if not done.wait(30):
        raise RuntimeError(f"raw loop: {len(pending)} clusters never reported cancelled")
    elapsed = time.perf_counter() - started
    for client in clients:
        client.disconnect()
        client.loop_stop()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    add_postgres_option(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with database_for(args) as url:
        return measure(args, url)


def measure(args, database_url: str | None) -> int:
    with tempfile.TemporaryDirectory() as tmp, running_broker(Path(tmp)) as broker:
        port = free_port()
        app = build_app(Path(tmp), broker.controller_url, database_url)
        use_settings(app, public_url=f"http://127.0.0.1:{port}")
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        clip_id = add_clip(app, Path(tmp))
        worker = Worker(app, plan_interval_s=3600)
        worker.start()
        controller, raw = [], []
        with Fleet(load_csv(limit=CLUSTERS), broker.url, truth_path=Path(tmp) / "truth.jsonl", connect_rate=0,
                   credentials=broker.passwords, keys=bench_keys(app)[0], state_dir=Path(tmp) / "state") as sim:
            sim.wait_connected(timeout=60)
            worker.link.connected.wait(10)
            for round_no in range(1, args.rounds + 1):
                controller.append(time_controller(app, play_everywhere(worker, clip_id)))
                raw.append(time_raw(app, broker, play_everywhere(worker, clip_id)))
                print(f"round {round_no}: controller {controller[-1] * 1000:7.1f} ms   "
                      f"raw paho {raw[-1] * 1000:7.1f} ms", flush=True)
        worker.stop()
        server.shutdown()
    c, r = statistics.median(controller), statistics.median(raw)
    backend = "PostgreSQL" if database_url else "SQLite"
    print(f"\ntime to silence, {CLUSTERS} clusters, {backend}, median of {args.rounds}: controller {c * 1000:.1f} ms, "
          f"raw paho {r * 1000:.1f} ms, ratio {c / r:.2f}x (goal: controller < 500 ms and <= 1.5x raw)")
    figure = f"stop-all to {CLUSTERS} `cancelled` stored, {backend} (median of {args.rounds})"
    record("silence", [Figure(figure, c * 1000, "ms", r * 1000, "≤ 500 ms and ≤ 1.5×",
                              c * 1000 <= GOAL_MS and c / r <= GOAL_RATIO)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
