"""Command signatures and the key ring (PROTOCOL.md rule 5, docs/protocol.md "Signed commands")."""

import hashlib
from datetime import UTC, datetime

import pytest

import pa_protocol as protocol
from pa_protocol.signing import (
    BAD_SIGNATURE,
    UNSIGNED,
    KeyRing,
    SigningKey,
    TrustedKey,
    b64url,
    endorse,
    key_id,
    sign_command,
    unb64url,
)

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC).timestamp()
ANCHOR, NEXT, THIRD, STRANGER = (SigningKey.generate() for _ in range(4))


def command(**fields) -> dict:
    return {"v": 1, "id": "3f0a2c4e-0000-4000-8000-000000000001", "cid": "om-cvl-001", "type": "set_volume",
            "issued_at": "2026-12-05T03:00:00.000Z", "expires_at": "2026-12-05T03:01:00.000Z", "volume": 40,
            **fields}


def ring_of(*keys: SigningKey, not_after: float | None = None) -> KeyRing:
    return KeyRing(TrustedKey(key.kid, key.public_key, not_after) for key in keys)


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


# ----- signing and verifying


def test_a_signed_command_verifies_with_a_ring_that_trusts_its_key():
    signed = sign_command(command(), ANCHOR)
    assert signed["kid"] == ANCHOR.kid
    assert ring_of(ANCHOR).verify(signed, NOW) is None


def test_the_signature_covers_every_field_but_sig_including_kid():
    signed = sign_command(command(), ANCHOR)
    assert protocol.canonical(signed) == protocol.canonical({k: v for k, v in signed.items() if k != "sig"})
    for tampered in ({"volume": 100}, {"cid": "om-cvl-002"}, {"expires_at": "2027-12-05T03:01:00.000Z"},
                     {"type": "reboot"}, {"extra": "field"}, {"kid": NEXT.kid}):
        refusal = ring_of(ANCHOR, NEXT).verify({**signed, **tampered}, NOW)
        assert refusal is not None and refusal.reason == BAD_SIGNATURE, tampered


def test_signing_is_deterministic_so_a_republish_is_byte_identical():
    assert protocol.encode(sign_command(command(), ANCHOR)) == protocol.encode(sign_command(command(), ANCHOR))


def test_signing_again_replaces_the_old_kid_and_sig():
    again = sign_command(sign_command(command(), ANCHOR), NEXT)
    assert again["kid"] == NEXT.kid and ring_of(NEXT).verify(again, NOW) is None


def test_a_command_without_kid_or_sig_is_unsigned():
    signed = sign_command(command(), ANCHOR)
    for unsigned in (command(), {**signed, "sig": None}, {k: v for k, v in signed.items() if k != "kid"},
                     {**signed, "sig": ""}):
        assert ring_of(ANCHOR).verify(unsigned, NOW).reason == UNSIGNED


def test_a_key_the_ring_does_not_know_is_a_bad_signature_that_says_so():
    refusal = ring_of(ANCHOR).verify(sign_command(command(), STRANGER), NOW)
    assert refusal.reason == BAD_SIGNATURE and refusal.unknown_kid
    assert STRANGER.kid in refusal.message


def test_a_signature_by_another_key_under_a_trusted_kid_is_a_bad_signature():
    forged = {**sign_command(command(), STRANGER), "kid": ANCHOR.kid}
    refusal = ring_of(ANCHOR).verify(forged, NOW)
    assert refusal.reason == BAD_SIGNATURE and not refusal.unknown_kid


def test_a_sig_that_is_not_base64url_of_64_bytes_is_a_bad_signature():
    signed = sign_command(command(), ANCHOR)
    for sig in (signed["sig"] + "==", signed["sig"][:-4], "not base64!", b64url(b"\0" * 64)):
        assert ring_of(ANCHOR).verify({**signed, "sig": sig}, NOW).reason == BAD_SIGNATURE


def test_a_key_past_its_not_after_signs_nothing_and_one_before_it_still_does():
    signed = sign_command(command(), ANCHOR)
    assert ring_of(ANCHOR, not_after=NOW + 60).verify(signed, NOW) is None
    refusal = ring_of(ANCHOR, not_after=NOW - 1).verify(signed, NOW)
    assert refusal.reason == BAD_SIGNATURE and not refusal.unknown_kid


def test_a_command_with_a_fractional_number_is_neither_signed_nor_verified():
    with pytest.raises(ValueError, match="integers only"):
        sign_command(command(volume=40.5), ANCHOR)
    signed = sign_command(command(), ANCHOR)
    assert ring_of(ANCHOR).verify({**signed, "volume": 40.0}, NOW).reason == BAD_SIGNATURE


def test_a_command_with_a_lone_surrogate_is_a_bad_signature_not_a_crash():
    signed = sign_command(command(), ANCHOR)
    assert ring_of(ANCHOR).verify({**signed, "title": "\ud800"}, NOW).reason == BAD_SIGNATURE


# ----- the bytes


def test_canonical_bytes_sort_keys_by_code_point_without_spaces_in_utf8_escaping_only_quote_backslash_controls():
    payload = {"b": 1, "a": {"z": True, "y": None}, "é": "Thông báo \"1\"\\\n\t\x01\x7f/", "A": -3, "sig": "x"}
    assert protocol.canonical(payload) == (
        '{"A":-3,"a":{"y":null,"z":true},"b":1,"é":"Thông báo \\"1\\"\\\\\\n\\t\\u0001\x7f/"}'.encode())


def test_a_key_id_is_the_first_16_hex_digits_of_the_public_keys_sha256():
    assert ANCHOR.kid == key_id(ANCHOR.public_raw) == hashlib.sha256(ANCHOR.public_raw).hexdigest()[:16]
    assert len(unb64url(ANCHOR.public_key)) == 32


def test_base64url_has_no_padding_and_refuses_padding_and_other_alphabets():
    assert b64url(b"\xfb\xff") == "-_8"
    assert unb64url("-_8") == b"\xfb\xff"
    for bad in ("-_8=", "+/8", "a", "a b"):
        with pytest.raises(ValueError):
            unb64url(bad)


def test_a_private_key_survives_pem_and_nothing_else_is_read_as_one():
    again = SigningKey.from_pem(ANCHOR.to_pem())
    assert again.kid == ANCHOR.kid
    with pytest.raises(ValueError):
        SigningKey.from_pem(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")


# ----- the ring learns


def test_the_ring_walks_the_chain_anchor_then_next_then_the_one_after():
    document = [endorse(THIRD.kid, THIRD.public_key, None, NEXT),  # in any order
                endorse(NEXT.kid, NEXT.public_key, None, ANCHOR),
                endorse(ANCHOR.kid, ANCHOR.public_key, None, ANCHOR)]
    learned = ring_of(ANCHOR).learn(document, NOW)
    assert set(learned.keys) == {ANCHOR.kid, NEXT.kid, THIRD.kid}


def test_the_ring_refuses_a_key_no_trusted_key_endorsed():
    document = [endorse(STRANGER.kid, STRANGER.public_key, None, STRANGER),  # self-signed
                endorse(THIRD.kid, THIRD.public_key, None, STRANGER)]
    assert ring_of(ANCHOR).learn(document, NOW) == ring_of(ANCHOR)


def test_the_ring_refuses_an_entry_whose_signature_or_id_does_not_hold():
    forged = {**endorse(STRANGER.kid, STRANGER.public_key, None, STRANGER), "signed_by": ANCHOR.kid}
    swapped = {**endorse(NEXT.kid, NEXT.public_key, None, ANCHOR), "public_key": STRANGER.public_key}
    assert ring_of(ANCHOR).learn([forged, swapped, {"id": 3}, "junk"], NOW) == ring_of(ANCHOR)


def test_the_ring_never_extends_a_not_after_it_knows_and_takes_a_smaller_one():
    ring = KeyRing([TrustedKey(ANCHOR.kid, ANCHOR.public_key, NOW + 600), TrustedKey(NEXT.kid, NEXT.public_key)])
    later = endorse(ANCHOR.kid, ANCHOR.public_key, at(NOW + 6000), NEXT)
    assert ring.learn([later], NOW).keys[ANCHOR.kid].not_after == NOW + 600
    without = endorse(ANCHOR.kid, ANCHOR.public_key, None, NEXT)
    assert ring.learn([without], NOW).keys[ANCHOR.kid].not_after == NOW + 600
    sooner = endorse(ANCHOR.kid, ANCHOR.public_key, at(NOW + 60), NEXT)
    assert ring.learn([sooner], NOW).keys[ANCHOR.kid].not_after == NOW + 60


def test_a_retired_key_past_its_not_after_endorses_nothing():
    ring = KeyRing([TrustedKey(ANCHOR.kid, ANCHOR.public_key, NOW - 1)])
    assert NEXT.kid not in ring.learn([endorse(NEXT.kid, NEXT.public_key, None, ANCHOR)], NOW)


def test_a_rotation_as_the_controller_publishes_it_retires_the_old_key_for_the_cluster():
    retired_at = at(NOW + 120)
    document = [endorse(ANCHOR.kid, ANCHOR.public_key, retired_at, NEXT),  # re-signed by its successor
                endorse(NEXT.kid, NEXT.public_key, None, ANCHOR)]
    learned = ring_of(ANCHOR).learn(document, NOW)
    old = sign_command(command(), ANCHOR)
    assert learned.verify(old, NOW + 60) is None
    assert learned.verify(old, NOW + 121).reason == BAD_SIGNATURE
    assert learned.verify(sign_command(command(), NEXT), NOW + 121) is None


def test_a_ring_kept_on_disk_comes_back_the_same():
    ring = KeyRing([TrustedKey(ANCHOR.kid, ANCHOR.public_key, NOW + 60.5), TrustedKey(NEXT.kid, NEXT.public_key)])
    assert KeyRing.provisioned(ring.to_document()) == ring


def test_provisioning_refuses_an_entry_that_is_not_a_key():
    with pytest.raises(protocol.ProtocolError, match="fingerprint"):
        KeyRing.provisioned([{"id": ANCHOR.kid, "public_key": NEXT.public_key}])
