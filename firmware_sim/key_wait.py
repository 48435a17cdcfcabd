"""Commands a cluster holds until the key list has been fetched again (docs/protocol.md, "The key list", rule 6).

A command signed by a key the cluster does not know waits, unacknowledged and not executed, for a fetch begun
after it came; the commands that come after it wait behind it, in order. When that fetch has ended, each is
taken again: one that came before the fetch began is judged by it (an unknown key is then `bad_signature`); one
that came during it may wait for the next. Memory is lost at every boot, so what waits is dropped then, still
unacknowledged: the broker delivers it again, and a fetch asked for before the boot judges nothing after it.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from firmware_sim.board import Board

log = logging.getLogger(__name__)

Take = Callable[[bytes, Callable[[], None], bool], None]  # (payload, handled, may_wait)


@dataclass(frozen=True)
class HeldCommand:
    """A command payload held for the key list, what to call once it is dealt with, and the fetches begun before
    it came (a fetch begun after it can judge it)."""

    raw: bytes
    handled: Callable[[], None]
    fetches_before: int


class KeyWait:
    """The commands one cluster holds for the key list, in the order they came; `take` checks one again."""

    def __init__(self, cid: str, board: Board, take: Take):
        self.cid = cid
        self.board = board
        self._take = take
        self._held: list[HeldCommand] = []
        self._era = 0  # raised by `clear`: a fetch asked for in an earlier era answers nothing

    def __bool__(self) -> bool:
        return bool(self._held)

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, raw: bytes, handled: Callable[[], None]) -> None:
        """Hold a command that names a key this cluster does not know, and ask for a fetch begun from now."""
        self.queue(raw, handled)
        era = self._era
        self.board.keys.after_refresh(lambda: self._refreshed(era))

    def queue(self, raw: bytes, handled: Callable[[], None]) -> None:
        """Hold a command behind those that wait already."""
        self._held.append(HeldCommand(raw, handled, self.board.keys.fetches_begun))

    def clear(self) -> None:
        """Drop what is held (a boot: memory is gone); unacknowledged, it comes again from the broker."""
        self._held = []
        self._era += 1

    def _refreshed(self, era: int) -> None:
        """Take the held commands again, in order, now that a fetch begun after the first of them has ended."""
        if era != self._era:
            return
        answered_by = self.board.keys.fetches_begun
        held, self._held = self._held, []
        for index, command in enumerate(held):
            if era != self._era:
                return  # a boot on the way: the rest are lost with memory
            if self._held:  # the one before waits again, for a newer fetch: the rest stay behind it, in order
                self._held.extend(held[index:])
                return
            try:
                self._take(command.raw, command.handled, command.fetches_before >= answered_by)
            except Exception:  # a firmware bug on one must not drop those behind it, unacknowledged, for good
                log.exception("%s failed on a command held for the key list", self.cid)
                command.handled()
