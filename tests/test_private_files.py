"""What holds secrets is created readable by its owner only: the instance dir, the SQLite database and the key
that signs sessions."""

import os
import stat

from flask_migrate import upgrade

from pa_controller import create_app
from pa_controller.extensions import db
from tests.support.settings import testing_settings as settings_on


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_fresh_instance_keeps_its_database_and_session_key_to_its_owner(tmp_path):
    old = os.umask(0o022)  # a usual shell: files readable by everyone unless made otherwise
    try:
        instance = tmp_path / "instance"
        database = instance / "loanet.db"
        app = create_app(settings_on(instance, f"sqlite:///{database}"))
        with app.app_context():
            upgrade()  # writes: SQLite makes its -wal and -shm files as it goes
            db.session.remove()
            db.engine.dispose()
    finally:
        os.umask(old)
    assert mode(instance) == 0o700
    assert mode(database) == 0o600
    assert mode(instance / "secret-key") == 0o600
    for extra in instance.glob("loanet.db-*"):
        assert mode(extra) == 0o600, extra
