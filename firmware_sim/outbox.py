"""What one cluster says: events on its uplink, stamped by its own clock, and truth records in true time."""

from collections.abc import Callable

import pa_protocol as protocol
from firmware_sim.board import Board, Uplink, stamp
from pa_protocol import EventState


class Outbox:
    """Send a cluster's events and write its truth, each once the running timer batch is through."""

    __slots__ = ("cid", "uplink", "board", "clock")

    def __init__(self, cid: str, uplink: Uplink, board: Board, clock: Callable[[], float]):
        self.cid = cid
        self.uplink = uplink
        self.board = board
        self.clock = clock

    def event(self, cmd_id: str, state: EventState, run_id: str | None = None, detail: dict | None = None) -> None:
        """Publish an Event about command `cmd_id`, its `at` by the cluster's clock."""
        payload = {"v": protocol.VERSION, "cid": self.cid, "cmd_id": cmd_id}
        if run_id is not None:
            payload["run_id"] = run_id
        payload["state"] = state.value
        payload["at"] = stamp(self.clock())
        if detail:
            payload["detail"] = detail
        self.board.afterwards(self.uplink.send, protocol.EVENTS, payload)

    def truth(self, event: str, cmd_id: str | None, run_id: str | None, **fields) -> None:
        """Write one ground-truth record, its `at` in true time."""
        record = {"cid": self.cid, "run_id": run_id, "cmd_id": cmd_id, "event": event, "at": stamp(self.board.now())}
        self.board.afterwards(self.board.truth.write, {**record, **fields})
