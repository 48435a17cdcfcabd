"""`python -m firmware_sim report`: the controller's run report judged against the truth log."""

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from firmware_sim.report import Comparison, ReportError, Rule, compare, main
from tests.support.broker import free_port

REPO = Path(__file__).resolve().parents[2]
RUN = 17
START = "2026-11-26T22:00:00.000Z"  # 05:00 on 27/11 in Asia/Ho_Chi_Minh
TOKEN = "good-token"


def run_report(clusters: dict[str, str], state: str = "finished", start_at: str = START) -> dict:
    """Return a run report as GET /api/v1/runs/{id} answers it, for clusters {cid: delivery state}."""
    counts: dict[str, int] = {}
    for delivery in clusters.values():
        counts[delivery] = counts.get(delivery, 0) + 1
    return {
        "id": RUN,
        "broadcast_id": 3,
        "start_at": start_at,
        "state": state,
        "reason": None,
        "counts": counts,
        "clusters": [{"id": cid, "state": s, "at": "2026-11-26T22:00:31.000Z"} for cid, s in clusters.items()],
    }


def received(cid: str, run_id: str = str(RUN), start_at: str | None = START, **extra) -> dict:
    """Return the truth record of a cluster accepting the run's play command (start_at None: an older log's)."""
    record = {"cid": cid, "run_id": run_id, "cmd_id": f"cmd-{cid}", "event": "received",
              "at": "2026-11-26T21:59:00.000Z", "type": "play", "start_at": start_at, **extra}  # fmt: skip
    return {k: v for k, v in record.items() if v is not None}


# What firmware.py writes for a command of the run that made no sound, besides cid, run_id, cmd_id and at.
OUTCOMES = {
    "duplicate": {"type": "play"},
    "expired": {"type": "play", "expires_at": "2026-11-26T21:58:00.000Z"},
    "rejected": {"reason": "replay"},
    "ignored": {"reason": "silent"},
}


def outcome(cid: str, event: str, start_at: str | None = None, **extra) -> dict:
    """Return the truth record of a command of the run that made no sound (start_at: one that names it)."""
    record = {"cid": cid, "run_id": str(RUN), "cmd_id": f"cmd-{event}-{cid}", "event": event,
              "at": "2026-11-26T21:59:00.000Z", **OUTCOMES[event], "start_at": start_at, **extra}  # fmt: skip
    return {k: v for k, v in record.items() if v is not None}


def sound(cid: str, event: str = "played", run_id: str = str(RUN), start_at: str = START, **extra) -> dict:
    """Return a truth record of sound: played to the end, or preempted/cancelled while sounding."""
    return {"cid": cid, "run_id": run_id, "cmd_id": f"cmd-{cid}", "event": event, "at": "2026-11-26T22:00:30.000Z",
            "kind": "clip", "sha256": "ab" * 32, "priority": "normal", "volume": 70, "start_at": start_at,
            "started_at": "2026-11-26T22:00:00.010Z", "ended_at": "2026-11-26T22:00:30.010Z", **extra}  # fmt: skip


def verdict(comparison: Comparison, cid: str) -> Rule | None:
    """Return the rule one cluster breaks in a comparison, or None when it agrees."""
    rules = [d.rule for d in comparison.disagreements if d.cid == cid]
    assert len(rules) + (cid in comparison.agreed) == 1, f"{cid} must be judged exactly once"
    return rules[0] if rules else None


# ----- the rules


@pytest.mark.parametrize(
    ("truth", "expected"),
    [
        ([received("a"), sound("a")], None),
        ([received("a")], Rule.DONE_WITHOUT_FULL_PLAY),
        ([], Rule.DONE_WITHOUT_FULL_PLAY),
        ([sound("a", "preempted", by="99")], Rule.DONE_WITHOUT_FULL_PLAY),
        ([sound("a", "cancelled", by="cmd-stop")], Rule.DONE_WITHOUT_FULL_PLAY),
        ([sound("a", "interrupted")], Rule.DONE_WITHOUT_FULL_PLAY),
    ],
    ids=["played", "received-only", "no-truth", "preempted", "cancelled", "power-cut"],
)
def test_done_means_one_full_play_of_the_run(truth, expected):
    assert verdict(compare(run_report({"a": "done"}), truth), "a") is expected


@pytest.mark.parametrize("state", ["pending", "received", "ready", "late", "expired", "rejected", "missed"])
def test_a_cluster_that_sounded_must_not_be_reported_silent(state):
    for event in ("played", "preempted", "cancelled", "interrupted"):
        comparison = compare(run_report({"a": state}), [sound("a", event)])
        assert verdict(comparison, "a") is Rule.SOUND_NOT_REPORTED
    assert verdict(compare(run_report({"a": state}), [received("a")]), "a") is None


@pytest.mark.parametrize(
    ("state", "truth", "expected"),
    [
        ("preempted", [sound("a", "preempted", by="18")], None),
        ("preempted", [received("a")], None),  # preempted before it sounded: no sound either way
        ("preempted", [sound("a", "cancelled")], Rule.WRONG_INTERRUPTION),
        ("preempted", [sound("a", "interrupted")], Rule.WRONG_INTERRUPTION),  # the power went, not the run
        ("preempted", [sound("a")], Rule.PLAYED_BUT_REPORTED_CUT),
        ("cancelled", [sound("a", "cancelled", by="cmd-stop")], None),
        ("cancelled", [], None),  # cancelled by the controller before the cluster heard of it
        ("cancelled", [sound("a", "preempted")], Rule.WRONG_INTERRUPTION),
        ("cancelled", [sound("a")], Rule.PLAYED_BUT_REPORTED_CUT),
        # `failed`: the cluster's own failure (no sound), or the controller's reading of a reboot mid-sound
        ("failed", [received("a")], None),
        ("failed", [sound("a", "interrupted")], None),
        ("failed", [sound("a")], Rule.PLAYED_BUT_REPORTED_CUT),
        ("failed", [sound("a", "preempted")], Rule.WRONG_INTERRUPTION),
    ],
)
def test_preempted_cancelled_and_failed_match_the_sound_that_was_cut(state, truth, expected):
    assert verdict(compare(run_report({"a": state}), truth), "a") is expected


@pytest.mark.parametrize(
    ("run_state", "truth", "expected"),
    [
        ("dispatched", [received("a")], None),  # sounding now: the truth is written when the sound ends
        ("dispatched", [], Rule.PLAYING_WITHOUT_SOUND),
        ("finished", [received("a")], Rule.PLAYING_WITHOUT_SOUND),
        ("dispatched", [received("a"), sound("a")], Rule.PLAYING_AFTER_SOUND_ENDED),
        ("dispatched", [sound("a", "preempted")], Rule.PLAYING_AFTER_SOUND_ENDED),
        ("dispatched", [received("a"), sound("a", "interrupted")], Rule.PLAYING_AFTER_SOUND_ENDED),
    ],
)
def test_playing_needs_a_run_still_open_that_the_cluster_received(run_state, truth, expected):
    assert verdict(compare(run_report({"a": "playing"}, state=run_state), truth), "a") is expected


@pytest.mark.parametrize("state", ["done", "preempted", "received"])
def test_a_run_sounds_at_most_once_per_cluster(state):
    twice = [sound("a"), sound("a", started_at="2026-11-26T22:05:00.000Z")]
    assert verdict(compare(run_report({"a": state}), twice), "a") is Rule.SOUNDED_TWICE


@pytest.mark.parametrize("truth", [[sound("x")], [received("x")]], ids=["played", "received"])
def test_a_cluster_the_run_was_never_sent_to_has_no_truth_of_it(truth):
    comparison = compare(run_report({"a": "pending"}), truth)
    assert verdict(comparison, "x") is Rule.NOT_IN_RUN
    assert comparison.disagreements[0].controller is None
    assert comparison.disagreements[0].line().startswith("x: controller says not in the run; really ")


def test_only_this_runs_records_count_and_the_run_id_is_compared_as_a_string():
    truth = [sound("a", run_id="18"), sound("b", run_id="18"), received("b", run_id="18"), sound("a")]
    comparison = compare(run_report({"a": "done"}), truth)
    assert comparison.agreed == ("a",) and comparison.ok


OLDER_START = "2026-11-20T22:00:00.000Z"  # an older run 17, before the controller's database started afresh


def test_sound_of_an_older_run_with_the_same_id_is_left_out_and_counted():
    older = sound("a", start_at=OLDER_START)
    comparison = compare(run_report({"a": "done"}), [older, sound("a")])
    assert comparison.ok and comparison.ignored == 1
    assert "left out 1 truth records of an older run 17 (another start_at)" in comparison.summary()
    assert verdict(compare(run_report({"a": "done"}), [older]), "a") is Rule.DONE_WITHOUT_FULL_PLAY


def test_received_of_an_older_run_with_the_same_id_is_left_out_and_counted():
    older = [received("x", start_at=OLDER_START), received("a", start_at=OLDER_START)]
    comparison = compare(run_report({"a": "playing"}, state="dispatched"), older)
    assert comparison.ignored == 2 and "x" not in comparison.agreed
    assert [(d.cid, d.rule) for d in comparison.disagreements] == [("a", Rule.PLAYING_WITHOUT_SOUND)]
    assert verdict(compare(run_report({"a": "pending"}), [received("x")]), "x") is Rule.NOT_IN_RUN


def test_a_received_record_without_start_at_still_counts_as_this_runs():
    """Logs written before received records carried start_at cannot be told apart: they are kept."""
    comparison = compare(run_report({"a": "playing"}, state="dispatched"), [received("a", start_at=None)])
    assert verdict(comparison, "a") is None
    assert verdict(compare(run_report({"a": "pending"}), [received("x", start_at=None)]), "x") is Rule.NOT_IN_RUN


@pytest.mark.parametrize("event", OUTCOMES)
def test_a_command_outcome_is_no_sound(event):
    comparison = compare(run_report({"a": "done", "b": event if event in ("expired", "rejected") else "missed"}),
                         [outcome("a", event), outcome("b", event)])  # fmt: skip
    assert verdict(comparison, "b") is None
    (disagreement,) = comparison.disagreements
    assert (disagreement.cid, disagreement.rule) == ("a", Rule.DONE_WITHOUT_FULL_PLAY)
    what = " ".join([event, *([OUTCOMES[event]["type"]] if "type" in OUTCOMES[event] else [])])
    why = f": {OUTCOMES[event]['reason']}" if "reason" in OUTCOMES[event] else ""
    assert disagreement.really == f"no sound ({what} at 04:59:00 27/11/2026{why})"
    assert comparison.played == 0


@pytest.mark.parametrize("event", OUTCOMES)
def test_a_command_outcome_puts_a_cluster_out_of_the_run_only_when_it_is_of_this_run(event):
    """Without start_at it may be an older run's with the same id: it proves nothing, and is not compared."""
    unknown = compare(run_report({"a": "pending"}), [outcome("x", event)])
    assert not unknown.disagreements and unknown.agreed == ("a",) and unknown.ignored == 0
    older = compare(run_report({"a": "pending"}), [outcome("x", event, start_at=OLDER_START)])
    assert older.ignored == 1 and not older.disagreements and older.agreed == ("a",)
    this_run = compare(run_report({"a": "pending"}), [outcome("x", event, start_at=START)])
    assert verdict(this_run, "x") is Rule.NOT_IN_RUN


def test_a_cancel_names_only_the_run_id_so_it_neither_counts_as_received_nor_puts_a_cluster_out_of_the_run():
    cancel = {"type": "cancel", "start_at": None}
    comparison = compare(
        run_report({"a": "playing"}, state="dispatched"), [received("a", **cancel), received("x", **cancel)]
    )
    assert [(d.cid, d.rule) for d in comparison.disagreements] == [("a", Rule.PLAYING_WITHOUT_SOUND)]
    assert comparison.disagreements[0].really == "no sound (received cancel at 04:59:00 27/11/2026)"
    assert comparison.agreed == ()


def test_the_summary_counts_played_agreed_and_disagreed_and_says_when_the_run_is_open():
    report = run_report({"a": "done", "b": "done", "c": "late", "d": "done"}, state="dispatched")
    comparison = compare(report, [sound("a"), sound("b"), sound("c")])
    assert comparison.summary() == (
        "3/4 played; controller agrees on 2, disagrees on 2; run 17 is still dispatched, so counts may still change"
    )
    assert [d.cid for d in comparison.disagreements] == ["c", "d"]
    assert comparison.open and not comparison.ok


def test_a_disagreement_reads_in_asia_ho_chi_minh_time():
    (line,) = [d.line() for d in compare(run_report({"a": "received"}), [sound("a")]).disagreements]
    assert line == (
        "a: controller says received at 05:00:31 27/11/2026; really played to the end, "
        "05:00:00 → 05:00:30 27/11/2026 [it sounded but the controller does not say so]"
    )


def test_a_report_of_another_shape_is_refused_with_a_reason():
    with pytest.raises(ReportError, match="not the shape"):
        compare({"id": RUN, "state": "finished", "clusters": [{"id": "a", "state": "sung"}]}, [])


# ----- the command line against a stand-in controller


class StandIn:
    """Serve one canned run report at /api/v1/runs/17 to the bearer of TOKEN, as the controller does."""

    def __init__(self, report: dict):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._answer(401, {"error": {"code": "unauthorized", "message": "send a valid API token"}})
                elif self.path != f"/api/v1/runs/{RUN}":
                    self._answer(404, {"error": {"code": "not_found", "message": "no such run"}})
                else:
                    self._answer(200, report)

            def _answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def controller():
    stand_in = StandIn(run_report({"a": "done", "b": "done", "c": "missed"}))
    yield stand_in
    stand_in.close()


@pytest.fixture
def truth_file(tmp_path) -> Path:
    path = tmp_path / "truth.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [received("a"), sound("a"), received("b"), sound("b")]))
    return path


def report_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_agreement_exits_0_with_the_summary(controller, truth_file, capsys):
    code, out, _ = report_cli(capsys, "--run", "17", "--api", controller.url, "--token", TOKEN, "--truth",
                              str(truth_file))  # fmt: skip
    assert (code, out) == (0, "2/3 played; controller agrees on 3, disagrees on 0\n")


def test_a_disagreement_exits_1_with_one_line_per_cluster(controller, truth_file, capsys):
    with truth_file.open("a") as handle:
        handle.write(json.dumps(sound("c")) + "\n")
    code, out, _ = report_cli(capsys, "--run", "17", "--api", controller.url, "--token", TOKEN, "--truth",
                              str(truth_file))  # fmt: skip
    assert code == 1
    assert out.splitlines() == [
        "c: controller says missed at 05:00:31 27/11/2026; really played to the end, 05:00:00 → 05:00:30 27/11/2026 "
        "[it sounded but the controller does not say so]",
        "3/3 played; controller agrees on 2, disagrees on 1",
    ]


def test_json_output_and_the_token_file_under_the_instance_dir(controller, truth_file, tmp_path, monkeypatch, capsys):
    (tmp_path / "bootstrap-token").write_text(TOKEN + "\n")
    monkeypatch.setenv("PA_INSTANCE_DIR", str(tmp_path))
    code, out, _ = report_cli(capsys, "--run", "17", "--api", controller.url, "--truth", str(truth_file), "--json")
    answer = json.loads(out)
    assert code == 0
    assert (answer["run_id"], answer["played"], answer["agreed"], answer["disagreements"]) == ("17", 2, 3, [])


def test_a_truth_log_reused_after_a_fresh_controller_database_leaves_the_older_run_out(controller, truth_file, capsys):
    older = [received("c", start_at=OLDER_START), sound("c", start_at=OLDER_START), received("x", start_at=OLDER_START),
             outcome("x", "duplicate", start_at=OLDER_START), outcome("y", "rejected"),
             sound("a", run_id="18")]  # fmt: skip
    truth_file.write_text("".join(json.dumps(r) + "\n" for r in older) + truth_file.read_text())
    code, out, _ = report_cli(capsys, "--run", "17", "--api", controller.url, "--token", TOKEN, "--truth",
                              str(truth_file))  # fmt: skip
    assert (code, out) == (
        0,
        "2/3 played; controller agrees on 3, disagrees on 0; left out 4 truth records of an older run 17 "
        "(another start_at)\n",
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--token", "stale"], "refused the API token (HTTP 401): check --token or --token-file"),
        (["--token-file", "/nonexistent/token"], "cannot read the API token from /nonexistent/token"),
        (["--token", TOKEN, "--run", "18"], "the controller has no run 18"),
        (["--token", TOKEN, "--truth", "/nonexistent/truth.jsonl"], "there is no truth log at /nonexistent/"),
    ],
    ids=["bad-token", "no-token-file", "unknown-run", "no-truth"],
)
def test_what_stops_the_comparison_exits_2_with_what_to_do(controller, truth_file, capsys, options, message):
    argv = ["--run", "17", "--api", controller.url, "--truth", str(truth_file), *options]
    code, out, err = report_cli(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err


def test_an_unreachable_controller_exits_2_without_a_traceback(truth_file):
    url = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "firmware_sim", "report", "--run", "17", "--api", url, "--token", TOKEN,
               "--truth", str(truth_file)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
    assert finished.returncode == 2
    assert f"cannot reach the controller at {url}/api/v1/runs/17" in finished.stderr
    assert "Traceback" not in finished.stderr
