"""Commands are signed as they go out, in the worker: the rows stay unsigned, and no key means nothing goes out."""

import json
from datetime import timedelta

from sqlalchemy import select

import pa_protocol as protocol
from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import OutboxMessage
from pa_controller.services import command_keys, commands, health
from pa_controller.services.command_keys import KeyFiles, Signer
from pa_controller.services.outbox import OutboxStore
from pa_controller.settings import of as settings_of
from pa_protocol import CommandType
from pa_protocol.key_chain import KeyRing


def queue_reboot(cid: str = "om-tho-001") -> dict:
    now = clock.now()
    expires_at = now + timedelta(minutes=5)
    command = commands.new_command(cid, CommandType.REBOOT, now, expires_at)
    commands.queue([commands.outbox_row(command, now, expires_at)])
    db.session.commit()
    return command


def store_of(app) -> OutboxStore:
    return OutboxStore(app, Signer(KeyFiles(settings_of(app).key_dir)))


def ring() -> KeyRing:
    return KeyRing.provisioned(command_keys.published())


def test_a_command_goes_out_signed_by_the_current_key_and_its_row_stays_unsigned(seeded, command_key):
    command = queue_reboot()
    [outgoing] = store_of(seeded).due(set(), 10)
    sent = protocol.decode(protocol.CMD, "om-tho-001", outgoing.payload)
    assert sent["kid"] == command_key.kid and ring().verify(sent, clock.now().timestamp()) is None
    assert {k: v for k, v in sent.items() if k not in ("kid", "sig")} == command
    row = db.session.scalar(select(OutboxMessage))
    assert "sig" not in json.loads(row.payload), "a request to send: signed only on its way out"


def test_a_command_published_again_with_the_same_key_is_the_same_bytes(seeded, command_key):
    queue_reboot()
    store = store_of(seeded)
    assert store.due(set(), 10)[0].payload == store.due(set(), 10)[0].payload


def test_after_an_activation_what_goes_out_is_signed_by_the_new_key_and_keeps_its_content(seeded, command_key):
    files = KeyFiles(settings_of(seeded).key_dir)
    queue_reboot()
    store = store_of(seeded)
    before = protocol.decode(protocol.CMD, "om-tho-001", store.due(set(), 10)[0].payload)
    following = command_keys.rotate(files)
    command_keys.activate(files)
    after = protocol.decode(protocol.CMD, "om-tho-001", store.due(set(), 10)[0].payload)
    assert (before["kid"], after["kid"]) == (command_key.kid, following.kid)
    assert {k: v for k, v in before.items() if k not in ("kid", "sig")} == {
        k: v for k, v in after.items() if k not in ("kid", "sig")}


def test_without_a_key_nothing_goes_out_the_log_says_what_to_run_and_health_says_no_key(seeded):
    queue_reboot()
    store = store_of(seeded)
    assert store.due(set(), 10) == []
    assert "flask pa keys init" in store.signer.problem
    answer = health.report()
    assert answer["status"] == "degraded" and answer["signing"] == "no key"


def test_with_the_key_file_gone_nothing_goes_out_and_the_problem_names_the_file(seeded, command_key, caplog):
    path = KeyFiles(settings_of(seeded).key_dir).path(command_key.kid)
    path.unlink()
    queue_reboot()
    store = store_of(seeded)
    assert store.due(set(), 10) == []
    assert store.check_signing() == "key file missing"
    assert str(path) in store.signer.problem and str(path) in caplog.text
    assert store.due(set(), 10) == [] and caplog.text.count(str(path)) == 1, "logged once, not every poll"


def test_the_commands_that_waited_go_out_once_a_key_exists(seeded):
    queue_reboot()
    store = store_of(seeded)
    assert store.due(set(), 10) == []
    command_keys.init(KeyFiles(settings_of(seeded).key_dir))
    assert len(store.due(set(), 10)) == 1 and store.signer.problem is None


def test_health_says_a_key_file_is_missing_or_unreadable_in_a_word_and_never_where_it_is(seeded, command_key,
                                                                                          caplog):
    """Health needs no token: the path of a key file is for the worker's log, not for anyone who asks."""
    from pa_controller.scheduling.worker import Worker

    path = KeyFiles(settings_of(seeded).key_dir).path(command_key.kid)
    path.unlink()
    Worker(seeded).beat()
    answer = health.report()
    assert answer["signing"] == "key file missing" and answer["status"] == "degraded"
    assert str(path) in caplog.text
    path.mkdir()  # unreadable as a file, even by root
    Worker(seeded).beat()
    answer = health.report()
    assert answer["signing"] == "key file unreadable" and str(settings_of(seeded).key_dir) not in str(answer)


def test_a_command_that_cannot_be_signed_stays_unsent_without_holding_up_the_others(seeded, command_key, caplog):
    now = clock.now()
    bad = commands.new_command("om-tho-001", CommandType.SET_VOLUME, now, now + timedelta(minutes=5), volume=40.5)
    commands.queue([commands.outbox_row(bad, now, now + timedelta(minutes=5))])
    good = queue_reboot("om-tho-002")
    store = store_of(seeded)
    assert [o.cmd_id for o in store.due(set(), 10)] == [good["id"]]
    assert [o.cmd_id for o in store.due(set(), 10)] == [good["id"]]
    assert caplog.text.count(f"command {bad['id']} cannot be signed") == 1
