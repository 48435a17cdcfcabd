"""Every migration goes down and up again, one revision at a time, on the database of a district in use: each step
succeeds, what a revision keeps is still there after it, and at head the controller works on what came back.

The revisions are read from the Alembic script directory, so a new migration is walked without changing this test.
Each fact below is checked after every step that leaves the database at or above its `since` revision; a fact that
is `kept` must also hold on the way back up (what a downgrade drops, an upgrade cannot bring back)."""

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import Connection, inspect, text

import pa_protocol as protocol
from pa_controller import clock, create_app
from pa_controller.extensions import db
from tests.support.district import District, fill

pytestmark = pytest.mark.e2e  # a minute on two databases: with the slow suites (`make test-e2e`)
FLEET = 456  # clusters in pa_controller/data/o-mon-fleet.csv
# The downgrades that drop or change rows the earlier revision keeps; each says so in the log, with how many.
LOSSY_DOWNGRADES = {"0004", "0007", "0015", "0018"}


@dataclass(frozen=True)
class Fact:
    """Something true of the district's data from revision `since` on."""

    what: str
    read: Callable[[Connection], object]
    since: str = "0001"
    kept: bool = True


def rows(sql: str) -> Callable[[Connection], list[tuple]]:
    """Read a query's rows, sorted, with JSON as values whichever database stored it."""
    def read(connection: Connection) -> list[tuple]:
        return sorted((tuple(_value(v) for v in row) for row in connection.execute(text(sql))), key=repr)

    return read


def _value(value):
    if isinstance(value, str) and (value[:1] in "[{" or value == "null"):  # SQLite's JSON comes as text
        return json.loads(value)
    return value


def tokens_in_force(connection: Connection) -> list[tuple]:
    """Below 0015 a token cannot be revoked, so the downgrade keeps only those in force."""
    revocable = "revoked_at" in {c["name"] for c in inspect(connection).get_columns("api_token")}
    return rows("SELECT name, token_sha256 FROM api_token" + (" WHERE revoked_at IS NULL" if revocable else ""))(
        connection)


def clusters_reached(connection: Connection) -> dict[int, list[str]]:
    """The clusters each broadcast with a clip names, its groups' members included while groups exist."""
    members: dict[int, set[str]] = {}
    if inspect(connection).has_table("group_cluster"):
        for group_id, cluster_id in connection.execute(text("SELECT group_id, cluster_id FROM group_cluster")):
            members.setdefault(group_id, set()).add(cluster_id)
    reached = {}
    for broadcast_id, targets in connection.execute(text("SELECT id, targets FROM broadcast "
                                                         "WHERE audio_id IS NOT NULL")):
        targets = _value(targets)
        named = set(targets.get("clusters", [])).union(*(members[g] for g in targets.get("groups", [])))
        reached[broadcast_id] = sorted(named) or targets
    return reached


CLIP_RUNS = "FROM run JOIN broadcast ON broadcast.id = run.broadcast_id WHERE broadcast.audio_id IS NOT NULL"
FACTS = (
    Fact("the wards", rows("SELECT id, name FROM ward")),
    Fact("every cluster of the fleet, its ward and place", rows(
        "SELECT id, name, ward_id, lat, lon, speakers, retired FROM cluster")),
    Fact("the clusters' last known state", rows("SELECT cluster_id, online, boot_id, volume FROM cluster_state")),
    Fact("everybody, by name", rows('SELECT username, password_hash FROM "user"')),
    Fact("the API tokens in force", tokens_in_force),
    Fact("the clips of the library", rows("SELECT id, sha256, title, duration_ms, uploaded_by FROM audio")),
    Fact("every broadcast with a clip", rows("SELECT id, title, audio_id, priority, start_at, rrule FROM broadcast "
                                             "WHERE audio_id IS NOT NULL")),
    Fact("the clusters each broadcast with a clip reaches", clusters_reached),
    Fact("the wards of each broadcast with a clip", rows(
        "SELECT broadcast_id, ward_id FROM broadcast_ward JOIN broadcast ON broadcast.id = broadcast_id "
        "WHERE broadcast.audio_id IS NOT NULL"), since="0002"),
    Fact("the runs of broadcasts with a clip, in their states", rows(f"SELECT run.id, run.start_at, run.state "
                                                                     f"{CLIP_RUNS}")),
    Fact("their deliveries, in their states", rows(
        f"SELECT delivery.run_id, cluster_id, cmd_id, delivery.state FROM delivery WHERE run_id IN "
        f"(SELECT run.id {CLIP_RUNS})")),
    Fact("the commands waiting in the outbox", rows("SELECT cmd_id, topic, sent_at FROM outbox_message")),
    Fact("the worker's beat", rows("SELECT name, mqtt_connected FROM service_beat")),
    Fact("stop orders", rows("SELECT reason, clusters FROM stop_order"), since="0003", kept=False),
    Fact("relays and programmes", rows("SELECT id, kind, stream_url, programme, duration_ms FROM broadcast"),
         since="0004", kept=False),
    Fact("every run", rows("SELECT id, state FROM run"), since="0004", kept=False),
    Fact("the ward rules", rows("SELECT ward_id, quiet_start, max_sessions_per_day, weekdays FROM ward_rules"),
         since="0004", kept=False),
    Fact("outages and incidents", rows("SELECT outage.cluster_id, incident.kind FROM outage JOIN incident "
                                       "ON incident.outage_id = outage.id"), since="0005", kept=False),
    Fact("heartbeats and their buckets", rows("SELECT s.cluster_id, s.rssi_dbm, b.beats FROM heartbeat_sample s "
                                              "JOIN telemetry_bucket b ON b.cluster_id = s.cluster_id"),
         since="0005", kept=False),
    Fact("maintenance and remote commands", rows("SELECT m.reason, c.cluster_id, c.type FROM maintenance_window m, "
                                                 "fleet_command c"), since="0005", kept=False),
    Fact("times of day", rows("SELECT id, times FROM broadcast"), since="0007", kept=False),
    Fact("when deliveries were ready", rows("SELECT cmd_id FROM delivery WHERE ready_at IS NOT NULL"),
         since="0008", kept=False),
    Fact("which clips are composed programmes", rows("SELECT id FROM audio WHERE composed"), since="0009"),
    Fact("the audit log", rows("SELECT id, action, target FROM audit_entry"), since="0012", kept=False),
    Fact("the command keys", rows("SELECT kid, public_key, state, created_at FROM command_key"), since="0013",
         kept=False),
    Fact("refusals counted", rows("SELECT cluster_id, kind, reason, count FROM refusal_count"), since="0013",
         kept=False),
    Fact("broker credentials", rows("SELECT cluster_id, password_hash FROM broker_credential"), since="0014",
         kept=False),
    Fact("the district's refusals", rows("SELECT kind, reason, count FROM fleet_refusal_count"), since="0021",
         kept=False),
    Fact("people's roles and wards", rows('SELECT username, role, active, ward_id FROM "user" '
                                          "LEFT JOIN user_ward ON user_ward.user_id = id"), since="0015", kept=False),
    Fact("sessions and failed logins", rows("SELECT s.address, f.username FROM user_session s, login_failure f"),
         since="0015", kept=False),
    Fact("the wards of the recordings", rows("SELECT id, ward_id FROM audio WHERE NOT composed"), since="0016"),
    Fact("the wards of the programmes", rows("SELECT id, ward_id FROM audio WHERE composed"), since="0016",
         kept=False),  # from the recordings the programme names, which go below 0004
    Fact("the key chain", rows("SELECT kid, seq, signed_by, retired_by FROM command_key"), since="0017",
         kept=False),
    Fact("approvals", rows("SELECT b.id, b.approval, s.action, s.comment FROM broadcast b "
                           "LEFT JOIN approval_step s ON s.broadcast_id = b.id"), since="0018", kept=False),
    Fact("who may send emergencies", rows('SELECT username FROM "user" WHERE may_send_emergencies'), since="0018",
         kept=False),
    Fact("the text of clips read aloud", rows("SELECT id, speech_text FROM audio WHERE speech_text IS NOT NULL"),
         since="0019", kept=False),
    Fact("groups and their clusters", rows("SELECT g.name, m.cluster_id FROM cluster_group g "
                                           "JOIN group_cluster m ON m.group_id = g.id"), since="0020", kept=False),
)


def steps() -> list[tuple[str, str]]:
    """Each revision after the one below it ("base" for the first), from the first to head, as the script
    directory orders them."""
    migrate = current_app.extensions["migrate"]
    script = ScriptDirectory.from_config(migrate.migrate.get_config(migrate.directory))
    return [(r.down_revision or "base", r.revision) for r in reversed(list(script.walk_revisions()))]


def read_all() -> dict[Fact, object]:
    with db.engine.connect() as connection:
        return {fact: fact.read(connection) for fact in FACTS}


def step(move: Callable, revision: str, description: str) -> None:
    """Migrate to `revision`, or fail naming the step that broke."""
    db.session.remove()  # no transaction of the test's may hold a lock the migration waits for
    try:
        move(revision=revision)
    except (Exception, SystemExit) as exc:  # Flask-Migrate turns an Alembic error into sys.exit(1)
        pytest.fail(f"{description} failed on a database with data: {exc!r}")


def check(seen: dict[Fact, object], order: list[str], at: str, description: str, *, kept_only: bool) -> None:
    """Check every fact that holds at revision `at`; say which step broke which fact."""
    with db.engine.connect() as connection:
        for fact in FACTS:
            if order.index(fact.since) <= order.index(at) and (fact.kept or not kept_only):
                assert fact.read(connection) == seen[fact], f"after {description}: {fact.what} changed"


@contextmanager
def warnings_of_migrations() -> Iterator[list[str]]:
    """Collect what the migrations warn of (the data a downgrade drops or changes).

    A filter, not a handler: each migration command runs env.py, whose fileConfig clears the handlers of
    alembic's loggers but leaves their filters."""
    said: list[str] = []

    def note(record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            said.append(record.getMessage())
        return True

    logger = logging.getLogger("alembic.runtime.migration")
    logger.addFilter(note)
    try:
        yield said
    finally:
        logger.removeFilter(note)


def listed(client, auth: dict) -> list[dict]:
    answer = client.get("/api/v1/broadcasts", headers=auth)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["broadcasts"]


def approved_titles(broadcasts: list[dict]) -> list[str]:
    """What 0018's downgrade does not cancel."""
    return sorted(b["title"] for b in broadcasts if b["approval"]["state"] == "approved")


def assert_the_district_works(client, district: District, officer_saw: list[dict]) -> None:
    """The whole fleet answers, the officer still sees their ward's broadcasts, and a new broadcast is planned."""
    clusters = client.get("/api/v1/clusters", headers=district.admin_auth)
    assert clusters.status_code == 200 and len(clusters.get_json()) == FLEET, clusters.get_json()
    assert sorted(b["title"] for b in listed(client, district.officer_auth)) == approved_titles(officer_saw)
    made = client.post("/api/v1/broadcasts", headers=district.admin_auth, json={
        "title": "Sau nâng cấp", "audio_id": district.clip_id, "priority": "normal", "targets": {"wards": ["thoi-hoa"]},
        "start_at": protocol.format_time(clock.now() + timedelta(hours=12))})
    assert made.status_code == 201, made.get_json()
    assert len(made.get_json()["next_runs"]) == 1


@pytest.fixture
def empty_app(empty_database_url, make_settings):
    app = create_app(make_settings(empty_database_url))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def assert_every_table_holds_rows() -> None:
    tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
    with db.engine.connect() as connection:
        empty = sorted(t for t in tables if not connection.execute(text(f'SELECT 1 FROM "{t}" LIMIT 1')).first())
    assert not empty, f"the district leaves these tables empty, so their migrations would go untested: {empty}"


def assert_the_schema_is_the_models() -> None:
    with db.engine.connect() as connection:
        drift = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert not drift, f"after the round trip the schema is not the models': {drift}"


def test_every_migration_goes_down_and_up_again_keeping_the_district_s_data(empty_app, tmp_path):
    upgrade()
    district = fill(empty_app, tmp_path)
    assert_every_table_holds_rows()
    seen = read_all()
    assert all(seen.values()), [fact.what for fact, value in seen.items() if not value]
    officer_saw = listed(empty_app.test_client(), district.officer_auth)
    assert len(officer_saw) > len(approved_titles(officer_saw)) > 1, officer_saw

    walk = steps()[1:]  # down to the first revision: below it there is no table left to hold data
    order = [walk[0][0], *(revision for _, revision in walk)]
    with warnings_of_migrations() as said:
        for below, revision in reversed(walk):
            description = f"downgrade {revision} → {below}"
            step(downgrade, below, description)
            check(seen, order, below, description, kept_only=False)
    warned = {message.split(" ", 1)[0] for message in said}
    assert warned >= LOSSY_DOWNGRADES, f"a downgrade dropped or changed data without a warning: {said}"
    for below, revision in walk:
        description = f"upgrade {below} → {revision}"
        step(upgrade, revision, description)
        check(seen, order, revision, description, kept_only=True)
    assert_the_schema_is_the_models()
    assert_the_district_works(empty_app.test_client(), district, officer_saw)

    step(downgrade, "base", "downgrade to base")
    assert not set(inspect(db.engine).get_table_names()) & set(db.metadata.tables), "base must hold no table"
