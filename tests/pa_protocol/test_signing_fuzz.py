"""Fuzzing signatures and the key list: a mutated command never verifies, a mutated key list teaches no stranger key,
and neither ever raises (docs/protocol.md, "Signed commands" and "The key list")."""

from hypothesis import assume, given, settings
from hypothesis import strategies as st

import pa_protocol as protocol
from pa_protocol import ProtocolError
from pa_protocol.key_chain import KeyRing, read_entry, read_key
from pa_protocol.signing import BAD_SIGNATURE, UNSIGNED, b64url, sign_command, unb64url
from tests.pa_protocol.strategies import CID, HOSTILE_VALUE, mutated, valid_payload
from tests.pa_protocol.test_key_chain import K1, K2, K3, NOW, STRANGER, published, ring_of

FUZZ = settings(max_examples=150, deadline=None)
SIGNED = CID.flatmap(lambda cid: valid_payload(protocol.CMD, cid)).map(lambda command: sign_command(command, K1))


@FUZZ
@given(SIGNED)
def test_a_signed_command_verifies_and_its_canonical_form_survives_the_wire(command):
    received = protocol.decode(protocol.CMD, command["cid"], protocol.encode(command))
    assert ring_of(K1).verify(received, NOW) is None
    assert protocol.canonical(received) == protocol.canonical(command)


@FUZZ
@given(st.data(), SIGNED)
def test_a_signed_command_changed_in_any_way_never_verifies_and_never_raises(data, command):
    forged = data.draw(mutated(command))
    refusal = ring_of(K1, K2).verify(forged, NOW)
    if forged != command:
        assert refusal is not None and refusal.reason in (UNSIGNED, BAD_SIGNATURE)


@FUZZ
@given(st.data(), SIGNED)
def test_a_command_re_signed_by_a_stranger_under_a_trusted_kid_never_verifies(data, command):
    forged = {**data.draw(mutated(command)), "kid": K1.kid}
    try:
        forged["sig"] = STRANGER.sign(protocol.canonical(forged))
    except (ValueError, UnicodeEncodeError):  # what has no canonical form cannot be signed, by anyone
        assume(False)
    assert ring_of(K1).verify(forged, NOW).reason == BAD_SIGNATURE


@FUZZ
@given(st.binary(max_size=96))
def test_base64url_round_trips_any_bytes(raw):
    assert unb64url(b64url(raw)) == raw


@FUZZ
@given(HOSTILE_VALUE | st.text(st.sampled_from("AZaz09-_=+/ \n"), max_size=12))
def test_base64url_reads_any_text_or_raises_value_error(text):
    try:
        raw = unb64url(text)
    except ValueError:
        return
    assert b64url(raw) == text


LIST = published(K1, K2, K3)


@FUZZ
@given(st.data(), st.permutations(range(len(LIST))))
def test_a_key_list_with_one_entry_changed_teaches_only_keys_of_the_chain_and_never_raises(data, order):
    document = [LIST[i] for i in order]
    where = data.draw(st.integers(0, len(document) - 1))
    document[where] = data.draw(mutated(document[where]) | HOSTILE_VALUE)
    learned = ring_of(K1).learn(document, NOW)
    chain = [key.kid for key in learned.ring.chain()]
    assert chain == [K1.kid, K2.kid, K3.kid][: len(chain)], "a stranger key, or a key out of its place"
    assert all(isinstance(sentence, str) for sentence in learned.refused)


@FUZZ
@given(st.data())
def test_an_entry_is_read_or_refused_with_protocol_error(data):
    entry = data.draw(st.sampled_from(LIST).flatmap(mutated) | HOSTILE_VALUE)
    for read in (read_key, read_entry, lambda one: KeyRing.provisioned([one])):
        try:
            read(entry)
        except ProtocolError as exc:
            assert exc.reason == "malformed"
