"""Unbound extensions, bound to the app in create_app."""

import sqlite3

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.orm import DeclarativeBase

from pa_controller import textfold

# Named constraints, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


@event.listens_for(Engine, "connect")
def _sqlite_for_several_writers(dbapi_connection, _record) -> None:
    """SQLite serves the web, the scheduler's dispatches and ingest at once: let readers run beside the writer.
    Also give it the diacritic-blind folding that searches use (textfold.py).

    WAL lets reads proceed during a write, and synchronous=NORMAL commits without an fsync each time (a power
    cut may lose the last commits, a crash of the process loses nothing). Without it a fired job's bookkeeping
    waited behind the dispatch it had just started (bench/firing.py). PostgreSQL is left alone.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()
        dbapi_connection.create_function(textfold.SQLITE_FUNCTION, 1, _fold_or_null, deterministic=True)


def _fold_or_null(text: str | None) -> str | None:
    return None if text is None else textfold.fold(text)
