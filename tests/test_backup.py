"""`flask pa backup` and `restore`: a district in use goes into one private archive and comes back whole."""

import json
import stat
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

from pa_controller import create_app
from pa_controller.extensions import db
from pa_controller.settings import of as settings_of
from tests.conftest import _create_postgres_database, _drop_postgres_database
from tests.support.district import fill
from tests.support.settings import testing_settings as settings_for


@pytest.fixture
def restored_app(database_url, tmp_path):
    """An app on an empty database of the same kind, with media and key dirs of its own."""
    if database_url.startswith("sqlite"):
        url, name = f"sqlite:///{tmp_path / 'restored.db'}", None
    else:
        name, url = _create_postgres_database()
    elsewhere = tmp_path / "elsewhere"
    app = create_app(settings_for(elsewhere, url, media_dir=elsewhere / "media", key_dir=elsewhere / "keys"))
    yield app
    with app.app_context():
        db.engine.dispose()
    if name:
        _drop_postgres_database(name)


def every_row(url: str) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order, read with a connection of its own."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = inspect(connection).get_table_names()
            return {table: sorted(map(tuple, connection.execute(text(f'SELECT * FROM "{table}"'))), key=repr)
                    for table in tables}
    finally:
        engine.dispose()


def files_of(directory: Path) -> dict[str, bytes]:
    return {path.relative_to(directory).as_posix(): path.read_bytes()
            for path in sorted(directory.rglob("*")) if path.is_file()}


def test_a_backup_restored_into_an_empty_database_holds_every_row_media_file_and_key(app, restored_app, tmp_path):
    fill(app, tmp_path)
    source = settings_of(app)
    archive = tmp_path / "loanet.backup"
    db.session.remove()

    made = app.test_cli_runner().invoke(args=["pa", "backup", str(archive)])
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as opened:
        manifest = json.loads(opened.extractfile("manifest.json").read())
    assert manifest["revision"] == db.session.scalar(text("SELECT version_num FROM alembic_version"))
    db.session.remove()

    target = settings_of(restored_app)
    with restored_app.app_context():  # the command runs in the app context it finds
        done = restored_app.test_cli_runner().invoke(args=["pa", "restore", str(archive)])
    assert done.exit_code == 0, done.output
    assert "restored the" in done.output

    before, after = every_row(source.database_url), every_row(target.database_url)
    assert set(after) == set(before) and all(before[t] for t in ("delivery", "audit_entry", "audio", "run"))
    assert after == before
    assert files_of(target.media_dir) == files_of(source.media_dir) != {}
    assert files_of(target.key_dir) == files_of(source.key_dir) != {}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in target.key_dir.iterdir())
    if target.database_url.startswith("sqlite"):
        assert stat.S_IMODE(Path(target.database_url.removeprefix("sqlite:///")).stat().st_mode) == 0o600


def test_restore_refuses_a_database_that_holds_tables_unless_forced_and_a_damaged_archive(app, tmp_path):
    runner = app.test_cli_runner()
    archive = tmp_path / "loanet.backup"
    db.session.remove()
    assert runner.invoke(args=["pa", "backup", str(archive)]).exit_code == 0
    again = runner.invoke(args=["pa", "backup", str(archive)])
    assert again.exit_code != 0 and "exists already" in again.output

    refused = runner.invoke(args=["pa", "restore", str(archive)])
    assert refused.exit_code != 0 and "--force" in refused.output
    assert runner.invoke(args=["pa", "restore", "--check", str(archive)]).exit_code == 0
    forced = runner.invoke(args=["pa", "restore", "--force", str(archive)])
    assert forced.exit_code == 0, forced.output
    with app.app_context():
        assert db.session.scalar(select(text("1")).select_from(text("alembic_version"))) == 1

    damaged = tmp_path / "damaged.backup"
    data = bytearray(archive.read_bytes())
    at = data.index(b"SQLite format 3") if b"SQLite format 3" in data else data.index(b"PGDMP")
    data[at + 600] ^= 0xFF
    damaged.write_bytes(bytes(data))
    told = runner.invoke(args=["pa", "restore", "--force", str(damaged)])
    assert told.exit_code != 0 and "checksum" in told.output
