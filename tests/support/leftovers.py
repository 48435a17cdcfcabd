"""What a refused request may not leave behind: files, child processes, open descriptors."""

import os
from pathlib import Path


def child_processes() -> list[str]:
    """This process's children, zombies included, as "pid name"."""
    pids = " ".join(path.read_text() for path in Path("/proc/self/task").glob("*/children")).split()
    return [f"{pid} {Path(f'/proc/{pid}/comm').read_text().strip()}" for pid in pids]


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def files_under(root: Path) -> list[str]:
    """Every file and directory below `root`, hidden ones (a `.part`) included, as relative paths."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*")) if root.exists() else []
