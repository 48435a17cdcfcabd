"""Migration 0017: keys of the old list get their place in the chain; `flask pa keys init` signs their statements
again so a cluster with the anchor alone learns every key; a downgrade keeps every key."""

from datetime import UTC, datetime

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from pa_controller.extensions import db
from pa_controller.services import command_keys, key_statements
from pa_controller.settings import of as settings_of
from pa_protocol.key_chain import KeyRing
from pa_protocol.signing import SigningKey

BEFORE, AFTER = "0016", "0017"


def test_old_keys_get_seq_in_creation_order_and_their_statements_signed_again_and_a_downgrade_keeps_them(app):
    files = command_keys.KeyFiles(settings_of(app).key_dir)
    keys = [SigningKey.generate() for _ in range(3)]
    for key in keys:
        files.create(key)
    downgrade(revision=BEFORE)
    with db.engine.begin() as connection:  # the old list after K1 → K2 → K3: retired keys re-signed by successors
        for n, (key, state, signer) in enumerate(zip(keys, ["retired", "retired", "current"],
                                                     [keys[1], keys[2], keys[1]], strict=True)):
            connection.execute(text("""INSERT INTO command_key (kid, public_key, state, created_at, not_after,
                                       signed_by, signature) VALUES (:kid, :pk, :state, :created, :not_after,
                                       :signed_by, 'old-form')"""),
                               {"kid": key.kid, "pk": key.public_key, "state": state,
                                "created": datetime(2026, 1, 1 + n, tzinfo=UTC), "signed_by": signer.kid,
                                "not_after": datetime(2026, 6, 1 + n, tzinfo=UTC) if state == "retired" else None})
    upgrade(revision=AFTER)
    rows = db.session.execute(text("SELECT seq, kid, signed_by, retired_by FROM command_key ORDER BY seq")).all()
    assert [tuple(row) for row in rows] == [(1, keys[0].kid, keys[0].kid, keys[1].kid),
                                            (2, keys[1].kid, keys[0].kid, keys[2].kid),
                                            (3, keys[2].kid, keys[1].kid, None)]
    assert len(key_statements.unsigned_statements()) == 5, "3 endorsements and 2 retirements, none verifies yet"
    signed, left = key_statements.sign_again(files)
    assert len(signed) == 5 and left == []
    anchor = KeyRing.provisioned([e for e in command_keys.published() if e["seq"] == 1])
    ring = anchor.learn(command_keys.published(), datetime(2026, 5, 1, tzinfo=UTC).timestamp()).ring
    assert [key.kid for key in ring.chain()] == [key.kid for key in keys]
    db.session.remove()
    downgrade(revision=BEFORE)
    rows = db.session.execute(text("SELECT kid, signed_by FROM command_key ORDER BY created_at")).all()
    assert [tuple(row) for row in rows] == [(keys[0].kid, keys[1].kid), (keys[1].kid, keys[2].kid),
                                            (keys[2].kid, keys[1].kid)]
    db.session.remove()
    upgrade()
