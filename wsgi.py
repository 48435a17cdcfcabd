"""The WSGI entry point: `gunicorn wsgi:app` (and `flask` commands): a bad variable stops it with its message."""

import sys

from pa_controller import create_app
from pa_controller.settings import Settings, SettingsError

try:
    settings = Settings.from_env()
except SettingsError as exc:
    sys.stderr.write(f"{exc}\n")
    raise SystemExit(2) from None

app = create_app(settings)
