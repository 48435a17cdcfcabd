"""What a refused request may not leave behind: files, child processes, open descriptors."""

import os
from pathlib import Path

AUDIO_TOOLS = frozenset({"ffmpeg", "ffprobe", "espeak-ng", "piper"})  # what a request may start


def child_processes() -> list[str]:
    """This process's children that are audio tools, zombies included, as "pid name". Others are the session's
    own and live on by design (Playwright's driver, started by the browser tests in the same run)."""
    pids = " ".join(path.read_text() for path in Path("/proc/self/task").glob("*/children")).split()
    found = [(pid, Path(f"/proc/{pid}/comm").read_text().strip()) for pid in pids if Path(f"/proc/{pid}").exists()]
    return [f"{pid} {name}" for pid, name in found if name in AUDIO_TOOLS]


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def files_under(root: Path) -> list[str]:
    """Every file and directory below `root`, hidden ones (a `.part`) included, as relative paths."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*")) if root.exists() else []
