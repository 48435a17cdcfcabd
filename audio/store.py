"""Store a finished MP3 under the sha256 of its bytes, atomically and idempotently."""

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    sha256: str
    path: Path
    bytes: int


def store(finished: Path, media_dir: Path) -> Stored:
    """Place `finished` at media_dir/<sha256>.mp3; keep an identical file already there."""
    data = finished.read_bytes()  # at most ~15 MB: 30 min at 64 kbit/s
    sha256 = hashlib.sha256(data).hexdigest()
    media_dir.mkdir(parents=True, exist_ok=True)
    target = media_dir / f"{sha256}.mp3"
    if target.is_file() and target.stat().st_size == len(data):
        log.info("already stored: %s", target.name)
        # Fresh again: a clip no row names yet is a leftover only once it is old (services/leftovers.py).
        os.utime(target)
        return Stored(sha256, target, len(data))
    # Written beside the target so os.replace is one atomic rename: readers see all of it or nothing.
    fd, part_name = tempfile.mkstemp(dir=media_dir, prefix=f".{sha256}.", suffix=".part")
    part = Path(part_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes 0600; the HTTP server handing files to the clusters must be able to read them.
        part.chmod(0o644)
        os.replace(part, target)
        _sync_directory(media_dir)
    finally:
        part.unlink(missing_ok=True)  # only still there if something above failed
    log.info("stored %s (%d bytes)", target.name, len(data))
    return Stored(sha256, target, len(data))


def _sync_directory(directory: Path) -> None:
    """Make the rename itself survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
