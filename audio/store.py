"""Store a finished MP3 under the sha256 of its bytes, atomically and idempotently."""

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import storage_error

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    sha256: str
    path: Path
    bytes: int


def store(finished: Path, media_dir: Path) -> Stored:
    """Place `finished` at media_dir/<sha256>.mp3; keep an identical file already there, replace a damaged one.

    Raises StorageFullError or StorageUnwritableError, leaving no partial file, if the disk is full or the
    directory refuses writes.
    """
    data = finished.read_bytes()  # at most ~15 MB: 30 min at 64 kbit/s
    sha256 = hashlib.sha256(data).hexdigest()
    target = media_dir / f"{sha256}.mp3"
    try:
        media_dir.mkdir(parents=True, exist_ok=True)
        if holds(target, sha256):
            log.info("already stored: %s", target.name)
            # Fresh again: a clip no row names yet is a leftover only once it is old (services/leftovers.py).
            os.utime(target)
            return Stored(sha256, target, len(data))
        _write_atomically(target, data)
    except OSError as exc:
        refusal = storage_error(exc, media_dir)
        if refusal is None:
            raise
        log.error("could not store %s in %s: %s", target.name, media_dir, exc)
        raise refusal from exc
    log.info("stored %s (%d bytes)", target.name, len(data))
    return Stored(sha256, target, len(data))


def holds(path: Path, sha256: str) -> bool:
    """Tell whether the file at `path` is there and still holds the bytes whose sha256 is `sha256`: not cut short,
    not overwritten."""
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest() == sha256
    except FileNotFoundError:
        return False


def _write_atomically(target: Path, data: bytes) -> None:
    """Write `data` beside `target` and rename it there: readers see all of it or nothing."""
    # Beside the target so os.replace is one atomic rename.
    fd, part_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".part")
    part = Path(part_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes 0600; the HTTP server handing files to the clusters must be able to read them.
        part.chmod(0o644)
        os.replace(part, target)
        _sync_directory(target.parent)
    finally:
        part.unlink(missing_ok=True)  # only still there if something above failed


def _sync_directory(directory: Path) -> None:
    """Make the rename itself survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
