"""docs/protocol.md, "Signed commands" and "The key list", are enough to verify a command and a key list: their test
vectors, checked as the page says, with json, base64 and cryptography only, and its canonical JSON rules the same as
the code's on any command."""

import base64
import hashlib
import json
import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
SECTION = DOC[DOC.index("## Signed commands"):DOC.index("## The key list")]
KEY_LIST = DOC[DOC.index("## The key list"):DOC.index("## Replay rules")]
SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def canonical(value) -> str:
    """The canonical JSON as the page's rules 2 to 4 describe it, written from them alone."""
    if isinstance(value, dict):
        return "{" + ",".join(string(name) + ":" + canonical(value[name]) for name in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical(item) for item in value) + "]"
    if value is True or value is False or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, int):
        return str(value)
    return string(value)


def string(text: str) -> str:
    return '"' + "".join(SHORT.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 0x20 else c) for c in text) + '"'


def unpadded(text: str) -> bytes:
    assert "=" not in text
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_test_vector_of_the_page_verifies_as_the_page_says():
    seed = re.search(r"seed \(hex\) `([0-9a-f]{64})`", SECTION)[1]
    public, kid = re.search(r"public key `([A-Za-z0-9_-]+)`, key id `([0-9a-f]{16})`", SECTION).groups()
    command_text, covered = re.findall(r"```(?:json|text)\n(.*?)\n```", SECTION, re.DOTALL)
    command = json.loads(command_text)
    raw_public = unpadded(public)
    own = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed)).public_key()
    assert own.public_bytes(Encoding.Raw, PublicFormat.Raw) == raw_public
    assert hashlib.sha256(raw_public).hexdigest()[:16] == kid == command["kid"]
    signed = canonical({name: value for name, value in command.items() if name != "sig"}).encode("utf-8")
    assert signed == covered.encode("utf-8")
    assert len(command["sig"]) == 86
    Ed25519PublicKey.from_public_bytes(raw_public).verify(unpadded(command["sig"]), signed)  # raises if not


def test_the_key_list_vector_of_the_page_verifies_as_the_page_says():
    entries_text, covered = re.findall(r"```(?:json|text)\n(.*?)\n```", KEY_LIST, re.DOTALL)
    anchor, second = json.loads(entries_text)
    for entry, seed in ((anchor, bytes(range(32))), (second, bytes(range(32, 64)))):
        raw = unpadded(entry["public_key"])
        own = Ed25519PrivateKey.from_private_bytes(seed).public_key()
        assert own.public_bytes(Encoding.Raw, PublicFormat.Raw) == raw
        assert hashlib.sha256(raw).hexdigest()[:16] == entry["id"]
    endorsements = [{"type": "command_key", "seq": e["seq"], "id": e["id"], "public_key": e["public_key"]}
                    for e in (anchor, second)]
    retirement = {"type": "command_key_retirement", "id": anchor["id"], "not_after": anchor["not_after"]}
    statements = [canonical(said) for said in (*endorsements, retirement)]
    assert covered.splitlines() == statements
    by_id = {e["id"]: Ed25519PublicKey.from_public_bytes(unpadded(e["public_key"])) for e in (anchor, second)}
    assert (anchor["signed_by"], second["signed_by"], anchor["retired_by"]) == (anchor["id"], anchor["id"],
                                                                                 second["id"])
    for signer, signature, said in ((anchor["signed_by"], anchor["signature"], statements[0]),
                                    (second["signed_by"], second["signature"], statements[1]),
                                    (anchor["retired_by"], anchor["retirement_signature"], statements[2])):
        by_id[signer].verify(unpadded(signature), said.encode("utf-8"))  # raises if not


def test_the_code_learns_the_pages_key_list_from_its_anchor():
    from pa_protocol.key_chain import KeyRing

    anchor, second = json.loads(re.findall(r"```json\n(.*?)\n```", KEY_LIST, re.DOTALL)[0])
    learned = KeyRing.provisioned([anchor]).learn([anchor, second], 0.0)
    assert [key.kid for key in learned.ring.chain()] == [anchor["id"], second["id"]] and learned.refused == ()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@given(st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=8))
def test_the_pages_rules_give_the_bytes_the_code_signs_for_any_command(command):
    from pa_protocol import canonical as code_canonical

    try:
        expected = code_canonical(command)
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 at all, and no command carries one
        return
    assert canonical({k: v for k, v in command.items() if k != "sig"}).encode("utf-8") == expected
