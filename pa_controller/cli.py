"""`flask pa …` commands: fleet import, scheduler, bootstrap; users and tokens in cli_people, command keys in
cli_keys, the broker in cli_broker, pruning, backup and restore in cli_data."""

import logging
import secrets
import signal
import threading
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from pa_controller import cli_broker, cli_data, cli_keys, cli_people, clock, settings
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import User
from pa_controller.services import audit, command_keys, fleet, people


def _acting_from_the_command_line() -> None:
    """Name the operating-system user as the actor of this command, until it ends (the worker's threads start
    without it: they act as `system`)."""
    token = audit.set_actor(audit.Actor.command_line())
    click.get_current_context().call_on_close(lambda: audit.reset_actor(token))


pa = AppGroup("pa", help="LoaNet commands.", callback=_acting_from_the_command_line)
fleet_group = AppGroup("fleet", help="The fleet of clusters.")
pa.add_command(fleet_group)
pa.add_command(cli_people.users)
pa.add_command(cli_people.tokens_group)
pa.add_command(cli_keys.keys_group)
pa.add_command(cli_broker.broker_config_command)
pa.add_command(cli_broker.broker_group)
pa.add_command(cli_data.prune_command)
pa.add_command(cli_data.backup_command)
pa.add_command(cli_data.restore_command)


@fleet_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def fleet_import(path: Path):
    """Import wards and clusters from a CSV file, all or nothing."""
    try:
        result = fleet.import_csv(path.read_text(encoding="utf-8"))
    except fleet.FleetImportError as exc:
        for line in exc.errors:
            click.echo(line, err=True)
        raise click.ClickException(str(exc.message)) from None
    except UnicodeDecodeError:
        raise click.ClickException(f"{path} is not UTF-8 text; save it as CSV UTF-8") from None
    click.echo(f"imported {result.clusters} clusters ({result.speakers} speakers) in {result.wards} wards")


def _run_until_signalled() -> threading.Event:
    """Set up a long-running process: log lines in local time, and an event that Ctrl-C or SIGTERM sets."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    clock.log_in_local_time()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@pa.command("scheduler")
def scheduler():
    """Run the one scheduler process: dispatch, the outbox, and the reports unless `flask pa ingest` processes
    take them (PA_INGEST_WORKERS). Stops on Ctrl-C or SIGTERM."""
    from pa_controller.scheduling.lock import SchedulerLocked
    from pa_controller.scheduling.worker import Worker

    stop = _run_until_signalled()
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)  # one line per second otherwise
    worker = Worker(current_app._get_current_object(), settings.current())
    try:
        worker.start()
    except SchedulerLocked as exc:
        raise click.ClickException(f"{exc}; stop it first (only one scheduler may dispatch)") from None
    while not stop.wait(1.0) and not worker.lock_lost.is_set():
        pass
    worker.stop()
    if worker.lock_lost.is_set():
        raise click.ClickException("another scheduler took the lock while the database was away; this one stopped")


@pa.command("ingest")
@click.option("--worker", "number", type=click.IntRange(min=1), required=True,
              help="Which ingest process this is, 1 to PA_INGEST_WORKERS: its broker account (loanet.ingest.N), "
                   "client id and health row.")
def ingest_command(number: int):
    """Run one ingest process: store the clusters' reports (status, heartbeat, events), shared with the others.

    \b
    Start one per number from 1 to PA_INGEST_WORKERS, beside the one `flask pa scheduler`:
      PA_INGEST_WORKERS=N   how many ingest processes there are; the scheduler, given N > 0,
                            leaves the reports to them (0, the default: it takes them itself)
      PA_MQTT_URL / PA_MQTT_PORT, PA_MQTT_ROOT, PA_MQTT_CA_FILE, PA_BROKER_DIR
                            the broker, as for the scheduler; the process logs in as loanet.ingest.N
                            with the password in $PA_BROKER_DIR/ingest.N.password (mode 600, made by
                            `flask pa broker-config`), never a login in PA_MQTT_URL
      DATABASE_URL          where the reports are stored
    Each report goes to one process of the group ($share/loanet-ingest/<root>/+/<kind>) and is acknowledged once
    stored: a process killed with reports in hand is given them again when it restarts (same --worker).
    Stops on Ctrl-C or SIGTERM, after storing what it holds.
    """
    from pa_controller.scheduling.ingest_worker import IngestWorker

    try:
        worker = IngestWorker(current_app._get_current_object(), settings.current(), number)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    stop = _run_until_signalled()
    worker.start()
    stop.wait()
    worker.stop()


@pa.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--ward", "wards", multiple=True, help="A ward of theirs (repeat for several).")
@click.option("--district", is_flag=True, help="The whole district (an approver or a viewer).")
@click.password_option()
@cli_people.plainly
def create_user(username: str, role: str, wards: tuple[str, ...], district: bool, password: str):
    """Add a user (the same as `users create`)."""
    cli_people.create_user(username, role, wards, district, password)


@pa.command("create-token")
@click.argument("username")
@click.option("--name", default="cli", show_default=True)
@cli_people.plainly
def create_token(username: str, name: str):
    """Print a new API token for a user, with every scope of their role (see `tokens create`)."""
    cli_people.create_token(username, name, (), None)


DEMO_USERS = (("canbo-thoihoa", Role.OFFICER, "thoi-hoa"), ("duyet-thoihoa", Role.APPROVER, "thoi-hoa"),
              ("kythuat", Role.TECHNICIAN, None))


def _demo_users(path: Path) -> None:
    """Create an officer and an approver of Thới Hòa and a technician once, their passwords in `path` (mode 600)."""
    made = []
    for username, role, ward_id in DEMO_USERS:
        if db.session.scalar(select(User).where(User.username == username)) is None:
            password = secrets.token_urlsafe(12)
            people.create_user(username, password, role, ward_id)
            made.append(f"{username} {role.value} {ward_id or '-'} {password}")
    if made:
        path.touch(mode=0o600)
        with path.open("a") as out:
            out.write("".join(line + "\n" for line in made))
        click.echo(f"demo users: {', '.join(u for u, _r, _w in DEMO_USERS)}; passwords in {path}")


@pa.command("bootstrap")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--demo-users", is_flag=True,
              help="Also create an officer and an approver of Thới Hòa and a technician (make run).")
def bootstrap(token_file: Path, demo_users: bool):
    """Create the first administrator once, and write a fresh API token for it (mode 600)."""
    admin = db.session.scalar(select(User).where(User.role == Role.ADMIN).order_by(User.id))
    password_file = token_file.with_name("admin-password")
    if admin is None:
        password = secrets.token_urlsafe(12)
        admin = people.create_user("admin", password, Role.ADMIN)
        password_file.touch(mode=0o600)
        password_file.write_text(password + "\n")
    token_file.touch(mode=0o600)
    token_file.chmod(0o600)
    people.revoke_tokens(admin, "bootstrap")  # one bootstrap token at a time, not one per `make run`
    token_file.write_text(people.issue_token(admin, "bootstrap") + "\n")
    click.echo(f"administrator: {admin.username}; password in {password_file}; API token in {token_file}")
    try:
        key, created = command_keys.init(cli_keys.key_files())
    except command_keys.CommandKeyError as exc:
        raise click.ClickException(str(exc)) from None
    if created:
        click.echo(f"command key {key.kid} created in {cli_keys.key_files().directory}")
    if demo_users:
        _demo_users(token_file.with_name("demo-users"))


def register(app: Flask) -> None:
    app.cli.add_command(pa)
