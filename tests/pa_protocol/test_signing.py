"""Command signatures (PROTOCOL.md rule 5, docs/protocol.md "Signed commands"); the key chain is test_key_chain."""

import hashlib
from datetime import UTC, datetime

import pytest

import pa_protocol as protocol
from pa_protocol.key_chain import KeyRing
from pa_protocol.signing import (
    BAD_SIGNATURE,
    UNSIGNED,
    SigningKey,
    TrustedKey,
    b64url,
    key_id,
    sign_command,
    unb64url,
)

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC).timestamp()
ANCHOR, NEXT, STRANGER = (SigningKey.generate() for _ in range(3))


def command(**fields) -> dict:
    return {"v": 1, "id": "3f0a2c4e-0000-4000-8000-000000000001", "cid": "om-cvl-001", "type": "set_volume",
            "issued_at": "2026-12-05T03:00:00.000Z", "expires_at": "2026-12-05T03:01:00.000Z", "volume": 40,
            **fields}


def ring_of(*keys: SigningKey, not_after: float | None = None) -> KeyRing:
    return KeyRing(TrustedKey(key.kid, key.public_key, seq, not_after) for seq, key in enumerate(keys, 1))


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


def test_a_command_nested_deeper_than_the_stack_is_a_bad_signature_not_a_recursion_error():
    deep: list = []
    for _ in range(5000):  # decode refuses this long before (32 levels); verify must not raise on it either
        deep = [deep]
    refusal = ring_of(ANCHOR).verify({**sign_command(command(), ANCHOR), "extra": deep}, NOW)
    assert refusal.reason == BAD_SIGNATURE and "nested too deep" in refusal.message


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
