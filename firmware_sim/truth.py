"""The ground truth: one JSON line per thing that really happened on a cluster."""

import json
import threading
from pathlib import Path

DEFAULT_TRUTH_PATH = Path("instance/sim-truth.jsonl")


class TruthLog:
    """Append records to a JSON-lines file from any thread, flushed at once so readers see them."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, record: dict) -> None:
        """Append one record and flush it."""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        """Flush and close the file; later writes are dropped."""
        with self._lock:
            self._file.close()


def read_truth(path: str | Path, **match) -> list[dict]:
    """Return the records of a truth log, keeping those whose fields equal every `match` item.

    A simulator may be writing the log as it is read: a last line without its newline that does not
    parse (or decode) yet is the record being written, and is left out. Any other bad line raises.
    """
    path = Path(path)
    if not path.exists():
        return []
    *lines, tail = path.read_bytes().split(b"\n")
    records = [json.loads(line.decode("utf-8")) for line in lines if line.strip()]
    if tail.strip():
        try:
            records.append(json.loads(tail.decode("utf-8")))
        except ValueError:  # JSONDecodeError, or UnicodeDecodeError: cut inside a character
            pass
    return [r for r in records if all(r.get(k) == v for k, v in match.items())]
