"""Command keys: created, rotated and activated with their files and statements, so clusters follow the chain."""

import stat
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pa_controller import clock
from pa_controller.domain import KeyState
from pa_controller.extensions import db
from pa_controller.models import AuditEntry, CommandKey, OutboxMessage
from pa_controller.services import command_keys
from pa_controller.services.command_keys import CommandKeyError, KeyFileError, KeyFiles
from pa_controller.settings import of as settings_of
from pa_protocol.key_chain import KeyRing
from pa_protocol.signing import sign_command


@pytest.fixture
def files(app) -> KeyFiles:
    return KeyFiles(settings_of(app).key_dir)


def command() -> dict:
    now = clock.now()
    return {"v": 1, "id": "c0ffee00-0000-4000-8000-000000000001", "cid": "om-tho-001", "type": "reboot",
            "issued_at": now.isoformat(), "expires_at": (now + timedelta(minutes=5)).isoformat()}


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def provisioned_with(*kids: str) -> KeyRing:
    """A cluster's ring provisioned with these keys' entries of the list as it is now."""
    return KeyRing.provisioned([entry for entry in command_keys.published() if entry["id"] in kids])


def learned(ring: KeyRing, at=None) -> KeyRing:
    """What the ring learns from the key list as it is now; nothing of it may be refused."""
    lesson = ring.learn(command_keys.published(), (at or clock.now()).timestamp())
    assert lesson.refused == ()
    return lesson.ring


def test_init_creates_one_self_signed_key_whose_file_only_its_owner_can_read(app, files):
    key, created = command_keys.init(files)
    again, created_again = command_keys.init(files)
    assert created and not created_again and again.kid == key.kid
    assert key.state is KeyState.CURRENT and key.signed_by == key.kid and key.seq == 1
    assert stat.S_IMODE(files.path(key.kid).stat().st_mode) == 0o600
    assert stat.S_IMODE(files.directory.stat().st_mode) == 0o700
    ring = KeyRing.provisioned(command_keys.published())
    assert ring.verify(sign_command(command(), files.read(key.kid)), clock.now().timestamp()) is None
    assert actions() == ["command_key.create"]


def test_the_private_key_is_never_in_the_database(app, files):
    key, _ = command_keys.init(files)
    pem = files.path(key.kid).read_bytes()
    row = db.session.get(CommandKey, key.kid)
    stored = " ".join(str(getattr(row, column.key)) for column in CommandKey.__table__.columns)
    assert pem.decode() not in stored and "PRIVATE" not in stored


def test_rotate_publishes_the_next_key_endorsed_by_the_current_one_which_keeps_signing(app, files):
    first, _ = command_keys.init(files)
    following = command_keys.rotate(files)
    assert following.state is KeyState.NEXT and (following.seq, following.signed_by) == (2, first.kid)
    assert command_keys.current_key().kid == first.kid
    assert following.kid in learned(provisioned_with(first.kid)), "a cluster holding only the anchor learns it"
    assert actions() == ["command_key.create", "command_key.rotate"]


def test_rotate_is_refused_while_a_next_key_waits_and_without_a_current_key(app, files):
    with pytest.raises(CommandKeyError, match="flask pa keys init"):
        command_keys.rotate(files)
    command_keys.init(files)
    waiting = command_keys.rotate(files)
    with pytest.raises(CommandKeyError, match=f"key {waiting.kid} already waits.*flask pa keys activate"):
        command_keys.rotate(files)
    assert len(command_keys.all_keys()) == 2


def test_activate_retires_the_old_key_after_the_last_command_it_may_have_signed_expires(app, files):
    first, _ = command_keys.init(files)
    following = command_keys.rotate(files)
    now = clock.now()
    late = now + timedelta(hours=2)
    db.session.add_all([
        OutboxMessage(cmd_id="a", topic="t", payload=b"{}", expires_at=late, created_at=now),
        OutboxMessage(cmd_id="b", topic="t", payload=b"{}", expires_at=now - timedelta(hours=1), created_at=now)])
    db.session.commit()
    current, retired = command_keys.activate(files, now)
    assert (current.kid, current.state, retired.kid, retired.state) == (
        following.kid, KeyState.CURRENT, first.kid, KeyState.RETIRED)
    assert late <= retired.not_after < late + timedelta(seconds=1) and retired.retired_by == following.kid
    ring = learned(provisioned_with(first.kid), now)
    assert ring.keys[first.kid].not_after == retired.not_after.timestamp() >= late.timestamp(), (
        "its retirement, signed by its successor, never ends it before the last command in flight expires")
    assert actions()[-1] == "command_key.activate"


def test_a_key_retired_with_nothing_in_flight_still_signs_for_a_minute(app, files):
    command_keys.init(files)
    command_keys.rotate(files)
    now = clock.now()
    _, retired = command_keys.activate(files, now)
    assert now + timedelta(minutes=1) <= retired.not_after < now + timedelta(minutes=1, seconds=1)


def test_activate_is_refused_without_a_next_key_and_changes_nothing(app, files):
    first, _ = command_keys.init(files)
    with pytest.raises(CommandKeyError, match="flask pa keys rotate"):
        command_keys.activate(files)
    assert command_keys.current_key().kid == first.kid


def test_activate_with_the_next_keys_file_missing_names_the_file_and_changes_nothing(app, files):
    first, _ = command_keys.init(files)
    following = command_keys.rotate(files)
    files.path(following.kid).unlink()
    with pytest.raises(KeyFileError, match=f"{files.path(following.kid)} of command key {following.kid} is missing"):
        command_keys.activate(files)
    db.session.rollback()
    assert command_keys.current_key().kid == first.kid
    assert db.session.get(CommandKey, following.kid).state is KeyState.NEXT


def test_a_key_file_that_cannot_be_read_is_named_with_what_to_do(app, files):
    key, _ = command_keys.init(files)
    path = files.path(key.kid)
    path.unlink()
    path.mkdir()  # unreadable as a file, even by root
    with pytest.raises(KeyFileError, match=f"{path} of command key {key.kid} cannot be read.*the user that owns it"):
        files.read(key.kid)
    path.rmdir()
    path.write_text("not a key")
    with pytest.raises(KeyFileError, match=f"{path} is not a usable key.*restore PA_KEY_DIR"):
        files.read(key.kid)


def test_the_database_holds_at_most_one_current_and_one_next_key(app, files):
    first, _ = command_keys.init(files)
    twin = CommandKey(kid="0" * 16, public_key=first.public_key, state=KeyState.CURRENT, created_at=clock.now(),
                      signed_by=first.kid, signature=first.signature)
    db.session.add(twin)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_the_published_list_is_in_chain_order_with_a_retirement_only_when_retired(app, files):
    first, _ = command_keys.init(files)
    command_keys.rotate(files)
    command_keys.activate(files)
    retired, current = command_keys.published()
    assert set(retired) == {"seq", "id", "public_key", "state", "signed_by", "signature", "not_after", "retired_by",
                            "retirement_signature"}
    assert set(current) == {"seq", "id", "public_key", "state", "signed_by", "signature"}
    assert (retired["id"], retired["state"], retired["seq"], current["state"], current["seq"]) == (
        first.kid, "retired", 1, "current", 2)


def test_after_three_rotations_a_cluster_with_the_anchor_alone_learns_every_key_and_verifies_the_newest(app, files):
    first, _ = command_keys.init(files)
    chain = [first.kid]
    for _ in range(3):
        chain.append(command_keys.rotate(files).kid)
        command_keys.activate(files)
    assert [e["seq"] for e in command_keys.published()] == [1, 2, 3, 4]
    ring = learned(provisioned_with(first.kid))
    assert [key.kid for key in ring.chain()] == chain
    assert ring.verify(sign_command(command(), files.read(chain[-1])), clock.now().timestamp()) is None


def test_a_cluster_offline_across_two_rotations_learns_the_keys_it_missed(app, files):
    first, _ = command_keys.init(files)
    second = command_keys.rotate(files)
    command_keys.activate(files)
    offline = provisioned_with(first.kid, second.kid)  # what it knew when it went offline
    for _ in range(2):
        command_keys.rotate(files)
        command_keys.activate(files)
    newest = command_keys.current_key()
    ring = learned(offline)
    assert newest.kid in ring and ring.verify(sign_command(command(), files.read(newest.kid)),
                                              clock.now().timestamp()) is None


def test_an_endorsement_is_made_once_and_never_signed_again(app, files):
    command_keys.init(files)
    endorsements = {}
    for _ in range(3):
        command_keys.rotate(files)
        for entry in command_keys.published():
            endorsements.setdefault(entry["id"], (entry["signed_by"], entry["signature"]))
        command_keys.activate(files)
    assert {e["id"]: (e["signed_by"], e["signature"]) for e in command_keys.published()} == endorsements
