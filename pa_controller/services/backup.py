"""One archive of what a district cannot rebuild: the database, the media store and the command keys.

The archive is an uncompressed tar (the clips are MP3 already), readable by its owner only: `manifest.json` (the
format, when and from what it was made, the Alembic revision, each file's size and SHA-256), the database
(`database.dump`, pg_dump's custom format, or `database.sqlite`, a copy made with SQLite's online backup API:
both consistent while the controller runs), `media/…` and `keys/…`. Restoring checks every file against the
manifest before it touches anything, and refuses a database that holds tables unless forced.

docs/operations.md, "Backing up and restoring", says what is not in it (the broker's files, the session key) and
why the archive must be kept private.
"""

import hashlib
import io
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url

from pa_controller import clock
from pa_controller.settings import Settings

FORMAT = 1
MANIFEST = "manifest.json"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
CHUNK = 1 << 20
DATABASE_FILES = ("database.dump", "database.sqlite")


class BackupError(Exception):
    """A backup or a restore that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Restored:
    """What a restore did."""

    manifest: dict
    media_written: int
    media_present: int
    keys_written: int


def backup(config: Settings, dest: Path, *, keys: bool = True) -> dict:
    """Write the archive to `dest` (mode 600, which must not exist yet); return its manifest."""
    url = make_url(config.database_url)
    try:
        out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(f"{dest} exists already; name a new file (an archive is never overwritten)") from None
    except OSError as exc:
        raise BackupError(f"cannot write {dest}: {exc.strerror}") from None
    try:
        with tempfile.TemporaryDirectory(prefix="loanet-backup-", dir=dest.parent) as scratch, \
                os.fdopen(out, "wb") as stream, tarfile.open(fileobj=stream, mode="w") as archive:
            database = _dump(url, Path(scratch))
            files = {database.name: _add(archive, database, database.name)}
            for path, name in _files_under(config.media_dir, "media"):
                files[name] = _add(archive, path, name)
            if keys:
                for path, name in _files_under(config.key_dir, "keys"):
                    files[name] = _add(archive, path, name)
            manifest = {"format": FORMAT, "created_at": clock.now().isoformat(), "database": url.get_backend_name(),
                        "revision": _revision(url), "versions": _versions(url), "keys": keys, "files": files}
            body = json.dumps(manifest, indent=1, sort_keys=True).encode()
            member = tarfile.TarInfo(MANIFEST)
            member.size, member.mode = len(body), 0o600
            archive.addfile(member, io.BytesIO(body))
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return manifest


def restore(config: Settings, source: Path, *, force: bool = False) -> Restored:
    """Check the archive against its manifest, then restore it into the configured database, media and key dirs.

    Refuses a database that holds tables (or key files that differ) unless `force`.
    """
    url = make_url(config.database_url)
    with _opened(source) as archive:
        manifest = _checked(archive, url)
        tables = _tables(url)
        if tables and not force:
            raise BackupError(f"the database holds {len(tables)} tables already; restore into an empty database, "
                              f"or add --force to replace what it holds")
        keys = _names(manifest, "keys/")
        for name in keys:
            present = config.key_dir / PurePosixPath(name).name
            if present.exists() and _sha256(present) != manifest["files"][name]["sha256"] and not force:
                raise BackupError(f"{present} differs from the archive's; add --force to replace it")
        with tempfile.TemporaryDirectory(prefix="loanet-restore-") as scratch:
            database = Path(scratch) / next(name for name in DATABASE_FILES if name in manifest["files"])
            _extract(archive, database.name, database)
            _load(url, database, clean=bool(tables))
        written = present = 0
        config.media_dir.mkdir(parents=True, exist_ok=True)
        for name in _names(manifest, "media/"):
            target = config.media_dir / PurePosixPath(name).relative_to("media")
            if target.exists() and _sha256(target) == manifest["files"][name]["sha256"]:
                present += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            _extract(archive, name, target)
            written += 1
        if keys:
            config.key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in keys:
            _extract(archive, name, config.key_dir / PurePosixPath(name).name, mode=0o600)
    return Restored(manifest, written, present, len(keys))


def read_manifest(source: Path) -> dict:
    """Return the archive's manifest after checking every file against it (`flask pa restore --check`)."""
    with _opened(source) as archive:
        return _checked(archive, None)


# --- the database -------------------------------------------------------------------------------------------


def _libpq(url: URL) -> tuple[str, dict]:
    """The URL pg_dump and pg_restore take, and the environment that carries the password (never argv: ps shows
    it to every user)."""
    environ = dict(os.environ)
    if url.password:
        environ["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), environ


def _dump(url: URL, scratch: Path) -> Path:
    if url.get_backend_name() == "postgresql":
        target = scratch / "database.dump"
        uri, environ = _libpq(url)
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}", f"--dbname={uri}"],
             environ)
        return target
    if url.get_backend_name() == "sqlite":
        target = scratch / "database.sqlite"
        source = sqlite3.connect(f"file:{url.database}?mode=ro", uri=True)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # page by page, consistent even while the controller writes
        finally:
            copy.close()
            source.close()
        return target
    raise BackupError(f"cannot back up a {url.get_backend_name()} database; LoaNet runs on PostgreSQL or SQLite")


def _load(url: URL, database: Path, *, clean: bool) -> None:
    if database.name == "database.dump":
        uri, environ = _libpq(url)
        command = ["pg_restore", "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
                   f"--dbname={uri}"]
        if clean:
            command += ["--clean", "--if-exists"]
        _run([*command, str(database)], environ)
        return
    target_path = Path(url.database)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    target_path.touch(mode=0o600, exist_ok=True)  # password hashes: its owner's only, as the controller makes it
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    target = sqlite3.connect(url.database)
    try:
        source.backup(target)  # replaces every page of the target, in one step
    finally:
        target.close()
        source.close()


def _run(command: list[str], environ: dict) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed; install PostgreSQL's client (apt-get install "
                          f"postgresql-client), the version of the server or newer")
    done = subprocess.run(command, env=environ, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()}")


def _revision(url: URL) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            return connection.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        engine.dispose()


def _versions(url: URL) -> dict:
    versions = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    if url.get_backend_name() == "postgresql":
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                versions["postgresql"] = connection.scalar(text("SHOW server_version"))
        finally:
            engine.dispose()
        versions["pg_dump"] = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True,
                                             check=False).stdout.strip()
    return versions


def _tables(url: URL) -> list[str]:
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        return []
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return inspect(connection).get_table_names()
    finally:
        engine.dispose()


# --- the archive --------------------------------------------------------------------------------------------


def _files_under(directory: Path, prefix: str) -> Iterator[tuple[Path, str]]:
    if not directory.is_dir():
        return
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path, f"{prefix}/{path.relative_to(directory).as_posix()}"


def _add(archive: tarfile.TarFile, path: Path, name: str) -> dict:
    member = archive.gettarinfo(str(path), arcname=name)
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    member.mode = 0o600
    with path.open("rb") as stream:
        archive.addfile(member, stream)
    return {"size": member.size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _opened(source: Path) -> Iterator[tarfile.TarFile]:
    try:
        archive = tarfile.open(source, mode="r:")
    except FileNotFoundError:
        raise BackupError(f"{source} does not exist") from None
    except tarfile.TarError:
        raise BackupError(f"{source} is not a LoaNet backup (not a tar archive)") from None
    with archive:
        yield archive


def _checked(archive: tarfile.TarFile, url: URL | None) -> dict:
    """Return the manifest once every file matches it; refuse an archive this code cannot restore."""
    try:
        manifest = json.loads(archive.extractfile(MANIFEST).read())
    except (KeyError, AttributeError, ValueError):
        raise BackupError("the archive has no readable manifest.json: it is not a LoaNet backup") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"the archive's format is {manifest.get('format')!r}; this LoaNet reads format {FORMAT}")
    names = {m.name for m in archive.getmembers() if m.name != MANIFEST}
    files = manifest.get("files") or {}
    if names != set(files):
        raise BackupError(f"the archive's files do not match its manifest (extra: {sorted(names - set(files))[:5]}, "
                          f"missing: {sorted(set(files) - names)[:5]})")
    if len(set(DATABASE_FILES) & set(files)) != 1:
        raise BackupError("the archive holds no database, or more than one: it is not a LoaNet backup")
    for name in files:
        path = PurePosixPath(name)
        allowed = name in DATABASE_FILES or (len(path.parts) > 1 and path.parts[0] in ("media", "keys"))
        if path.is_absolute() or ".." in path.parts or not allowed or not archive.getmember(name).isfile():
            raise BackupError(f"the archive holds {name!r}, which a LoaNet backup never does")
        digest = hashlib.sha256()
        stream = archive.extractfile(name)
        while block := stream.read(CHUNK):
            digest.update(block)
        if digest.hexdigest() != files[name]["sha256"]:
            raise BackupError(f"{name} in the archive does not match its checksum: the archive is damaged")
    known = {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
    if manifest.get("revision") not in known:
        raise BackupError(f"the archive's database is at revision {manifest.get('revision')!r}, which this LoaNet "
                          f"does not know: restore it with the LoaNet that made it, or a newer one")
    if url is not None and manifest.get("database") != url.get_backend_name():
        raise BackupError(f"the archive holds a {manifest.get('database')} database; DATABASE_URL names a "
                          f"{url.get_backend_name()} one")
    return manifest


def _names(manifest: dict, prefix: str) -> list[str]:
    return sorted(name for name in manifest["files"] if name.startswith(prefix))


def _extract(archive: tarfile.TarFile, name: str, target: Path, *, mode: int = 0o644) -> None:
    """Write one member to `target` through a file beside it, renamed into place once whole."""
    draft = target.with_name(f".{target.name}.restoring")
    handle = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(handle, "wb") as out:
        shutil.copyfileobj(archive.extractfile(name), out, CHUNK)
    os.chmod(draft, mode)
    os.replace(draft, target)
