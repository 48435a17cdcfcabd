"""LoaNet controller: schedules announcements for a loudspeaker network and proves they were heard."""

from flask import Flask

from pa_controller.config import Config


def create_app(config: Config | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints, commands. Starts nothing."""
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.from_object(config or Config())
    app.config["INSTANCE_DIR"].mkdir(parents=True, exist_ok=True)
    app.config["MEDIA_DIR"].mkdir(parents=True, exist_ok=True)

    from pa_controller import cli, models  # noqa: F401  (models register their tables)
    from pa_controller.extensions import babel, csrf, db, login_manager, migrate
    from pa_controller.web import register_web

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    register_web(app, babel)
    cli.register(app)
    return app
