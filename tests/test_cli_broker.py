"""`flask pa broker-config` and `flask pa broker …`: the broker's files from the fleet, and cluster passwords."""

import csv
import stat

from pa_controller.extensions import db
from pa_controller.messaging.broker import accounts
from pa_controller.messaging.broker.config import BrokerFiles
from pa_controller.models import BrokerCredential
from tests.support.settings import use_settings


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["pa", *args])


def rows(path) -> dict[str, str]:
    with path.open(newline="") as text:
        found = list(csv.reader(text))
    assert found[0] == ["cid", "password"]
    return dict(found[1:])


def test_missing_passwords_go_to_a_private_csv_the_simulator_reads(seeded, tmp_path):
    out = tmp_path / "credentials.csv"
    done = run(seeded, "broker", "credentials", "--missing", "--out", str(out))
    assert done.exit_code == 0, done.output
    assert "issued 456 passwords into" in done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    issued = rows(out)
    assert len(issued) == 456
    assert accounts.password_matches(issued["om-tho-001"], db.session.get(BrokerCredential, "om-tho-001").password_hash)
    assert run(seeded, "broker", "credentials", "--missing", "--out", str(out)).exit_code == 0
    assert rows(out) == issued, "nothing was missing: every row kept"


def test_a_reissue_replaces_that_clusters_row_and_keeps_the_others(seeded, tmp_path):
    out = tmp_path / "credentials.csv"
    run(seeded, "broker", "credentials", "--cluster", "om-tho-001", "--cluster", "om-tho-002", "--out", str(out))
    before = rows(out)
    kept = run(seeded, "broker", "credentials", "--cluster", "om-tho-001", "--out", str(out))
    assert "kept the passwords of om-tho-001 (--reissue to replace them)" in kept.stderr and rows(out) == before
    assert run(seeded, "broker", "credentials", "--cluster", "om-tho-001", "--reissue", "--out", str(out)).exit_code \
        == 0
    after = rows(out)
    assert after["om-tho-002"] == before["om-tho-002"] and after["om-tho-001"] != before["om-tho-001"]


def test_without_out_the_passwords_are_printed_once(seeded):
    done = run(seeded, "broker", "credentials", "--cluster", "om-tho-001")
    assert done.exit_code == 0 and done.stdout.splitlines()[0] == "cid,password"
    cid, password = done.stdout.splitlines()[1].split(",")
    assert cid == "om-tho-001" and accounts.password_matches(password, db.session.get(BrokerCredential, cid)
                                                             .password_hash)


def test_credentials_say_what_to_name_and_issue_nothing_for_an_unknown_cluster(seeded):
    assert "name clusters with --cluster CID, or pass --missing" in run(seeded, "broker", "credentials").stderr
    unknown = run(seeded, "broker", "credentials", "--cluster", "om-tho-001", "--cluster", "om-xxx-999")
    assert unknown.exit_code == 1 and "om-xxx-999" in unknown.stderr
    assert db.session.get(BrokerCredential, "om-tho-001") is None


def test_broker_config_writes_the_config_accounts_and_tls_files_secrets_private(seeded, tmp_path):
    settings = use_settings(seeded, broker_dir=tmp_path / "broker", mqtt_password_file=tmp_path / "broker" / "c.pw",
                            mqtt_port=1999, mqtts_port=8999)
    run(seeded, "broker", "credentials", "--cluster", "om-tho-001")
    done = run(seeded, "broker-config")
    assert done.exit_code == 0, done.output
    files = BrokerFiles(settings.broker_dir)
    conf = files.conf.read_text()
    assert "listener 1999 127.0.0.1" in conf and "listener 8999 127.0.0.1" in conf and "allow_anonymous false" in conf
    assert f"certfile {files.server_cert}" in conf and f"the development CA {files.ca_cert}" in done.stdout
    assert "om-tho-001:$7$101$" in files.passwd.read_text() and "loanet.controller:$7$" in files.passwd.read_text()
    for secret in (files.ca_key, files.server_key, files.monitor_secret, settings.mqtt_password_file):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret


def test_broker_config_takes_a_real_certificate_or_none(seeded, tmp_path):
    settings = use_settings(seeded, broker_dir=tmp_path / "broker", mqtt_password_file=tmp_path / "broker" / "c.pw")
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    cert.write_text("x")
    key.write_text("x")
    assert run(seeded, "broker-config", "--cert", str(cert)).exit_code == 2, "--cert needs --key"
    assert run(seeded, "broker-config", "--cert", str(cert), "--key", str(key), "--tls-host", "0.0.0.0").exit_code == 0
    conf = BrokerFiles(settings.broker_dir).conf.read_text()
    assert f"certfile {cert}" in conf and f"keyfile {key}" in conf and "0.0.0.0" in conf
    assert not BrokerFiles(settings.broker_dir).ca_key.exists(), "no development CA when a real one is given"
    assert run(seeded, "broker-config", "--tls-port", "0").exit_code == 0
    assert "certfile" not in BrokerFiles(settings.broker_dir).conf.read_text()


def test_revoke_and_reload(seeded, tmp_path):
    reloaded = tmp_path / "reloaded"
    use_settings(seeded, broker_dir=tmp_path / "broker", mqtt_password_file=tmp_path / "broker" / "c.pw",
                 broker_reload=f"touch {reloaded}")
    run(seeded, "broker-config", "--tls-port", "0")
    run(seeded, "broker", "credentials", "--cluster", "om-tho-001")
    revoked = run(seeded, "broker", "revoke", "om-tho-001", "om-tho-002")
    assert revoked.exit_code == 0 and "revoked 1" in revoked.stdout and "om-tho-002" in revoked.stderr
    done = run(seeded, "broker", "reload")
    assert done.exit_code == 0 and reloaded.exists()
    assert "om-tho-001" not in (tmp_path / "broker" / "passwd").read_text()
