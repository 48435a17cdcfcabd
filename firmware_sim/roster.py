"""The clusters to simulate: from the fleet CSV, the controller's API, or made up for benchmarks; their
broker passwords; and the share of them one process simulates (`--shard K/N`)."""

import csv
from dataclasses import dataclass
from pathlib import Path

import pa_protocol as protocol
from firmware_sim.controller_api import ControllerError, get_json

DEFAULT_FLEET_CSV = Path(__file__).resolve().parent.parent / "pa_controller" / "data" / "o-mon-fleet.csv"


class RosterError(Exception):
    """The fleet could not be loaded; the message says what to fix."""


@dataclass(frozen=True)
class ClusterSpec:
    """One cluster's identity and hardware; a fault can be built in by overriding amp_ok or speakers_ok
    (a scenario's faults, firmware_sim.faults, come and go while it runs)."""

    cid: str
    speakers: int = 2
    ward: str = ""
    amp_ok: bool = True
    speakers_ok: int | None = None

    def __post_init__(self):
        if not isinstance(self.cid, str) or not protocol.CID_PATTERN.match(self.cid):
            raise RosterError(f"cluster id {self.cid!r} is not 1-32 characters of [a-z0-9-]")

    @property
    def working_speakers(self) -> int:
        return self.speakers if self.speakers_ok is None else self.speakers_ok


def load_csv(path: str | Path = DEFAULT_FLEET_CSV, limit: int | None = None) -> list[ClusterSpec]:
    """Read the first `limit` clusters (all if None) from a CSV with columns id, ward_id and speakers."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise RosterError(f"cannot read the fleet CSV {path}: {exc.strerror}") from exc
    if rows and not {"id", "speakers"} <= set(rows[0]):
        raise RosterError(f"{path} lacks the columns id and speakers")
    try:
        specs = [ClusterSpec(row["id"], int(row["speakers"]), row.get("ward_id") or "") for row in rows[:limit]]
    except ValueError as exc:
        raise RosterError(f"{path}: a speakers value is not a number ({exc})") from exc
    return specs


def load_api(base_url: str, token: str, limit: int | None = None, timeout: float = 10.0) -> list[ClusterSpec]:
    """Fetch the clusters from `GET {base_url}/api/v1/clusters` with a bearer token."""
    try:
        items = get_json(base_url, "/api/v1/clusters", token, timeout,
                         "make one with `flask --app wsgi pa create-token USER`")
    except ControllerError as exc:
        raise RosterError(str(exc)) from exc
    url = base_url.rstrip("/") + "/api/v1/clusters"
    if not isinstance(items, list):
        raise RosterError(f"{url} did not answer a JSON list of clusters")
    specs = []
    for item in items[:limit]:
        if not isinstance(item, dict) or "id" not in item:
            raise RosterError(f"{url} listed a cluster without an id: {item!r}")
        ward = item.get("ward")
        ward = ward.get("id", "") if isinstance(ward, dict) else (ward or "")
        specs.append(ClusterSpec(item["id"], int(item.get("speakers") or 1), str(ward)))
    return specs


def synthesize(count: int, start: int = 1) -> list[ClusterSpec]:
    """Make up `count` clusters named sim-NNNNNN, for load beyond the real fleet."""
    return [ClusterSpec(f"sim-{n:06d}") for n in range(start, start + count)]


def load_credentials(path: str | Path) -> dict[str, str]:
    """Read broker passwords from a CSV of `cid,password` rows (a header row `cid,password` is optional)."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise RosterError(f"cannot read the credentials file {path}: {exc.strerror}") from exc
    passwords: dict[str, str] = {}
    for line, row in enumerate(rows, start=1):
        if not row or (line == 1 and [cell.strip() for cell in row] == ["cid", "password"]):
            continue
        if len(row) != 2 or not protocol.CID_PATTERN.match(row[0].strip()) or not row[1]:
            raise RosterError(f"{path}, line {line}: expected `cid,password` with a cluster id and a password")
        passwords[row[0].strip()] = row[1]
    return passwords


def parse_shard(text: str | tuple[int, int]) -> tuple[int, int]:
    """Read `K/N` (0 <= K < N): this process simulates every Nth cluster starting with the Kth."""
    if isinstance(text, tuple):
        text = "/".join(map(str, text))
    index, slash, count = text.partition("/")
    try:
        shard = int(index), int(count)
    except ValueError:
        shard = None
    if not slash or shard is None or not 0 <= shard[0] < shard[1]:
        raise RosterError(f"shard {text!r} must be K/N with 0 <= K < N, e.g. 0/4")
    return shard


def shard_of(specs: list[ClusterSpec], shard: tuple[int, int] | None) -> list[ClusterSpec]:
    """Return the clusters shard (K, N) simulates: specs[K::N]; all of them without a shard."""
    if shard is None:
        return list(specs)
    index, count = shard
    return list(specs[index::count])
