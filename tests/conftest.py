"""Fixtures: an app on a fresh database (SQLite and PostgreSQL), users, tokens, a private broker."""

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text, update

from pa_controller import create_app
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.models import Ward
from pa_controller.services import command_keys, fleet, people
from pa_controller.settings import of as settings_of
from pa_protocol.signing import SigningKey
from tests.support.broker import free_port, running_broker
from tests.support.settings import testing_settings

FLEET_CSV = Path(__file__).resolve().parent.parent / "pa_controller" / "data" / "o-mon-fleet.csv"
POSTGRES_URL = os.environ.get("PA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PASSWORD = "correct horse battery staple"


def _postgres_or_skip() -> None:
    try:
        create_engine(POSTGRES_URL).connect().close()
    except Exception as exc:  # any driver error means "not reachable"
        message = (f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(exc).__name__}); "
                   "start it or set PA_TEST_POSTGRES_URL to run the PostgreSQL half of the suite")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _create_postgres_database(template: str | None = None) -> tuple[str, str]:
    """Create a throwaway database (a copy of `template` if given); return its name and URL."""
    _postgres_or_skip()
    name = f"loanet_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    admin.dispose()
    return name, f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"


def _drop_postgres_database(name: str) -> None:
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _prepare(url: str, seed: bool, instance: Path) -> None:
    """Migrate a database, and import the Ô Môn fleet into it if `seed`."""
    app = create_app(testing_settings(instance, url))
    with app.app_context():
        upgrade()
        if seed:
            fleet.import_csv(FLEET_CSV.read_text(encoding="utf-8"))
            # Ward rule off: an officer's broadcast is scheduled as before approval existed; approval tests turn
            # it on (tests/web/test_approval.py).
            db.session.execute(update(Ward).values(approval_required=False))
            db.session.commit()
        db.session.remove()
        db.engine.dispose()


class Templates:
    """Databases migrated (and seeded) once per session, copied for each test: CREATE DATABASE … TEMPLATE on
    PostgreSQL, a file copy on SQLite. Migrating and importing the fleet for every test took most of the suite."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.made: dict[tuple[str, bool], str] = {}  # (kind, seeded) -> SQLite path or PostgreSQL database name

    def copy(self, kind: str, seeded: bool, target: Path) -> tuple[str, Callable[[], None]]:
        """Return the URL of a fresh copy of the template, and a function that removes the copy."""
        template = self.made.get((kind, seeded)) or self._make(kind, seeded)
        if kind == "sqlite":
            shutil.copyfile(template, target)
            return f"sqlite:///{target}", lambda: None
        name, url = _create_postgres_database(template)
        return url, lambda: _drop_postgres_database(name)

    def _make(self, kind: str, seeded: bool) -> str:
        if kind == "sqlite":
            path = self.workdir / f"template-{'seeded' if seeded else 'migrated'}.db"
            _prepare(f"sqlite:///{path}", seeded, self.workdir / "instance")
            made = str(path)
        else:
            made, url = _create_postgres_database()
            _prepare(url, seeded, self.workdir / "instance")
        self.made[(kind, seeded)] = made
        return made

    def drop(self) -> None:
        for (kind, _), made in self.made.items():
            if kind == "postgresql":
                _drop_postgres_database(made)


@pytest.fixture(scope="session")
def templates(tmp_path_factory):
    made = Templates(tmp_path_factory.mktemp("templates"))
    yield made
    made.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, templates):
    """Yield the URL of a migrated database of each kind, holding the Ô Môn fleet if the test asks for `seeded`."""
    if request.param == "postgresql":
        _postgres_or_skip()
    url, remove = templates.copy(request.param, "seeded" in request.fixturenames, tmp_path / "loanet.db")
    yield url
    remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path):
    """Yield the URL of a database of each kind with no table at all, for tests that run the migrations."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name, url = _create_postgres_database()
    yield url
    _drop_postgres_database(name)


@pytest.fixture
def make_settings(tmp_path):
    """Build the testing Settings on the test's instance dir and a database URL, with changes (field names)."""
    def build(database_url: str, **changes):
        return testing_settings(tmp_path / "instance", database_url, **changes)

    return build


@pytest.fixture
def app(database_url, make_settings):
    """An app on a migrated database (empty unless the test also asks for `seeded`)."""
    app = create_app(make_settings(database_url))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def command_key(app) -> SigningKey:
    """The app's current command key, created as `flask pa keys init` does, with its private half."""
    files = command_keys.KeyFiles(settings_of(app).key_dir)
    key, _ = command_keys.init(files)
    return files.read(key.kid)


@pytest.fixture
def seeded(app):
    """The app with the Ô Môn fleet imported (its database was copied from a seeded template)."""
    return app


@pytest.fixture
def client(seeded):
    return seeded.test_client()


def _user_token(username: str, role: Role, ward_id: str | None = None) -> dict:
    user = people.create_user(username, PASSWORD, role, ward_id)
    return {"Authorization": f"Bearer {people.issue_token(user, 'test')}"}


@pytest.fixture
def admin(seeded):
    """The district's administrator, `admin`."""
    return people.create_user("admin", PASSWORD, Role.ADMIN)


@pytest.fixture
def admin_auth(seeded):
    return _user_token("admin", Role.ADMIN)


@pytest.fixture
def officer_auth(seeded):
    """An officer of Thới Hòa."""
    return _user_token("officer-thoi-hoa", Role.OFFICER, "thoi-hoa")


@pytest.fixture
def technician_auth(seeded):
    return _user_token("tech", Role.TECHNICIAN)


@pytest.fixture
def broker(tmp_path):
    """A private Mosquitto, logins only: the controller's, the Ô Môn clusters', and test accounts (`tester()`)."""
    with running_broker(tmp_path / "broker") as running:
        yield running


@pytest.fixture
def system_settings() -> dict:
    """The controller's settings for `system`; a test module overrides this fixture to change them."""
    return {"now_lead_s": 3.0, "run_settle_s": 10.0, "heartbeat_s": 5.0}


@pytest.fixture
def system(database_url, make_settings, broker, system_settings):
    """Controller web server and worker against a real broker; yields a tests.support.system.System."""
    from tests.support.system import running_system  # it reads this module's constants

    port = free_port()
    settings = make_settings(database_url, messaging="mqtt", mqtt_url=broker.controller_url,
                             public_url=f"http://127.0.0.1:{port}", **system_settings)
    with running_system(settings, port) as system:
        yield system


@pytest.fixture
def private_postgres():
    """A PostgreSQL of the test's own (tests/support/postgres.py), to stop and restart; skipped where it cannot run,
    except under CI=true."""
    from tests.support import postgres

    if why := postgres.missing():
        message = f"a private PostgreSQL cannot run here ({why}): {postgres.ENABLE}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with postgres.private_postgres() as server:
        yield server
