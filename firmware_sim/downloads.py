"""Audio fetches through a cluster's download faults: slower, failing, or bytes that do not match sha256."""

from collections.abc import Callable

from firmware_sim.board import Board
from firmware_sim.condition import Condition
from firmware_sim.media import CHECKSUM, FETCH, FetchOutcome


def fetch_audio(condition: Condition, board: Board, audio: dict, cmd_id: str,
                done: Callable[[FetchOutcome], None]) -> None:
    """Fetch `audio` for command `cmd_id` as the cluster's condition allows; `done(outcome)` on the loop.

    The fault is drawn under the command's id when the fetch starts, so the outcome depends neither
    on which fetch of the fleet finishes first nor on what the cluster did before.
    """
    fault = condition.download_fault(cmd_id)
    if condition.extra_fetch_s:
        done = _later(board, condition.extra_fetch_s, done)
    if fault == FETCH:
        done(FetchOutcome.failure(FETCH, f"GET {audio['url']} failed: the download broke off (simulated fault)"))
    elif fault == CHECKSUM:
        board.audio.fetch(audio, lambda outcome: done(_mismatched(audio, outcome)))
    else:
        board.audio.fetch(audio, done)


def _mismatched(audio: dict, outcome: FetchOutcome) -> FetchOutcome:
    if not outcome.ok:
        return outcome
    return FetchOutcome.failure(CHECKSUM, f"{audio['url']} does not have sha256 {audio['sha256']} (simulated fault)")


def _later(board: Board, delay: float, done: Callable[[FetchOutcome], None]) -> Callable[[FetchOutcome], None]:
    def deliver(outcome: FetchOutcome) -> None:
        board.timers.call_at(board.now() + delay, done, outcome)

    return deliver
