"""Time a simulated fleet coming online against a raw-socket baseline doing the same MQTT work.

Run from the repository root:  .venv/bin/python bench/simulator.py [--clusters 456 2000] [--connect-rate 0]
Each size runs twice on a fresh private Mosquitto: first the simulator (paho clients on one selector
loop, each: CONNECT with will and session expiry, SUBSCRIBE, retained birth), then a baseline of bare
non-blocking sockets sending the same packets by hand. The ratio is simulator time / baseline time;
memory is the simulator's resident-set growth. --connect-rate paces the simulator only (0 = unpaced,
the fair comparison).
"""

import argparse
import collections
import logging
import selectors
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from firmware_sim import Fleet, load_csv, synthesize  # noqa: E402
from firmware_sim.cli import raise_file_limit  # noqa: E402
from pa_controller.messaging import protocol  # noqa: E402
from tests.support.broker import running_broker  # noqa: E402

log = logging.getLogger("bench.simulator")

CONNACK, SUBACK = 0x20, 0x90
DISCONNECT_WITH_WILL = b"\xe0\x02\x04\x00"
TIMEOUT_S = 120.0
WINDOW = 128


def fleet_of(size: int):
    """Return the first `size` clusters of the O Môn fleet, made-up ones beyond it."""
    real = load_csv(limit=size)
    return real + synthesize(size - len(real))


def rss_mb() -> float:
    """Return this process's resident set size in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ----- the baseline: MQTT 5 packets by hand


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def _connect(cid: str, will_topic: str, will: bytes, keepalive: int = 30) -> bytes:
    properties = b"\x11" + struct.pack("!I", 86_400)  # Session Expiry Interval
    flags = 0x04 | 0x08 | 0x20  # will, will QoS 1, will retain; clean start off
    header = _utf8("MQTT") + b"\x05" + bytes([flags]) + struct.pack("!H", keepalive)
    payload = _utf8(cid) + b"\x00" + _utf8(will_topic) + struct.pack("!H", len(will)) + will
    return _packet(0x10, header + _varint(len(properties)) + properties + payload)


def _subscribe(topic: str) -> bytes:
    return _packet(0x82, struct.pack("!H", 1) + b"\x00" + _utf8(topic) + b"\x01")


def _publish_retained(topic: str, payload: bytes) -> bytes:
    return _packet(0x33, _utf8(topic) + struct.pack("!H", 2) + b"\x00" + payload)


def _status(cid: str, online: bool) -> bytes:
    at = "2026-11-26T15:00:00.000Z"
    return protocol.encode({"v": 1, "cid": cid, "online": online, "boot_id": "bench", "fw": "raw", "at": at})


def _complete_packets(buffer: bytearray) -> list[int]:
    """Cut every complete packet off the front of `buffer`; return their packet types."""
    kinds = []
    while True:
        length, multiplier, index = 0, 1, 1
        while True:
            if index >= len(buffer):
                return kinds
            byte = buffer[index]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if not byte & 0x80:
                break
        if len(buffer) < index + length:
            return kinds
        kinds.append(buffer[0] & 0xF0)
        del buffer[: index + length]


def baseline(url: str, cids: list[str]) -> float:
    """Bring `cids` online with bare sockets on one selector; return the seconds until every SUBACK.

    At most WINDOW sessions are between TCP connect and SUBACK at once, so the baseline does not
    overflow the broker's accept queue (a dropped SYN costs a 1 s retransmit and ruins the floor).
    """
    host, port = url.removeprefix("mqtt://").split(":")
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytearray] = {}
    waiting = collections.deque(cids)
    in_flight = subscribed = 0
    started = time.perf_counter()
    deadline = time.monotonic() + TIMEOUT_S
    while subscribed < len(cids) and time.monotonic() < deadline:
        while waiting and in_flight < WINDOW:
            cid = waiting.popleft()
            sock = socket.create_connection((host, int(port)))
            sock.setblocking(False)
            will_topic = protocol.topic(protocol.DEFAULT_ROOT, cid, protocol.STATUS)
            sock.sendall(_connect(cid, will_topic, _status(cid, False)))
            buffers[sock] = bytearray()
            selector.register(sock, selectors.EVENT_READ, cid)
            in_flight += 1
        for key, _ in selector.select(1.0):
            sock, cid = key.fileobj, key.data
            buffer = buffers[sock]
            buffer += sock.recv(65536)
            for kind in _complete_packets(buffer):
                if kind == CONNACK:
                    sock.sendall(_subscribe(protocol.topic(protocol.DEFAULT_ROOT, cid, protocol.CMD)))
                    status_topic = protocol.topic(protocol.DEFAULT_ROOT, cid, protocol.STATUS)
                    sock.sendall(_publish_retained(status_topic, _status(cid, True)))
                elif kind == SUBACK:
                    subscribed += 1
                    in_flight -= 1
    elapsed = time.perf_counter() - started
    for sock in buffers:
        sock.setblocking(True)
        sock.sendall(DISCONNECT_WITH_WILL)
        sock.close()
    selector.close()
    if subscribed < len(cids):
        raise RuntimeError(f"the baseline got {subscribed}/{len(cids)} online within {TIMEOUT_S:.0f} s")
    return elapsed


def simulate(url: str, size: int, connect_rate: float, workdir: Path) -> tuple[float, float, float]:
    """Bring a simulated fleet online; return (seconds until all subscribed, RSS growth MB, stop seconds)."""
    before = rss_mb()
    fleet = Fleet(fleet_of(size), url, truth_path=workdir / "truth.jsonl", connect_rate=connect_rate)
    started = time.perf_counter()
    fleet.start()
    connected = fleet.wait_connected(timeout=TIMEOUT_S)
    elapsed = time.perf_counter() - started
    grown = rss_mb() - before
    stopping = time.perf_counter()
    fleet.stop()
    stopped = time.perf_counter() - stopping
    if connected < size:
        raise RuntimeError(f"the simulator got {connected}/{size} online within {TIMEOUT_S:.0f} s")
    return elapsed, grown, stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, nargs="+", default=[456, 2000], help="fleet sizes to time")
    parser.add_argument("--connect-rate", type=float, default=0.0, help="simulator connects per s; 0 = unpaced")
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("firmware_sim").setLevel(logging.WARNING)
    raise_file_limit(max(options.clusters))
    log.info("%8s %10s %10s %7s %10s %12s %8s", "clusters", "sim s", "raw s", "ratio", "sim MB", "KB/cluster", "stop s")
    for size in options.clusters:
        with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
            workdir = Path(tmp)
            (workdir / "sim").mkdir()
            (workdir / "raw").mkdir()
            with running_broker(workdir / "sim") as broker:
                sim_s, grown_mb, stop_s = simulate(broker.url, size, options.connect_rate, workdir)
            with running_broker(workdir / "raw") as broker:
                raw_s = baseline(broker.url, [spec.cid for spec in fleet_of(size)])
        log.info(
            "%8d %10.2f %10.2f %6.1fx %10.1f %12.1f %8.2f",
            size, sim_s, raw_s, sim_s / raw_s, grown_mb, grown_mb * 1024 / size, stop_s,
        )  # fmt: skip


if __name__ == "__main__":
    main()
