"""What a request killed on its way leaves behind: scratch directories, half-written clips, clips no row names.

A request prepares audio in scratch directories it removes when it ends, and stores a clip (audio/store.py) before
it commits the row that names it; SIGKILL (a crash, the OOM killer, an operator's kill -9) ends it before either.
The worker removes such leftovers once they are older than any request can run.
"""

import logging
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from audio.chime import chime
from pa_controller import settings
from pa_controller.extensions import db
from pa_controller.models import Audio

log = logging.getLogger(__name__)
# Longer than any request runs: gunicorn's threaded workers do not cut a long request short, and preparing the
# longest upload runs ffmpeg several times, each allowed up to audio.processing_timeout (8.5 min for 30 min).
GRACE = timedelta(hours=6)
SCRATCH = "loanet-*"  # the audio package's scratch in the temporary directory; the uploads' and previews' in the
#                       instance directory (services/media.scratch)


def sweep(now: datetime, temp_dir: Path | None = None) -> list[Path]:
    """Remove the leftovers older than GRACE at `now`; return them. `temp_dir`: where the audio package's scratch
    goes (by default the system's temporary directory)."""
    config = settings.current()
    before = (now - GRACE).timestamp()

    def old(paths) -> list[Path]:
        return [path for path in paths if _modified(path) < before]

    media = config.media_dir
    temp_dir = Path(tempfile.gettempdir()) if temp_dir is None else temp_dir
    gone = old(media.glob(".*.part")) + _unnamed(old(media.glob("*.mp3")), media)
    gone += [path for path in old(temp_dir.glob(SCRATCH)) + old(config.instance_dir.glob(SCRATCH))
             if path.is_dir()]
    for path in gone:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if gone:
        log.warning("removed %d leftover(s) of requests that did not finish: %s", len(gone),
                    ", ".join(path.name for path in gone))
    return gone


def _unnamed(clips: list[Path], media: Path) -> list[Path]:
    """The clips no Audio row names, but the chime (named by none, used by every programme with one)."""
    if not clips:
        return []
    named = set(db.session.scalars(select(Audio.sha256)))  # the whole library: no IN list past a driver's limit
    db.session.commit()  # end the read
    unnamed = [clip for clip in clips if clip.stem not in named]
    if unnamed:  # chime() renders the chime if this process has not yet: only when it matters
        unnamed = [clip for clip in unnamed if clip.stem != chime(media).sha256]
    return unnamed


def _modified(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except FileNotFoundError:  # removed meanwhile by its own request
        return float("inf")
