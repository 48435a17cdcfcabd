"""Broker access: cluster passwords issued once and kept as hashes, and the broker's files that follow the fleet."""

import stat

import pytest
from sqlalchemy import select

from pa_controller.domain import Role
from pa_controller.errors import Conflict, Forbidden, NotFound
from pa_controller.extensions import db
from pa_controller.messaging.broker import accounts
from pa_controller.messaging.broker.config import BrokerFiles
from pa_controller.models import AuditEntry, BrokerCredential, Cluster
from pa_controller.services import broker_access
from pa_controller.settings import of as settings_of
from tests.factories import make_user
from tests.support.settings import use_settings


def stored(cid: str) -> str | None:
    credential = db.session.get(BrokerCredential, cid)
    return credential.password_hash if credential else None


def retire(cid: str) -> None:
    db.session.get(Cluster, cid).retired = True
    db.session.commit()


def test_missing_gives_every_cluster_in_service_a_password_kept_only_as_its_hash(seeded):
    retire("om-tlg-062")
    issued = broker_access.issue(missing=True)
    assert len(issued) == 455 and "om-tlg-062" not in {one.cid for one in issued}
    one = issued[0]
    assert stored(one.cid) != one.password and accounts.password_matches(one.password, stored(one.cid))
    assert len({one.password for one in issued}) == 455
    assert broker_access.issue(missing=True) == [], "a second pass finds none missing"


def test_a_named_cluster_keeps_its_password_unless_it_is_reissued(seeded):
    [first] = broker_access.issue(["om-tho-001"])
    assert broker_access.issue(["om-tho-001"]) == []
    [second] = broker_access.issue(["om-tho-001"], reissue=True)
    assert not accounts.password_matches(first.password, stored("om-tho-001"))
    assert accounts.password_matches(second.password, stored("om-tho-001"))
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "broker.password_issued")).all()
    assert [(e.target, e.ward_id, e.detail["reissued"]) for e in entries] == [
        ("cluster:om-tho-001", "thoi-hoa", []), ("cluster:om-tho-001", "thoi-hoa", ["om-tho-001"])]
    broker_access.issue(missing=True)
    every = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "broker.password_issued")).all()[-1]
    assert every.target is None and len(every.detail["clusters"]) == 455, "one entry for a whole fleet"
    assert all(second.password not in str(e.detail) for e in entries), "the audit log holds no password"


def test_no_password_for_a_retired_or_unknown_cluster_and_nothing_issued_then(seeded):
    retire("om-tho-002")
    with pytest.raises(Conflict, match="om-tho-002"):
        broker_access.issue(["om-tho-001", "om-tho-002"])
    with pytest.raises(NotFound):
        broker_access.issue(["no-such-cluster"])
    with pytest.raises(NotFound):
        broker_access.issue(["Not A Cid"])
    assert stored("om-tho-001") is None


def test_only_an_administrator_gives_a_cluster_a_new_password(seeded):
    officer = make_user("o", Role.OFFICER, ("thoi-hoa",))
    with pytest.raises(Forbidden):
        broker_access.issue_to(officer, "om-tho-001")
    assert stored("om-tho-001") is None


def test_revoking_removes_the_password_and_says_which(seeded):
    broker_access.issue(["om-tho-001"])
    assert broker_access.revoke(["om-tho-001", "om-tho-002"]) == ["om-tho-001"]
    assert stored("om-tho-001") is None
    assert db.session.scalars(select(AuditEntry.target).where(AuditEntry.action == "broker.password_revoked")).all() \
        == ["cluster:om-tho-001"]


def test_unmatched_names_the_clusters_whose_password_a_file_does_not_hold(seeded):
    issued = {one.cid: one.password for one in broker_access.issue(missing=True)}
    held = {**issued, "om-tho-001": "stale"}
    del held["om-tho-002"]
    assert broker_access.unmatched(held) == ["om-tho-001", "om-tho-002"]


@pytest.fixture
def broker_dir(seeded, tmp_path):
    """The app's broker files in tmp_path/broker, with LoaNet's own accounts made."""
    settings = use_settings(seeded, broker_dir=tmp_path / "broker", mqtt_password_file=tmp_path / "broker" / "c.pw")
    broker_access.ensure_own_accounts(settings)
    return BrokerFiles(settings.broker_dir)


def accounts_in(files: BrokerFiles) -> set[str]:
    return {line.split(":")[0] for line in files.passwd.read_text().splitlines() if line and line[0] != "#"}


def test_the_files_hold_loanets_accounts_and_the_clusters_in_service_with_a_password(seeded, broker_dir):
    broker_access.issue(["om-tho-001", "om-tho-002"])
    retire("om-tho-002")
    broker_access.write_accounts(settings_of(seeded))
    assert accounts_in(broker_dir) == {"loanet.controller", "loanet.monitor", "om-tho-001"}
    assert "user om-tho-002" not in broker_dir.acl.read_text()
    assert {stat.S_IMODE(path.stat().st_mode) for path in (broker_dir.passwd, broker_dir.acl)} == {0o640}
    assert {stat.S_IMODE(path.stat().st_mode) for path in (broker_dir.monitor_secret, settings_of(seeded)
                                                             .mqtt_password_file)} == {0o600}


def test_a_controller_login_in_pa_mqtt_url_is_the_one_its_account_gets(seeded, broker_dir, tmp_path):
    settings = use_settings(seeded, mqtt_url="mqtt://ops.controller:url-pw@10.0.0.2:1883",
                            mqtt_password_file=tmp_path / "unused.pw")
    broker_access.ensure_own_accounts(settings)
    broker_access.write_accounts(settings)
    assert not settings.mqtt_password_file.exists()
    [hashed] = [line.split(":", 1)[1] for line in broker_dir.passwd.read_text().splitlines()
                if line.startswith("ops.controller:")]
    assert accounts.password_matches("url-pw", hashed)


def test_the_own_accounts_keep_their_passwords_once_made(seeded, broker_dir):
    kept = broker_dir.monitor_secret.read_text()
    broker_access.ensure_own_accounts(settings_of(seeded))
    assert broker_dir.monitor_secret.read_text() == kept


def test_local_accounts_are_kept_across_rewrites(seeded, broker_dir):
    broker_dir.local_passwd.write_text("bridge:$7$101$x$y\n")
    broker_dir.local_acl.write_text("user bridge\ntopic read pa/v1/clusters/+/status\n")
    broker_access.write_accounts(settings_of(seeded))
    assert "bridge" in accounts_in(broker_dir) and broker_dir.acl.read_text().endswith(
        "user bridge\ntopic read pa/v1/clusters/+/status\n")


def test_the_sync_rewrites_and_reloads_only_when_the_accounts_change(seeded, broker_dir, tmp_path):
    reloads = tmp_path / "reloads"
    settings = use_settings(seeded, broker_reload=f"sh -c 'echo . >> {reloads}'")
    sync = broker_access.BrokerSync(settings)
    assert sync.sync() and not sync.sync(), "written once, then nothing changed"
    broker_access.issue(["om-tho-001"])
    assert sync.sync() and "om-tho-001" in accounts_in(broker_dir)
    retire("om-tho-001")
    assert sync.sync() and "om-tho-001" not in accounts_in(broker_dir)
    assert reloads.read_text() == ".\n" * 3


def test_a_reload_that_fails_is_logged_once_and_tried_again(seeded, broker_dir, caplog):
    sync = broker_access.BrokerSync(use_settings(seeded, broker_reload="false"))
    assert not sync.sync() and not sync.sync()
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "the broker's accounts could not be brought up to date: PA_BROKER_RELOAD (false) exited with code 1: "]
    assert sync.written is None, "tried again at the next tick"


def test_without_a_running_private_broker_the_sync_says_so(seeded, broker_dir, caplog):
    sync = broker_access.BrokerSync(settings_of(seeded))  # no PA_BROKER_RELOAD: SIGHUP via the pid file
    assert not sync.sync()
    assert f"no broker pid in {broker_dir.pid}" in caplog.text and "is the private broker running?" in caplog.text
