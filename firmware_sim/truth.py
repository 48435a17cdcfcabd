"""The ground truth: one JSON line per thing that really happened on a cluster."""

import json
import threading
from pathlib import Path

from firmware_sim.defaults import INSTANCE_DIR, TRUTH_NAME

DEFAULT_TRUTH_PATH = INSTANCE_DIR / TRUTH_NAME  # the library's; the command lines follow $PA_INSTANCE_DIR
PLAIN_UNSAFE = frozenset('"\\')  # characters JSON must escape, so a value holding one is not matched raw


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
    parse (or decode) yet is the record being written, and is left out. Any other bad line raises
    ValueError. The file is read a line at a time. A plain string to match (a `run_id`, a `cid`) makes
    it cheap to pick a few records from a long log: a line whose bytes do not hold that string, JSON
    quoted, is skipped unparsed if it is shaped like one flat record (so a cut or merged line still raises).
    """
    path = Path(path)
    if not path.exists():
        return []
    needles = _needles(match)
    records = []
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            text = raw.strip()
            if not text:
                continue
            written = raw.endswith(b"\n")
            if written and not all(needle in text for needle in needles) and _looks_whole(text):
                continue
            try:
                record = json.loads(text.decode("utf-8"))
            except ValueError:  # JSONDecodeError, or UnicodeDecodeError: cut inside a character
                if written:
                    raise
                break  # the last line, still being written
            if not isinstance(record, dict):
                raise ValueError(f"{path}, line {number}: {text[:80]!r} is not a JSON object")
            if all(record.get(k) == v for k, v in match.items()):
                records.append(record)
    return records


def _needles(match: dict) -> list[bytes]:
    """Return the bytes every line of a matching record must hold: each plain string value, JSON-quoted.

    Only strings that every JSON writer spells the same way qualify: printable ASCII with nothing to escape.
    """
    return [
        json.dumps(value).encode("ascii")
        for value in match.values()
        if isinstance(value, str) and value.isascii() and value.isprintable() and not PLAIN_UNSAFE & set(value)
    ]


def _looks_whole(text: bytes) -> bool:
    """Tell whether a line is shaped like one record, so skipping it unparsed cannot hide a cut or a merge."""
    return text.startswith(b"{") and text.endswith(b"}") and text.count(b"{") == 1
