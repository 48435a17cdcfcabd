"""Many simulated clusters in one process: one loop thread, one session per cluster, and the faults of a scenario."""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from firmware_sim.board import FW_VERSION, Board
from firmware_sim.faults import Fault, FaultPlan, Scenario, combine, new_seed, plan_faults
from firmware_sim.faults.injector import FaultInjector
from firmware_sim.faults.spec import fleet_options
from firmware_sim.keyring import KEYS_FILE, REFRESH_S, CommandKeys
from firmware_sim.loop import Loop
from firmware_sim.media import AudioFetcher
from firmware_sim.pacer import ConnectPacer
from firmware_sim.roster import ClusterSpec, load_credentials, parse_shard, shard_of
from firmware_sim.seen import SeenStore
from firmware_sim.session import Session, SessionSettings
from firmware_sim.tally import Tally
from firmware_sim.truth import DEFAULT_TRUTH_PATH, TruthLog, read_truth

log = logging.getLogger(__name__)

STOP_GRACE_S = 5.0


class Fleet:
    """Simulate `clusters` against the broker at `broker_url`, recording ground truth in `truth_path`.

    `start()` returns at once and runs everything on a background thread;
    `stop()` disconnects every session with its will and joins it.

    Faults: `scenario` (a Scenario, a library name or a TOML path) and `faults` (--fault texts or
    Fault objects) are planned on the whole of `clusters`, their times multiplied by `time_scale`;
    `shard=(K, N)` or "K/N" then simulates clusters[K::N] with its part of that plan. `seed` keys
    every random draw: the plan, and each cluster's outcomes, heartbeat offsets, sensor readings and
    backoffs; None draws one, logs it and keeps it in `self.seed` (a shard needs one given, the same
    in every shard). `heartbeat_s`, `keepalive`, `connect_rate` and `reconnect_min_s` left at None
    take the scenario's [fleet] value, else 30 s, 30 s, 200/s and 1 s. `state_dir` keeps each
    cluster's accepted command ids on disk (None: in memory). `credentials` maps cid to broker
    password (or names a `cid,password` CSV).

    Keys: `keys` (key entries as GET /api/v1/keys/commands answers them, a KeyRing, or a CommandKeys) are
    trusted as provisioned; `keys_url` is the controller's key list, fetched every `key_refresh_s` and when a
    command names an unknown key (with no `keys`, the first list fetched is trusted). One of the two is needed
    (KeysError, a ValueError, otherwise). With a `state_dir` the ring is kept in it.
    """

    def __init__(
        self,
        clusters: list[ClusterSpec],
        broker_url: str,
        truth_path: str | Path = DEFAULT_TRUTH_PATH,
        heartbeat_s: float | None = None,
        keepalive: int | None = None,
        root: str = "pa/v1",
        connect_rate: float | None = None,
        seed: int | None = None,
        fetch_workers: int = 8,
        reconnect_min_s: float | None = None,
        fw: str = FW_VERSION,
        scenario: Scenario | str | Path | None = None,
        faults: list[str | Fault] | tuple = (),
        time_scale: float = 1.0,
        state_dir: str | Path | None = None,
        credentials: dict[str, str] | str | Path | None = None,
        shard: tuple[int, int] | str | None = None,
        keys=None,
        keys_url: str | None = None,
        key_refresh_s: float = REFRESH_S,
        bind_address: str = "",
    ):
        if not clusters:
            raise ValueError("a fleet needs at least one cluster")
        duplicates = len(clusters) - len({spec.cid for spec in clusters})
        if duplicates:
            raise ValueError(f"{duplicates} cluster ids appear more than once")
        self.shard = parse_shard(shard) if shard is not None else None
        self.clusters = shard_of(clusters, self.shard)
        if not self.clusters:
            raise ValueError(f"shard {self.shard} of {len(clusters)} clusters holds none")
        self.scenario = combine(scenario, list(faults))
        self.seed = self._seed(seed)
        self.plan = self._plan(clusters, time_scale)
        options = fleet_options(self.scenario, heartbeat_s=heartbeat_s, keepalive=keepalive,
                                connect_rate=connect_rate, reconnect_min_s=reconnect_min_s)
        self.state_dir = Path(state_dir) if state_dir is not None else None
        if isinstance(keys, CommandKeys):
            self.keys = keys
        else:
            kept = self.state_dir / KEYS_FILE if self.state_dir is not None else None
            self.keys = CommandKeys(keys, keys_url, kept, refresh_s=key_refresh_s)
        if isinstance(credentials, str | Path):
            credentials = load_credentials(credentials)
        self.credentials = dict(credentials or {})
        self.settings = SessionSettings.from_url(
            broker_url, root=root, keepalive=options["keepalive"], reconnect_min_s=options["reconnect_min_s"],
            bind_address=bind_address,
        )
        self.truth_path = Path(truth_path)
        self.heartbeat_s = options["heartbeat_s"]
        self.connect_rate = options["connect_rate"]
        self.fetch_workers = fetch_workers
        self.fw = fw
        self.tally = Tally()
        self.sessions: dict[str, Session] = {}
        self._loop: Loop | None = None
        self._thread: threading.Thread | None = None
        self._truth: TruthLog | None = None
        self._audio: AudioFetcher | None = None
        self._seen: SeenStore | None = None
        self._injector: FaultInjector | None = None

    def _seed(self, seed: int | None) -> int:
        """Return the seed given, or draw one and log it; shards must be given theirs."""
        if seed is not None:
            return seed
        if self.shard is not None:
            # Every shard must plan and draw alike, and none can tell the others a seed it drew.
            raise ValueError("a shard needs a seed, the same in every shard (--seed N)")
        seed = new_seed()
        log.info("seeded with %d: pass --seed %d to repeat this run", seed, seed)
        return seed

    def _plan(self, fleet: list[ClusterSpec], time_scale: float) -> FaultPlan:
        """Plan the faults on the whole fleet, then keep this shard's part."""
        plan = plan_faults(self.scenario, fleet, self.seed, time_scale)
        for warning in plan.warnings:
            log.warning("%s: %s", self.scenario.source, warning)
        return plan.for_clusters({spec.cid for spec in self.clusters})

    def __enter__(self) -> "Fleet":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ----- running

    def start(self) -> "Fleet":
        """Build every session and start connecting them, paced, on a background loop thread."""
        if self._thread is not None:
            raise RuntimeError("this fleet has already been started")
        loop = self._loop = Loop()
        self._truth = TruthLog(self.truth_path)
        self._audio = AudioFetcher(loop.call_soon_threadsafe, workers=self.fetch_workers)
        board = Board(
            clock=loop.clock,
            timers=loop.timers,
            audio=self._audio,
            truth=self._truth,
            seed=self.seed,
            tally=self.tally,
            heartbeat_s=self.heartbeat_s,
            fw=self.fw,
            keys=self.keys,
        )
        pacer = ConnectPacer(loop.timers, loop.clock, self.connect_rate)
        self._seen = SeenStore(self.state_dir, deliver=loop.call_soon_threadsafe)
        for spec in self.clusters:
            self.sessions[spec.cid] = Session(spec, board, loop, pacer, self.settings, self._seen.open(spec.cid),
                                              self.credentials.get(spec.cid))
        self._pacer = pacer
        self._injector = FaultInjector(self.plan, self.sessions, board)
        loop.call_soon_threadsafe(self._start_sessions)
        self._thread = threading.Thread(target=loop.run_forever, name="sim-loop", daemon=True)
        self._thread.start()
        log.info("simulating %d clusters against %s:%d", len(self.sessions), self.settings.host, self.settings.port)
        return self

    def _start_sessions(self) -> None:
        self._injector.start(self._loop.clock())  # first: a fault at 0 s is there before the first connection
        self.keys.start(self._loop.timers, self._loop.clock, self._loop.call_soon_threadsafe)
        for session in self.sessions.values():
            session.start()

    def stop(self, timeout: float = STOP_GRACE_S) -> None:
        """Disconnect every session with its will (reason 0x04), wait for the sockets to close, join."""
        if self._thread is None or not self._thread.is_alive():
            self._close()
            return
        deadline = time.monotonic() + timeout
        self._loop.call_soon_threadsafe(self._shutdown, deadline)
        self._thread.join(max(0.1, deadline - time.monotonic() + 1.0))
        if self._thread.is_alive():
            log.warning("the loop thread did not finish within %.1f s", timeout)
        self._close()

    def _shutdown(self, deadline: float) -> None:
        self._injector.finish()
        self._pacer.clear()
        for session in self.sessions.values():
            session.shutdown()
        self._stop_when_closed(deadline)

    def _stop_when_closed(self, deadline: float) -> None:
        if self._loop.open_sockets == 0 or time.monotonic() >= deadline:
            if self._loop.open_sockets:
                log.warning("%d sessions did not close in time", self._loop.open_sockets)
            self._loop.stop()
        else:
            self._loop.call_later(0.02, self._stop_when_closed, deadline)

    def _close(self) -> None:
        if self._audio is not None:
            self._audio.close()
        if self._seen is not None:
            self._seen.close()
        if self._truth is not None:
            self._truth.close()

    # ----- looking in

    @property
    def connected_count(self) -> int:
        """Return how many sessions are connected and subscribed to their command topic."""
        return self.tally.connected

    def wait_connected(self, timeout: float = 10.0, count: int | None = None) -> int:
        """Wait until `count` sessions (all by default) are connected; return how many are."""
        wanted = len(self.clusters) if count is None else count
        deadline = time.monotonic() + timeout
        while self.tally.connected < wanted and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.tally.connected

    def summary(self) -> str:
        """Return the one-line summary: connected, playing, done, failed …, and faults active/applied."""
        return self.tally.summary(len(self.clusters))

    def wait_faults_over(self, timeout: float = 10.0) -> bool:
        """Wait until every fault period with an end has ended (and every other has started); return whether so."""
        if self._injector is None:
            raise RuntimeError("the fleet is not running: call start() first")
        return self._injector.over.wait(timeout)

    def boot_id(self, cid: str) -> str:
        """Return the current boot_id of one cluster."""
        return self.sessions[cid].firmware.boot_id

    def call(self, function: Callable, *args, timeout: float = 5.0):
        """Run `function(*args)` on the loop thread and return its result (for tests and tools)."""
        if self._thread is None or not self._thread.is_alive():
            raise RuntimeError("the fleet is not running: call start() first")
        result: Future = Future()

        def run():
            try:
                result.set_result(function(*args))
            except Exception as exc:
                result.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return result.result(timeout)

    def truth(self, **match) -> list[dict]:
        """Return the truth records written so far, filtered by field values (event="played", cid=…)."""
        return read_truth(self.truth_path, **match)
