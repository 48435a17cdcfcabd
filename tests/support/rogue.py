"""A rogue publisher's payloads: malformed, oversized, wrongly typed, mis-addressed and non-UTF-8 reports on every
topic the controller subscribes to, each with the refusal the controller must count for it.

`hostile_reports(...)` returns (topic, payload bytes, (kind, reason)) triples: the kind and reason are those of the
district's refusal count (services/refusals.py). Deterministic for a seed, so a failure can be replayed.
"""

import json
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import product

import pa_protocol as protocol

ROOT = protocol.DEFAULT_ROOT
REPORT_KINDS = (protocol.STATUS, protocol.HEARTBEAT, protocol.EVENTS)
# Topics that match the controller's subscriptions (`pa/v1/clusters/+/kind`) but name no cluster. Mosquitto itself
# disconnects a client that publishes on a topic with a control character (`om-tho-001\n`), so none is here.
BAD_TOPIC_CIDS = ("OM-THO-001", "om_tho_001", "a" * 33, "ơ-môn", "", "om tho", "om-tho-001.", "*")
Expected = tuple[str, str]  # (RefusalKind value, reason)
Report = tuple[str, bytes, Expected]


def now() -> str:
    return protocol.format_time(datetime.now(UTC))


def well_formed(kind: str, cid: str, **fields) -> dict:
    """A report every field of which the contract allows."""
    base = {
        protocol.STATUS: {"online": True, "boot_id": "rogue", "conn": 1, "fw": "rogue"},
        protocol.HEARTBEAT: {"boot_id": "rogue", "seq": 1, "state": "idle", "volume": 0, "amp_ok": False},
        protocol.EVENTS: {"cmd_id": str(uuid.UUID(int=0)), "state": "done"},
    }[kind]
    return {"v": 1, "cid": cid, "at": now(), **base, **fields}


def dumps(payload) -> bytes:
    """JSON as a careless sender writes it: NaN allowed, lone surrogates escaped."""
    return json.dumps(payload, allow_nan=True).encode()


# Each maker turns a well-formed report into bytes the decoder must refuse, and names the reason it refuses them
# with: (reason, make(payload, rng) -> bytes). Required fields, and values of any type but theirs:
TEXT, NUMBER, FLAG = (None, True, 1, 1.5, [], {}), ("1", True, 1.5, None, [], {}), ("true", 1, 0, None, [])
REQUIRED = {protocol.STATUS: {"online": FLAG, "boot_id": TEXT, "at": TEXT},
            protocol.HEARTBEAT: {"seq": NUMBER, "state": TEXT, "boot_id": TEXT, "at": TEXT},
            protocol.EVENTS: {"cmd_id": TEXT, "state": TEXT, "at": TEXT}}


def _kind(payload: dict) -> str:
    return protocol.STATUS if "online" in payload else protocol.HEARTBEAT if "seq" in payload else protocol.EVENTS


def _field(payload: dict, rng: random.Random) -> str:
    return rng.choice(sorted(REQUIRED[_kind(payload)]))


def _wrong_type(payload: dict, rng: random.Random) -> bytes:
    name = _field(payload, rng)
    return dumps({**payload, name: rng.choice(REQUIRED[_kind(payload)][name])})


def _without(payload: dict, name: str) -> dict:
    return {key: value for key, value in payload.items() if key != name}


def _unknown_value(payload: dict, rng: random.Random) -> bytes:
    if _kind(payload) == protocol.STATUS:
        return dumps({**payload, "conn": rng.choice([0, -1])})  # connections count from 1
    return dumps({**payload, "state": rng.choice(["exploded", "IDLE", "", "done "])})


UNDECODABLE: dict[str, tuple[str, Callable[[dict, random.Random], bytes]]] = {
    "not utf-8": ("malformed", lambda p, rng: protocol.encode(p).replace(b'"v"', rng.choice(
        [b'"\xff"', b'"\xc3("', b'"\xed\xa0\x80"', b'"\xc0\xaf"']), 1)),
    "latin-1": ("malformed", lambda p, rng: json.dumps({**p, "boot_id": "Hòa"}, ensure_ascii=False).encode("latin-1")),
    "lone surrogate": ("malformed", lambda p, rng: dumps({**p, rng.choice(["boot_id", "cmd_id", "x"]): "a\ud800"})),
    "not json": ("malformed", lambda p, rng: rng.randbytes(rng.randint(0, 64)).replace(b"{", b"(") or b"{"),
    "truncated": ("malformed", lambda p, rng: protocol.encode(p)[: rng.randint(0, len(protocol.encode(p)) - 1)]),
    "not an object": ("malformed", lambda p, rng: rng.choice([b"[1, 2, 3]", b'"online"', b"null", b"42", b"true"])),
    "oversized": ("malformed", lambda p, rng: dumps({**p, "pad": "x" * (protocol.MAX_PAYLOAD_BYTES + rng.randint(
        1, 50_000))})),
    "wrong type": ("malformed", _wrong_type),
    "missing field": ("malformed", lambda p, rng: dumps(_without(p, _field(p, rng)))),
    "huge number": ("malformed", lambda p, rng: protocol.encode(p)[:-1] + rng.choice(
        [b', "seq": 1e999}', b', "volume": -99999999999}', b', "seq": 4294967296}', b', "v": ' + b"9" * 5000 + b"}"])
        if "seq" in p else dumps({**p, "v": rng.choice([2**63, -(2**40)])})),
    "nan": ("malformed", lambda p, rng: protocol.encode(p)[:-1] + rng.choice([b', "x": NaN}', b', "x": Infinity}',
                                                                              b', "x": -Infinity}'])),
    "deep nesting": ("malformed", lambda p, rng: protocol.encode(p)[:-1] + b', "x": ' + b"[" * rng.randint(
        40, 20_000) + b"]" * 40 + b"}"),
    "huge string": ("malformed", lambda p, rng: dumps({**p, _field(p, rng): "x" * rng.randint(
        protocol.MAX_STRING + 1, 8000)})),
    "nul": ("malformed", lambda p, rng: dumps({**p, _field(p, rng): "a\x00b"})),
    "unknown value": ("malformed", _unknown_value),
    "bad time": ("malformed", lambda p, rng: dumps({**p, "at": rng.choice(
        ["yesterday", "2026-12-07T10:00:00", "0001-01-01T00:00:00+01:00", "٢٠٢٦-12-07T10:00:00Z",
         "2026-13-45T99:99:99Z"])})),
    "other version": ("unsupported", lambda p, rng: dumps({**p, "v": rng.choice([0, 2, 99])})),
    "mis-addressed": ("wrong_cluster", lambda p, rng: dumps({**p, "cid": rng.choice(
        [cid for cid in ("om-tho-099", "x", "om-cvl-001") if cid != p["cid"]])})),
}


def hostile_reports(live: list[str], quiet: str, stranger: str, commands: dict[str, str], *, rounds: int,
                    seed: int = 15) -> Iterator[Report]:
    """Yield `rounds` rounds of every hostile report on every topic the controller subscribes to.

    `live` are clusters in the registry and online, `quiet` one in the registry never heard from, `stranger` a
    cluster id not in the registry; `commands` maps each live cluster to the cmd_id of a command the controller
    sent it (for forged answers about it on other topics). Reports well-formed on a registered cluster's status or
    heartbeat topic would simply be applied (what the broker's account rules, not the controller, stop): none is sent.
    """
    rng = random.Random(seed)
    registered = [*live, quiet]
    for _ in range(rounds):
        for kind, cid, (reason, make) in product(REPORT_KINDS, [*registered, stranger], UNDECODABLE.values()):
            yield protocol.topic(ROOT, cid, kind), make(well_formed(kind, cid), rng), ("report", reason)
        for kind, bad in product(REPORT_KINDS, BAD_TOPIC_CIDS):
            raw = rng.choice([protocol.encode(well_formed(kind, "om-tho-001")), b"\xff", b"{}", b""])
            yield protocol.topic(ROOT, bad, kind), raw, ("report", "bad_topic")
        for kind in REPORT_KINDS:
            yield protocol.topic(ROOT, stranger, kind), protocol.encode(well_formed(kind, stranger)), (
                "report", "unknown_cluster")
        yield from _forged_events(registered, commands, rng)


def _forged_events(registered: list[str], commands: dict[str, str], rng: random.Random) -> Iterator[Report]:
    """Well-formed events the controller must refuse: about commands it never sent, sent to another cluster, naming
    a run that is not the command's, and `rejected` answers to commands it never sent (a forged command)."""
    for cid in registered:
        def event(cid=cid, **fields) -> bytes:
            return protocol.encode(well_formed(protocol.EVENTS, cid, **fields))

        topic = protocol.topic(ROOT, cid, protocol.EVENTS)
        state = rng.choice(["received", "ready", "playing", "done", "failed", "expired", "cancelled"])
        yield topic, event(cmd_id=str(uuid.uuid4()), state=state), ("report", "unknown_command")
        others = [cmd_id for owner, cmd_id in commands.items() if owner != cid]
        yield topic, event(cmd_id=rng.choice(others), state=state), ("report", "other_cluster")
        if cid in commands:
            yield topic, event(cmd_id=commands[cid], state=state, run_id="9999"), ("report", "wrong_run")
        reason = rng.choice(["bad_signature", "unsigned", "replay"])
        yield topic, event(cmd_id=str(uuid.uuid4()), state="rejected", detail={"reason": reason}), (
            "forged_command", reason)
