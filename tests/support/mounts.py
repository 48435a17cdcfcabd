"""Real disk faults for a directory: a tiny tmpfs filled to the last byte, or a bind mount remounted read-only.

Mounting needs root (as here and in CI): chmod stops no write of root's, so only a mount makes the fault real.
Elsewhere the tests skip, saying why, except under CI=true, where they fail. Every mount is undone however the
test ends.
"""

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

FILLER = ".filler"


def require_mounting() -> None:
    """Skip (fail under CI=true) unless this process may mount."""
    if os.geteuid() == 0:
        return
    message = "mounting a tmpfs or a read-only bind needs root; run the suite as root (as CI does) to test disk faults"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        message = f"mount {' '.join(args)} failed: {done.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _unmount(where: Path) -> None:
    # Lazily if something still holds a file there: the mount goes the moment it is let go, never left behind.
    done = subprocess.run(["umount", str(where)], capture_output=True, timeout=30, check=False)
    if done.returncode != 0:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30, check=True)


@contextmanager
def tmpfs(where: Path, size: str = "1m") -> Iterator[Path]:
    """Mount an empty tmpfs of `size` on `where` (made if missing)."""
    require_mounting()
    where.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where))
    try:
        yield where
    finally:
        _unmount(where)


@contextmanager
def read_only(where: Path) -> Iterator[Path]:
    """Make `where` (made if missing) read-only by binding it onto itself and remounting the bind read-only."""
    require_mounting()
    where.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(where), str(where))
    try:
        _mount("-o", "remount,bind,ro", str(where))
        yield where
    finally:
        _unmount(where)


def writable_again(where: Path) -> None:
    _mount("-o", "remount,bind,rw", str(where))


def fill(where: Path) -> Path:
    """Write zeros into `where` until its disk is full; return the file that holds them."""
    filler = where / FILLER
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(bytes(64 * 1024))
                out.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler
