"""The reference cluster firmware and the fleet simulator (PROTOCOL.md, cluster side), with faults for testers.

Library API, as the controller's integration tests use it::

    from firmware_sim import ClusterSpec, Fleet, load_csv, read_truth

    clusters = load_csv(limit=50)                    # or [ClusterSpec("om-cvl-001", speakers=2), ...]
    keys = "http://127.0.0.1:5000/api/v1/keys/commands"   # the controller's key list (or keys=[entries])
    with Fleet(clusters, broker.url, truth_path=tmp_path / "truth.jsonl", heartbeat_s=1, keys_url=keys) as fleet:
        assert fleet.wait_connected(timeout=10) == 50   # connected and subscribed to their cmd topic
        ...                                          # publish commands, watch events
        played = fleet.truth(event="played", run_id=run_id)
    # leaving the block disconnects every session with reason 0x04, so each will
    # (retained Status online:false with the boot_id) reaches the controller

    # a library scenario, its times shrunk so that it is over in seconds:
    with Fleet(load_csv(), broker.url, truth_path=..., scenario="power-cut-thoi-hoa", time_scale=0.003,
               seed=1, keys_url=keys) as fleet:
        assert fleet.wait_faults_over(timeout=10)     # every fault period with an end has ended
        fleet.truth(event="fault", fault="power_cut")   # each start and end, with true times

- `Fleet(clusters, broker_url, truth_path="instance/sim-truth.jsonl", heartbeat_s=None, keepalive=None,
  root="pa/v1", connect_rate=None, seed=None, fetch_workers=8, reconnect_min_s=None, fw=FW_VERSION,
  scenario=None, faults=(), time_scale=1.0, state_dir=None, credentials=None, shard=None, keys=None,
  keys_url=None, key_refresh_s=600)`;
  `.start()` runs it on one background thread, `.stop()` ends it, `.wait_connected(timeout, count=None)`,
  `.connected_count`, `.summary()`, `.tally` (counters), `.boot_id(cid)`, `.sessions[cid].firmware`,
  `.call(fn, *args)` runs fn on the loop thread, `.truth(**match)` reads the truth log,
  `.plan` (the faults planned for its clusters), `.wait_faults_over(timeout)`, `.seed`.
  - `heartbeat_s`, `keepalive`, `connect_rate`, `reconnect_min_s`: None takes the scenario's `[fleet]`
    value, else 30 s, 30 s, 200/s, 1 s.
  - `scenario`: a library name (`firmware_sim/scenarios/*.toml`), a TOML path, or a `faults.Scenario`;
    `faults`: more faults as `--fault` texts (`"dead_amplifier:share=0.1"`). They are planned on the
    whole of `clusters` with their schedule (`at`, `duration`, `spread`, flap periods) multiplied by
    `time_scale`.
  - `seed` keys every random draw by (seed, cluster, purpose), and a command's by its id: the plan, lost
    and delayed messages, failed fetches, heartbeat offsets, sensor readings, backoffs. The same seed
    and commands give the same outcomes however the heartbeats fall. None draws one and logs it
    (`fleet.seed`).
  - `shard=(K, N)` or `"K/N"`: simulate clusters[K::N] only, with that part of the whole fleet's plan,
    so N shards with one seed (required) reproduce one process.
  - `state_dir`: each cluster's accepted command ids in `{state_dir}/{cid}.json`, so a redelivery is
    answered `received` (detail.duplicate) and not run, across reboots and simulator restarts; an id
    is on disk (fsynced) before its command is acted on, answered and acknowledged. None keeps them in
    memory (reboots and power cuts only). The command line defaults to $PA_INSTANCE_DIR/sim-state.
  - `credentials`: {cid: password} or a `cid,password` CSV; every session logs in with username = cid.
  - `keys`: the controller's key entries (as GET /api/v1/keys/commands answers), a `pa_protocol.key_chain.KeyRing`
    or a `keyring.CommandKeys`, trusted as provisioned; `keys_url`: the key list, fetched every `key_refresh_s`
    and when a command names an unknown key (with no `keys`, the first list fetched is trusted). One of the two
    is required (KeysError). The ring is shared by the fleet's clusters and kept in `state_dir`
    (`command-keys.json`); `.keys.ring` is what they trust. A cluster runs only commands a trusted key signed,
    once (docs/protocol.md, "Replay rules").
- `ClusterSpec(cid, speakers=2, ward="", amp_ok=True, speakers_ok=None)`: hardware faults built in for the
  whole run by overriding.
- `load_csv(path=DEFAULT_FLEET_CSV, limit=None)`, `load_api(url, token, limit=None)`, `synthesize(n)`,
  `load_credentials(path)`.
- `read_truth(path, **match)`: the ground-truth records (a last line still being written is left
  out, so it can read the log of a running simulator). `event` is one of:
  - what became of each command a cluster decoded: received (accepted, with `type`, and `start_at` for
    play and relay), duplicate, rejected (`reason`: unsigned, bad_signature, replay, malformed, …), expired,
    ignored (while silent: the application handles it once it recovers), lost (by a flaky link on its way
    in: the broker delivers it again);
  - played, preempted, cancelled, tone, rebooted (with `cause`: command, power_cut or
    reboot, and `lost_run_ids`, the runs a power cut or crash wiped from memory without an event);
  - interrupted: a run sounding when the power went (kind, started_at, ended_at as played);
  - fault: `{"cid", "event": "fault", "fault": kind, "at", "phase": "start"|"end", "index", "cycle"?,
    …the values drawn for this cluster}`; an end written because the simulator stopped has `stopped: true`.
  A played/preempted/cancelled/interrupted record has `kind` "clip" (with `sha256`) or "relay" (with
  `stream_url` and `end_at`: a relay joined late has started_at > start_at). Every `at`, `started_at`
  and `ended_at` is TRUE time; `start_at` is the command's. While a clock fault acts, the record adds
  `clock_started_at`/`clock_ended_at`: what the cluster's own clock read, which its events reported.
- `Firmware(spec, uplink, board)`: the per-cluster state machine alone, for tests with a fake clock;
  `.busy` is True while it holds a run or a command on its way in: once no cluster of a fleet is
  busy, the truth of the commands sent is complete.
- `firmware_sim.faults`: the fault kinds, scenario files and --fault flags, the seeded plan.

Command line: `python -m firmware_sim --clusters 456` (see `--help`); it and its tools default to what `make run`
started (defaults.py: `$PA_MQTT_URL` or `$PA_MQTT_PORT`, `$PA_HTTP_PORT`, `$PA_INSTANCE_DIR`);
`--scenario power-cut-thoi-hoa`, `--fault KIND:FIELD=VALUE,…`, `--list-scenarios`, `--list-faults`,
`--time-scale F`, `--seed`, `--state-dir`, `--credentials`, `--shard K/N` (with `--seed`), `--keys FILE`,
`--keys-url URL` (by default make run's controller; '' for none).
"""

from firmware_sim.board import FW_VERSION, Board
from firmware_sim.firmware import Firmware
from firmware_sim.fleet import Fleet
from firmware_sim.roster import (
    DEFAULT_FLEET_CSV,
    ClusterSpec,
    RosterError,
    load_api,
    load_credentials,
    load_csv,
    synthesize,
)
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
    "load_credentials",
    "load_csv",
    "read_truth",
    "synthesize",
]
