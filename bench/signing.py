"""What a signature costs per command: signing as the outbox publishes, verifying as a cluster takes it in.

Run from the repository root:  .venv/bin/python bench/signing.py [--commands 10000] [--rounds 5]

One `play` command as the controller builds it (Vietnamese title, audio URL of 64 hex digits):
- publish: the outbox row's work per command, read the stored JSON and encode it for the wire, beside the same
  with `sign_command` between (Ed25519 over the canonical JSON, `cryptography`);
- take in: the cluster's decode of the payload (`protocol.decode`), beside the same and `KeyRing.verify`.
Each side's ratio is signed / unsigned (medians over the rounds); the difference is what signing adds.
"""

import argparse
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pa_protocol as protocol  # noqa: E402
from bench.results import Figure, record  # noqa: E402
from pa_protocol.key_chain import KeyRing  # noqa: E402
from pa_protocol.signing import SigningKey, TrustedKey, sign_command  # noqa: E402

CID = "om-tho-001"


def stored_play() -> bytes:
    """An outbox row's payload: a play as services/commands.py builds it, unsigned."""
    now = datetime.now(UTC)
    return protocol.encode({
        "v": 1, "id": str(uuid.uuid4()), "cid": CID, "type": "play", "issued_at": protocol.format_time(now),
        "expires_at": protocol.format_time(now + timedelta(minutes=5)), "run_id": "1234",
        "title": "Thông báo lịch cắt điện phường Thới Hòa", "priority": "normal",
        "start_at": protocol.format_time(now + timedelta(minutes=1)), "duration_ms": 90_000,
        "audio": {"url": "http://127.0.0.1:5000/media/" + "ab" * 32 + ".mp3", "sha256": "ab" * 32, "bytes": 720_000}})


def per_command_us(work, payloads: list, rounds: int) -> float:
    """Median over `rounds` of the microseconds `work(payload)` takes per payload."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        for payload in payloads:
            work(payload)
        times.append((time.perf_counter() - began) / len(payloads) * 1e6)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    key = SigningKey.generate()
    ring = KeyRing([TrustedKey(key.kid, key.public_key, 1)])
    now = time.time()
    rows = [stored_play() for _ in range(args.commands)]
    wire = [protocol.encode(sign_command(json.loads(row), key)) for row in rows]

    publish_plain = per_command_us(lambda row: protocol.encode(json.loads(row)), rows, args.rounds)
    publish_signed = per_command_us(lambda row: protocol.encode(sign_command(json.loads(row), key)), rows,
                                    args.rounds)
    take_plain = per_command_us(lambda raw: protocol.decode(protocol.CMD, CID, raw), wire, args.rounds)
    take_signed = per_command_us(lambda raw: ring.verify(protocol.decode(protocol.CMD, CID, raw), now), wire,
                                 args.rounds)
    assert all(ring.verify(protocol.decode(protocol.CMD, CID, raw), now) is None for raw in wire[:10])
    print(f"{args.commands} play commands of {len(wire[0])} bytes signed ({len(rows[0])} unsigned), "
          f"median of {args.rounds}:")
    print(f"  publish  unsigned {publish_plain:6.1f} µs   signed {publish_signed:6.1f} µs   "
          f"+{publish_signed - publish_plain:5.1f} µs   ratio {publish_signed / publish_plain:.1f}x")
    print(f"  take in  unsigned {take_plain:6.1f} µs   verified {take_signed:6.1f} µs   "
          f"+{take_signed - take_plain:5.1f} µs   ratio {take_signed / take_plain:.1f}x")
    print(f"  456 clusters: +{(publish_signed - publish_plain) * 456 / 1000:.1f} ms on the worker to sign a "
          f"broadcast; 10,000: +{(publish_signed - publish_plain) * 10:.0f} ms")
    record("signing", [
        Figure("publish a command, signed (unsigned as baseline)", publish_signed, "µs", publish_plain),
        Figure("take in a command, verified (unsigned as baseline)", take_signed, "µs", take_plain)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
