"""Statements of the key list that do not verify are signed again from the key files, and nothing else is touched."""

import pytest
from sqlalchemy import select

from pa_controller import clock
from pa_controller.extensions import db
from pa_controller.models import AuditEntry, CommandKey
from pa_controller.services import command_keys, key_statements
from pa_controller.services.command_keys import KeyFiles
from pa_controller.settings import of as settings_of
from pa_protocol.key_chain import KeyRing


@pytest.fixture
def files(app) -> KeyFiles:
    return KeyFiles(settings_of(app).key_dir)


def three_keys(files: KeyFiles) -> list[str]:
    """K1 → K2 → K3: two rotations, K3 current."""
    chain = [command_keys.init(files)[0].kid]
    for _ in range(2):
        chain.append(command_keys.rotate(files).kid)
        command_keys.activate(files)
    return chain


def spoil(kid: str, **fields) -> None:
    """Leave a key's statements as migration 0017 does: signatures that no longer verify, a retirement unsigned."""
    row = db.session.get(CommandKey, kid)
    for name, value in fields.items():
        setattr(row, name, value)
    db.session.commit()


def anchor_learns_all(chain: list[str]) -> bool:
    anchor = KeyRing.provisioned([e for e in command_keys.published() if e["id"] == chain[0]])
    return [key.kid for key in anchor.learn(command_keys.published(), clock.now().timestamp()).ring.chain()] == chain


def test_statements_that_do_not_verify_are_signed_again_by_the_keys_that_must_sign_them(app, files):
    chain = three_keys(files)
    old = db.session.get(CommandKey, chain[0]).signature
    spoil(chain[1], signature=old)  # the old form's signature: verifies no more
    spoil(chain[0], retirement_signature=None)
    assert key_statements.unsigned_statements() == [f"the retirement of key {chain[0]} (seq 1)",
                                                    f"the endorsement of key {chain[1]} (seq 2)"]
    assert not anchor_learns_all(chain)
    signed, left = key_statements.sign_again(files)
    assert signed == [f"the retirement of key {chain[0]} (seq 1), by key {chain[1]}",
                      f"the endorsement of key {chain[1]} (seq 2), by key {chain[0]}"] and left == []
    assert key_statements.unsigned_statements() == [] and anchor_learns_all(chain)
    assert db.session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())) == "command_key.sign_again"


def test_a_statement_whose_signers_file_is_gone_is_left_and_named_with_the_file(app, files):
    chain = three_keys(files)
    spoil(chain[1], signature="A" * 86)
    files.path(chain[0]).unlink()
    signed, [problem] = key_statements.sign_again(files)
    assert signed == [] and f"the endorsement of key {chain[1]} (seq 2)" in problem
    assert str(files.path(chain[0])) in problem


def test_a_key_list_that_verifies_is_never_signed_again(app, files):
    chain = three_keys(files)
    before = command_keys.published()
    assert key_statements.sign_again(files) == ([], [])
    assert command_keys.published() == before and anchor_learns_all(chain)
