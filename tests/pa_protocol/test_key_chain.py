"""The key chain a cluster trusts and learns from the key list (docs/protocol.md, "The key list")."""

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pa_protocol as protocol
from pa_protocol.key_chain import KeyRing
from pa_protocol.signing import BAD_SIGNATURE, SigningKey, TrustedKey, anchor_entry, endorse, retire, sign_command

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC).timestamp()
K1, K2, K3, K4, STRANGER = (SigningKey.generate() for _ in range(5))


def command(**fields) -> dict:
    return {"v": 1, "id": "3f0a2c4e-0000-4000-8000-000000000001", "cid": "om-cvl-001", "type": "set_volume",
            "issued_at": "2026-12-05T03:00:00.000Z", "expires_at": "2026-12-05T03:01:00.000Z", "volume": 40,
            **fields}


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def entry(seq: int, key: SigningKey, signer: SigningKey) -> dict:
    return endorse(seq, key.kid, key.public_key, signer)


def retired(an_entry: dict, not_after: float, successor: SigningKey) -> dict:
    return {**an_entry, **retire(an_entry["id"], at(not_after), successor)}


def ring_of(*keys: SigningKey) -> KeyRing:
    """A ring provisioned with `keys` as seq 1, 2, …"""
    return KeyRing(TrustedKey(key.kid, key.public_key, seq) for seq, key in enumerate(keys, 1))


def published(*keys: SigningKey, retired_before: float = NOW - 60) -> list[dict]:
    """The key list after K1 → K2 → …: each key endorsed once by the one before, each but the last retired."""
    document = [anchor_entry(keys[0])] + [entry(seq, key, keys[seq - 2]) for seq, key in enumerate(keys[1:], 2)]
    return [retired(e, retired_before, keys[i + 1]) if i + 1 < len(keys) else e for i, e in enumerate(document)]


def kids(ring: KeyRing) -> list[str]:
    return [key.kid for key in ring.chain()]


# ----- the chain


def test_a_ring_holding_only_the_anchor_learns_every_key_of_three_rotations_and_verifies_the_newest():
    learned = ring_of(K1).learn(published(K1, K2, K3, K4), NOW)
    assert kids(learned.ring) == [K1.kid, K2.kid, K3.kid, K4.kid] and learned.refused == ()
    assert learned.ring.verify(sign_command(command(), K4), NOW) is None
    for old in (K1, K2, K3):
        assert learned.ring.verify(sign_command(command(), old), NOW).reason == BAD_SIGNATURE, "retired"


def test_a_ring_offline_across_two_rotations_learns_the_keys_it_missed():
    learned = ring_of(K1, K2).learn(published(K1, K2, K3, K4), NOW)
    assert kids(learned.ring) == [K1.kid, K2.kid, K3.kid, K4.kid]
    assert learned.ring.verify(sign_command(command(), K4), NOW) is None


def test_the_next_key_is_learned_while_the_current_one_keeps_signing():
    document = [anchor_entry(K1), entry(2, K2, K1)]
    learned = ring_of(K1).learn(document, NOW).ring
    assert learned.verify(sign_command(command(), K1), NOW) is None
    assert learned.verify(sign_command(command(), K2), NOW) is None


def test_a_key_is_learned_only_from_the_key_of_the_seq_before_it():
    skipping = [entry(3, K3, K1)]  # signed by seq 1 for seq 3
    assert kids(ring_of(K1).learn(skipping, NOW).ring) == [K1.kid]
    backwards = [entry(2, K2, K3)]
    assert kids(ring_of(K1).learn(backwards, NOW).ring) == [K1.kid]


def test_a_key_no_trusted_key_endorsed_is_refused():
    document = [anchor_entry(STRANGER), entry(2, K3, STRANGER)]
    assert ring_of(K1).learn(document, NOW).ring == ring_of(K1)


def test_an_anchor_is_never_learned_from_a_list_only_provisioned():
    assert ring_of().learn([anchor_entry(K1)], NOW).ring == ring_of()
    assert kids(KeyRing.provisioned([anchor_entry(K1)])) == [K1.kid]


def test_an_entry_whose_signature_or_id_does_not_hold_is_refused_and_said():
    forged = {**entry(2, STRANGER, STRANGER), "signed_by": K1.kid}
    swapped = {**entry(2, K2, K1), "public_key": STRANGER.public_key}
    learned = ring_of(K1).learn([forged, swapped], NOW)
    assert learned.ring == ring_of(K1)
    assert any("does not verify" in sentence for sentence in learned.refused)
    assert any("fingerprint" in sentence for sentence in learned.refused)


def test_a_key_past_its_not_after_endorses_nothing():
    expired = KeyRing([TrustedKey(K1.kid, K1.public_key, 1, NOW - 1)])
    learned = expired.learn([entry(2, K2, K1)], NOW)
    assert K2.kid not in learned.ring and "signs nothing after" in learned.refused[0]


# ----- one key per seq


def test_a_different_key_offered_for_a_seq_already_held_is_refused_and_said():
    learned = ring_of(K1, K2).learn([entry(2, STRANGER, K1)], NOW)
    assert learned.ring == ring_of(K1, K2)
    assert learned.refused == (f"key {STRANGER.kid} is offered for seq 2, which key {K2.kid} holds: refused",)


def test_two_different_keys_offered_for_one_empty_seq_are_both_refused_and_said():
    learned = ring_of(K1).learn([entry(2, K2, K1), entry(2, STRANGER, K1)], NOW)
    assert learned.ring == ring_of(K1)
    assert len(learned.refused) == 1 and "are all offered for seq 2: all refused" in learned.refused[0]


def test_a_bad_copy_of_an_endorsement_does_not_hide_the_good_one():
    good = entry(2, K2, K1)
    bad = {**good, "signature": entry(2, K2, STRANGER)["signature"]}
    for document in ([good, bad], [bad, good]):
        assert K2.kid in ring_of(K1).learn(document, NOW).ring


def test_a_key_already_trusted_is_not_learned_again_at_another_seq():
    learned = ring_of(K1, K2).learn([entry(3, K1, K2)], NOW)
    assert learned.ring == ring_of(K1, K2) and "holds seq 1" in learned.refused[0]


# ----- retirements


def test_a_retirement_from_the_successor_shrinks_a_not_after_and_never_extends_it():
    ring = KeyRing([TrustedKey(K1.kid, K1.public_key, 1, NOW + 600), TrustedKey(K2.kid, K2.public_key, 2)])
    anchor = anchor_entry(K1)
    assert ring.learn([retired(anchor, NOW + 6000, K2)], NOW).ring.keys[K1.kid].not_after == NOW + 600
    assert ring.learn([anchor], NOW).ring.keys[K1.kid].not_after == NOW + 600
    assert ring.learn([retired(anchor, NOW + 60, K2)], NOW).ring.keys[K1.kid].not_after == NOW + 60


def test_a_retirement_is_taken_only_from_the_retired_keys_successor():
    ring = ring_of(K1, K2, K3)
    by_grandchild = retired(anchor_entry(K1), NOW - 60, K3)
    learned = ring.learn([by_grandchild], NOW)
    assert learned.ring.keys[K1.kid].not_after is None and "not by its successor" in learned.refused[0]
    by_stranger = retired(anchor_entry(K1), NOW - 60, STRANGER)
    assert ring.learn([by_stranger], NOW).ring == ring, "a key it does not trust retires nothing"


def test_a_retirement_whose_signature_does_not_verify_is_refused():
    forged = {**retired(anchor_entry(K1), NOW - 60, K2), "not_after": protocol.format_time(at(NOW - 120))}
    learned = ring_of(K1, K2).learn([forged], NOW)
    assert learned.ring.keys[K1.kid].not_after is None and "does not verify" in learned.refused[0]


def test_a_retired_key_still_verifies_what_it_signed_until_its_not_after():
    learned = ring_of(K1).learn(published(K1, K2, retired_before=NOW + 120), NOW).ring
    old = sign_command(command(), K1)
    assert learned.verify(old, NOW + 60) is None
    assert learned.verify(old, NOW + 121).reason == BAD_SIGNATURE


# ----- the order of the entries


def test_what_a_ring_trusts_after_a_list_does_not_depend_on_the_order_of_its_entries():
    document = published(K1, K2, K3, K4)
    for ring in (ring_of(K1), ring_of(K1, K2)):
        outcomes = {repr(sorted((k.kid, k.seq, k.not_after) for k in ring.learn(list(order), NOW).ring.chain()))
                    for order in itertools.permutations(document)}
        assert len(outcomes) == 1, outcomes


def test_the_reviewers_attack_a_stolen_retired_key_offering_a_key_of_its_own_fails_in_every_order():
    """[K_A signed by K1, K1's retirement signed by K2, K2 signed by K1]: whatever the order, no K_A."""
    k_a = STRANGER
    document = [entry(2, k_a, K1), retired(anchor_entry(K1), NOW - 60, K2), entry(2, K2, K1)]
    for order in itertools.permutations(document):
        anchor_only = ring_of(K1).learn(list(order), NOW)
        assert anchor_only.ring == ring_of(K1), "two keys for seq 2: both refused"
        knows_k2 = ring_of(K1, K2).learn(list(order), NOW).ring
        assert k_a.kid not in knows_k2 and knows_k2.keys[K1.kid].not_after == NOW - 60


# ----- hostile lists


@pytest.mark.parametrize("field", ["seq", "id", "public_key", "signed_by", "signature"])
@pytest.mark.parametrize("value", [None, -7, True, 2.5, ["x"], {"x": 1}, "", "x" * 5000])
def test_an_entry_with_a_field_of_the_wrong_type_is_ignored_and_said_never_raised(field, value):
    learned = ring_of(K1).learn([{**entry(2, K2, K1), field: value}], NOW)
    assert learned.ring == ring_of(K1) and len(learned.refused) == 1


@pytest.mark.parametrize("field", ["not_after", "retired_by", "retirement_signature"])
@pytest.mark.parametrize("value", [None, 7, ["x"], "", "9999-99-99T00:00:00Z", "0001-01-01T00:00:00.000Z"])
def test_a_retirement_with_a_field_of_the_wrong_type_retires_nothing_and_is_said(field, value):
    learned = ring_of(K1, K2).learn([{**retired(anchor_entry(K1), NOW - 60, K2), field: value}], NOW)
    assert learned.ring.keys[K1.kid].not_after in (None, NOW - 60)
    if field != "not_after" or value != "0001-01-01T00:00:00.000Z":
        assert learned.ring == ring_of(K1, K2) and learned.refused


def test_a_list_that_is_not_an_array_or_too_long_teaches_nothing_and_says_so():
    for document in ({"keys": []}, "[]", None, [anchor_entry(K1)] * 1001):
        learned = ring_of(K1).learn(document, NOW)
        assert learned.ring == ring_of(K1) and "nothing learned" in learned.refused[0]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner,
                                                                                  max_size=4), max_leaves=10)
FIELDS = st.sampled_from(["seq", "id", "public_key", "signed_by", "signature", "not_after", "retired_by",
                          "retirement_signature"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(FIELDS, JSON, max_size=8) | JSON, max_size=6))
def test_any_json_document_teaches_a_ring_nothing_and_never_raises(document):
    assert ring_of(K1).learn(document, NOW).ring == ring_of(K1)


# ----- what a cluster keeps


def test_a_ring_kept_on_disk_comes_back_the_same():
    ring = KeyRing([TrustedKey(K1.kid, K1.public_key, 1, NOW + 60.5), TrustedKey(K2.kid, K2.public_key, 2)])
    assert KeyRing.provisioned(ring.to_document()) == ring


def test_provisioning_refuses_an_entry_that_is_not_a_key_and_two_keys_at_one_seq():
    with pytest.raises(protocol.ProtocolError, match="fingerprint"):
        KeyRing.provisioned([{"seq": 1, "id": K1.kid, "public_key": K2.public_key}])
    with pytest.raises(protocol.ProtocolError, match="seq"):
        KeyRing.provisioned([{"id": K1.kid, "public_key": K1.public_key}])
    with pytest.raises(protocol.ProtocolError, match="both claim seq 1"):
        KeyRing.provisioned([anchor_entry(K1), anchor_entry(K2)])


def test_two_rings_merge_with_the_sooner_not_after_and_refuse_to_disagree_on_a_seq():
    soon = KeyRing([TrustedKey(K1.kid, K1.public_key, 1, NOW + 60)])
    merged = ring_of(K1, K2).merged(soon)
    assert merged.keys[K1.kid].not_after == NOW + 60 and K2.kid in merged
    assert soon.merged(ring_of(K1)).keys[K1.kid].not_after == NOW + 60
    with pytest.raises(ValueError, match="both claim seq 2"):
        ring_of(K1, K2).merged(ring_of(K1, K3))
