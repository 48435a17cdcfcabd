"""Settings.from_env: the defaults, good values read and typed, and one error naming every bad value."""

import subprocess
import sys
from dataclasses import FrozenInstanceError
from datetime import time
from pathlib import Path

import pytest

from pa_controller import engine_options
from pa_controller.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parent.parent


def test_the_defaults_are_the_readmes():
    s = Settings.from_env({})
    assert s.instance_dir == Path("instance").resolve() and s.media_dir == s.instance_dir / "media"
    assert s.key_dir == s.instance_dir / "keys"
    assert s.database_url == f"sqlite:///{s.instance_dir / 'loanet.db'}"
    assert (s.http_port, s.mqtt_port, s.mqtt_url, s.private_broker) == (5000, 1884, "mqtt://127.0.0.1:1884", True)
    assert s.public_url == "http://127.0.0.1:5000" and s.mqtt_root == "pa/v1"
    assert (s.dispatch_lead_s, s.now_lead_s, s.heartbeat_s, s.check_horizon_d) == (60, 3, 30, 366)
    assert s.quiet_hours == (time(21, 30), time(5, 0)) and s.alert_webhook_url == "" and s.secret_key is None
    assert (s.messaging, s.testing) == ("mqtt", False)


def test_good_values_are_read_and_typed(tmp_path):
    s = Settings.from_env({"PA_INSTANCE_DIR": str(tmp_path), "PA_HEARTBEAT_S": "5.5", "PA_HTTP_PORT": "5100",
                           "PA_MQTT_URL": "mqtts://u:p@broker:8883", "PA_QUIET_HOURS": "22:00-06:00",
                           "PA_CHECK_HORIZON_D": "7", "PA_PUBLIC_URL": "https://pa.example/", "PA_SECRET_KEY": "k",
                           "DATABASE_URL": "postgresql+psycopg://u@h/loanet", "PA_INCIDENT_HOLD_S": "0"})
    assert s.heartbeat_s == 5.5 and s.http_port == 5100 and s.check_horizon_d == 7 and s.incident_hold_s == 0
    assert s.mqtt_url == "mqtts://u:p@broker:8883" and not s.private_broker
    assert s.quiet_hours == (time(22), time(6)) and s.public_url == "https://pa.example"
    assert s.instance_dir == tmp_path and s.secret_key == "k"
    assert Settings.from_env({"PA_KEY_DIR": str(tmp_path / "k")}).key_dir == tmp_path / "k"
    assert Settings.from_env({"PA_QUIET_HOURS": ""}).quiet_hours is None
    with pytest.raises(FrozenInstanceError):
        s.heartbeat_s = 1


def test_every_bad_value_is_named_with_what_it_must_be_and_what_it_is():
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"PA_HEARTBEAT_S": "abc", "PA_HTTP_PORT": "70000", "PA_QUIET_HOURS": "late",
                           "PA_WARD_OUTAGE_SHARE": "2", "PA_MQTT_URL": "http://broker", "PA_CHECK_HORIZON_D": "1.5",
                           "PA_DISPATCH_LEAD_S": "nan", "DATABASE_URL": "not a url"})
    assert refused.value.problems == [
        "PA_HTTP_PORT must be a port number from 1 to 65535, not '70000'",
        "DATABASE_URL must be an SQLAlchemy URL such as postgresql+psycopg://user@host/loanet, not 'not a url'",
        "PA_MQTT_URL must be a broker URL such as mqtt://host:port or mqtts://user:pass@host:port, "
        "not 'http://broker'",
        "PA_DISPATCH_LEAD_S must be a number of seconds above 0, not 'nan'",
        "PA_HEARTBEAT_S must be a number of seconds above 0, not 'abc'",
        "PA_CHECK_HORIZON_D must be a whole number of days, 1 or more, not '1.5'",
        "PA_WARD_OUTAGE_SHARE must be a share above 0 and at most 1, not '2'",
        "PA_QUIET_HOURS must be two times such as 21:30-05:00, or empty for none, not 'late'",
    ]
    assert str(refused.value).splitlines() == refused.value.problems


def test_testing_settings_turn_every_side_effect_off():
    s = Settings.from_env({}).for_testing()
    assert (s.testing, s.messaging, s.quiet_hours, s.manage_broker) == (True, "fake", None, False)
    assert s.password_hash_method.startswith("pbkdf2")


def test_the_controller_logs_in_to_make_runs_broker_as_an_account_no_cluster_can_be():
    s = Settings.from_env({})
    assert (s.mqtt_username, s.mqtt_client_id) == ("loanet.controller", "loanet.controller")
    assert s.broker_dir == s.instance_dir / "broker" and s.mqtt_password_file == s.broker_dir / "controller.password"
    assert (s.mqtts_port, s.mqtt_ca_file, s.broker_reload, s.manage_broker) == (8884, None, "", True)


def test_a_broker_named_by_url_is_managed_only_with_a_reload_command(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("pem")
    elsewhere = Settings.from_env({"PA_MQTT_URL": "mqtts://broker.example:8883", "PA_MQTT_CA_FILE": str(ca),
                                   "PA_BROKER_DIR": str(tmp_path / "b"), "PA_MQTT_CLIENT_ID": "ctl-2"})
    assert not elsewhere.manage_broker and elsewhere.mqtt_ca_file == ca and elsewhere.mqtt_client_id == "ctl-2"
    assert elsewhere.mqtt_password_file == tmp_path / "b" / "controller.password"
    managed = Settings.from_env({"PA_MQTT_URL": "mqtt://10.0.0.2:1883", "PA_BROKER_RELOAD": "systemctl reload x"})
    assert managed.manage_broker and managed.broker_reload == "systemctl reload x"


def test_broker_values_that_cannot_be_used_are_named():
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"PA_MQTT_USERNAME": "controller", "PA_MQTT_CA_FILE": "/no/such/ca.pem",
                           "PA_MQTTS_PORT": "0", "PA_MQTT_ROOT": "pa v1"})
    assert refused.value.problems == [
        "PA_MQTT_USERNAME must be a broker username that no cluster id can be (with a dot, such as loanet.controller) "
        "and without spaces, ':', '+', '#' or '/', not 'controller'",
        "PA_MQTT_ROOT must be a topic prefix such as pa/v1, not 'pa v1'",
        "PA_MQTT_CA_FILE must be a readable PEM file of CA certificates, not '/no/such/ca.pem'",
        "PA_MQTTS_PORT must be a port number from 1 to 65535, not '0'",
    ]


@pytest.mark.timeout(30)
def test_a_bad_value_stops_make_run_with_its_message_and_code_2(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PA_HEARTBEAT_S": "abc", "PA_INSTANCE_DIR": str(tmp_path / "instance")}
    done = subprocess.run([sys.executable, "-m", "pa_controller.stack"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=20)
    assert done.returncode == 2, done.stderr
    assert "PA_HEARTBEAT_S must be a number of seconds above 0, not 'abc'" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "instance").exists()


def test_sessions_last_an_hour_idle_and_twelve_at_most_and_cookies_are_secure_behind_https():
    s = Settings.from_env({})
    assert (s.session_idle_min, s.session_max_h, s.secure_cookies, s.trusted_proxies) == (60, 12, False, 0)
    assert Settings.from_env({"PA_PUBLIC_URL": "https://loa.omon.gov.vn"}).secure_cookies
    assert not Settings.from_env({"PA_PUBLIC_URL": "https://loa.omon.gov.vn", "PA_SECURE_COOKIES": "off"}
                                 ).secure_cookies
    assert Settings.from_env({"PA_SECURE_COOKIES": "1", "PA_TRUSTED_PROXIES": "1"}).trusted_proxies == 1
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"PA_SESSION_IDLE_MIN": "0", "PA_SESSION_MAX_H": "-1", "PA_SECURE_COOKIES": "maybe",
                           "PA_TRUSTED_PROXIES": "one"})
    assert refused.value.problems == [
        "PA_SESSION_IDLE_MIN must be a number of minutes above 0, not '0'",
        "PA_SESSION_MAX_H must be a number of hours above 0, not '-1'",
        "PA_SECURE_COOKIES must be on or off (1/0, true/false, yes/no), not 'maybe'",
        "PA_TRUSTED_PROXIES must be a whole number of proxies, 0 or more, not 'one'",
    ]


def test_a_broker_login_loanet_keeps_the_accounts_of_may_not_be_a_cluster_id():
    """Otherwise a cluster enrolled under that name would share the controller's account in the broker's files."""
    with pytest.raises(SettingsError, match="PA_MQTT_URL must log in with a username no cluster id can be"):
        Settings.from_env({"PA_MQTT_URL": "mqtt://controller:pw@broker:1883", "PA_BROKER_RELOAD": "true"})
    assert Settings.from_env({"PA_MQTT_URL": "mqtt://loanet.controller:pw@broker:1883",
                              "PA_BROKER_RELOAD": "true"}).manage_broker
    assert not Settings.from_env({"PA_MQTT_URL": "mqtt://controller:pw@broker:1883"}).manage_broker  # not ours


def test_the_speech_voice_is_espeak_s_vietnamese_unless_a_piper_model_is_named(tmp_path):
    s = Settings.from_env({})
    assert (s.tts_espeak_voice, s.tts_piper_model, s.tts_piper_command) == ("vi", None, "piper")
    model = tmp_path / "vi_VN-voice.onnx"
    model.write_bytes(b"onnx")
    piper = tmp_path / "piper"
    piper.write_text("#!/bin/sh\n")
    piper.chmod(0o755)
    s = Settings.from_env({"PA_TTS_PIPER_MODEL": str(model), "PA_TTS_PIPER_COMMAND": str(piper),
                           "PA_TTS_ESPEAK_VOICE": "vi-vn-x-south"})
    assert (s.tts_piper_model, s.tts_piper_command, s.tts_espeak_voice) == (model, str(piper), "vi-vn-x-south")


def test_a_piper_model_or_program_that_is_not_there_stops_the_start_with_what_to_fix(tmp_path):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"PA_TTS_PIPER_MODEL": str(tmp_path / "gone.onnx"), "PA_TTS_ESPEAK_VOICE": "vi; rm"})
    assert refused.value.problems == [
        "PA_TTS_ESPEAK_VOICE must be an espeak-ng voice name such as vi or vi-vn-x-south, not 'vi; rm'",
        f"PA_TTS_PIPER_MODEL must be a readable Piper voice model (.onnx) file, not '{tmp_path / 'gone.onnx'}'",
    ]
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"onnx")
    with pytest.raises(SettingsError, match="PA_TTS_PIPER_COMMAND \\('no-such-piper'\\) is not installed"):
        Settings.from_env({"PA_TTS_PIPER_MODEL": str(model), "PA_TTS_PIPER_COMMAND": "no-such-piper"})


def test_records_are_kept_for_their_windows_and_the_pool_is_sized_as_the_readme_says():
    s = Settings.from_env({})
    assert (s.telemetry_raw_h, s.telemetry_keep_d, s.outbox_keep_d, s.audit_keep_d) == (6, 90, 7, 730)
    assert (s.db_pool_size, s.db_max_overflow, s.db_pool_recycle_s) == (5, 5, 1800)
    s = Settings.from_env({"PA_AUDIT_KEEP_D": "3650", "PA_OUTBOX_KEEP_D": "1.5", "PA_DB_POOL_SIZE": "4",
                           "PA_DB_MAX_OVERFLOW": "0", "PA_DB_POOL_RECYCLE_S": "600"})
    assert (s.audit_keep_d, s.outbox_keep_d, s.db_pool_size, s.db_max_overflow, s.db_pool_recycle_s) == (
        3650, 1.5, 4, 0, 600)
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"PA_AUDIT_KEEP_D": "0", "PA_OUTBOX_KEEP_D": "a week", "PA_DB_POOL_SIZE": "0",
                           "PA_DB_MAX_OVERFLOW": "-1", "PA_DB_POOL_RECYCLE_S": "1.5"})
    assert refused.value.problems == [
        "PA_AUDIT_KEEP_D must be a number of days, 1 or more, not '0'",
        "PA_OUTBOX_KEEP_D must be a number of days, 1 or more, not 'a week'",
        "PA_DB_POOL_SIZE must be a whole number of connections, 1 or more, not '0'",
        "PA_DB_MAX_OVERFLOW must be a whole number of connections, 0 or more, not '-1'",
        "PA_DB_POOL_RECYCLE_S must be a whole number of seconds, 1 or more, not '1.5'",
    ]


def test_each_process_pools_its_postgresql_connections_as_set_and_leaves_sqlite_its_own():
    postgres = Settings.from_env({"DATABASE_URL": "postgresql+psycopg://u@db/loanet", "PA_DB_POOL_SIZE": "4"})
    assert engine_options(postgres) == {"pool_pre_ping": True, "pool_size": 4, "max_overflow": 5,
                                        "pool_recycle": 1800}
    assert engine_options(Settings.from_env({})) == {"pool_pre_ping": True}
