"""Technician views at 10,000 clusters: server time of the cluster table and the map, beside raw baselines.

Run from the repository root:  .venv/bin/python bench/fleet_views.py [--clusters 10000] [--requests 9] [--postgres URL]

A throwaway database is filled with synthesized clusters (20 wards; about 85 % online, 4 % stale, 6 % offline,
5 % never heard from), outages over the last 10 days (open ones for the offline clusters) and a week of
five-minute telemetry buckets for a few clusters. Each page is requested through the Flask test client as a
logged-in technician, in process, so the time is the server's whole work for the request: session, user,
queries, rendering. Medians of --requests after one warm-up request.

Baselines, measured in the same run:
- raw SQL: the bare SELECT of the same rows (the page's 100 rows, or every cluster's position for the map)
  on the same connection, without judging status, counting, filtering or rendering;
- trivial page: GET /login through the same app (a small template; no database query).
Goal: every table and map request under 300 ms.
"""

import argparse
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fanout import add_postgres_option, bench_config, database_for  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from bench.results import Figure, record  # noqa: E402
from pa_controller import clock, create_app  # noqa: E402
from pa_controller.domain import ClusterStatus, Role  # noqa: E402
from pa_controller.extensions import db  # noqa: E402
from pa_controller.models import Cluster, ClusterState, Outage, TelemetryBucket, Ward  # noqa: E402
from pa_controller.services import people  # noqa: E402

PASSWORD = "bench-password-long"
WARDS = 20
BUCKET_CLUSTERS = 20  # clusters with a week of telemetry (2,016 buckets each)
GOAL_MS = 300

CASES = [  # (label, path, the raw SQL baseline of the same rows)
    ("table, first page", "/fleet/clusters",
     "SELECT c.id, c.name, w.name, s.last_seen, s.rssi_dbm, s.temp_c FROM cluster c JOIN ward w ON w.id = c.ward_id "
     "LEFT JOIN cluster_state s ON s.cluster_id = c.id ORDER BY c.id LIMIT 100"),
    ("table, status=offline", "/fleet/clusters?status=offline",
     "SELECT c.id, c.name, w.name, s.last_seen, s.rssi_dbm, s.temp_c FROM cluster c JOIN ward w ON w.id = c.ward_id "
     "LEFT JOIN cluster_state s ON s.cluster_id = c.id WHERE s.online = false ORDER BY c.id LIMIT 100"),
    ("table, search q=cụm 01", f"/fleet/clusters?q={quote('cụm 01')}",
     "SELECT c.id, c.name, w.name, s.last_seen, s.rssi_dbm, s.temp_c FROM cluster c JOIN ward w ON w.id = c.ward_id "
     "LEFT JOIN cluster_state s ON s.cluster_id = c.id WHERE c.name LIKE '%%cụm 01%%' ORDER BY c.id LIMIT 100"),
    ("table, sort rssi desc", "/fleet/clusters?sort=rssi&order=desc",
     "SELECT c.id, c.name, w.name, s.last_seen, s.rssi_dbm, s.temp_c FROM cluster c JOIN ward w ON w.id = c.ward_id "
     "LEFT JOIN cluster_state s ON s.cluster_id = c.id ORDER BY s.rssi_dbm DESC LIMIT 100"),
    ("table, sort name, page 50", "/fleet/clusters?sort=name&page=50",
     "SELECT c.id, c.name, w.name, s.last_seen, s.rssi_dbm, s.temp_c FROM cluster c JOIN ward w ON w.id = c.ward_id "
     "LEFT JOIN cluster_state s ON s.cluster_id = c.id ORDER BY c.name, c.id LIMIT 100 OFFSET 4900"),
    ("map", "/fleet/map", "SELECT c.id, c.name, c.lat, c.lon, s.online FROM cluster c "
     "LEFT JOIN cluster_state s ON s.cluster_id = c.id"),
    ("dashboard", "/", None),
    ("summary (not in the goal)", "/fleet", None),
    ("cluster page (not in the goal)", "/fleet/clusters/bench-00-0000", None),
]


def synthesize(clusters: int, seed: int = 1) -> None:
    """Fill an empty, migrated database with a fleet of `clusters` in WARDS wards, their outages and telemetry."""
    rng = random.Random(seed)
    now = clock.now()
    db.session.execute(insert(Ward), [{"id": f"ward-{w:02d}", "name": f"Phường {w:02d}"} for w in range(WARDS)])
    rows, states, outages = [], [], []
    for n in range(clusters):
        ward = n % WARDS
        cid = f"bench-{ward:02d}-{n // WARDS:04d}"
        rows.append({"id": cid, "name": f"Khu vực {n % 37 + 1}, cụm {n:05d}", "ward_id": f"ward-{ward:02d}",
                     "lat": 10.0 + rng.random() * 0.3, "lon": 105.5 + rng.random() * 0.3, "speakers": 2,
                     "retired": False})
        roll = rng.random()
        state = {"cluster_id": cid, "status": ClusterStatus.ONLINE, "online": True, "rssi_dbm": rng.uniform(-95, -50),
                 "temp_c": rng.uniform(30, 60), "status_at": now - timedelta(hours=2), "volume": 80,
                 "speakers_ok": 2, "speakers_total": 2, "amp_ok": True, "fw": "1.4.2"}
        if roll < 0.85:
            silence = rng.uniform(0, 50)
        elif roll < 0.89:
            silence = rng.uniform(61, 89)
        elif roll < 0.95:
            silence = rng.uniform(120, 86_400)
            state["online"] = rng.random() < 0.5  # half sent their will, half just fell silent
            outages.append({"cluster_id": cid, "started_at": now - timedelta(seconds=silence),
                            "detected_at": now - timedelta(seconds=silence - 90), "ended_at": None, "cause": "silent"})
        else:
            state = {"cluster_id": cid, "status": ClusterStatus.UNKNOWN, "online": False}
            silence = None
        if silence is not None:
            state["heartbeat_at"] = state["last_seen"] = now - timedelta(seconds=silence)
        states.append(state)
        if rng.random() < 0.2:  # one in five had short outages over the last 10 days
            for _ in range(rng.randint(1, 5)):
                began = now - timedelta(days=rng.uniform(1.1, 10))
                outages.append({"cluster_id": cid, "started_at": began, "detected_at": began + timedelta(seconds=90),
                                "ended_at": began + timedelta(minutes=rng.uniform(2, 600)), "cause": "silent"})
    db.session.execute(insert(Cluster), rows)
    db.session.execute(insert(ClusterState), states)
    db.session.execute(insert(Outage), outages)
    first = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5)
    for cid in [r["id"] for r in rows[:BUCKET_CLUSTERS]]:
        db.session.execute(insert(TelemetryBucket), [
            {"cluster_id": cid, "bucket_at": first - timedelta(minutes=5 * k), "beats": 10,
             "rssi_avg": -70 + 5 * rng.random(), "rssi_min": -80.0, "temp_avg": 40 + 5 * rng.random(),
             "temp_max": 50.0, "volume": 80, "speakers_ok_min": 2, "amp_faults": 0} for k in range(7 * 24 * 12)])
    db.session.commit()
    print(f"synthesized {clusters} clusters, {len(outages)} outages, {BUCKET_CLUSTERS} × 2,016 telemetry buckets")


def timed(call, repeats: int) -> tuple[float, float, float]:
    """Median and worst wall-clock seconds, and median CPU seconds of this process, of `repeats` calls after a warm-up.

    CPU time leaves out waiting for a core, which a busy machine adds to the wall clock (and PostgreSQL's own work).
    """
    call()
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall), max(wall), statistics.median(cpu)


def get(client, path: str):
    def call():
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
        return response
    return call


def measure(args, database_url: str | None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(bench_config(Path(tmp), database_url), WTF_CSRF_ENABLED=False)  # a login is a plain POST
        with app.app_context():
            upgrade()
            started = time.perf_counter()
            synthesize(args.clusters)
            people.create_user("tech", PASSWORD, Role.TECHNICIAN)
            if database_url:
                db.session.execute(text("ANALYZE"))  # what autovacuum would have done by now
                db.session.commit()
            print(f"built in {time.perf_counter() - started:.1f} s", flush=True)
            client = app.test_client()
            client.post("/login", data={"username": "tech", "password": PASSWORD})
            trivial, _, _ = timed(get(client, "/login"), args.requests)
            size = {}
            results = []
            for label, path, raw_sql in CASES:
                size[label] = len(get(client, path)().data)
                server, worst, cpu = timed(get(client, path), args.requests)
                raw = None
                if raw_sql:
                    raw, _, _ = timed(lambda sql=raw_sql: db.session.connection().exec_driver_sql(sql).fetchall(),
                                      args.requests)
                results.append((label, server, worst, cpu, raw))
                db.session.rollback()
    backend = "PostgreSQL" if database_url else "SQLite"
    load = os.getloadavg()[0]
    print(f"\n{args.clusters} clusters, {backend}, median of {args.requests} requests "
          f"(trivial page GET /login: {trivial * 1000:.1f} ms; load average {load:.1f} on {os.cpu_count()} cores)\n")
    print(f"{'request':32} {'server ms':>10} {'worst':>8} {'CPU ms':>7} {'raw SQL ms':>11} {'ratio':>7} "
          f"{'vs trivial':>10} {'HTML KB':>8}  goal")
    failed = False
    for label, server, worst, cpu, raw in results:
        ok = server * 1000 < GOAL_MS
        failed |= in_goal(label) and not ok
        raw_text = f"{raw * 1000:11.1f} {server / raw:6.1f}x" if raw else f"{'—':>11} {'—':>7}"
        verdict = ("ok" if ok else "OVER") if in_goal(label) else ""
        print(f"{label:32} {server * 1000:10.1f} {worst * 1000:8.1f} {cpu * 1000:7.1f} {raw_text} "
              f"{server / trivial:9.1f}x {size[label] / 1024:8.0f}  {verdict}")
    record("fleet_views", [
        Figure(f"{label} at {args.clusters:,} clusters, {backend}{' (raw: its bare SQL)' if raw else ''}",
               server * 1000, "ms",
               raw * 1000 if raw else None, *((f"< {GOAL_MS} ms", server * 1000 < GOAL_MS) if in_goal(label) else ()))
        for label, server, worst, cpu, raw in results])
    return 1 if failed else 0


def in_goal(label: str) -> bool:
    return "(not in the goal)" not in label


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=9)
    add_postgres_option(parser)
    args = parser.parse_args()
    with database_for(args) as url:
        return measure(args, url)


if __name__ == "__main__":
    sys.exit(main())
