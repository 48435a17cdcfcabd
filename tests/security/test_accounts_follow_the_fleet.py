"""The broker's accounts follow the fleet while it runs: a cluster enrolled logs in and gets its commands, a retired
one is disconnected and refused, a new password replaces the old; never a broker restart."""


from firmware_sim import ClusterSpec, Fleet
from tests.security.conftest import B, C
from tests.support.broker import connack

NEW = "om-tho-900"


def refused(broker, cid: str, password: str) -> bool:
    return connack(broker.host, broker.port, cid, password).is_failure


def test_a_cluster_enrolled_while_the_broker_runs_logs_in_and_gets_its_commands(guarded, broker, tmp_path):
    broker_pid = broker.process.pid
    added = guarded.send("POST", "/api/v1/clusters", json={"id": NEW, "name": "Cụm mới", "ward": "thoi-hoa",
                                                           "lat": 10.1, "lon": 105.6, "speakers": 2})
    assert added.status_code == 201, added.text
    assert added.headers["Cache-Control"] == "no-store"
    password = added.json()["broker_password"]
    with Fleet([ClusterSpec(NEW, ward="thoi-hoa")], broker.url, truth_path=tmp_path / "new.jsonl",
               credentials={NEW: password}, keys_url=guarded.system.keys_url, heartbeat_s=1,
               reconnect_min_s=0.2) as newcomer:
        assert newcomer.wait_connected(timeout=15) == 1
        tone = guarded.command(NEW, type="test_tone", duration_ms=500)
        assert guarded.wait_command(tone, "done")["amp_ok"] is True
    assert broker.process.pid == broker_pid and broker.process.poll() is None, "no restart"


def test_a_retired_cluster_is_disconnected_refused_and_let_in_again_once_back_in_service(guarded, broker):
    session = guarded.fleet.sessions[C]
    before = guarded.worker.broker_sync.written
    retired = guarded.send("DELETE", f"/api/v1/clusters/{C}")
    assert retired.status_code == 200, retired.text
    guarded.wait_accounts_rewritten(before)
    guarded.system.wait_for(lambda: not guarded.fleet.call(lambda: session.subscribed), 10, f"{C} to be cut off")
    assert refused(broker, C, guarded.passwords[C])
    before = guarded.worker.broker_sync.written
    back = guarded.send("PATCH", f"/api/v1/clusters/{C}", json={"retired": False})
    assert back.status_code == 200, back.text
    guarded.wait_accounts_rewritten(before)
    guarded.system.wait_for(lambda: guarded.fleet.call(lambda: session.subscribed), 15, f"{C} to log in again")


def test_a_new_password_locks_the_old_one_out_at_once(guarded, broker):
    old, session = guarded.passwords[B], guarded.fleet.sessions[B]
    before = guarded.worker.broker_sync.written
    issued = guarded.send("POST", f"/api/v1/clusters/{B}/broker-password")
    assert issued.status_code == 201, issued.text
    assert issued.json()["cluster"] == B and issued.json()["password"] != old
    guarded.wait_accounts_rewritten(before)
    guarded.system.wait_for(lambda: not guarded.fleet.call(lambda: session.subscribed), 10,
                            f"{B}'s session on its old password to be cut")
    assert refused(broker, B, old) and not refused(broker, B, issued.json()["password"])
