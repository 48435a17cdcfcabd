"""What LoaNet writes for Mosquitto: password hashes the broker accepts, an ACL that grants each account exactly
its topics, a config with no anonymous access and one client id per login."""

import shutil
import subprocess

import pytest

import pa_protocol as protocol
from pa_controller.messaging.broker import accounts
from pa_controller.messaging.broker.config import BrokerFiles, Listener, TlsListener, render
from tests.support.broker import connack, running_broker

ROOT = "pa/v1"


def test_a_password_is_kept_as_mosquittos_pbkdf2_sha512_hash_and_only_the_password_matches_it():
    hashed = accounts.hash_password("s3cret")
    kind, iterations, salt, digest = hashed.split("$")[1:]
    assert (kind, iterations, len(salt), len(digest)) == ("7", "101", 16, 88)
    assert accounts.password_matches("s3cret", hashed) and not accounts.password_matches("s3cret ", hashed)
    assert accounts.hash_password("s3cret") != hashed, "a fresh salt every time"
    assert not accounts.password_matches("s3cret", "$6$not$ours")


def test_the_real_broker_accepts_a_password_hashed_here_and_nothing_else(tmp_path):
    with running_broker(tmp_path, clusters=["om-tho-001"]) as broker:  # its passwd file is made with hash_password
        assert not connack(broker.host, broker.port, "om-tho-001", broker.passwords["om-tho-001"]).is_failure
        assert connack(broker.host, broker.port, "om-tho-001", "guess").is_failure
        assert connack(broker.host, broker.port, "om-tho-002", broker.passwords["om-tho-001"]).is_failure


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd is not installed")
def test_a_hash_made_by_mosquitto_passwd_is_read_the_same_way(tmp_path):
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "om-tho-001", "s3cret"], check=True,
                   capture_output=True)
    hashed = passwd.read_text().strip().split(":", 1)[1]
    assert hashed.startswith("$7$") and accounts.password_matches("s3cret", hashed)


def test_a_cluster_may_read_its_own_commands_and_write_its_own_reports_and_nothing_else():
    grants = accounts.cluster("om-tho-001", "$7$x", ROOT).grants
    assert sorted(grants) == [("read", "pa/v1/clusters/om-tho-001/cmd"), ("write", "pa/v1/clusters/om-tho-001/events"),
                              ("write", "pa/v1/clusters/om-tho-001/heartbeat"),
                              ("write", "pa/v1/clusters/om-tho-001/status")]


def test_the_controller_reads_every_report_and_writes_every_command_and_the_monitor_only_reads():
    controller = accounts.controller("loanet.controller", "$7$x", ROOT).grants
    assert sorted(controller) == [("read", "pa/v1/clusters/+/events"), ("read", "pa/v1/clusters/+/heartbeat"),
                                  ("read", "pa/v1/clusters/+/status"), ("write", "pa/v1/clusters/+/cmd")]
    assert {access for access, _ in accounts.monitor("loanet.monitor", "$7$x", ROOT).grants} == {"read"}


def test_the_acl_follows_the_topic_root_and_gives_each_account_its_own_block():
    text = accounts.render_acl([accounts.cluster("om-tho-001", "$7$x", "loa/v2"),
                                accounts.controller("loanet.controller", "$7$y", "loa/v2")])
    blocks = [block.strip().splitlines() for block in text.split("\nuser ")[1:]]
    assert blocks[0] == ["om-tho-001", "topic read loa/v2/clusters/om-tho-001/cmd",
                         "topic write loa/v2/clusters/om-tho-001/status",
                         "topic write loa/v2/clusters/om-tho-001/heartbeat",
                         "topic write loa/v2/clusters/om-tho-001/events"]
    assert blocks[1][0] == "loanet.controller" and "pa/v1" not in text


def test_the_password_file_has_one_line_per_account_then_the_local_ones():
    text = accounts.render_passwd([accounts.cluster("om-tho-001", "$7$x", ROOT)], "bridge:$7$z\n")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == ["om-tho-001:$7$x", "bridge:$7$z"]


def test_a_local_acl_must_open_with_its_own_user_line():
    """Appended as it is, a leading `topic` line would widen the last generated account's rights."""
    accounts.check_local_acl("# a bridge\nuser bridge\ntopic read pa/v1/#\n", "acl.local")
    with pytest.raises(accounts.BrokerFilesError, match="acl.local: the first rule must be a `user NAME`"):
        accounts.check_local_acl("topic readwrite #\n", "acl.local")


@pytest.mark.parametrize("name", ["", "a:b", "a b", "pa/v1", "+", "#", "bad\n"])
def test_a_name_that_cannot_be_a_broker_login_is_refused(name):
    with pytest.raises(ValueError):
        accounts.Account(name, "$7$x", ())


def test_no_cluster_can_be_named_like_a_loanet_account():
    assert not protocol.CID_PATTERN.match(accounts.MONITOR)
    with pytest.raises(ValueError):
        accounts.cluster("loanet.monitor", "$7$x", ROOT)


def test_every_listener_wants_a_login_and_names_the_client_after_it(tmp_path):
    files = BrokerFiles(tmp_path)
    conf = render(files, Listener(1884), TlsListener(8884, tmp_path / "s.crt", tmp_path / "s.key", "0.0.0.0"))
    lines = conf.splitlines()
    assert "allow_anonymous false" in lines and "allow_anonymous true" not in conf
    assert f"password_file {files.passwd}" in lines and f"acl_file {files.acl}" in lines
    listeners = [i for i, line in enumerate(lines) if line.startswith("listener ")]
    assert [lines[i] for i in listeners] == ["listener 1884 127.0.0.1", "listener 8884 0.0.0.0"]
    # A listener's own option: each listener has it, and none comes before the first (it would open 1883).
    assert lines.index("use_username_as_clientid true") > listeners[0]
    assert conf.count("use_username_as_clientid true") == 2
    assert f"certfile {tmp_path / 's.crt'}" in lines and f"pid_file {files.pid}" in lines
