"""The upward API at province scale: 10,000 clusters and a year of runs, every page as quick as the first.

Run from the repository root (PostgreSQL only: the year is made by the server with generate_series):
    .venv/bin/python bench/upward.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres [--days 365]
or, to keep the database and measure again at once: --database postgresql+psycopg://…/loanet_upward (it must exist).

A throwaway database holds the fleet of bench/fleet_views.py (10,000 clusters in 20 wards, their states and
outages), and for each of --days days a district broadcast to every cluster and one broadcast per ward: 21 runs a
day, 20,000 deliveries a day (7.3 million in a year), made by INSERT … SELECT on the server. Each page is asked
through the Flask test client with a `report` token, in process, so the time is the server's whole work for the
request (token, queries, JSON); medians of --requests after one warm-up.

Baseline, measured in the same run: the bare keyset SELECT of the same page's rows on the same connection, without
the ORM, the ward scope, the counts or the JSON. The plays page deep in the year is also shown with
EXPLAIN (ANALYZE, BUFFERS): what matters is that no node reads the delivery table whole.
"""

import argparse
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explain import Recorder, explain, table_nodes  # noqa: E402
from fanout import add_postgres_option, bench_config, database_for  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from fleet_views import synthesize, timed  # noqa: E402
from sqlalchemy import text  # noqa: E402

from pa_controller import create_app  # noqa: E402
from pa_controller.domain import Role  # noqa: E402
from pa_controller.extensions import db  # noqa: E402
from pa_controller.models import User  # noqa: E402
from pa_controller.services import people, tokens, upward  # noqa: E402

API = "/api/v1/upward/v1"
GOAL_MS = 300  # a page, whichever: the dashboard's goal (issue 16)

YEAR_SQL = [
    # a district broadcast and one a ward, every day at 06:00 and 17:00 in Việt Nam
    """INSERT INTO broadcast (title, kind, duration_ms, priority, targets, start_at, created_at, approval,
                              awaiting_review, planned_until)
       SELECT 'Bản tin ' || w.id, 'play', 300000, 'normal', '{}', now(), now(), 'approved', false, now()
       FROM (SELECT 'district' AS id UNION ALL SELECT id FROM ward) w""",
    """INSERT INTO broadcast_ward (broadcast_id, ward_id)
       SELECT b.id, w.id FROM broadcast b
       JOIN ward w ON b.title = 'Bản tin district' OR b.title = 'Bản tin ' || w.id""",
    """INSERT INTO run (broadcast_id, start_at, dispatch_at, closes_at, state, dispatched_at)
       SELECT b.id, t, t - interval '1 minute', t + interval '6 minutes', 'finished', t - interval '1 minute'
       FROM broadcast b,
            generate_series(date_trunc('day', now()) - make_interval(days => :days) + interval '23 hours',
                            date_trunc('day', now()) - interval '1 hour', interval '1 day') t
       WHERE b.title = 'Bản tin district'
       UNION ALL
       SELECT b.id, t, t - interval '1 minute', t + interval '6 minutes', 'finished', t - interval '1 minute'
       FROM broadcast b,
            generate_series(date_trunc('day', now()) - make_interval(days => :days) + interval '10 hours',
                            date_trunc('day', now()) - interval '14 hours', interval '1 day') t
       WHERE b.title <> 'Bản tin district'""",
    """INSERT INTO delivery (run_id, cluster_id, cmd_id, state, at, ready_at)
       SELECT r.id, c.id, r.id || '-' || c.id,
              CASE WHEN hashtext(c.id || r.id) % 50 = 0 THEN 'missed' ELSE 'done' END,
              r.start_at + interval '5 minutes', r.start_at - interval '30 seconds'
       FROM run r JOIN broadcast_ward bw ON bw.broadcast_id = r.broadcast_id
       JOIN cluster c ON c.ward_id = bw.ward_id""",
]


def build(days: int) -> tuple[int, int]:
    """The fleet, then a year of runs and deliveries; return (runs, deliveries)."""
    synthesize(10_000)
    for statement in YEAR_SQL:
        started = time.perf_counter()
        db.session.execute(text(statement), {"days": days})
        db.session.commit()
        print(f"  {statement.split()[2]}: {time.perf_counter() - started:.1f} s", flush=True)
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    return (db.session.scalar(text("SELECT count(*) FROM run")),
            db.session.scalar(text("SELECT count(*) FROM delivery")))


def deep_cursors() -> tuple[dict[str, str], tuple]:
    """Cursors half way through each list, as a walk would have them there."""
    runs = db.session.scalar(text("SELECT count(*) FROM run"))
    start_at, run_id = db.session.execute(text(
        "SELECT start_at, id FROM run ORDER BY start_at, id OFFSET :n LIMIT 1"), {"n": runs // 2}).one()
    middle = db.session.scalar(text("SELECT id FROM cluster ORDER BY id OFFSET 5000 LIMIT 1"))
    first = db.session.scalar(text("SELECT min(cluster_id) FROM delivery WHERE run_id = :r"), {"r": run_id})
    return {"devices": upward.encode_cursor("devices", (middle,)),
            "schedule": upward.encode_cursor("schedule", (start_at, run_id)),
            "plays": upward.encode_cursor("plays", (start_at, run_id, first))}, (start_at, run_id, first, middle)


RAW = {  # the bare keyset SELECT of a page's rows
    "devices": "SELECT c.*, s.* FROM cluster c LEFT JOIN cluster_state s ON s.cluster_id = c.id "
               "WHERE c.id > %(cluster)s ORDER BY c.id LIMIT %(limit)s",
    "schedule": "SELECT r.*, b.title FROM run r JOIN broadcast b ON b.id = r.broadcast_id "
                "WHERE r.start_at >= %(start_at)s AND (r.start_at, r.id) > (%(start_at)s, %(run_id)s) "
                "ORDER BY r.start_at, r.id LIMIT %(limit)s",
    "plays": "SELECT d.*, r.start_at FROM delivery d JOIN run r ON r.id = d.run_id "
             "WHERE r.start_at >= %(start_at)s AND (r.start_at, r.id, d.cluster_id) > (%(start_at)s, %(run_id)s, "
             "%(first)s) ORDER BY r.start_at, r.id, d.cluster_id LIMIT %(limit)s",
}


def get(client, path: str, auth: dict):
    def call():
        response = client.get(path, headers=auth)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.get_data(as_text=True)[:200]}")
        return response
    return call


def walk(client, path: str, auth: dict) -> tuple[int, int, float]:
    """Follow `next` from `path` to the end: (pages, items, seconds)."""
    started, pages, items = time.perf_counter(), 0, 0
    while path:
        body = get(client, path, auth)().get_json()
        pages, items, path = pages + 1, items + len(body["items"]), body["next"]
    return pages, items, time.perf_counter() - started


def plan_nodes(sql: str, params: dict) -> str:
    """The plan's nodes on tables of `sql`, and its execution time (bench/explain.py's EXPLAIN)."""
    plan = explain(sql, params)
    return "; ".join(table_nodes(plan["Plan"])) + f" — Execution Time: {plan['Execution Time']:.3f} ms"


def measure(args, database_url: str) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(bench_config(Path(tmp), database_url))
        with app.app_context():
            upgrade()
            started = time.perf_counter()
            if db.session.scalar(text("SELECT count(*) FROM run")):  # --database, built by an earlier run
                db.session.execute(text("ANALYZE"))
                runs = db.session.scalar(text("SELECT count(*) FROM run"))
                deliveries = db.session.scalar(text("SELECT count(*) FROM delivery"))
                province, ward_reader = (people.named_user(n) for n in ("so-tttt", "xem-phuong"))
            else:
                runs, deliveries = build(args.days)
                province = people.create_user("so-tttt", "bench-password-long", Role.VIEWER)
                ward_reader = people.create_user("xem-phuong", "bench-password-long", Role.VIEWER, wards=["ward-07"])
            print(f"{runs:,} runs and {deliveries:,} deliveries ready in {time.perf_counter() - started:.0f} s")
            auth = {"Authorization": f"Bearer {tokens.issue(province, 'bench', ['report'])[1]}"}
            ward_auth = {"Authorization": f"Bearer {tokens.issue(ward_reader, 'bench', ['report'])[1]}"}
            cursors, (start_at, run_id, first, middle) = deep_cursors()
            year = "from=2000-01-01&to=2100-01-01"  # the whole year, and more
            client = app.test_client()
            cases = []
            for limit in (100, 1000):
                for name in ("devices", "schedule", "plays"):
                    window = "" if name == "devices" else f"&{year}"
                    cases += [(f"{name}, first page, {limit}", f"{API}/{name}?limit={limit}{window}", auth, name),
                              (f"{name}, mid-year page, {limit}",
                               f"{API}/{name}?limit={limit}{window}&cursor={cursors[name]}", auth, name)]
            cases.append(("plays, one ward's reader, mid-year, 100",
                          f"{API}/plays?limit=100&{year}&cursor={cursors['plays']}", ward_auth, None))
            results = []
            params = {"cluster": middle, "start_at": start_at, "run_id": run_id, "first": first}
            for label, path, who, raw_name in cases:
                server, worst, _cpu = timed(get(client, path, who), args.requests)
                raw = None
                if raw_name:
                    limit = 1000 if label.endswith("1000") else 100
                    sql = RAW[raw_name]
                    deep = "mid-year" in label
                    first_page = {"cluster": "", "start_at": datetime(1970, 1, 1, tzinfo=UTC), "run_id": 0, "first": ""}
                    query_params = {**(params if deep else first_page), "limit": limit}
                    raw, _, _ = timed(lambda s=sql, p=query_params: db.session.connection().exec_driver_sql(
                        s, p).fetchall(), args.requests)
                results.append((label, server, worst, raw))
                db.session.rollback()
            day = ("from=" + (start_at.replace(hour=0, minute=0)).isoformat().replace("+", "%2B")
                   + "&to=" + (start_at.replace(hour=23, minute=59)).isoformat().replace("+", "%2B"))
            walks = [("devices, all 10,000 at 1,000 a page", walk(client, f"{API}/devices?limit=1000", auth)),
                     ("plays of one UTC day at 1,000 a page", walk(client, f"{API}/plays?limit=1000&{day}", auth))]
            plan = plan_nodes(RAW["plays"], {**params, "limit": 1000})
            service_sql = upward_plays_sql(start_at, run_id, first)
    load = os.getloadavg()[0]
    print(f"\n10,000 clusters, {runs:,} runs, {deliveries:,} deliveries, PostgreSQL; median of {args.requests} "
          f"requests (load average {load:.1f} on {os.cpu_count()} cores)\n")
    print(f"{'request':44} {'server ms':>10} {'worst':>8} {'raw SQL ms':>11} {'ratio':>7}  goal")
    failed = False
    for label, server, worst, raw in results:
        ok = server * 1000 < GOAL_MS
        failed |= not ok
        raw_text = f"{raw * 1000:11.1f} {server / raw:6.1f}x" if raw else f"{'—':>11} {'—':>7}"
        print(f"{label:44} {server * 1000:10.1f} {worst * 1000:8.1f} {raw_text}  {'ok' if ok else 'OVER'}")
    print()
    for label, (pages, items, seconds) in walks:
        print(f"walk: {label}: {items:,} items in {pages} pages, {seconds:.2f} s")
    print(f"\nraw plays page, mid-year: {plan}")
    print(f"service plays page, mid-year: {service_sql}")
    return 1 if failed else 0


def upward_plays_sql(start_at, run_id, first) -> str:
    """The plan of the service's own plays query deep in the year, as the district's reader asks it."""
    user = db.session.query(User).filter_by(username="so-tttt").one()
    with Recorder(db.engine) as recorded:
        upward.plays(user, upward.Window(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)), None,
                     (start_at, run_id, first), 1000)
    statement, parameters = [(sql, given) for sql, given in recorded.statements if "FROM delivery" in sql][-1]
    return plan_nodes(statement, parameters)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=5)
    add_postgres_option(parser)
    parser.add_argument("--database", metavar="URL", help="an existing PostgreSQL database to fill if it is empty "
                        "and to keep: a second run measures at once (building the year takes minutes)")
    args = parser.parse_args()
    if args.database:
        return measure(args, args.database)
    if not args.postgres:
        parser.error("--postgres URL or --database URL is needed: the year of runs is made by PostgreSQL")
    with database_for(args) as url:
        return measure(args, url)


if __name__ == "__main__":
    sys.exit(main())
