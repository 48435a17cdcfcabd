"""The reference cluster firmware and the fleet simulator (PROTOCOL.md, cluster side).

Library API, as the controller's integration tests use it::

    from firmware_sim import ClusterSpec, Fleet, load_csv, read_truth

    clusters = load_csv(limit=50)                    # or [ClusterSpec("om-cvl-001", speakers=2), ...]
    with Fleet(clusters, broker.url, truth_path=tmp_path / "truth.jsonl", heartbeat_s=1) as fleet:
        assert fleet.wait_connected(timeout=10) == 50   # connected and subscribed to their cmd topic
        ...                                          # publish commands, watch events
        played = fleet.truth(event="played", run_id=run_id)
    # leaving the block disconnects every session with reason 0x04, so each will
    # (retained Status online:false with the boot_id) reaches the controller

- `Fleet(clusters, broker_url, truth_path="instance/sim-truth.jsonl", heartbeat_s=30, keepalive=30,
  root="pa/v1", connect_rate=200, seed=None, fetch_workers=8, reconnect_min_s=1.0)`;
  `.start()` runs it on one background thread, `.stop()` ends it, `.wait_connected(timeout, count=None)`,
  `.connected_count`, `.summary()`, `.tally` (counters), `.boot_id(cid)`, `.sessions[cid].firmware`,
  `.call(fn, *args)` runs fn on the loop thread, `.truth(**match)` reads the truth log.
- `ClusterSpec(cid, speakers=2, ward="", amp_ok=True, speakers_ok=None)`: inject faults by overriding.
- `load_csv(path=DEFAULT_FLEET_CSV, limit=None)`, `load_api(url, token, limit=None)`, `synthesize(n)`.
- `read_truth(path, **match)`: the ground-truth records (a last line still being written is left
  out, so it can read the log of a running simulator); `event` is one of received, played,
  preempted, cancelled, tone, rebooted. A played/preempted/cancelled record has `kind` "clip" (with
  `sha256`) or "relay" (with `stream_url` and `end_at`: a relay joined late has started_at > start_at).
- `Firmware(spec, uplink, board)`: the per-cluster state machine alone, for tests with a fake clock.

Command line: `python -m firmware_sim --clusters 456 --broker mqtt://127.0.0.1:1884` (see `--help`).
"""

from firmware_sim.firmware import FW_VERSION, Board, Firmware
from firmware_sim.fleet import Fleet
from firmware_sim.roster import DEFAULT_FLEET_CSV, ClusterSpec, RosterError, load_api, load_csv, synthesize
from firmware_sim.truth import read_truth

__all__ = [
    "DEFAULT_FLEET_CSV",
    "FW_VERSION",
    "Board",
    "ClusterSpec",
    "Firmware",
    "Fleet",
    "RosterError",
    "load_api",
    "load_csv",
    "read_truth",
    "synthesize",
]
