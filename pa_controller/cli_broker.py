"""`flask pa broker-config` and `flask pa broker …`: Mosquitto's files from the fleet, cluster passwords, reloads."""

import csv
import io
from pathlib import Path

import click
from flask.cli import AppGroup

from pa_controller import settings
from pa_controller.errors import ServiceError
from pa_controller.messaging.broker import config as broker_config
from pa_controller.messaging.broker import tls as broker_tls
from pa_controller.messaging.broker.accounts import BrokerFilesError, write_private
from pa_controller.messaging.broker.config import BrokerFiles, Listener, TlsListener
from pa_controller.services import broker_access


@click.command("broker-config")
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
