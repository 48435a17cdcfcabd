"""`flask pa …` commands: fleet import, scheduler, broker config, bootstrap; users and tokens in cli_people."""

import csv
import io
import logging
import secrets
import signal
import threading
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from pa_controller import cli_people, clock, settings
from pa_controller.domain import Role
from pa_controller.errors import ServiceError
from pa_controller.extensions import db
from pa_controller.messaging.broker import config as broker_config
from pa_controller.messaging.broker import tls as broker_tls
from pa_controller.messaging.broker.accounts import BrokerFilesError, write_private
from pa_controller.messaging.broker.config import BrokerFiles, Listener, TlsListener
from pa_controller.models import User
from pa_controller.services import audit, broker_access, command_keys, fleet, people


def _acting_from_the_command_line() -> None:
    audit.set_actor(audit.Actor.command_line())  # the worker's threads start without it: they act as `system`


pa = AppGroup("pa", help="LoaNet commands.", callback=_acting_from_the_command_line)
fleet_group = AppGroup("fleet", help="The fleet of clusters.")
pa.add_command(fleet_group)
pa.add_command(cli_people.users)
pa.add_command(cli_people.tokens_group)
keys_group = AppGroup("keys", help="The keys that sign commands (docs/operations.md, \"Command keys\").")
pa.add_command(keys_group)


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


def _key_files() -> command_keys.KeyFiles:
    return command_keys.KeyFiles(settings.current().key_dir)


def _when(moment) -> str:
    return moment.astimezone(clock.LOCAL_ZONE).strftime("%Y-%m-%d %H:%M:%S %z") if moment is not None else "-"


@keys_group.command("init")
def keys_init():
    """Create the first command key, signed by itself, unless one is current already."""
    try:
        key, created = command_keys.init(_key_files())
    except command_keys.CommandKeyError as exc:
        raise click.ClickException(str(exc)) from None
    if created:
        click.echo(f"created command key {key.kid}; its private half is {_key_files().path(key.kid)} (mode 600): "
                   "back up the key directory")
    else:
        click.echo(f"command key {key.kid} is current already")


@keys_group.command("list")
def keys_list():
    """List the command keys: state, times, who endorsed each, and whether its private file is here."""
    files = _key_files()
    keys = command_keys.all_keys()
    if not keys:
        click.echo("no command key yet: run `flask pa keys init`")
        return
    click.echo(f"{'id':16}  {'state':7}  {'created':24}  {'activated':24}  {'not after':24}  {'signed by':16}  file")
    for key in keys:
        present = "present" if files.path(key.kid).is_file() else "MISSING"
        click.echo(f"{key.kid:16}  {key.state.value:7}  {_when(key.created_at):24}  {_when(key.activated_at):24}  "
                   f"{_when(key.not_after):24}  {key.signed_by:16}  {present}")


@keys_group.command("rotate")
def keys_rotate():
    """Create the next key, endorsed by the current one and published at once; the current one keeps signing."""
    try:
        key = command_keys.rotate(_key_files())
    except command_keys.CommandKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created next key {key.kid}, endorsed by {key.signed_by} and published; clusters learn it within "
               "10 minutes: then run `flask pa keys activate`")


@keys_group.command("activate")
def keys_activate():
    """Make the next key current; the old one retires once every command it may have signed has expired."""
    try:
        key, retired = command_keys.activate(_key_files())
    except command_keys.CommandKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"key {key.kid} now signs every command")
    if retired is not None:
        click.echo(f"key {retired.kid} is retired: clusters accept what it signed until {_when(retired.not_after)}")


@pa.command("scheduler")
def scheduler():
    """Run the one scheduler process: dispatch, MQTT ingest, outbox. Stops on Ctrl-C or SIGTERM."""
    from pa_controller.scheduling.lock import SchedulerLocked
    from pa_controller.scheduling.worker import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    clock.log_in_local_time()
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)  # one line per second otherwise
    worker = Worker(current_app._get_current_object(), settings.current())
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        worker.start()
    except SchedulerLocked as exc:
        raise click.ClickException(f"{exc}; stop it first (only one scheduler may dispatch)") from None
    stop.wait()
    worker.stop()


@pa.command("broker-config")
@click.option("--port", type=int, help="the plain listener's port  [default: PA_MQTT_PORT]")
@click.option("--host", default="127.0.0.1", show_default=True, help="the plain listener's address")
@click.option("--tls-port", type=int, help="the TLS listener's port; 0 for none  [default: PA_MQTTS_PORT]")
@click.option("--tls-host", default="127.0.0.1", show_default=True,
              help="the TLS listener's address (0.0.0.0 for clusters on the network)")
@click.option("--cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="a real server certificate (full chain, PEM) instead of the development CA's")
@click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="the key of --cert")
def broker_config_command(port: int | None, host: str, tls_port: int | None, tls_host: str, cert: Path | None,
                          key: Path | None):
    """Write Mosquitto's config, password and ACL files into PA_BROKER_DIR, from the fleet."""
    given = settings.current()
    if (cert is None) != (key is None):
        raise click.UsageError("--cert and --key go together")
    files = BrokerFiles(given.broker_dir)
    files.directory.mkdir(parents=True, exist_ok=True)
    tls_port = given.mqtts_port if tls_port is None else tls_port
    tls = None
    if tls_port:
        if cert is None:
            broker_tls.ensure_development_ca(files)
            cert, key = files.server_cert, files.server_key
        tls = TlsListener(tls_port, cert.resolve(), key.resolve(), tls_host)
    broker_access.ensure_own_accounts(given)
    try:
        broker_access.write_accounts(given)
    except BrokerFilesError as exc:
        raise click.ClickException(str(exc)) from None
    conf = broker_config.write(files, Listener(port or given.mqtt_port, host), tls)
    click.echo(f"wrote {conf}, {files.passwd.name} and {files.acl.name} in {files.directory}")
    if tls is not None:
        signed_by = f"the development CA {files.ca_cert}" if tls.certfile == files.server_cert else tls.certfile
        click.echo(f"TLS on {tls_host}:{tls_port}, certificate from {signed_by}")


broker_group = AppGroup("broker", help="Broker accounts: cluster passwords, revocation, reload.")
pa.add_command(broker_group)


def _write_passwords(path: Path, issued: list[broker_access.Issued]) -> None:
    """Add or replace the issued rows in a `cid,password` CSV (mode 600), keeping the other clusters' rows."""
    rows = dict(_read_passwords(path)) if path.exists() else {}
    rows.update((one.cid, one.password) for one in issued)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["cid", "password"])
    writer.writerows(rows.items())
    write_private(path, out.getvalue())


def _read_passwords(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as rows:
        return [(row[0], row[1]) for row in csv.reader(rows) if len(row) >= 2 and row[:2] != ["cid", "password"]]


@broker_group.command("credentials")
@click.option("--cluster", "cids", multiple=True, metavar="CID", help="this cluster (repeatable)")
@click.option("--missing", is_flag=True, help="every cluster in service that has no password yet")
@click.option("--reissue", is_flag=True, help="a new password even to a --cluster that has one (the old one stops "
              "working at the broker's next reload)")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="add the cid,password rows to this CSV (mode 600; what `firmware_sim --credentials` reads) "
              "instead of printing them")
def broker_credentials(cids: tuple[str, ...], missing: bool, reissue: bool, out: Path | None):
    """Issue broker passwords to clusters; each is shown once, and only its hash is kept."""
    if not cids and not missing:
        raise click.UsageError("name clusters with --cluster CID, or pass --missing")
    try:
        issued = broker_access.issue(cids, missing=missing, reissue=reissue)
    except ServiceError as exc:
        raise click.ClickException(str(exc.message)) from None
    skipped = sorted(set(cids) - {one.cid for one in issued})
    if skipped:
        click.echo(f"kept the passwords of {', '.join(skipped)} (--reissue to replace them)", err=True)
    if out is not None:
        _write_passwords(out, issued)
        click.echo(f"issued {len(issued)} passwords into {out}", err=True)
    else:
        click.echo("cid,password")
        for one in issued:
            click.echo(f"{one.cid},{one.password}")
    if issued:
        click.echo("the broker learns them within seconds if the worker runs (else: flask pa broker reload)",
                   err=True)


@broker_group.command("revoke")
@click.argument("cids", nargs=-1, required=True, metavar="CID…")
def broker_revoke(cids: tuple[str, ...]):
    """Take clusters' broker passwords away: they are disconnected and refused at the broker's next reload."""
    removed = broker_access.revoke(cids)
    unknown = sorted(set(cids) - set(removed))
    if unknown:
        click.echo(f"no password to revoke for {', '.join(unknown)}", err=True)
    click.echo(f"revoked {len(removed)}")


@broker_group.command("reload")
def broker_reload():
    """Rewrite the broker's password and ACL files from the fleet now, and make the broker reload them."""
    sync = broker_access.BrokerSync(settings.current())
    if not sync.sync():
        raise click.ClickException("the broker's accounts could not be brought up to date (see the error above)")
    click.echo(f"rewrote {sync.files.passwd} and {sync.files.acl}; the broker reloaded them")


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


DEMO_USERS = (("canbo-thoihoa", Role.OFFICER, "thoi-hoa"), ("kythuat", Role.TECHNICIAN, None))


def _demo_users(path: Path) -> None:
    """Create an officer of Thới Hòa and a technician once, their passwords in `path` (mode 600)."""
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
@click.option("--demo-users", is_flag=True, help="Also create an officer of Thới Hòa and a technician (make run).")
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
        key, created = command_keys.init(_key_files())
    except command_keys.CommandKeyError as exc:
        raise click.ClickException(str(exc)) from None
    if created:
        click.echo(f"command key {key.kid} created in {_key_files().directory}")
    if demo_users:
        _demo_users(token_file.with_name("demo-users"))


def register(app: Flask) -> None:
    app.cli.add_command(pa)
