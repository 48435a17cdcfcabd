"""Attacks on the broker, against the real Mosquitto, the controller's worker and simulated clusters.

The attacker holds cluster A's password (a device taken from its pole) or none at all. Each attack fails, and
the clusters' states as the controller shows them, and the outcome of what it sent them, stay as they were.
"""

import time
from datetime import UTC, datetime

import pytest

import pa_protocol as protocol
from pa_controller.settings import CONTROLLER_ACCOUNT
from tests.security.conftest import KEEPALIVE_S, A, B, settle
from tests.support.broker import login_of

ROOT = protocol.DEFAULT_ROOT
MARK = "forged-by-a"  # in every forged payload, so a witness can tell one that got through


def now() -> str:
    return protocol.format_time(datetime.now(UTC))


def topic(cid: str, kind: str) -> str:
    return protocol.topic(ROOT, cid, kind)


def forged_status(cid: str, online: bool) -> dict:
    return {"v": 1, "cid": cid, "online": online, "boot_id": MARK, "conn": 1, "fw": MARK,
            "at": now()}


def forged_through(witness) -> list:
    return [(name, raw) for name, raw in witness.messages if MARK.encode() in raw]


def test_an_anonymous_client_is_refused_even_under_a_clusters_or_the_controllers_id(guarded, intruder):
    before = guarded.connection(B), guarded.cluster(B)
    for client_id in ("", B, CONTROLLER_ACCOUNT):
        assert intruder(client_id=client_id).refused
    settle()
    assert (guarded.connection(B), guarded.cluster(B)) == before
    assert guarded.worker.link.connected.is_set()


def test_cluster_a_asking_for_b_s_client_id_is_given_its_own_and_b_keeps_its_session(guarded, intruder):
    before = guarded.connection(B), guarded.cluster(B)
    posing = intruder(A, guarded.passwords[A], client_id=B)
    assert not posing.refused  # let in, as A: the broker names every client after its login
    posing.subscribe(topic(B, protocol.CMD))
    tone = guarded.command(B, type="test_tone", duration_ms=500)
    assert guarded.wait_command(tone, "done")["amp_ok"] is True, "B's command still reached B"
    assert (guarded.connection(B), guarded.cluster(B)) == before, "B was never taken over"
    assert not posing.messages, "B's command went to B alone"
    assert posing.connected, "the attack was live all along"


def test_cluster_a_cannot_take_the_controllers_client_id(guarded, intruder):
    dropped = []
    link = guarded.worker.link.client
    on_disconnect = link.on_disconnect
    link.on_disconnect = lambda *args: (dropped.append(args), on_disconnect(*args))
    posing = intruder(A, guarded.passwords[A], client_id=CONTROLLER_ACCOUNT)
    assert not posing.refused
    posing.subscribe(protocol.wildcard(ROOT, protocol.EVENTS))  # the controller's reports, were it the controller
    tone = guarded.command(B, type="test_tone", duration_ms=500)
    guarded.wait_command(tone, "done")
    assert not dropped and guarded.worker.link.connected.is_set(), "the controller kept its session"
    assert posing.connected, "the attack was live all along"
    assert not [name for name, _ in posing.messages if name.startswith(topic(B, ""))], "B's reports reached no one else"


@pytest.mark.parametrize("forgery", ["status", "heartbeat", "failed", "done"])
def test_cluster_a_cannot_publish_on_b_s_topics(guarded, intruder, witness, forgery):
    tone = guarded.command(B, type="test_tone", duration_ms=2000)  # under way while A forges its outcome
    before = guarded.connection(B), guarded.cluster(B)
    kind = {"status": protocol.STATUS, "heartbeat": protocol.HEARTBEAT}.get(forgery, protocol.EVENTS)
    forged = {
        protocol.STATUS: forged_status(B, online=False),
        protocol.HEARTBEAT: {"v": 1, "cid": B, "at": now(), "boot_id": MARK,
                             "seq": 1, "uptime_s": 1, "state": "idle", "playing": None, "armed": [], "volume": 0,
                             "rssi_dbm": -90, "temp_c": 30, "speakers_ok": 0, "speakers_total": 2, "amp_ok": False,
                             "fw": MARK},
        protocol.EVENTS: {"v": 1, "cid": B, "cmd_id": tone["cmd_id"], "state": forgery,
                          "at": now(), "detail": {"reason": MARK}},  # an early `done` or a `failed`
    }[kind]
    attacker = intruder(A, guarded.passwords[A])
    answer = attacker.publish(topic(B, kind), forged, retain=kind == protocol.STATUS)
    assert answer.is_failure and answer.getName() == "Not authorized"
    assert guarded.wait_command(tone, "done")["detail"].get("reason") is None, "B's own outcome, not A's"
    assert not forged_through(witness), "the broker passed it to no subscriber, the controller included"
    assert (guarded.connection(B), guarded.cluster(B)) == before


def test_cluster_a_subscribing_to_b_s_commands_receives_none(guarded, intruder):
    attacker = intruder(A, guarded.passwords[A])
    for wanted in (topic(B, protocol.CMD), protocol.wildcard(ROOT, protocol.CMD), "#"):
        attacker.subscribe(wanted)  # Mosquitto grants it, and checks each message against the ACL on delivery
    volume = guarded.command(B, type="set_volume", volume=35)
    guarded.wait_command(volume, "done")
    guarded.system.wait_for(lambda: guarded.cluster(B)["volume"] == 35, 10, "B's heartbeat to carry its new volume")
    assert not [name for name, _ in attacker.messages if name != topic(A, protocol.CMD)], attacker.messages
    assert attacker.connected, "the attack was live all along"


def test_a_forged_retained_will_for_b_never_lands(guarded, intruder, witness, broker):
    before = guarded.connection(B), guarded.cluster(B)
    will = (topic(B, protocol.STATUS), protocol.encode(forged_status(B, online=False)))
    attacker = intruder(A, guarded.passwords[A], will=will)
    assert not attacker.refused and attacker.connected
    attacker.vanish()  # the broker would publish the will after 1.5 keep-alives
    time.sleep(1.5 * KEEPALIVE_S + 1)
    assert not forged_through(witness)
    assert guarded.cluster(B)["status"] == "online" and (guarded.connection(B), guarded.cluster(B)) == before
    late = intruder(*login_of(broker.tester()))  # a newcomer sees B's own retained birth, not the forged will
    late.subscribe(topic(B, protocol.STATUS))
    settle(0.5)
    [(_, retained)] = late.messages
    assert protocol.decode(protocol.STATUS, B, retained)["boot_id"] == guarded.connection(B)[0]
