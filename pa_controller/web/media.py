"""Serve prepared audio by sha256, with ETag, Range and a long cache lifetime."""

import re

from flask import Blueprint, abort, send_from_directory

from pa_controller import settings

bp = Blueprint("media", __name__)
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@bp.get("/media/<name>.mp3")
def clip(name: str):
    # Content-addressed, so a clip never changes under its name.
    if not SHA256.match(name):
        abort(404)
    response = send_from_directory(settings.current().media_dir, f"{name}.mp3", mimetype="audio/mpeg",
                                   conditional=True, etag=name, max_age=365 * 24 * 3600)
    response.cache_control.immutable = True
    return response
