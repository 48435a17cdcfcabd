"""Command signatures (PROTOCOL.md rule 5): Ed25519 over canonical JSON, key ids, and the statements of the key list.

The one module of the protocol that needs a package beyond the standard library, `cryptography` (with
`key_chain`, which builds on it); `import pa_protocol` imports neither. A firmware written in another language
follows docs/protocol.md, "Signed commands" and "The key list", which say byte for byte what is signed;
tests/pa_protocol/test_signing_doc.py verifies a command that way.

- `sign_command(command, key)` adds `kid` and `sig`: `sig` is the Ed25519 signature of `canonical(command)` (every
  field but `sig`, `kid` included), base64url without padding.
- A key's id is the first 16 hex digits of the SHA-256 of its 32-byte public key.
- Two statements make the key list, each signed once and never again: a key's **endorsement**
  `{"type": "command_key", "seq", "id", "public_key"}`, signed by the key of `seq - 1` (the first key, seq 1, by
  itself: the anchor), and a key's **retirement** `{"type": "command_key_retirement", "id", "not_after"}`, signed
  by its successor. `endorse` and `retire` return them as the fields of a key list entry.
- `TrustedKey` is one key a cluster trusts; `key_chain.KeyRing` is all of them, and what they learn from a list.
"""

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pa_protocol.codec import canonical
from pa_protocol.times import format_time

UNSIGNED = "unsigned"
BAD_SIGNATURE = "bad_signature"
KEY_STATEMENT = "command_key"  # a statement's `type` keeps it from ever passing for a command, or for the other
RETIREMENT_STATEMENT = "command_key_retirement"
KEY_ID_LENGTH = 16  # hex digits of the public key's SHA-256
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url(data: bytes) -> str:
    """Encode bytes as base64url without padding (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Decode base64url without padding; raise ValueError on anything else (padding, other characters, a last
    character whose unused bits are not zero: one text per byte string, as `b64url` writes it)."""
    if not isinstance(text, str) or not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError(str(exc)) from exc
    if b64url(raw) != text:
        raise ValueError("not canonical base64url: the last character's unused bits are not zero")
    return raw


def key_id(public_key: bytes) -> str:
    """Return the id of a raw 32-byte Ed25519 public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:KEY_ID_LENGTH]


class SigningKey:
    """An Ed25519 private key with its id; it signs commands and key statements."""

    def __init__(self, private: Ed25519PrivateKey):
        self._private = private
        self.public_raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                            serialization.PublicFormat.Raw)
        self.kid = key_id(self.public_raw)
        self.public_key = b64url(self.public_raw)

    @classmethod
    def generate(cls) -> "SigningKey":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes) -> "SigningKey":
        """Read a PKCS#8 PEM private key; raise ValueError if it is not an unencrypted Ed25519 key."""
        try:
            private = serialization.load_pem_private_key(pem, password=None)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not an unencrypted PKCS#8 PEM private key ({exc})") from exc
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError("not an Ed25519 private key")
        return cls(private)

    def to_pem(self) -> bytes:
        """Return the private key as unencrypted PKCS#8 PEM (for a file only its owner can read)."""
        return self._private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())

    def sign(self, data: bytes) -> str:
        """Return the base64url signature of `data`."""
        return b64url(self._private.sign(data))


def sign_command(command: dict, key: SigningKey) -> dict:
    """Return the command with `kid` and `sig` set; a `kid` or `sig` it had is replaced."""
    _refuse_fractions(command, "command")
    body = {name: value for name, value in command.items() if name not in ("kid", "sig")}
    body["kid"] = key.kid
    body["sig"] = key.sign(canonical(body))
    return body


def key_statement(seq: int, kid: str, public_key: str) -> dict:
    """Return what a key's endorsement signs: the key and its place in the chain."""
    return {"type": KEY_STATEMENT, "seq": seq, "id": kid, "public_key": public_key}


def retirement_statement(kid: str, not_after: str) -> dict:
    """Return what a key's retirement signs: the key and the wire time after which it signs nothing."""
    return {"type": RETIREMENT_STATEMENT, "id": kid, "not_after": not_after}


def endorse(seq: int, kid: str, public_key: str, signer: SigningKey) -> dict:
    """Return the entry of key `kid`, the `seq`-th of the chain, endorsed by `signer` (its predecessor, or itself
    for seq 1)."""
    signature = signer.sign(canonical(key_statement(seq, kid, public_key)))
    return {"seq": seq, "id": kid, "public_key": public_key, "signed_by": signer.kid, "signature": signature}


def retire(kid: str, not_after: datetime | str, successor: SigningKey) -> dict:
    """Return the fields an entry adds for key `kid`'s retirement, signed by its `successor`."""
    until = not_after if isinstance(not_after, str) else format_time(not_after)
    signature = successor.sign(canonical(retirement_statement(kid, until)))
    return {"not_after": until, "retired_by": successor.kid, "retirement_signature": signature}


def anchor_entry(key: SigningKey) -> dict:
    """Return the entry of a chain's first key, endorsed by itself: what a cluster is provisioned with."""
    return endorse(1, key.kid, key.public_key, key)


@dataclass(frozen=True)
class Refusal:
    """Why a command's signature is refused: a reason word of PROTOCOL.md and a message for people.

    `unknown_kid` says the key is simply not known (yet): a cluster may fetch the key list and try again.
    """

    reason: str
    message: str
    unknown_kid: bool = False


@dataclass(frozen=True)
class TrustedKey:
    """A public key a cluster trusts, its place `seq` in the chain, and the time (epoch seconds) after which it
    signs nothing; None: no end known."""

    kid: str
    public_key: str
    seq: int
    not_after: float | None = None

    def expired(self, now: float) -> bool:
        return self.not_after is not None and now > self.not_after

    def verifies(self, signature: str, data: bytes) -> bool:
        """Tell whether `signature` (base64url) is this key's signature of `data`."""
        try:
            raw = unb64url(signature)
            if len(raw) != SIGNATURE_BYTES:
                return False
            self._verifier.verify(raw, data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def verify_command(self, command: Mapping) -> Refusal | None:
        """Return why this key's signature of the command is refused, or None if it verifies (time aside)."""
        try:
            _refuse_fractions(command, "command")
            signed = canonical(command)
        except RecursionError:  # nested deeper than decode allows: refused here too, never raised to the caller
            return Refusal(BAD_SIGNATURE, "the command is nested too deep to be put in canonical form")
        except (ValueError, UnicodeEncodeError) as exc:
            return Refusal(BAD_SIGNATURE, f"the command cannot be put in canonical form: {exc}")
        if not self.verifies(command["sig"], signed):
            return Refusal(BAD_SIGNATURE, f"the signature does not verify with key {self.kid}")
        return None

    @cached_property
    def _verifier(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(unb64url(self.public_key))

    def as_entry(self) -> dict:
        """Return this key as a cluster keeps it: `seq`, `id`, `public_key` and `not_after` if one is known."""
        entry = {"seq": self.seq, "id": self.kid, "public_key": self.public_key}
        if self.not_after is not None:
            entry["not_after"] = format_time_epoch(self.not_after)
        return entry


def format_time_epoch(moment: float) -> str:
    """Render epoch seconds as a wire time."""
    return format_time(datetime.fromtimestamp(moment, UTC))


def _refuse_fractions(value, where: str) -> None:
    """Refuse a number with a fraction anywhere in a command: its canonical form would depend on the language."""
    if isinstance(value, float):
        raise ValueError(f"{where} holds the number {value!r}; commands carry integers only")
    if isinstance(value, Mapping):
        for name, inner in value.items():
            _refuse_fractions(inner, f"{where}.{name}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _refuse_fractions(inner, f"{where}[{index}]")
