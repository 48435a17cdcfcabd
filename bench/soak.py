"""Soak: the whole system as `make run` starts it, a broadcast every minute for an hour, some clusters on flaky links.

Run from the repository root:  .venv/bin/python bench/soak.py [--minutes 60] [--clusters 456] [--flaky 0.05]
                                                              [--interval-s 60] [--sample-s 30] [--json FILE]

The stack is make run's own (pa_controller.stack): a private Mosquitto, gunicorn (2 workers), `flask pa scheduler`
and the simulator, on SQLite in a fresh instance dir, with the flaky-3g scenario's faults (loss, delay, 30 s link
drops) on a share `--flaky` of the clusters instead of its 10 %, and no quiet hours (a soak runs at any hour).
Every `--interval-s` a fresh 1.5 s clip is uploaded and broadcast at normal priority, `--start-in-s` ahead, to the whole
district (to the simulated clusters by id when `--clusters` is below the district's 456). Every `--sample-s` the
resident set and open file descriptors of each part (its whole process tree: gunicorn's master and workers),
the clusters online and the delivery states so far are sampled through the API and /proc.

At the end, once every run has closed, each run's report is held against the simulator's truth log
(firmware_sim.report.compare), and counted from the truth log itself:
- lost: a cluster of the run that did not play it although its link and power were up from the broadcast's
  creation to its start plus the firmware's grace (a cluster down then may rightly have it expire or be missed);
- duplicate: a cluster that sounded the run more than once;
- stale: a sound that began past the run's start plus the grace.
Memory growth of each part: the mean resident set of the last sixth of the soak (minutes 50–60 of an hour) against
the mean of minutes 5–15 (the same fractions of a shorter soak), so start-up and the first caches are left out.
Verdict: every broadcast accepted, no lost run, no duplicate, no stale play, the reports agree with the truth, and
the memory of the web tier, the scheduler and the broker grew by less than 10 % each (the simulator's is shown: it
remembers every command id for a day by design). The series and the per-run findings go to --json.
"""

import argparse
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pa_protocol as protocol  # noqa: E402
from bench import results  # noqa: E402
from firmware_sim import load_csv, read_truth  # noqa: E402
from firmware_sim.faults.kinds import KINDS, Effect  # noqa: E402
from firmware_sim.player import GRACE_S  # noqa: E402
from firmware_sim.report import SOUND_EVENTS, compare  # noqa: E402
from pa_controller.stack import LaunchSettings, Stack  # noqa: E402
from tests.support.broker import free_port  # noqa: E402

log = logging.getLogger("bench.soak")
DISTRICT = 456  # the Ô Môn fleet make run imports
FLAKY_SCENARIO = ROOT / "firmware_sim" / "scenarios" / "flaky-3g.toml"
FLAKY_SHARE_LINE = "share = 0.1"  # each of its three faults takes this share of the fleet
START_IN_S = 30.0  # each broadcast starts this long after it is created: the fleet fetches its clip meanwhile
CLIP_S = 1.5
ONLINE_TIMEOUT_S = 300.0
CLOSE_TIMEOUT_S = 180.0  # after the last start: the run closes PA_RUN_SETTLE_S (30 s) after its sound ends
AGREE_TIMEOUT_S = 120.0  # a flaky cluster's last events may come after a reconnect
DOWN_EFFECTS = frozenset({Effect.LINK, Effect.POWER, Effect.CRASH, Effect.HANG})
BASELINE_WINDOW = (5 / 60, 15 / 60)  # minutes 5–15 of an hour
FINAL_WINDOW = (50 / 60, 1.0)  # the last ten minutes of an hour
GROWTH_LIMIT = 0.10
HTTP_TIMEOUT_S = 60.0
PARTS = ("web", "scheduler", "mosquitto", "simulator")
# The simulator stands in for 456 devices and keeps each command id a cluster accepted for a day after its expiry
# (firmware_sim/seen.py, replay protection): its memory grows with every run by design, so it is shown, not judged.
JUDGED_PARTS = ("web", "scheduler", "mosquitto")
TOOLS = frozenset({"ffmpeg", "ffprobe"})  # a part's short-lived helpers: a sample that caught one would show a blip


# ----- the processes: resident set and open files of a whole tree


def descendants(pid: int) -> list[int]:
    """Return pid and every process below it (gunicorn's workers, the simulator's shards), but ffmpeg and ffprobe."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name, rest = (entry / "stat").read_text().split(" (", 1)[1].rsplit(")", 1)
                parent = int(rest.split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            if name in TOOLS:
                continue
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo += children.get(tree[-1], [])
    return tree


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def measure_tree(pid: int) -> dict:
    """Return the summed resident set (MB) and open descriptors of a process tree, and how many processes it has."""
    rss, fds, alive = 0.0, 0, 0
    for member in descendants(pid):
        try:
            rss, fds, alive = rss + rss_mb(member), fds + open_fds(member), alive + 1
        except (FileNotFoundError, ProcessLookupError):
            continue
    return {"rss_mb": round(rss, 1), "fds": fds, "processes": alive}


# ----- the controller, through its API


class Api:
    """The controller's HTTP API with the bootstrap token of make run."""

    def __init__(self, base_url: str, token: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params):
        response = self.session.get(self.base_url + path, params=params, timeout=HTTP_TIMEOUT_S)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.session.post(self.base_url + path, timeout=HTTP_TIMEOUT_S, **kwargs)

    def online(self) -> int:
        return len(self.get("/api/v1/clusters", status="online"))


def make_clip(path: Path, number: int) -> Path:
    """Write a 1.5 s tone of its own pitch, so each broadcast carries audio the clusters have not fetched yet."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency={300 + 7 * (number % 100)}:duration={CLIP_S}", "-ac", "1", str(path)], check=True)
    return path


@dataclass
class Broadcast:
    """One broadcast the soak made: when, what the API answered, and its run."""

    number: int
    created_at: datetime
    start_at: datetime
    status: int
    answer: str = ""
    broadcast_id: int | None = None
    run_id: int | None = None
    counts: dict = field(default_factory=dict)  # the run report's last counts
    closed: bool = False


def broadcast(api: Api, number: int, targets: dict, workdir: Path, start_in_s: float) -> Broadcast:
    """Upload a fresh clip and schedule it start_in_s ahead to `targets`; return what the API answered."""
    clip = make_clip(workdir / "clip.wav", number)
    with clip.open("rb") as audio_file:
        uploaded = api.post("/api/v1/audio", files={"file": (f"soak-{number}.wav", audio_file)},
                            data={"title": f"Soak {number}"})
    created_at = datetime.now(UTC)
    start_at = created_at + timedelta(seconds=start_in_s)
    if uploaded.status_code != 201:
        return Broadcast(number, created_at, start_at, uploaded.status_code, f"upload: {uploaded.text[:300]}")
    created = api.post("/api/v1/broadcasts", json={
        "title": f"Soak {number}", "audio_id": uploaded.json()["id"], "priority": "normal", "targets": targets,
        "start_at": protocol.format_time(start_at)})
    made = Broadcast(number, created_at, start_at, created.status_code, created.text[:300])
    if created.status_code == 201:
        made.broadcast_id, made.answer = created.json()["id"], ""
    return made


# ----- the stack


def flaky_scenario(share: float, path: Path) -> Path:
    """Write flaky-3g with `share` of the fleet on its weak links instead of 10 %."""
    text = FLAKY_SCENARIO.read_text(encoding="utf-8")
    if text.count(FLAKY_SHARE_LINE) != 3:
        raise RuntimeError(f"{FLAKY_SCENARIO} no longer gives each fault `{FLAKY_SHARE_LINE}`: update bench/soak.py")
    path.write_text(text.replace(FLAKY_SHARE_LINE, f"share = {share}").replace('name = "flaky-3g"',
                                                                               'name = "soak-flaky"'))
    return path


def listen_ports(count: int) -> list[int]:
    """Return distinct free ports to listen on, below the ephemeral range (tests.support.broker.free_port)."""
    ports: list[int] = []
    while len(ports) < count:
        if (port := free_port()) not in ports:
            ports.append(port)
    return ports


def stack_env(workdir: Path, clusters: int, flaky: float, seed: int, settle_s: float | None) -> dict[str, str]:
    """make run's variables for a throwaway instance on free ports, nothing taken from the caller's PA_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PA_") and k != "DATABASE_URL"}
    http, mqtt, mqtts = listen_ports(3)
    env = {**clean, "PA_INSTANCE_DIR": str(workdir / "instance"), "PA_HTTP_PORT": str(http),
           "PA_MQTT_PORT": str(mqtt), "PA_MQTTS_PORT": str(mqtts), "PA_QUIET_HOURS": "",
           "PA_SIM_CLUSTERS": str(clusters), "PA_SIM_SEED": str(seed)}
    if settle_s is not None:
        env["PA_RUN_SETTLE_S"] = str(settle_s)
    if flaky > 0:
        env["PA_SIM_SCENARIO"] = str(flaky_scenario(flaky, workdir / "soak-flaky.toml"))
    return env


class RunningStack:
    """make run's Stack brought up in a thread of this process, so its children's pids are at hand."""

    def __init__(self, env: dict[str, str]):
        self.settings = LaunchSettings.from_env(env)
        self.stopping = threading.Event()
        self.stack = Stack(self.settings, env, self.stopping)
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._up, name="stack", daemon=True)

    def _up(self) -> None:
        try:
            self.stack.up()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which stops the soak
            self.failure = exc

    def __enter__(self) -> "RunningStack":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        self.thread.join(90)
        self.stack.down()

    def check(self) -> None:
        if self.failure is not None:
            raise RuntimeError(f"the stack failed: {self.failure}")
        if not self.thread.is_alive() and not self.stopping.is_set():
            raise RuntimeError("the stack stopped by itself")

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.stack.processes}

    def wait_ready(self, clusters: int, timeout_s: float) -> Api:
        """Wait for the token and every simulated cluster online; return the API."""
        token_file = self.settings.instance / "bootstrap-token"
        deadline = time.monotonic() + timeout_s
        api, online = None, 0
        while time.monotonic() < deadline:
            self.check()
            if api is None and "simulator" in self.pids() and token_file.exists():
                api = Api(self.settings.base_url, token_file.read_text().strip())
            if api is not None and (online := api.online()) >= clusters:
                return api
            time.sleep(1)
        raise RuntimeError(f"{online}/{clusters} clusters online after {timeout_s:.0f} s")


# ----- judging each run against the truth


def down_windows(truth: list[dict]) -> dict[str, list[tuple[datetime, datetime]]]:
    """Return each cluster's spans with its link or power down, from the truth log's fault records."""
    opened: dict[tuple, datetime] = {}
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for record in truth:
        if record.get("event") != "fault" or KINDS[record["fault"]].effect not in DOWN_EFFECTS:
            continue
        key = (record["cid"], record["index"], record.get("cycle"))
        at = protocol.parse_time(record["at"])
        if record["phase"] == "start":
            opened[key] = at
        elif key in opened:
            spans.setdefault(record["cid"], []).append((opened.pop(key), at))
    far = datetime.max.replace(tzinfo=UTC)
    for (cid, *_), began in opened.items():  # still down when the soak ended
        spans.setdefault(cid, []).append((began, far))
    return spans


def was_down(spans: list[tuple[datetime, datetime]], begin: datetime, end: datetime) -> bool:
    return any(down < end and up > begin for down, up in spans)


def judge_run(made: Broadcast, report: dict, truth: list[dict], down: dict[str, list]) -> dict:
    """Count a run's lost, duplicate and stale plays from the truth, and the report's disagreements with it."""
    records = [r for r in truth if r.get("run_id") == str(made.run_id)]
    sounds: dict[str, list[dict]] = {}
    for record in records:
        if record["event"] in SOUND_EVENTS:
            sounds.setdefault(record["cid"], []).append(record)
    start_at = protocol.parse_time(report["start_at"])
    window_end = start_at + timedelta(seconds=GRACE_S)
    played = {cid for cid, found in sounds.items() if any(s["event"] == "played" for s in found)}
    members = [c["id"] for c in report["clusters"]]
    silent = [cid for cid in members if cid not in played]
    excused = [cid for cid in silent if was_down(down.get(cid, []), made.created_at, window_end)]
    stale = [s["cid"] for found in sounds.values() for s in found
             if protocol.parse_time(s["started_at"]) > window_end]
    comparison = compare(report, records)
    return {
        "number": made.number, "broadcast_id": made.broadcast_id, "run_id": made.run_id,
        "created_at": protocol.format_time(made.created_at), "start_at": report["start_at"],
        "state": report["state"], "clusters": len(members), "played": len(played), "counts": report["counts"],
        "excused": sorted(excused), "lost": sorted(set(silent) - set(excused)),
        "duplicates": sorted(cid for cid, found in sounds.items() if len(found) > 1), "stale": sorted(stale),
        "disagreements": [d.line() for d in comparison.disagreements],
    }


# ----- the soak


@dataclass
class Soak:
    """The schedule of broadcasts and samples, and what they found."""

    api: Api
    stack: RunningStack
    targets: dict
    workdir: Path
    start_in_s: float
    began: float = field(default_factory=time.monotonic)
    broadcasts: list[Broadcast] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def run(self, duration_s: float, interval_s: float, sample_s: float, stop: threading.Event) -> None:
        """Broadcast every interval_s and sample every sample_s for duration_s, then sample until every run closes."""
        next_broadcast, next_sample = 0.0, 0.0
        while self.elapsed() < duration_s and not stop.is_set():
            self.stack.check()
            if self.elapsed() >= next_broadcast:
                self.broadcasts.append(self.broadcast())
                next_broadcast += interval_s
            if self.elapsed() >= next_sample:
                self.sample()
                next_sample += sample_s
            stop.wait(max(0.0, min(next_broadcast, next_sample, duration_s) - self.elapsed()))
        deadline = time.monotonic() + self.start_in_s + CLOSE_TIMEOUT_S
        while not stop.is_set() and not all(b.closed for b in self.accepted()) and time.monotonic() < deadline:
            self.stack.check()
            self.sample()
            stop.wait(min(sample_s, 10.0))
        self.sample()

    def broadcast(self) -> Broadcast:
        """Make the next broadcast; a request that fails is recorded as refused (status 0) and the soak goes on."""
        number = len(self.broadcasts) + 1
        try:
            return broadcast(self.api, number, self.targets, self.workdir, self.start_in_s)
        except requests.RequestException as exc:
            now = datetime.now(UTC)
            return Broadcast(number, now, now, 0, f"{type(exc).__name__}: {exc}"[:300])

    def accepted(self) -> list[Broadcast]:
        return [b for b in self.broadcasts if b.broadcast_id is not None]

    def refresh_runs(self) -> None:
        """Find each accepted broadcast's run and update the counts of runs still open."""
        for made in self.accepted():
            if made.run_id is None:
                runs = self.api.get("/api/v1/runs", broadcast_id=made.broadcast_id)
                made.run_id = runs[0]["id"] if runs else None
            if made.run_id is not None and not made.closed:
                report = self.api.get(f"/api/v1/runs/{made.run_id}")
                made.counts, made.closed = report["counts"], report["state"] == "finished"

    def sample(self) -> None:
        """Record each part's memory and descriptors, the clusters online and the deliveries by state.

        An API call that fails or times out is recorded in the sample (`api_error`), and the soak goes on: a slow
        answer on a busy machine is a finding, not a reason to lose the hour.
        """
        processes = {name: measure_tree(pid) for name, pid in self.stack.pids().items()}
        online, error = None, None
        try:
            self.refresh_runs()
            online = self.api.online()
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("the API failed during a sample: %s", error)
        deliveries = Counter()
        for made in self.broadcasts:
            deliveries.update(made.counts)
        self.samples.append({"t_s": round(self.elapsed(), 1), "at": protocol.format_time(datetime.now(UTC)),
                             "load": round(os.getloadavg()[0], 2), "processes": processes, "online": online,
                             "broadcasts": len(self.broadcasts), "deliveries": dict(deliveries), "api_error": error})
        log.info("%6.0f s: %s; %d online; deliveries %s", self.elapsed(),
                 ", ".join(f"{n} {p['rss_mb']:.0f} MB/{p['fds']} fds" for n, p in processes.items()),
                 self.samples[-1]["online"], dict(deliveries))

    def judge(self, truth_path: Path) -> list[dict]:
        """Judge every accepted run against the truth, waiting a while for reports that do not agree yet."""
        deadline = time.monotonic() + AGREE_TIMEOUT_S
        while True:
            truth = read_truth(truth_path)
            down = down_windows(truth)
            try:
                found = [judge_run(made, self.api.get(f"/api/v1/runs/{made.run_id}"), truth, down)
                         for made in self.accepted() if made.run_id is not None]
            except requests.RequestException as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("the API failed while judging: %s; again in a moment", exc)
                found = None
            if found is not None and (time.monotonic() > deadline or not any(f["disagreements"] for f in found)):
                return found
            time.sleep(5)


def memory_growth(samples: list[dict], duration_s: float) -> dict[str, dict]:
    """Return each part's mean RSS in the baseline and final windows and the growth between them."""
    def mean_in(name: str, window: tuple[float, float]) -> float | None:
        low, high = window[0] * duration_s, window[1] * duration_s
        values = [s["processes"][name]["rss_mb"] for s in samples if low <= s["t_s"] <= high and name in s["processes"]]
        return statistics.fmean(values) if values else None

    growth = {}
    for name in PARTS:
        base, final = mean_in(name, BASELINE_WINDOW), mean_in(name, FINAL_WINDOW)
        growth[name] = {"baseline_mb": base, "final_mb": final,
                        "growth": (final - base) / base if base and final is not None else None}
    return growth


def verdict(broadcasts: list[Broadcast], runs: list[dict], growth: dict[str, dict]) -> dict:
    """Return each promise's count and whether the soak kept them all."""
    refused = [f"{b.number}: {b.status} {b.answer}" for b in broadcasts if b.broadcast_id is None]
    counts = {
        "broadcasts": len(broadcasts), "refused": len(refused), "runs": len(runs),
        "unfinished": sum(1 for r in runs if r["state"] != "finished"),
        "lost": sum(len(r["lost"]) for r in runs), "duplicates": sum(len(r["duplicates"]) for r in runs),
        "stale": sum(len(r["stale"]) for r in runs), "disagreements": sum(len(r["disagreements"]) for r in runs),
        "excused": sum(len(r["excused"]) for r in runs),
        "deliveries": sum(r["clusters"] for r in runs), "played": sum(r["played"] for r in runs),
    }
    over = {name: growth[name]["growth"] for name in JUDGED_PARTS
            if growth[name]["growth"] is None or growth[name]["growth"] >= GROWTH_LIMIT}
    kept = (not refused and counts["runs"] == len(broadcasts) and not counts["unfinished"] and not counts["lost"]
            and not counts["duplicates"] and not counts["stale"] and not counts["disagreements"] and not over)
    return {**counts, "refused_answers": refused, "memory_over_limit": over, "pass": kept}


def print_table(samples: list[dict], growth: dict[str, dict], judged: dict, runs: list[dict]) -> None:
    """Print the series a line a sample, then the memory windows, the counts and the verdict."""
    print(f"{'min':>6} {'load':>5} " + " ".join(f"{name[:9]:>9} MB {'fds':>5}" for name in PARTS)
          + f" {'online':>6} {'done':>6} {'other':>6}")
    for s in samples:
        measured = [s["processes"].get(name, {"rss_mb": 0.0, "fds": 0}) for name in PARTS]
        parts = " ".join(f"{m['rss_mb']:12.1f} {m['fds']:5d}" for m in measured)
        done = s["deliveries"].get("done", 0)
        online = "—" if s["online"] is None else s["online"]  # the API failed in this sample
        print(f"{s['t_s'] / 60:6.1f} {s['load']:5.2f} {parts} {online:>6} {done:6d} "
              f"{sum(s['deliveries'].values()) - done:6d}")
    print("\nmemory: mean RSS of the last sixth of the soak against minutes 5–15 of an hour (same fractions):")
    for name, g in growth.items():
        note = "" if name in JUDGED_PARTS else "  (shown, not judged: it keeps every command id a day)"
        if g["growth"] is None:
            print(f"  {name:10} no samples in a window{note}")
        else:
            print(f"  {name:10} {g['baseline_mb']:8.1f} MB → {g['final_mb']:8.1f} MB  {g['growth']:+7.1%}{note}")
    ratio = judged["played"] / judged["deliveries"] if judged["deliveries"] else 0.0
    print(f"\n{judged['broadcasts']} broadcasts ({judged['refused']} refused), {judged['runs']} runs "
          f"({judged['unfinished']} not finished); {judged['played']}/{judged['deliveries']} deliveries played "
          f"({ratio:.2%}); {judged['excused']} not played with the cluster down; lost {judged['lost']}, "
          f"duplicate {judged['duplicates']}, stale {judged['stale']}, report ≠ truth {judged['disagreements']}")
    for run in runs:
        for what in ("lost", "duplicates", "stale", "disagreements"):
            if run[what]:
                print(f"  run {run['run_id']} {what}: {run[what][:10]}")
    for answer in judged["refused_answers"]:
        print(f"  refused {answer}")
    print("verdict:", "PASS" if judged["pass"] else "FAIL")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="how long to broadcast (default 60)")
    parser.add_argument("--clusters", type=int, default=DISTRICT, help="simulated clusters (default 456)")
    parser.add_argument("--flaky", type=float, default=0.05, help="share of clusters on flaky links (default 0.05)")
    parser.add_argument("--interval-s", type=float, default=60.0, help="seconds between broadcasts (default 60)")
    parser.add_argument("--sample-s", type=float, default=30.0, help="seconds between samples (default 30)")
    parser.add_argument("--start-in-s", type=float, default=START_IN_S,
                        help=f"seconds from creating a broadcast to its start (default {START_IN_S:.0f})")
    parser.add_argument("--settle-s", type=float, help="PA_RUN_SETTLE_S of the stack (default make run's, 30)")
    parser.add_argument("--seed", type=int, default=15, help="the simulator's seed: which clusters are flaky")
    parser.add_argument("--workdir", type=Path, help="instance dir parent, kept (default: a new temporary dir)")
    parser.add_argument("--json", type=Path, help="write the series and findings here (default WORKDIR/soak.json)")
    options = parser.parse_args(argv)
    if not 0 < options.clusters <= DISTRICT:
        parser.error(f"--clusters must be from 1 to {DISTRICT}, the clusters make run imports")
    if not 0 <= options.flaky <= 1:
        parser.error("--flaky must be a share from 0 to 1")
    return options


def main(argv: list[str] | None = None, stop: threading.Event | None = None) -> dict:
    """Run the soak (until `stop` is set, if sooner); print the table and the verdict; return what went to the JSON
    file."""
    options = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="loanet-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stop = stop or threading.Event()
    duration_s = options.minutes * 60
    cids = [spec.cid for spec in load_csv(limit=options.clusters)]
    targets = {"all": True} if options.clusters == DISTRICT else {"clusters": cids}
    print(f"soak in {workdir}: {options.clusters} clusters, {options.flaky:.0%} flaky, a broadcast every "
          f"{options.interval_s:.0f} s for {options.minutes:g} min; {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    env = stack_env(workdir, options.clusters, options.flaky, options.seed, options.settle_s)
    with RunningStack(env) as running:
        api = running.wait_ready(options.clusters, ONLINE_TIMEOUT_S)
        soak = Soak(api, running, targets, workdir, options.start_in_s)
        soak.run(duration_s, options.interval_s, options.sample_s, stop)
        out = options.json or workdir / "soak.json"
        result = {"options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()},
                  "workdir": str(workdir), "samples": soak.samples}
        out.write_text(json.dumps(result, ensure_ascii=False, indent=1))  # the series, should the judging fail
        runs = soak.judge(running.settings.instance / "sim-truth.jsonl")
    growth = memory_growth(soak.samples, duration_s)
    judged = verdict(soak.broadcasts, runs, growth)
    print_table(soak.samples, growth, judged, runs)
    made = [{"number": b.number, "created_at": protocol.format_time(b.created_at), "status": b.status,
             "answer": b.answer, "broadcast_id": b.broadcast_id, "run_id": b.run_id} for b in soak.broadcasts]
    result |= {"broadcasts": made, "runs": runs, "memory": growth, "verdict": judged}
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print(f"series and findings: {out}")
    played = judged["played"] / judged["deliveries"] * 100 if judged["deliveries"] else 0.0
    figure = results.Figure(f"{options.minutes:g} min, {options.clusters} clusters, {options.flaky:.0%} flaky: "
                            "deliveries played", played, "%", None, "none lost, duplicate or stale; memory steady",
                            judged["pass"])
    results.record("soak", [figure], note=f"lost {judged['lost']}, duplicate {judged['duplicates']}, "
                   f"stale {judged['stale']}")
    return result


if __name__ == "__main__":
    interrupted = threading.Event()  # Ctrl-C ends the broadcasting early; the runs made are still judged
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: interrupted.set())
    sys.exit(0 if main(stop=interrupted)["verdict"]["pass"] else 1)
