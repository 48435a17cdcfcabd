"""LoaNet controller: schedules announcements for a loudspeaker network and proves they were heard."""

from pathlib import Path

from flask import Flask
from sqlalchemy.engine import make_url
from werkzeug.middleware.proxy_fix import ProxyFix

from pa_controller.settings import EXTENSION, Settings, secret_key_of


def create_app(settings: Settings | None = None, **flask_overrides) -> Flask:
    """Build the app on `settings` (by default read from the environment), with Flask keys derived from them
    and then `flask_overrides` (e.g. WTF_CSRF_ENABLED=False). Starts nothing."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    settings.instance_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # keys, tokens, the database: owner only
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    _private_sqlite_file(settings.database_url)
    app.extensions[EXTENSION] = settings
    app.config.update(flask_config(settings), **flask_overrides)

    from pa_controller import cli, models  # noqa: F401  (models register their tables)
    from pa_controller.extensions import babel, csrf, db, login_manager, migrate
    from pa_controller.web import register_web

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    register_web(app, babel)
    cli.register(app)
    if settings.trusted_proxies:  # the client's address and scheme, as the proxies in front pass them on
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)
    return app


def _private_sqlite_file(database_url: str) -> None:
    """Create an SQLite database file readable by its owner only (SQLite gives its -wal and -shm files the
    same mode); a file that exists is left as its owner set it."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)


def engine_options(settings: Settings) -> dict:
    """SQLAlchemy's pool for the database: sized on a server, SQLite's own otherwise (docs/operations.md,
    "Connections to the database")."""
    options = {"pool_pre_ping": True}  # a connection the database dropped (a restart) is found before use
    if make_url(settings.database_url).get_backend_name() != "sqlite":
        options.update(pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
                       pool_recycle=settings.db_pool_recycle_s)
    return options


def flask_config(settings: Settings) -> dict:
    """The keys Flask and its extensions read, derived from the settings."""
    return {
        "TESTING": settings.testing,
        "WTF_CSRF_ENABLED": not settings.testing,
        "SECRET_KEY": secret_key_of(settings),
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(settings),
        "MAX_CONTENT_LENGTH": settings.audio_max_bytes + 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Behind TLS the cookie is Secure, and __Host- makes a browser refuse it from plain http or another host.
        "SESSION_COOKIE_SECURE": settings.secure_cookies,
        "SESSION_COOKIE_NAME": "__Host-session" if settings.secure_cookies else "session",
        "BABEL_DEFAULT_LOCALE": "vi",
        "BABEL_DEFAULT_TIMEZONE": settings.display_timezone,
        "LANGUAGES": ("vi", "en"),
    }
