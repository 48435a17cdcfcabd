"""`python -m firmware_sim report`: does the controller's run report agree with what the clusters really did?

The controller only knows what clusters told it; the simulator's truth log (truth.py) records what
really sounded. `compare(run_report, truth)` puts the two side by side, one cluster at a time, and
lists every disagreement; it is pure, so end-to-end tests call it directly.

What really happened to a cluster, from its truth records of this run (`run_id` is the run's id as a
string): it *played* (one `played` record: sound to the end); was *preempted* or *cancelled* while
sounding, or *interrupted* by a power cut or crash (one such record: sound cut short); made *no sound*
(none of those; it may have `received` the run, or have no record at all); or *sounded twice* (two or
more of those records). A run preempted, cancelled or lost before its sound started writes no sound
record, so it counts as no sound. `tone`, `rebooted` and `fault` records carry no run and decide nothing.
Every other record naming the run, whatever its event, tells of one of its commands that made no sound:
a cancel `received`, a `duplicate` delivery, a command `rejected`, `expired` or `ignored` (firmware.py).
Such command outcomes decide nothing either; they are shown when a cluster made no sound.

Records whose `start_at` differs from the run's belong to an older run that had the same id (a
controller database started afresh beside the same truth log); they are left out and counted in
`ignored`. A record without `start_at` (a cancel names only the run id) cannot be told apart from one
of an older run: it is kept, but only a sound, a `received` play or relay, or a command outcome that
carries the run's `start_at` proves a cluster had the run (footnote 8).

The rules, controller state (DeliveryState) against what really happened (✓ agrees, ✗ a disagreement):

| controller says                         | played | preempted | cancelled | interrupted | no sound | twice |
|-----------------------------------------|--------|-----------|-----------|-------------|----------|-------|
| done                                    | ✓      | ✗ ¹       | ✗ ¹       | ✗ ¹         | ✗ ¹      | ✗ ⁷   |
| playing                                 | ✗ ²    | ✗ ²       | ✗ ²       | ✗ ²         | ✓/✗ ³    | ✗ ⁷   |
| preempted                               | ✗ ⁴    | ✓         | ✗ ⁵       | ✗ ⁵         | ✓        | ✗ ⁷   |
| cancelled                               | ✗ ⁴    | ✗ ⁵       | ✓         | ✗ ⁵         | ✓        | ✗ ⁷   |
| failed                                  | ✗ ⁴    | ✗ ⁵       | ✗ ⁵       | ✓ ⁹         | ✓        | ✗ ⁷   |
| pending, received, ready, late,         | ✗ ⁶    | ✗ ⁶       | ✗ ⁶       | ✗ ⁶         | ✓        | ✗ ⁷   |
| expired, rejected, missed               |        |           |           |             |          |       |
| (cluster not in the run)                | ✗ ⁸    | ✗ ⁸       | ✗ ⁸       | ✗ ⁸         | ✓/✗ ⁸    | ✗ ⁸   |

1. `done` means one full play of this run on that cluster (Rule.DONE_WITHOUT_FULL_PLAY).
2. The sound has ended, but the controller still says playing (Rule.PLAYING_AFTER_SOUND_ENDED). After
   an `interrupted` no event could tell it so; the line is there for the tester to see all the same.
3. The truth log writes sound when it ends, so a run still open may be sounding right now: agreed if the
   run is still scheduled or dispatched and the cluster `received` it; otherwise Rule.PLAYING_WITHOUT_SOUND.
4. It played to the end, yet the controller says it was cut short (Rule.PLAYED_BUT_REPORTED_CUT).
5. The sound was cut short, but for another reason than the controller says (Rule.WRONG_INTERRUPTION).
6. The cluster sounded, and the controller does not know (Rule.SOUND_NOT_REPORTED).
7. A run sounds at most once per cluster (Rule.SOUNDED_TWICE), whatever the controller says.
8. A cluster the run was never sent to has no business with it: a record proving it had the run (even
   `received`) is Rule.NOT_IN_RUN; with no such record it is not compared.
9. A power cut or crash while sounding says nothing; when the cluster comes back with a new boot, the
   controller reports what it held as `failed` (reason `rebooted`). That agrees with an interrupted sound.

While the run is still scheduled or dispatched (`Comparison.open`), events may still be on their way:
counts can change, and the summary says so.
"""

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TextIO

import pa_protocol as protocol
from firmware_sim import defaults
from firmware_sim.controller_api import ControllerError, TokenFileError, get_json, read_token_file
from firmware_sim.localtime import local_day, local_time
from firmware_sim.truth import read_truth
from pa_protocol import DeliveryState, RunState

OPEN_RUN_STATES = frozenset({RunState.SCHEDULED, RunState.DISPATCHED})
SAME_START_S = 0.002  # both sides render start_at with milliseconds
HTTP_TIMEOUT_S = 10.0


class ReportError(ValueError):
    """A run report that cannot be read; the message says what is wrong with it."""


class Outcome(StrEnum):
    """What really happened to one cluster in one run, by its truth records."""

    PLAYED = "played"
    PREEMPTED = "preempted"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # power cut or crash while sounding (firmware.power_off)
    SILENT = "no sound"
    TWICE = "sounded twice"


class Rule(StrEnum):
    """The rule a disagreement breaks (the footnotes of the module docstring)."""

    DONE_WITHOUT_FULL_PLAY = "done needs one full play"
    PLAYING_AFTER_SOUND_ENDED = "the sound has ended but the controller still says playing"
    PLAYING_WITHOUT_SOUND = "playing needs sound"
    PLAYED_BUT_REPORTED_CUT = "it played to the end, not cut short"
    WRONG_INTERRUPTION = "preempted and cancelled differ"
    SOUND_NOT_REPORTED = "it sounded but the controller does not say so"
    SOUNDED_TWICE = "a run sounds at most once per cluster"
    NOT_IN_RUN = "the run was never sent to this cluster"


# Controller states that agree with each outcome; PLAYING with no sound yet is judged in _judge.
AGREES = {
    DeliveryState.DONE: {Outcome.PLAYED},
    DeliveryState.PREEMPTED: {Outcome.PREEMPTED, Outcome.SILENT},
    DeliveryState.CANCELLED: {Outcome.CANCELLED, Outcome.SILENT},
    DeliveryState.FAILED: {Outcome.INTERRUPTED, Outcome.SILENT},  # a cluster that rebooted mid-sound: footnote 9
}
SOUND_EVENTS = (Outcome.PLAYED, Outcome.PREEMPTED, Outcome.CANCELLED, Outcome.INTERRUPTED)
RECEIVED = "received"
RUN_COMMANDS = frozenset({"play", "relay"})  # the `type` of a received record that is the run itself


@dataclass
class ClusterTruth:
    """One cluster's truth records of one run."""

    sounds: list[dict] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)  # of the run's own play or relay command
    outcomes: list[dict] = field(default_factory=list)  # any other command of the run: no sound from it

    @property
    def had_the_run(self) -> bool:
        """Tell whether these records prove the cluster had the run: not just a command naming its id."""
        return bool(self.sounds or self.received or any(r.get("start_at") for r in self.outcomes))

    @property
    def outcome(self) -> Outcome:
        if len(self.sounds) > 1:
            return Outcome.TWICE
        return Outcome(self.sounds[0]["event"]) if self.sounds else Outcome.SILENT

    def describe(self) -> tuple[str, datetime | None]:
        """Return what happened, in words with local times, and when it began."""
        if not self.sounds:
            if self.received:
                at = _time(self.received[0].get("at"))
                return f"no sound (received the run at {local_time(at)})", at
            if self.outcomes:
                first = self.outcomes[0]
                at = _time(first.get("at"))
                what = " ".join(str(word) for word in (first.get("event"), first.get("type")) if word)
                why = f": {first['reason']}" if first.get("reason") else ""
                return f"no sound ({what} at {local_time(at)}{why})", at
            return "no sound, and no record of the run at all", None
        started = _time(self.sounds[0].get("started_at"))
        if len(self.sounds) > 1:
            starts = ", ".join(local_time(_time(s.get("started_at"))) for s in self.sounds)
            return f"sounded {len(self.sounds)} times, starting {starts}", started
        sound = self.sounds[0]
        span = _span(started, _time(sound.get("ended_at")))
        if sound["event"] == Outcome.PLAYED:
            return f"played to the end, {span}", started
        if sound["event"] == Outcome.INTERRUPTED:
            return f"lost power or crashed while sounding, {span}", started
        return f"{sound['event']} by {sound.get('by', '?')} after sounding {span}", started


@dataclass(frozen=True)
class Disagreement:
    """One cluster where the controller's report and the truth part ways."""

    cid: str
    controller: DeliveryState | None  # None: the cluster is not in the run
    controller_at: datetime | None
    really: str
    really_at: datetime | None  # when the sound started, or when the run was received
    rule: Rule

    def line(self) -> str:
        """Render the disagreement for people: one line, times in Asia/Ho_Chi_Minh."""
        said = "not in the run" if self.controller is None else f"{self.controller} at {local_time(self.controller_at)}"
        return f"{self.cid}: controller says {said}; really {self.really} [{self.rule}]"

    def as_json(self) -> dict:
        return {
            "cid": self.cid,
            "controller": self.controller and self.controller.value,
            "controller_at": _wire(self.controller_at),
            "really": self.really,
            "really_at": _wire(self.really_at),
            "rule": self.rule.name.lower(),
        }


@dataclass(frozen=True)
class Comparison:
    """A run report judged against the truth: who agrees, every disagreement, and the counts."""

    run_id: str
    run_state: str
    clusters: int  # clusters the controller lists for the run
    played: int  # of those, how many really played the run to the end
    agreed: tuple[str, ...]
    disagreements: tuple[Disagreement, ...]
    ignored: int = 0  # records of an older run with the same id

    @property
    def ok(self) -> bool:
        return not self.disagreements

    @property
    def open(self) -> bool:
        """Tell whether the run may still change: scheduled, or dispatched and not yet finished."""
        return self.run_state in OPEN_RUN_STATES

    def summary(self) -> str:
        """Return the summary line: how many played, and how far the controller agrees."""
        line = (
            f"{self.played}/{self.clusters} played; controller agrees on {len(self.agreed)}, "
            f"disagrees on {len(self.disagreements)}"
        )
        if self.open:
            line += f"; run {self.run_id} is still {self.run_state}, so counts may still change"
        if self.ignored:
            line += f"; left out {self.ignored} truth records of an older run {self.run_id} (another start_at)"
        return line

    def as_json(self) -> dict:
        return {
            "run_id": self.run_id,
            "run_state": self.run_state,
            "open": self.open,
            "clusters": self.clusters,
            "played": self.played,
            "agreed": len(self.agreed),
            "disagreed": len(self.disagreements),
            "ignored": self.ignored,
            "disagreements": [d.as_json() for d in self.disagreements],
        }


def compare(run_report: dict, truth: list[dict]) -> Comparison:
    """Judge a run report (GET /api/v1/runs/{id}) against truth records; raise ReportError if unreadable."""
    try:
        run_id, run_state = str(run_report["id"]), str(run_report["state"])
        start_at = _time(run_report.get("start_at"))
        said = {c["id"]: (DeliveryState(c["state"]), _time(c.get("at"))) for c in run_report["clusters"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(f"the run report is not the shape GET /api/v1/runs/{{id}} answers: {exc!r}") from exc
    truths, ignored = _truth_of_run(run_id, start_at, truth)
    run_open = run_state in OPEN_RUN_STATES
    agreed, disagreements = [], []
    for cid in sorted(said.keys() | truths.keys()):
        state, at = said.get(cid, (None, None))
        cluster_truth = truths.get(cid, ClusterTruth())
        rule = _judge(state, cluster_truth, run_open)
        if state is None and rule is None:
            continue  # not in the run, and nothing proves it had the run: not compared
        if rule is None:
            agreed.append(cid)
        else:
            really, really_at = cluster_truth.describe()
            disagreements.append(Disagreement(cid, state, at, really, really_at, rule))
    played = sum(1 for cid in said if cid in truths and any(s["event"] == Outcome.PLAYED for s in truths[cid].sounds))
    return Comparison(run_id, run_state, len(said), played, tuple(agreed), tuple(disagreements), ignored)


def _truth_of_run(run_id: str, start_at: datetime | None, truth: list[dict]) -> tuple[dict[str, ClusterTruth], int]:
    """Group the truth records of one run by cluster; return them and how many were left out as older."""
    truths: dict[str, ClusterTruth] = {}
    ignored = 0
    for record in truth:
        if record.get("run_id") != run_id:
            continue
        started = _time(record.get("start_at"))
        if start_at and started and abs((started - start_at).total_seconds()) > SAME_START_S:
            ignored += 1
            continue
        cluster = truths.setdefault(record["cid"], ClusterTruth())
        event = record.get("event")
        if event in SOUND_EVENTS:
            cluster.sounds.append(record)
        elif event == RECEIVED and record.get("type", "play") in RUN_COMMANDS:
            cluster.received.append(record)
        else:
            cluster.outcomes.append(record)
    return truths, ignored


def _judge(state: DeliveryState | None, truth: ClusterTruth, run_open: bool) -> Rule | None:
    """Return the rule a cluster breaks, or None when the controller and the truth agree."""
    outcome = truth.outcome
    if state is None:
        return Rule.NOT_IN_RUN if truth.had_the_run else None
    if outcome is Outcome.TWICE:
        return Rule.SOUNDED_TWICE
    if state is DeliveryState.DONE:
        return None if outcome is Outcome.PLAYED else Rule.DONE_WITHOUT_FULL_PLAY
    if state is DeliveryState.PLAYING:
        if outcome is not Outcome.SILENT:
            return Rule.PLAYING_AFTER_SOUND_ENDED
        return None if run_open and truth.received else Rule.PLAYING_WITHOUT_SOUND
    if state in AGREES:
        if outcome in AGREES[state]:
            return None
        return Rule.PLAYED_BUT_REPORTED_CUT if outcome is Outcome.PLAYED else Rule.WRONG_INTERRUPTION
    return None if outcome is Outcome.SILENT else Rule.SOUND_NOT_REPORTED


def _span(start: datetime | None, end: datetime | None) -> str:
    """Render start → end, the date once when both fall on the same local day."""
    if start and end and local_day(start) == local_day(end):
        return f"{local_time(start, '%H:%M:%S')} → {local_time(end)}"
    return f"{local_time(start)} → {local_time(end)}"


def _time(text: str | None) -> datetime | None:
    return None if text is None else protocol.parse_time(text)


def _wire(moment: datetime | None) -> str | None:
    return None if moment is None else protocol.format_time(moment)


# ----- the command line


class CannotCompare(Exception):
    """The token, the run report or the truth log is missing or unreadable; the message says what to do."""


def build_parser() -> argparse.ArgumentParser:
    """Describe `python -m firmware_sim report`."""
    parser = argparse.ArgumentParser(
        prog="python -m firmware_sim report",
        description="Compare the controller's report of one run with what the simulated clusters really did. "
        "Exit 0 when they agree, 1 on any disagreement, 2 when the comparison could not be made.",
    )
    parser.add_argument("--run", required=True, type=int, help="the run id (GET /api/v1/runs/{id})")
    parser.add_argument("--api", default=defaults.api_url(),
                        help=f"controller base URL (default %(default)s; {defaults.API_SOURCE})")
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--token", help="API bearer token")
    token.add_argument("--token-file", default=str(defaults.token_file()),
                       help=f"file holding the token (default %(default)s; {defaults.INSTANCE_SOURCE})")
    parser.add_argument("--truth", default=str(defaults.truth_path()),
                        help=f"the simulator's truth log (default %(default)s; {defaults.INSTANCE_SOURCE})")
    parser.add_argument("--json", action="store_true", help="print the comparison as one JSON object")
    return parser


def read_token(args: argparse.Namespace) -> str:
    """Return the API token from --token, else from --token-file (by default the bootstrap token of make run)."""
    if args.token:
        return args.token
    try:
        return read_token_file(Path(args.token_file))
    except TokenFileError as exc:
        raise CannotCompare(str(exc)) from exc


def fetch_run(api: str, run_id: int, token: str) -> dict:
    """GET the run report, turning every way it can fail into a CannotCompare a person can act on."""
    try:
        report = get_json(api, f"/api/v1/runs/{run_id}", token, HTTP_TIMEOUT_S, "check --token or --token-file")
    except ControllerError as exc:
        if exc.status == 404:
            raise CannotCompare(f"the controller has no run {run_id} that this token may see "
                                f"({exc.url} answered 404)") from exc
        raise CannotCompare(str(exc)) from exc
    if not isinstance(report, dict):
        raise CannotCompare(f"{api.rstrip('/')}/api/v1/runs/{run_id} did not answer a JSON object")
    return report


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the comparison; return 0 (agree), 1 (disagree) or 2 (could not compare)."""
    out, err = out or sys.stdout, err or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        comparison = _compare_run(args)
    except (CannotCompare, ValueError) as exc:  # ValueError: ReportError, or a time that does not parse
        err.write(f"python -m firmware_sim report: error: {exc}\n")
        return 2
    if args.json:
        out.write(json.dumps(comparison.as_json(), ensure_ascii=False) + "\n")
    else:
        for disagreement in comparison.disagreements:
            out.write(disagreement.line() + "\n")
        out.write(comparison.summary() + "\n")
    return 0 if comparison.ok else 1


def _compare_run(args: argparse.Namespace) -> Comparison:
    truth_path = Path(args.truth)
    if not truth_path.is_file():
        raise CannotCompare(f"there is no truth log at {truth_path}: pass --truth (the simulator's --truth)")
    report = fetch_run(args.api, args.run, read_token(args))
    try:
        truth = read_truth(truth_path, run_id=str(args.run))
    except ValueError as exc:
        raise CannotCompare(f"the truth log {truth_path} has a line that is not a JSON record ({exc})") from exc
    return compare(report, truth)
