"""What a bench found, as one small JSON file: each figure beside the raw baseline measured in the same run.

A bench calls record() once at its end. The file goes to the directory $LOANET_BENCH_RESULTS names (`make bench`
sets it, bench/run_all.py reads it back); run by hand, a bench writes nothing and only prints.
"""

import json
import os
import platform
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR_ENV = "LOANET_BENCH_RESULTS"


@dataclass(frozen=True)
class Figure:
    """One measured figure: `value` and its raw `baseline` in `unit`; `goal` in words and whether it was `met`
    (None: shown for the trend, no goal)."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    goal: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


def machine() -> str:
    """Describe this machine in a few words: CPUs, memory, Python."""
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal:"))
    return f"{os.cpu_count()} CPUs, {memory_kb / 2**20:.0f} GiB, Python {platform.python_version()}"


def record(bench: str, figures: list[Figure], note: str = "", directory: Path | None = None) -> Path | None:
    """Write the bench's figures to <directory>/<bench>.json, by default $LOANET_BENCH_RESULTS, if it is set;
    return the path."""
    directory = directory or os.environ.get(RESULTS_DIR_ENV)
    if not directory:
        return None
    path = Path(directory) / f"{bench}.json"
    path.write_text(json.dumps({
        "bench": bench,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": round(os.getloadavg()[0], 1),
        "machine": machine(),
        "note": note,
        "figures": [{**asdict(figure), "ratio": figure.ratio} for figure in figures],
    }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def read(path: Path) -> dict:
    """Read one bench's result file back, its figures as Figure objects."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["figures"] = [Figure(**{k: v for k, v in f.items() if k != "ratio"}) for f in data["figures"]]
    return data
