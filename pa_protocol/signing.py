"""Command signatures (PROTOCOL.md rule 5): Ed25519 over canonical JSON, key ids, endorsed key statements, a key ring.

The one module of the protocol that needs a package beyond the standard library, `cryptography`; `import pa_protocol`
does not import it. A firmware written in another language follows docs/protocol.md, "Signed commands", which
says byte for byte what is signed; tests/pa_protocol/test_signing_doc.py verifies a command that way.

- `sign_command(command, key)` adds `kid` and `sig`: `sig` is the Ed25519 signature of `canonical(command)` (every
  field but `sig`, `kid` included), base64url without padding.
- A key's id is the first 16 hex digits of the SHA-256 of its 32-byte public key.
- A key is published as an *entry*: the statement `{"type": "command_key", "id", "public_key", "not_after"?}` with
  `signed_by` (a key id) and `signature` over the statement's canonical JSON. The first key signs itself; each
  next key is signed by the current one; a retired key is signed again by its successor, with its `not_after`.
- `KeyRing` is what a cluster trusts: keys with their `not_after`. It learns an entry only if a key it trusts
  signed it, never extends a `not_after` it knows, and refuses a command signed by a key past its `not_after`.
"""

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pa_protocol.codec import canonical
from pa_protocol.errors import ProtocolError
from pa_protocol.times import format_time, parse_time

UNSIGNED = "unsigned"
BAD_SIGNATURE = "bad_signature"
STATEMENT_TYPE = "command_key"
KEY_ID_LENGTH = 16  # hex digits of the public key's SHA-256
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url(data: bytes) -> str:
    """Encode bytes as base64url without padding (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Decode base64url without padding; raise ValueError on anything else (padding, other characters)."""
    if not isinstance(text, str) or not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError(str(exc)) from exc


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


def statement(kid: str, public_key: str, not_after: datetime | str | None = None) -> dict:
    """Return the statement a key entry's signature covers."""
    said = {"type": STATEMENT_TYPE, "id": kid, "public_key": public_key}
    if not_after is not None:
        said["not_after"] = not_after if isinstance(not_after, str) else format_time(not_after)
    return said


def endorse(kid: str, public_key: str, not_after: datetime | None, signer: SigningKey) -> dict:
    """Return a key entry: the statement about key `kid`, signed by `signer`."""
    said = statement(kid, public_key, not_after)
    entry = {name: said[name] for name in ("id", "public_key", "not_after") if name in said}
    return {**entry, "signed_by": signer.kid, "signature": signer.sign(canonical(said))}


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
    """A public key a ring trusts, and the time (epoch seconds) after which it signs nothing; None: no end known."""

    kid: str
    public_key: str
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

    @cached_property
    def _verifier(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(unb64url(self.public_key))

    def as_entry(self) -> dict:
        """Return this key as an entry of a key document, without endorsement (a cluster's own record)."""
        entry = {"id": self.kid, "public_key": self.public_key}
        if self.not_after is not None:
            entry["not_after"] = format_time_epoch(self.not_after)
        return entry


def format_time_epoch(moment: float) -> str:
    """Render epoch seconds as a wire time."""
    return format_time(datetime.fromtimestamp(moment, UTC))


class KeyRing:
    """The controller keys a cluster trusts. Immutable: `learn` returns a new ring."""

    def __init__(self, keys: Iterable[TrustedKey] = ()):
        self.keys: dict[str, TrustedKey] = {key.kid: key for key in keys}

    def __contains__(self, kid: str) -> bool:
        return kid in self.keys

    def __len__(self) -> int:
        return len(self.keys)

    def __eq__(self, other) -> bool:
        return isinstance(other, KeyRing) and self.keys == other.keys

    def __repr__(self) -> str:
        return f"KeyRing({sorted(self.keys)})"

    @classmethod
    def provisioned(cls, entries: Iterable[Mapping]) -> "KeyRing":
        """Trust every well-formed entry as it stands (factory provisioning: no endorsement needed); raise
        ProtocolError naming the first entry that is not well-formed."""
        return cls(_read_entry(entry)[0] for entry in entries)

    def to_document(self) -> list[dict]:
        """Return the trusted keys as entries (without endorsements), sorted by id: what a cluster keeps on disk."""
        return [self.keys[kid].as_entry() for kid in sorted(self.keys)]

    def verify(self, command: Mapping, now: float) -> Refusal | None:
        """Return why the command's signature is refused (`unsigned`, `bad_signature`), or None if it verifies."""
        kid, sig = command.get("kid"), command.get("sig")
        if not isinstance(kid, str) or not isinstance(sig, str) or not kid or not sig:
            return Refusal(UNSIGNED, "the command carries no kid and sig")
        key = self.keys.get(kid)
        if key is None:
            return Refusal(BAD_SIGNATURE, f"key {kid} is not one this cluster trusts", unknown_kid=True)
        if key.expired(now):
            return Refusal(BAD_SIGNATURE, f"key {kid} signs nothing after {format_time_epoch(key.not_after)}")
        try:
            _refuse_fractions(command, "command")
            signed = canonical(command)
        except (ValueError, UnicodeEncodeError) as exc:
            return Refusal(BAD_SIGNATURE, f"the command cannot be put in canonical form: {exc}")
        if not key.verifies(sig, signed):
            return Refusal(BAD_SIGNATURE, f"the signature does not verify with key {kid}")
        return None

    def learn(self, entries: Iterable[Mapping], now: float) -> "KeyRing":
        """Return the ring with what `entries` endorse: a new key signed by a trusted key not past its not_after,
        or a smaller not_after for a trusted key, so signed. Every other entry changes nothing."""
        keys = dict(self.keys)
        readable = []
        for entry in entries:
            try:
                readable.append(_read_entry(entry))
            except ProtocolError:
                continue
        changed = True
        while changed:  # entries in any order: a key learned in one pass may endorse another in the next
            changed = False
            for said, signed_by, signature, data in readable:
                signer = keys.get(signed_by)
                if signer is None or signer.expired(now) or not signer.verifies(signature, data):
                    continue
                known = keys.get(said.kid)
                if known is None:
                    keys[said.kid] = said
                    changed = True
                elif known.public_key == said.public_key and said.not_after is not None and (
                        known.not_after is None or said.not_after < known.not_after):
                    keys[said.kid] = said
                    changed = True
        return KeyRing(keys.values())


def _read_entry(entry: Mapping) -> tuple[TrustedKey, str | None, str | None, bytes]:
    """Return (key, signed_by, signature, signed bytes) of one entry; raise ProtocolError if it is not well-formed."""
    if not isinstance(entry, Mapping):
        raise ProtocolError("malformed", "a key entry is not an object")
    kid, public_key, not_after = entry.get("id"), entry.get("public_key"), entry.get("not_after")
    if not isinstance(kid, str) or not isinstance(public_key, str):
        raise ProtocolError("malformed", "a key entry needs `id` and `public_key` strings")
    try:
        raw = unb64url(public_key)
    except ValueError as exc:
        raise ProtocolError("malformed", f"key {kid}: public_key is not base64url") from exc
    if len(raw) != PUBLIC_KEY_BYTES or key_id(raw) != kid:
        raise ProtocolError("malformed", f"key {kid}: the id is not the fingerprint of a 32-byte public key")
    if not_after is not None and not isinstance(not_after, str):
        raise ProtocolError("malformed", f"key {kid}: not_after is not a time")
    until = parse_time(not_after).timestamp() if not_after is not None else None
    signed_by, signature = entry.get("signed_by"), entry.get("signature")
    data = canonical(statement(kid, public_key, not_after))
    return TrustedKey(kid, public_key, until), signed_by, signature, data


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
