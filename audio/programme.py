"""What a composed programme is: its limits, and the order in which its clips and silences play."""

import math
from pathlib import Path

from .errors import ProgrammeLimitError

MAX_PARTS = 20
MAX_REPEAT = 10
MAX_GAP_S = 300.0

# One entry of the play order: a clip to decode, or that many seconds of silence.
Segment = Path | float


def check_limits(parts: list[Path], *, repeat: int, gap_s: float) -> None:
    """Refuse a programme outside its limits before any file is opened."""
    if not parts:
        raise ProgrammeLimitError("it has no parts; choose at least one recording")
    if len(parts) > MAX_PARTS:
        raise ProgrammeLimitError(f"it has {len(parts)} parts, more than the {MAX_PARTS} allowed")
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
        raise ProgrammeLimitError(f"it is to be played {repeat!r} times; choose 1 to {MAX_REPEAT} times")
    if isinstance(gap_s, bool) or not isinstance(gap_s, int | float) or not math.isfinite(gap_s):
        raise ProgrammeLimitError(f"the gap between repetitions ({gap_s!r}) is not a number of seconds")
    if not 0 <= gap_s <= MAX_GAP_S:
        raise ProgrammeLimitError(f"the gap between repetitions is {gap_s:g} s; choose 0 to {MAX_GAP_S:g} s")


def play_order(parts: list[Path], *, repeat: int, gap_s: float, chime: Path | None) -> list[Segment]:
    """Lay out [chime] + (parts in order) × repeat, with gap_s of silence between repetitions, + [chime]."""
    order: list[Segment] = [chime] if chime is not None else []
    for round_ in range(repeat):
        if round_ and gap_s > 0:
            order.append(float(gap_s))
        order.extend(parts)
    if chime is not None:
        order.append(chime)
    return order
