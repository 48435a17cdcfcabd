"""The WSGI entry point: `gunicorn wsgi:app`."""

from pa_controller import create_app

app = create_app()
