"""The chain of command keys a cluster trusts: reading the key list, learning from it, verifying commands with it.

docs/protocol.md, "The key list", is the normative text; this is LoaNet's implementation of it.

- A ring holds at most one key per `seq`. It learns key n+1 only from an endorsement signed by the key n it
  trusts, while that key is not past its `not_after`; a retirement only from the retired key's successor, and
  only ever to shrink a `not_after`.
- `KeyRing.learn` reads the whole list and computes a fixpoint (retirements, then endorsements, until nothing
  changes), so what it trusts afterwards does not depend on the order of the entries. Offers for one seq are
  judged together: two different keys for an empty seq are both refused, a key for a seq already held by another
  is refused. It never raises: whatever a hostile list holds, the answer is a ring and the notes for the log.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from pa_protocol.errors import ProtocolError
from pa_protocol.signing import (
    BAD_SIGNATURE,
    KEY_ID_LENGTH,
    PUBLIC_KEY_BYTES,
    UNSIGNED,
    Refusal,
    TrustedKey,
    canonical,
    format_time_epoch,
    key_id,
    key_statement,
    retirement_statement,
    unb64url,
)
from pa_protocol.times import parse_time

MAX_ENTRIES = 1000  # a rotation a year fills this in a thousand years; a longer list is refused whole
MAX_SEQ = 2**31 - 1
_KEY_ID = re.compile(f"[0-9a-f]{{{KEY_ID_LENGTH}}}")
_LONGEST_TEXT = 128  # a public key is 43 characters, a signature 86, a wire time 24


@dataclass(frozen=True)
class Endorsement:
    """Key `kid` at place `seq`, as `signed_by` endorsed it; `data` is what the signature covers."""

    seq: int
    kid: str
    public_key: str
    signed_by: str
    signature: str
    data: bytes


@dataclass(frozen=True)
class Retirement:
    """Key `kid` signs nothing after `not_after` (epoch seconds), as `signed_by` said; `data` is what it signed."""

    kid: str
    not_after: float
    signed_by: str
    signature: str
    data: bytes


@dataclass(frozen=True)
class Learned:
    """What a key list taught: the ring after it, and a sentence for the log about each thing refused."""

    ring: "KeyRing"
    refused: tuple[str, ...] = ()


def sooner(offered: float | None, known: float | None) -> bool:
    """Tell whether a `not_after` offered for a key is one to take: earlier than the one known, or the first."""
    return offered is not None and (known is None or offered < known)


class KeyRing:
    """The controller keys a cluster trusts, at most one per seq. Immutable: `learn` returns a new ring."""

    def __init__(self, keys: Iterable[TrustedKey] = ()):
        self.keys: dict[str, TrustedKey] = {}
        self.holders: dict[int, str] = {}  # seq -> kid
        for key in keys:
            holder = self.holders.get(key.seq)
            if holder is not None and holder != key.kid:
                raise ValueError(f"keys {holder} and {key.kid} both claim seq {key.seq}: a chain has one key a seq")
            self.keys[key.kid] = key
            self.holders[key.seq] = key.kid
        if len(self.holders) != len(self.keys):
            raise ValueError("a key appears at two places of the chain")

    def __contains__(self, kid: str) -> bool:
        return kid in self.keys

    def __len__(self) -> int:
        return len(self.keys)

    def __eq__(self, other) -> bool:
        return isinstance(other, KeyRing) and self.keys == other.keys

    def __repr__(self) -> str:
        return f"KeyRing({[f'{key.seq}:{key.kid}' for key in self.chain()]})"

    def chain(self) -> list[TrustedKey]:
        """Return the keys in the order of their seq."""
        return [self.keys[self.holders[seq]] for seq in sorted(self.holders)]

    @classmethod
    def provisioned(cls, entries: Iterable[Mapping]) -> "KeyRing":
        """Trust every entry as it stands, `not_after` included (factory provisioning: no endorsement needed);
        raise ProtocolError naming the first entry that is not a key, or two keys that claim one seq."""
        try:
            return cls(read_key(entry) for entry in entries)
        except ProtocolError:
            raise
        except ValueError as exc:  # two keys at one seq, or one key at two
            raise ProtocolError("malformed", str(exc)) from exc

    def to_document(self) -> list[dict]:
        """Return the trusted keys as entries (without endorsements) in seq order: what a cluster keeps on disk."""
        return [key.as_entry() for key in self.chain()]

    def merged(self, other: "KeyRing") -> "KeyRing":
        """Return the keys of both rings; for a key in both, the sooner `not_after`. Raise ValueError if they put
        different keys at one seq, or one key at two."""
        keys = dict(self.keys)
        for kid, key in other.keys.items():
            known = keys.get(kid)
            if known is not None and known.seq != key.seq:
                raise ValueError(f"key {kid} is seq {known.seq} in one ring and {key.seq} in the other")
            if known is None or sooner(key.not_after, known.not_after):
                keys[kid] = key
        return KeyRing(keys.values())

    def verify(self, command: Mapping, now: float) -> Refusal | None:
        """Return why the command's signature is refused (`unsigned`, `bad_signature`), or None if it verifies."""
        kid, sig = command.get("kid"), command.get("sig")
        if not isinstance(kid, str) or not isinstance(sig, str) or not kid or not sig:
            return Refusal(UNSIGNED, "the command carries no kid and sig")
        key = self.keys.get(kid)
        if key is None:
            return Refusal(BAD_SIGNATURE, f"key {kid[:KEY_ID_LENGTH]} is not one this cluster trusts",
                           unknown_kid=True)
        if key.expired(now):
            return Refusal(BAD_SIGNATURE, f"key {kid} signs nothing after {format_time_epoch(key.not_after)}")
        return key.verify_command(command)

    def learn(self, document, now: float) -> Learned:
        """Return the ring with what a key list teaches it (docs/protocol.md, "The key list"), and what was
        refused; `now` is the cluster's clock, against which a signer's `not_after` is judged."""
        if not isinstance(document, list):
            return Learned(self, ("the key list is not a JSON array: nothing learned",))
        if len(document) > MAX_ENTRIES:
            return Learned(self, (f"the key list has {len(document)} entries, more than {MAX_ENTRIES}: "
                                  "nothing learned",))
        return _Lesson(self, now).learn(document)


class _Lesson:
    """One reading of a key list: the fixpoint of its retirements and endorsements over a copy of the ring."""

    def __init__(self, ring: KeyRing, now: float):
        self.now = now
        self.keys = dict(ring.keys)
        self.holders = dict(ring.holders)
        self.refused: list[str] = []

    def learn(self, document: list) -> Learned:
        endorsements, retirements = self._read(document)
        judged: set[int] = set()  # seqs whose offers were judged: once their predecessor is held, they never change
        applied: set[Retirement] = set()
        changed = True
        while changed:
            changed = self._retire(retirements, applied)
            changed = self._endorse(endorsements, judged) or changed
        for offer in endorsements:
            holder = self.holders.get(offer.seq)
            if holder is not None and holder != offer.kid and offer.kid not in self.keys:
                self._refuse(f"key {offer.kid} is offered for seq {offer.seq}, which key {holder} holds: refused")
        return Learned(KeyRing(self.keys.values()), tuple(self.refused))

    def _retire(self, retirements: list[Retirement], applied: set[Retirement]) -> bool:
        """Apply each retirement whose key and signer are trusted, once; return whether a not_after shrank."""
        changed = False
        for retirement in retirements:
            target, signer = self.keys.get(retirement.kid), self.keys.get(retirement.signed_by)
            if retirement in applied or target is None or signer is None:
                continue
            applied.add(retirement)
            if signer.seq != target.seq + 1:
                self._refuse(f"the retirement of key {target.kid} is signed by {signer.kid}, not by its successor: "
                             "refused")
            elif not signer.verifies(retirement.signature, retirement.data):
                self._refuse(f"the retirement of key {target.kid} does not verify with key {signer.kid}: refused")
            elif sooner(retirement.not_after, target.not_after):
                self.keys[target.kid] = replace(target, not_after=retirement.not_after)
                changed = True
        return changed

    def _endorse(self, endorsements: list[Endorsement], judged: set[int]) -> bool:
        """Judge the offers for each seq whose predecessor is now held; return whether a key was learned."""
        learned = False
        for seq in sorted({offer.seq for offer in endorsements} - judged):
            if seq in self.holders:
                judged.add(seq)
                continue
            predecessor = self.keys.get(self.holders.get(seq - 1, ""))
            if predecessor is None:
                continue  # not reachable yet: a later round may hold seq - 1
            judged.add(seq)
            # Every offer is checked, copies of one key too, so a bad copy cannot hide a good one whatever the order.
            offers = [offer for offer in endorsements if offer.seq == seq]
            valid = {offer.kid: offer for offer in offers if self._endorsed(offer, predecessor)}
            if len(valid) > 1:
                self._refuse(f"keys {', '.join(sorted(valid))} are all offered for seq {seq}: all refused (a "
                             "controller offers one key a seq)")
            elif valid:
                [offer] = valid.values()
                self.keys[offer.kid] = TrustedKey(offer.kid, offer.public_key, seq)
                self.holders[seq] = offer.kid
                learned = True
        return learned

    def _endorsed(self, offer: Endorsement, predecessor: TrustedKey) -> bool:
        """Tell whether `offer` is endorsed by `predecessor`, the key that holds the seq before it, noting why not."""
        if offer.signed_by != predecessor.kid:
            if offer.signed_by in self.keys:
                self._refuse(f"key {offer.kid} for seq {offer.seq} is signed by {offer.signed_by}, not by "
                             f"{predecessor.kid} which holds seq {predecessor.seq}: refused")
            return False
        if offer.kid in self.keys:
            self._refuse(f"key {offer.kid} is offered for seq {offer.seq} but holds seq {self.keys[offer.kid].seq}: "
                         "refused")
            return False
        if predecessor.expired(self.now):
            self._refuse(f"key {offer.kid} is endorsed by {predecessor.kid}, which signs nothing after "
                         f"{format_time_epoch(predecessor.not_after)}: refused")
            return False
        if not predecessor.verifies(offer.signature, offer.data):
            self._refuse(f"the endorsement of key {offer.kid} does not verify with key {predecessor.kid}: refused")
            return False
        return True

    def _read(self, document: list) -> tuple[list[Endorsement], list[Retirement]]:
        endorsements, retirements = [], []
        for index, entry in enumerate(document):
            try:
                endorsement, retirement = read_entry(entry)
            except ProtocolError as exc:
                self._refuse(f"entry {index} of the key list is ignored: {exc}")
                continue
            if endorsement is not None:
                endorsements.append(endorsement)
            if retirement is not None:
                retirements.append(retirement)
        return endorsements, retirements

    def _refuse(self, sentence: str) -> None:
        self.refused.append(sentence)


def read_key(entry: Mapping) -> TrustedKey:
    """Return the key an entry names, with its seq and, if it has one, its not_after (as given: unverified);
    raise ProtocolError if it is not well-formed."""
    if not isinstance(entry, Mapping):
        raise ProtocolError("malformed", "a key entry is not an object")
    seq, kid, public_key = _seq(entry), _kid(entry, "id"), entry.get("public_key")
    if not isinstance(public_key, str) or len(public_key) > _LONGEST_TEXT:
        raise ProtocolError("malformed", f"key {kid}: public_key is not a string of base64url")
    try:
        raw = unb64url(public_key)
    except ValueError as exc:
        raise ProtocolError("malformed", f"key {kid}: public_key is not base64url") from exc
    if len(raw) != PUBLIC_KEY_BYTES or key_id(raw) != kid:
        raise ProtocolError("malformed", f"key {kid}: the id is not the fingerprint of a 32-byte public key")
    not_after = _time(entry, kid) if "not_after" in entry else None
    return TrustedKey(kid, public_key, seq, not_after)


def read_entry(entry: Mapping) -> tuple[Endorsement | None, Retirement | None]:
    """Return the endorsement and the retirement an entry of the key list carries (either may be absent); raise
    ProtocolError if a field of either has the wrong type or form."""
    key = read_key(entry)
    endorsement = retirement = None
    if "signed_by" in entry or "signature" in entry:
        data = canonical(key_statement(key.seq, key.kid, key.public_key))
        endorsement = Endorsement(key.seq, key.kid, key.public_key, _kid(entry, "signed_by"),
                                  _text(entry, "signature", key.kid), data)
    if "retired_by" in entry or "retirement_signature" in entry:
        if "not_after" not in entry:
            raise ProtocolError("malformed", f"key {key.kid}: a retirement needs its not_after")
        data = canonical(retirement_statement(key.kid, entry["not_after"]))
        retirement = Retirement(key.kid, key.not_after, _kid(entry, "retired_by"),
                                _text(entry, "retirement_signature", key.kid), data)
    return endorsement, retirement


def _seq(entry: Mapping) -> int:
    seq = entry.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= MAX_SEQ:
        raise ProtocolError("malformed", f"a key entry needs `seq`, an integer from 1 to {MAX_SEQ}")
    return seq


def _kid(entry: Mapping, name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not _KEY_ID.fullmatch(value):
        raise ProtocolError("malformed", f"a key entry's `{name}` is not a key id (16 lowercase hex digits)")
    return value


def _text(entry: Mapping, name: str, kid: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or len(value) > _LONGEST_TEXT:
        raise ProtocolError("malformed", f"key {kid}: `{name}` is not a signature")
    return value


def _time(entry: Mapping, kid: str) -> float:
    value = entry.get("not_after")
    if not isinstance(value, str) or len(value) > _LONGEST_TEXT:
        raise ProtocolError("malformed", f"key {kid}: not_after is not a time")
    moment = parse_time(value)
    try:
        return moment.timestamp()
    except (OverflowError, ValueError) as exc:
        raise ProtocolError("malformed", f"key {kid}: not_after {value} is out of range") from exc
