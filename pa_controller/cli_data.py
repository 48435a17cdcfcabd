"""`flask pa prune`, `backup` and `restore`: the data's life cycle (docs/operations.md, "Keeping records" and
"Backing up and restoring")."""

from pathlib import Path

import click
from flask.cli import with_appcontext

from pa_controller import settings
from pa_controller.extensions import db
from pa_controller.services import backup as backups
from pa_controller.services import retention


@click.command("prune")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--batch", type=click.IntRange(1, 1_000_000), default=retention.BATCH, show_default=True,
              help="Rows deleted a transaction.")
@with_appcontext
def prune_command(dry_run: bool, batch: int):
    """Delete raw heartbeats, rollups, sent commands and audit entries older than their windows."""
    def progress(name: str, rows: int) -> None:
        click.echo(f"  {name}: {rows:,} deleted so far", err=True)

    for done in retention.prune(dry_run=dry_run, batch=batch, progress=progress):
        verb = "would delete" if dry_run else "deleted"
        click.echo(f"{done.name}: {verb} {done.rows:,} older than {done.cutoff.isoformat(timespec='seconds')}")


@click.command("backup")
@click.argument("dest", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--no-keys", is_flag=True, help="Leave the private command keys out (a copy for someone else).")
@with_appcontext
def backup_command(dest: Path, no_keys: bool):
    """Write the database, the media store and the command keys to DEST, one archive readable by its owner only."""
    db.session.remove()
    try:
        manifest = backups.backup(settings.current(), dest, keys=not no_keys)
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    media = sum(1 for name in manifest["files"] if name.startswith("media/"))
    keys = sum(1 for name in manifest["files"] if name.startswith("keys/"))
    click.echo(f"{dest}: {manifest['database']} database at revision {manifest['revision']}, {media} media files, "
               f"{keys} command keys; {dest.stat().st_size:,} bytes, mode 600")
    if keys:
        click.echo("it holds the private command keys: keep it where only the operators can read it")


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace what the database and the key directory hold.")
@click.option("--check", is_flag=True, help="Only check the archive against its manifest; restore nothing.")
@with_appcontext
def restore_command(source: Path, force: bool, check: bool):
    """Restore an archive of `flask pa backup` into DATABASE_URL, PA_MEDIA_DIR and PA_KEY_DIR."""
    db.session.remove()
    db.engine.dispose()  # the restore replaces the database under any connection this process holds
    try:
        if check:
            manifest = backups.read_manifest(source)
            click.echo(f"{source}: sound; {manifest['database']} database at revision {manifest['revision']}, "
                       f"made {manifest['created_at']}, {len(manifest['files'])} files")
            return
        done = backups.restore(settings.current(), source, force=force)
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    manifest = done.manifest
    click.echo(f"restored the {manifest['database']} database at revision {manifest['revision']} "
               f"(made {manifest['created_at']}), {done.media_written} media files written "
               f"({done.media_present} already there), {done.keys_written} command keys")
    click.echo("next: `flask db upgrade` if this LoaNet is newer than the archive, then start the services")
