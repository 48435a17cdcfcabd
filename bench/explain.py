"""The hot queries' plans on PostgreSQL at province scale, before and after the indexes of migration 0022.

Run from the repository root:  .venv/bin/python bench/explain.py [--postgres URL] [--clusters 10000] [--days 365]

A throwaway database on the server is migrated to 0021 (the schema before) and filled in SQL (INSERT … SELECT
over generate_series, the fastest way in): --clusters clusters in 100 wards, each heard from; a year of runs
(a daily district broadcast and three daily ward ones) with a delivery per cluster and run; the outbox's last
week of sent commands and a few unsent; heartbeats at the default raw window (6 h of 30 s beats); five-minute
rollups for the last two days of every cluster and the default 90 days of 100 clusters (a query reads one
cluster's rollups by its key, so it costs the same at 90 days for all); a year of audit entries (1,400 a day);
ten outages a cluster.

Each case calls the service the page calls, records the SQL it sends, and runs each statement again under
EXPLAIN (ANALYZE, BUFFERS) in a transaction rolled back; the median of three. Printed per case: the sum of the
statements' execution times, the slowest statement's plan nodes on tables (Seq Scan / Index Scan … using …), the
shared buffers they touched, and the whole call's time (the ORM and rendering included). Then the worker's
prune runs once (the heartbeats older than six hours by now). Then the database is upgraded to head, analysed,
and all of it runs again.
"""

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fanout import bench_config, throwaway_database  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import event, select, text  # noqa: E402

from pa_controller import clock, create_app  # noqa: E402
from pa_controller.domain import ClusterStatus, Role  # noqa: E402
from pa_controller.extensions import db  # noqa: E402
from pa_controller.models import Cluster, Run  # noqa: E402
from pa_controller.services import audit_log, fleet_health, people, reports, retention, run_progress  # noqa: E402
from pa_controller.services.command_keys import KeyFiles, Signer  # noqa: E402
from pa_controller.services.outbox import OutboxStore  # noqa: E402
from pa_protocol import DeliveryState  # noqa: E402

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BEFORE = "0021"
WARDS = 100
PASSWORD = "bench-password-long"
AUDIT_PER_DAY = 1400
ROLLUP_CLUSTERS = 100  # clusters with the whole rollup window; every other cluster has two days
REPEATS = 3

FILL = [  # (what, SQL); :clusters, :days, :now are bound
    ("wards", """INSERT INTO ward (id, name, approval_required)
                 SELECT 'ward-' || lpad(w::text, 3, '0'), 'Phường ' || w, false FROM generate_series(0, 99) w"""),
    ("clusters", """INSERT INTO cluster (id, name, ward_id, lat, lon, speakers, retired)
                    SELECT 'c-' || lpad(n::text, 6, '0'), 'Khu vực ' || (n % 37 + 1) || ', cụm ' || n,
                           'ward-' || lpad((n % 100)::text, 3, '0'), 10.1 + random() / 10, 105.6 + random() / 10,
                           2, false
                    FROM generate_series(0, :clusters - 1) n"""),
    ("cluster states", """INSERT INTO cluster_state (cluster_id, status, online, boot_id, conn, status_at,
                                                    last_seen, heartbeat_at, seq, volume, rssi_dbm, temp_c)
                          SELECT id, 'online', random() > 0.06, 'boot', 1, :now - interval '3 days',
                                 :now - random() * interval '40 seconds', :now - random() * interval '40 seconds',
                                 1, 60, -60 - random() * 30, 30 + random() * 15
                          FROM cluster"""),
    ("broadcasts", """INSERT INTO broadcast (id, title, kind, duration_ms, priority, targets, start_at, rrule,
                                            created_at, approval, awaiting_review)
                      SELECT b, 'Bản tin ' || b, 'play', 300000, 'normal',
                             CASE WHEN b = 1 THEN '{"all": true}' ELSE '{"wards": ["ward-00' || (b - 2) || '"]}'
                             END::json, :now - :days * interval '1 day', 'FREQ=DAILY', :now - :days * interval '1 day',
                             'approved', false
                      FROM generate_series(1, 4) b"""),
    ("broadcast wards", """INSERT INTO broadcast_ward (broadcast_id, ward_id)
                           SELECT 1, id FROM ward UNION ALL
                           SELECT b, 'ward-00' || (b - 2) FROM generate_series(2, 4) b"""),
    ("runs", """INSERT INTO run (broadcast_id, start_at, dispatch_at, closes_at, state, dispatched_at)
                SELECT b, s, s - interval '1 minute', s + interval '10 minutes', 'finished', s - interval '1 minute'
                FROM generate_series(1, 4) b,
                     generate_series(:now - :days * interval '1 day' + interval '6 hours', :now - interval '1 hour',
                                     interval '1 day') s"""),
    ("deliveries", """INSERT INTO delivery (run_id, cluster_id, cmd_id, state, at, ready_at)
                      SELECT r.id, c.id, md5(r.id || '/' || c.id),
                             CASE WHEN random() < 0.96 THEN 'done' WHEN random() < 0.5 THEN 'expired' ELSE 'failed' END,
                             r.start_at + interval '5 minutes', r.start_at - interval '30 seconds'
                      FROM run r JOIN broadcast_ward bw ON bw.broadcast_id = r.broadcast_id
                      JOIN cluster c ON c.ward_id = bw.ward_id"""),
    ("outbox", """INSERT INTO outbox_message (cmd_id, topic, payload, expires_at, created_at, sent_at)
                  SELECT d.cmd_id, 'pa/v1/' || d.cluster_id || '/cmd', convert_to(repeat('x', 300), 'UTF8'),
                         r.start_at + interval '10 minutes', r.dispatched_at,
                         CASE WHEN random() < 0.001 THEN NULL ELSE r.dispatched_at + interval '1 second' END
                  FROM delivery d JOIN run r ON r.id = d.run_id WHERE r.start_at > :now - interval '7 days'"""),
    ("heartbeats", """INSERT INTO heartbeat_sample (cluster_id, at, rssi_dbm, temp_c, volume, speakers_ok, amp_ok)
                      SELECT c.id, t, -70, 35, 60, 2, true
                      FROM generate_series(:now - interval '6 hours', :now, interval '30 seconds') t, cluster c"""),
    ("rollups", """INSERT INTO telemetry_bucket (cluster_id, bucket_at, beats, rssi_avg, rssi_min, temp_avg, temp_max,
                                                volume, speakers_ok_min, amp_faults)
                   SELECT c.id, t, 10, -70, -75, 35, 37, 60, 2, 0
                   FROM cluster c, generate_series(date_trunc('hour', :now) - interval '90 days',
                                                   date_trunc('hour', :now), interval '5 minutes') t
                   WHERE t > :now - interval '2 days' OR c.id < :rollup_below"""),
    ("audit log", """INSERT INTO audit_entry (at, actor, user_id, address, action, target, ward_id)
                     SELECT :now - (n::float / :entries) * :days * interval '1 day',
                            (ARRAY['system', 'canbo-' || (n % 100), 'admin', 'cli:root'])[n % 4 + 1], n % 200,
                            '10.0.' || (n % 250) || '.1',
                            (ARRAY['login', 'login.failed', 'broadcast.create', 'broadcast.edit', 'broadcast.cancel',
                                   'run.cancel', 'audio.upload', 'cluster.retire', 'maintenance.add',
                                   'token.create', 'user.edit', 'command_key.rotate'])[n % 12 + 1],
                            'broadcast:' || n, 'ward-' || lpad((n % 100)::text, 3, '0')
                     FROM generate_series(1, :entries) n"""),
    ("outages", """INSERT INTO outage (cluster_id, started_at, detected_at, ended_at, cause)
                   SELECT c.id, s, s + interval '90 seconds', s + random() * interval '3 hours', 'silent'
                   FROM cluster c, generate_series(:now - :days * interval '1 day', :now - interval '1 day',
                                                   :days / 10 * interval '1 day') s"""),
]


class Recorder:
    """The SQL statements an engine runs while it listens, with their parameters."""

    def __init__(self, engine):
        self.engine = engine
        self.statements: list[tuple[str, object]] = []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._note)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._note)

    def _note(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            self.statements.append((statement, parameters))


def explain(statement: str, parameters) -> dict:
    """Run one statement under EXPLAIN (ANALYZE, BUFFERS) in a transaction rolled back; return its plan."""
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters)
        plan = cursor.fetchone()[0]
        connection.rollback()
        return plan[0] if isinstance(plan, list) else json.loads(plan)[0]
    finally:
        connection.close()


def table_nodes(node: dict) -> list[str]:
    """The plan's nodes on tables: 'Seq Scan on delivery', 'Index Scan using ix_… on audit_entry'."""
    found = []
    if "Relation Name" in node:
        using = f" using {node['Index Name']}" if "Index Name" in node else ""
        found.append(f"{node['Node Type']}{using} on {node['Relation Name']}")
    for child in node.get("Plans", ()):
        found.extend(table_nodes(child))
    return found


def cases(app, client, admin, officer, district_run: int, cluster: Cluster):
    """(label, call) of every hot query, each as the page or the worker calls it."""
    now = clock.now()
    beat = 30.0
    signer = Signer(KeyFiles(Path(app.instance_path) / "no-keys"))
    return [
        ("fleet table, first page", lambda: fleet_health.list_clusters(admin, fleet_health.ClusterQuery(), now, beat)),
        ("fleet table, ward + offline", lambda: fleet_health.list_clusters(
            admin, fleet_health.ClusterQuery(ward="ward-007", status=ClusterStatus.OFFLINE), now, beat)),
        ("fleet summary (/fleet)", lambda: fleet_health.summary(None, now, beat)),
        ("run report, counts", lambda: run_progress.progress(admin, district_run)),
        ("run report API, whole run", lambda: reports.run_report(admin, district_run)),
        ("run report, page 1 failures first", lambda: run_progress.clusters(
            admin, district_run, run_progress.ClusterQuery())),
        ("run report, officer, failed", lambda: run_progress.clusters(
            officer, district_run, run_progress.ClusterQuery(state=DeliveryState.FAILED))),
        ("cluster page (rollups day/week)", lambda: fleet_health.cluster_health(cluster, now, beat)),
        ("audit log, newest page", lambda: audit_log.search(admin, audit_log.AuditQuery())),
        ("audit log, ward", lambda: audit_log.search(admin, audit_log.AuditQuery(ward="ward-042"))),
        ("audit log, action family", lambda: audit_log.search(admin, audit_log.AuditQuery(action="broadcast"))),
        ("audit log, actor, page 20", lambda: audit_log.search(admin, audit_log.AuditQuery(actor="admin", page=20))),
        ("audit log, a week last month", lambda: audit_log.search(admin, audit_log.AuditQuery(
            since=(now - timedelta(days=30)).date(), until=(now - timedelta(days=23)).date()))),
        ("audit log, a week a year ago", lambda: audit_log.search(admin, audit_log.AuditQuery(
            since=(now - timedelta(days=360)).date(), until=(now - timedelta(days=353)).date()))),
        ("audit log, ward, page 20", lambda: audit_log.search(admin, audit_log.AuditQuery(ward="ward-042",
                                                                                          page=20))),
        ("audit CSV, a month", lambda: sum(1 for _ in audit_log.export_csv(admin, audit_log.AuditQuery(
            since=(now - timedelta(days=60)).date(), until=(now - timedelta(days=30)).date())))),
        ("outbox due", lambda: OutboxStore(app, signer).due(set(), 200)),
        ("dashboard page", lambda: page(client, "/")),
    ]


def page(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)


def measure_case(call) -> dict:
    """Call once, recording its SQL; run each statement under EXPLAIN ANALYZE; the median of REPEATS."""
    runs = []
    for _ in range(REPEATS):
        with Recorder(db.engine) as recorder:
            started = time.perf_counter()
            call()
            wall = time.perf_counter() - started
        db.session.rollback()
        plans = [explain(statement, parameters) for statement, parameters in recorder.statements]
        slowest = max(plans, key=lambda p: p["Execution Time"], default=None)
        runs.append({
            "ms": sum(p["Execution Time"] for p in plans), "wall_ms": wall * 1000, "statements": len(plans),
            "nodes": table_nodes(slowest["Plan"]) if slowest else [],
            "buffers": sum(p["Plan"].get("Shared Hit Blocks", 0) + p["Plan"].get("Shared Read Blocks", 0)
                           for p in plans),
        })
    middle = sorted(runs, key=lambda r: r["ms"])[len(runs) // 2]
    return {**middle, "wall_ms": statistics.median(r["wall_ms"] for r in runs)}


def run_cases(app, label: str) -> dict[str, dict]:
    with app.app_context():
        admin = people.named_user("bench-admin")
        officer = people.named_user("bench-officer")
        district_run = db.session.scalar(select(Run.id).where(Run.broadcast_id == 1).order_by(Run.start_at.desc()))
        cluster = db.session.get(Cluster, "c-000042")
        client = app.test_client()
        client.post("/login", data={"username": "bench-admin", "password": PASSWORD})
        measured = {name: measure_case(call)
                    for name, call in cases(app, client, admin, officer, district_run, cluster)}
        started = time.perf_counter()
        pruned = retention.prune()
        prune_s = time.perf_counter() - started
        db.session.remove()
    print(f"\n== {label}", flush=True)
    for name, m in measured.items():
        print(f"{name:36} {m['ms']:8.1f} ms in SQL ({m['statements']} statements, {m['buffers']:,} buffers; "
              f"the call {m['wall_ms']:.0f} ms)\n{'':36} slowest: {'; '.join(dict.fromkeys(m['nodes'])) or '-'}",
              flush=True)
    print(f"the worker's prune: {', '.join(f'{p.name} {p.rows:,}' for p in pruned)} rows in {prune_s:.2f} s",
          flush=True)
    return measured


def fill(app, clusters: int, days: int) -> None:
    """Fill the tables with the secondary indexes set aside and made again after (the usual way of a bulk load)."""
    with app.app_context():
        indexes = db.session.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexdef NOT LIKE '%UNIQUE%'"
        )).all()
        for name, _definition in indexes:
            db.session.execute(text(f'DROP INDEX "{name}"'))
        db.session.execute(text("SET synchronous_commit = off"))
        values = {"clusters": clusters, "days": days, "now": clock.now(), "entries": days * AUDIT_PER_DAY,
                  "rollup_below": f"c-{ROLLUP_CLUSTERS:06d}"}
        for what, sql in FILL:
            started = time.perf_counter()
            used = {k: v for k, v in values.items() if f":{k}" in sql}
            rows = db.session.execute(text(sql), used).rowcount
            db.session.commit()
            print(f"filled {what}: {rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        for _name, definition in indexes:
            db.session.execute(text(definition))
        db.session.commit()
        print(f"made {len(indexes)} indexes again in {time.perf_counter() - started:.1f} s", flush=True)
        people.create_user("bench-admin", PASSWORD, Role.ADMIN)
        people.create_user("bench-officer", PASSWORD, Role.OFFICER, "ward-007")
        db.session.commit()


def analyse(app) -> None:
    with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))  # outside a transaction; the visibility map for index-only scans


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL", default=SERVER, help=f"the server (default {SERVER})")
    parser.add_argument("--clusters", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp, throwaway_database(args.postgres) as url:
        app = create_app(bench_config(Path(tmp), url), WTF_CSRF_ENABLED=False)  # a login is a plain POST
        with app.app_context():
            upgrade(revision=BEFORE)
        started = time.perf_counter()
        fill(app, args.clusters, args.days)
        analyse(app)
        print(f"filled and analysed in {time.perf_counter() - started:.0f} s", flush=True)
        before = run_cases(app, f"before: schema at {BEFORE}")
        with app.app_context():
            started = time.perf_counter()
            upgrade()
            print(f"\nupgraded to head in {time.perf_counter() - started:.1f} s", flush=True)
        analyse(app)
        after = run_cases(app, "after: schema at head")
        print("\n| case | before, ms | after, ms |\n|---|---:|---:|")
        for name in before:
            print(f"| {name} | {before[name]['ms']:.1f} | {after[name]['ms']:.1f} |")
        with app.app_context():
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
