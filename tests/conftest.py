"""Fixtures: an app on a fresh database (SQLite and PostgreSQL), users, tokens, a private broker."""

import os
import uuid
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from pa_controller import create_app
from pa_controller.config import TestingConfig
from pa_controller.domain import Role
from pa_controller.extensions import db
from pa_controller.services import fleet, people
from tests.support.broker import running_broker

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


def _postgres_database():
    """Create a throwaway database; return its URL and a function that drops it."""
    _postgres_or_skip()
    name = f"loanet_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"{base}/{name}", drop


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Yield the URL of an empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'loanet.db'}"
        return
    url, drop = _postgres_database()
    yield url
    drop()


@pytest.fixture
def make_config(tmp_path, monkeypatch):
    def build(database_url: str, **overrides) -> TestingConfig:
        monkeypatch.setenv("PA_INSTANCE_DIR", str(tmp_path / "instance"))
        config = TestingConfig()
        config.SQLALCHEMY_DATABASE_URI = database_url
        for key, value in overrides.items():
            setattr(config, key, value)
        return config

    return build


@pytest.fixture
def app(database_url, make_config):
    """An app on a migrated, empty database."""
    app = create_app(make_config(database_url))
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def seeded(app):
    """The app with the Ô Môn fleet imported."""
    fleet.import_csv(FLEET_CSV.read_text(encoding="utf-8"))
    return app


@pytest.fixture
def client(seeded):
    return seeded.test_client()


def _user_token(username: str, role: Role, ward_id: str | None = None) -> dict:
    user = people.create_user(username, PASSWORD, role, ward_id)
    return {"Authorization": f"Bearer {people.issue_token(user, 'test')}"}


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
    with running_broker(tmp_path) as running:
        yield running
