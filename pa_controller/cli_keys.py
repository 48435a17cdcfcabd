"""`flask pa keys …`: the keys that sign commands (docs/operations.md, "Command keys")."""

import click
from flask.cli import AppGroup

from pa_controller import clock, settings
from pa_controller.services import command_keys, key_statements

keys_group = AppGroup("keys", help="The keys that sign commands (docs/operations.md, \"Command keys\").")


def key_files() -> command_keys.KeyFiles:
    return command_keys.KeyFiles(settings.current().key_dir)


def _when(moment) -> str:
    return moment.astimezone(clock.LOCAL_ZONE).strftime("%Y-%m-%d %H:%M:%S %z") if moment is not None else "-"


@keys_group.command("init")
def keys_init():
    """Create the first command key, signed by itself, unless one is current already; sign again any statement of
    the key list that does not verify (after an upgrade)."""
    try:
        key, created = command_keys.init(key_files())
    except command_keys.CommandKeyError as exc:
        raise click.ClickException(str(exc)) from None
    if created:
        click.echo(f"created command key {key.kid}; its private half is {key_files().path(key.kid)} (mode 600): "
                   "back up the key directory")
    else:
        click.echo(f"command key {key.kid} is current already")
    signed, left = key_statements.sign_again(key_files())
    for sentence in signed:
        click.echo(f"signed again: {sentence}")
    for sentence in left:  # the current key still signs, so `make run` goes on; clusters behind it cannot follow
        click.echo(f"warning: {sentence}; clusters that do not hold the keys after it cannot learn them",
                   err=True)


@keys_group.command("list")
def keys_list():
    """List the command keys in the order of the chain: state, times, who endorsed each, and whether its private
    file is here; then any statement of the key list that does not verify."""
    files = key_files()
    keys = command_keys.all_keys()
    if not keys:
        click.echo("no command key yet: run `flask pa keys init`")
        return
    click.echo(f"{'seq':>3}  {'id':16}  {'state':7}  {'created':24}  {'activated':24}  {'not after':24}  "
               f"{'signed by':16}  file")
    for key in keys:
        present = "present" if files.path(key.kid).is_file() else "MISSING"
        click.echo(f"{key.seq:>3}  {key.kid:16}  {key.state.value:7}  {_when(key.created_at):24}  "
                   f"{_when(key.activated_at):24}  {_when(key.not_after):24}  {key.signed_by:16}  {present}")
    for sentence in key_statements.unsigned_statements():
        click.echo(f"does not verify: {sentence}: run `flask pa keys init` as the keys' owner")


@keys_group.command("rotate")
def keys_rotate():
    """Create the next key, endorsed by the current one and published at once; the current one keeps signing."""
    try:
        key = command_keys.rotate(key_files())
    except command_keys.CommandKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created next key {key.kid} (seq {key.seq}), endorsed by {key.signed_by} and published; clusters "
               "learn it within 10 minutes: then run `flask pa keys activate`")


@keys_group.command("activate")
def keys_activate():
    """Make the next key current; the old one retires once every command it may have signed has expired."""
    try:
        key, retired = command_keys.activate(key_files())
    except command_keys.CommandKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"key {key.kid} now signs every command")
    if retired is not None:
        click.echo(f"key {retired.kid} is retired: clusters accept what it signed until {_when(retired.not_after)}")
