"""Start skew across 456 clusters: actual start of sound minus start_at, beside a raw paho publisher.

Run from the repository root:  .venv/bin/python bench/start_skew.py [--rounds 5] [--ahead 15] [--lead 10]
                                   [--fleet process|thread] [--postgres URL]

One private Mosquitto, the controller's web server and Worker in this process (as tests/e2e runs them),
and 456 simulated clusters (firmware_sim) writing a truth log, either as a separate process as
`make run` starts them (--fleet process, the default) or on a thread of this process (--fleet thread).
Each round, on a freshly uploaded clip (so every cluster fetches it again):
- controller: POST /api/v1/audio, then POST /api/v1/broadcasts to all clusters, normal priority,
  start_at = now + --ahead s; the worker's `plan` finds the run, its dispatch job fires at
  start_at - --lead s (PA_DISPATCH_LEAD_S), the outbox publishes 456 `play` commands.
- raw paho: one paho client publishes 456 `play` commands built from the controller's own (new ids,
  run id, clip and start_at) at start_at - --lead s. No scheduler, no database, no outbox.
Skew per cluster = started_at - start_at of its `played` truth record (the simulator's own clock, ms).
The ratio is controller / raw for p95 over all rounds. Goal: controller p95 <= 25 ms on one host.
"""

import argparse
import json
import logging
import math
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
import requests  # noqa: E402
from fanout import add_postgres_option, bench_keys, build_app, database_for  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from sqlalchemy import select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

import pa_protocol as protocol  # noqa: E402
from bench.results import Figure, record  # noqa: E402
from firmware_sim import Fleet, load_csv, read_truth  # noqa: E402
from pa_controller.extensions import db  # noqa: E402
from pa_controller.models import OutboxMessage, Run, User  # noqa: E402
from pa_controller.scheduling.worker import Worker  # noqa: E402
from pa_controller.services import people  # noqa: E402
from pa_controller.settings import of as settings_of  # noqa: E402
from pa_protocol.signing import SigningKey, sign_command  # noqa: E402
from tests.support.broker import connect_raw, free_port, running_broker  # noqa: E402
from tests.support.settings import use_settings  # noqa: E402

CLUSTERS = 456
GOAL_P95_MS = 25


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def stats(skews_ms: list[float]) -> str:
    if not skews_ms:
        return "no cluster played"
    return (f"min {min(skews_ms):4.0f}  p50 {percentile(skews_ms, 50):4.0f}  p95 {percentile(skews_ms, 95):4.0f}  "
            f"p99 {percentile(skews_ms, 99):4.0f}  max {max(skews_ms):4.0f} ms")


def wire_ms(text: str) -> int:
    return round(protocol.parse_time(text).timestamp() * 1000)


def start_time(ahead_s: float) -> datetime:
    """A start_at `ahead_s` from now, in whole milliseconds (the wire's precision)."""
    return datetime.fromtimestamp(math.ceil((time.time() + ahead_s) * 1000) / 1000, UTC)


def sleep_until(moment: datetime) -> None:
    while (left := moment.timestamp() - time.time()) > 0:
        time.sleep(min(left, 0.5))


# ----- the fleet, as a process (like `make run`) or on a thread of this process


@contextmanager
def running_fleet(mode: str, broker, truth: Path, workdir: Path, keys_url: str):
    if mode == "thread":
        with Fleet(load_csv(limit=CLUSTERS), broker.url, truth_path=truth, connect_rate=0,
                   credentials=broker.passwords, keys_url=keys_url) as sim:
            if sim.wait_connected(timeout=60) < CLUSTERS:
                raise RuntimeError(f"only {sim.connected_count} clusters connected")
            yield
        return
    log_path = workdir / "sim.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "firmware_sim", "--clusters", str(CLUSTERS), "--broker", broker.url,
             "--credentials", str(broker.credentials_file), "--truth", str(truth),
             "--state-dir", str(workdir / "sim-state"), "--connect-rate", "0", "--keys-url", keys_url],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)  # its own state dir: not make run's instance/sim-state
    try:
        deadline = time.monotonic() + 60
        while f"connected {CLUSTERS}/{CLUSTERS} in" not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not connect {CLUSTERS} clusters: see {log_path}")
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ----- one round on each side


class Api:
    def __init__(self, base_url: str, token: str):
        self.base_url = base_url
        self.auth = {"Authorization": f"Bearer {token}"}

    def post(self, path: str, **kwargs) -> dict:
        response = requests.post(self.base_url + path, headers=self.auth, timeout=60, **kwargs)
        if response.status_code >= 300:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
        return response.json()


def upload_clip(api: Api, workdir: Path, frequency: int, seconds: float) -> dict:
    """A fresh tone (new sha256, so every cluster fetches it), uploaded through the API."""
    source = workdir / f"tone-{frequency}.wav"
    tone = f"sine=frequency={frequency}:duration={seconds}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", tone, str(source)], check=True)
    with source.open("rb") as clip:
        return api.post("/api/v1/audio", files={"file": (source.name, clip)}, data={"title": f"tone {frequency}"})


def wait_played(truth: Path, run_id: str, until: datetime) -> list[dict]:
    """Wait for every cluster's `played` record of a run (or the deadline); return the records."""
    while True:
        played = read_truth(truth, event="played", run_id=run_id)
        if len(played) >= CLUSTERS or time.time() > until.timestamp():
            return played
        time.sleep(0.25)


def skews(played: list[dict]) -> list[float]:
    return [wire_ms(r["started_at"]) - wire_ms(r["start_at"]) for r in played]


def last_received(truth: Path, run_id: str, start_at: datetime) -> float:
    """Seconds before start_at that the last cluster received its command (negative: after)."""
    received = read_truth(truth, event="received", run_id=run_id)
    if not received:
        return float("nan")
    return start_at.timestamp() - max(wire_ms(r["at"]) for r in received) / 1000


def controller_round(app, api: Api, clip: dict, ahead_s: float, truth: Path) -> tuple[list[float], str, int]:
    """Schedule a broadcast to all through the API; return (skews in ms, what the commands' timing was, run id)."""
    start_at = start_time(ahead_s)
    created = api.post("/api/v1/broadcasts", json={
        "title": "start skew", "audio_id": clip["id"], "priority": "normal", "targets": {"all": True},
        "start_at": protocol.format_time(start_at), "override_reason": "benchmark outside the ward's rules"})
    with app.app_context():
        run_id = db.session.scalar(select(Run.id).where(Run.broadcast_id == created["id"]))
        db.session.remove()
    played = wait_played(truth, str(run_id), start_at + timedelta(milliseconds=clip["duration_ms"], seconds=10))
    with app.app_context():
        run = db.session.get(Run, run_id)
        dispatched = (run.start_at - run.dispatched_at).total_seconds() if run.dispatched_at else float("nan")
        db.session.remove()
    timing = f"dispatched {dispatched:.2f} s, last received {last_received(truth, str(run_id), start_at):.2f} s before"
    return skews(played), timing, run_id


def template_commands(app, run_id: int) -> list[dict]:
    """The `play` commands the controller sent for a run, as the raw side's pattern."""
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage.payload).where(OutboxMessage.topic.like("%/cmd"))).all()
        db.session.remove()
    found = [json.loads(raw) for raw in rows]
    return [c for c in found if c.get("run_id") == str(run_id)]


def raw_round(broker_url: str, root: str, pattern: list[dict], clip: dict, public_url: str, ahead_s: float,
              lead_s: float, truth: Path, key: SigningKey) -> tuple[list[float], str]:
    """Publish 456 `play` commands (signed beforehand) from one paho client at start_at - lead; return (skews in
    ms, timing)."""
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.max_inflight_messages_set(100)
    connect_raw(publisher, broker_url)
    publisher.loop_start()
    start_at = start_time(ahead_s)
    run_id = f"raw-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    payloads = []
    for command in pattern:
        command = {**command, "id": str(uuid.uuid4()), "run_id": run_id, "issued_at": protocol.format_time(now),
                   "start_at": protocol.format_time(start_at), "duration_ms": clip["duration_ms"],
                   "expires_at": protocol.format_time(start_at + timedelta(minutes=5)),
                   "audio": {**command["audio"], "url": f"{public_url}/media/{clip['sha256']}.mp3",
                             "sha256": clip["sha256"], "bytes": clip["bytes"]}}
        payloads.append((command["cid"], protocol.encode(sign_command(command, key))))
    sleep_until(start_at - timedelta(seconds=lead_s))
    for cid, payload in payloads:
        properties = Properties(PacketTypes.PUBLISH)
        properties.MessageExpiryInterval = 300
        publisher.publish(protocol.topic(root, cid, protocol.CMD), payload, qos=1, properties=properties)
    played = wait_played(truth, run_id, start_at + timedelta(milliseconds=clip["duration_ms"], seconds=10))
    publisher.disconnect()
    publisher.loop_stop()
    margin = last_received(truth, run_id, start_at)
    return skews(played), f"published {lead_s:.2f} s, last received {margin:.2f} s before"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ahead", type=float, default=15.0, help="start_at is this many seconds after scheduling")
    parser.add_argument("--lead", type=float, default=10.0, help="PA_DISPATCH_LEAD_S: commands go out this long "
                        "before start_at (the raw side publishes at the same moment); 456 clusters need about "
                        "4 s to fetch a new clip here, so less than 6 s measures fetching, not starting")
    parser.add_argument("--clip", type=float, default=1.0, help="clip length in seconds")
    parser.add_argument("--fleet", choices=("process", "thread"), default="process",
                        help="the simulator as its own process (as `make run`) or a thread of this one")
    add_postgres_option(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    database = database_for(args)
    with database as url, tempfile.TemporaryDirectory() as tmp:
        return measure(args, Path(tmp), url)


def measure(args, workdir: Path, database_url: str | None) -> int:
    truth = workdir / "truth.jsonl"
    controller, raw = [], []
    with running_broker(workdir) as broker:
        port = free_port()
        app = build_app(workdir, broker.controller_url, database_url)
        public_url = use_settings(app, public_url=f"http://127.0.0.1:{port}", dispatch_lead_s=args.lead).public_url
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per clip fetched otherwise
        with app.app_context():
            token = people.issue_token(db.session.scalar(select(User).where(User.username == "bench")), "bench")
            db.session.remove()
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        api = Api(public_url, token)
        worker = Worker(app)  # as `flask pa scheduler` makes it (default plan interval)
        worker.start()
        try:
            with running_fleet(args.fleet, broker, truth, workdir, f"{public_url}/api/v1/keys/commands"):
                worker.link.connected.wait(10)
                for round_no in range(1, args.rounds + 1):
                    clip = upload_clip(api, workdir, 400 + 20 * round_no, args.clip)
                    c, c_timing, run_id = controller_round(app, api, clip, args.ahead, truth)
                    clip = upload_clip(api, workdir, 410 + 20 * round_no, args.clip)
                    r, r_timing = raw_round(broker.tester(), settings_of(app).mqtt_root,
                                            template_commands(app, run_id), clip, public_url, args.ahead, args.lead,
                                            truth, bench_keys(app)[1])
                    controller += c
                    raw += r
                    print(f"round {round_no}: controller {len(c)}/{CLUSTERS} played  {stats(c)}  ({c_timing})\n"
                          f"         raw paho   {len(r)}/{CLUSTERS} played  {stats(r)}  ({r_timing})", flush=True)
        finally:
            worker.stop()
            server.shutdown()
            with app.app_context():
                db.engine.dispose()
    backend = "PostgreSQL" if database_url else "SQLite"
    expected = CLUSTERS * args.rounds
    print(f"\nstart skew (started_at - start_at), {CLUSTERS} clusters x {args.rounds} rounds, {backend}, "
          f"fleet as a {args.fleet}, dispatch lead {args.lead:g} s:")
    print(f"  controller {len(controller)}/{expected} played   {stats(controller)}")
    print(f"  raw paho   {len(raw)}/{expected} played   {stats(raw)}")
    if controller and raw:
        c95, r95 = percentile(controller, 95), percentile(raw, 95)
        ratio = f"{c95 / r95:.2f}x" if r95 else "n/a (raw p95 is 0 ms)"
        print(f"  p95 ratio controller / raw: {ratio} (goal: controller p95 <= {GOAL_P95_MS} ms)")
        record("start_skew", [Figure(f"start skew p95, {CLUSTERS} clusters × {args.rounds} rounds, {backend}", c95,
                                     "ms", r95 or None, f"≤ {GOAL_P95_MS} ms", c95 <= GOAL_P95_MS)],
               note=f"played: controller {len(controller)}/{expected}, raw {len(raw)}/{expected}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
