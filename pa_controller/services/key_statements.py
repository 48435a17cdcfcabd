"""The statements of the key list checked, and signed again where they do not verify (docs/operations.md).

Each key's endorsement and retirement is signed once (services/command_keys.py). Migration 0017 gave the keys
their place in the chain but could not sign (it never reads a private key), so the statements it left verify no
more: `flask pa keys init`, run as the keys' owner, signs them again with the key files that must sign them. A
statement that verifies is never touched.
"""

import pa_protocol as protocol
from pa_controller.domain import KeyState
from pa_controller.extensions import db
from pa_controller.models import CommandKey
from pa_controller.services import audit
from pa_controller.services.command_keys import CommandKeyError, KeyFiles, all_keys
from pa_protocol import canonical
from pa_protocol.signing import TrustedKey, endorse, key_statement, retire, retirement_statement

ENDORSEMENT, RETIREMENT = "endorsement", "retirement"


def unsigned_statements() -> list[str]:
    """Return, for each statement of the key list that does not verify, a sentence naming it."""
    by_seq = {key.seq: key for key in all_keys()}
    return [_named(kind, key) for key in by_seq.values() for kind in _unsigned(key, by_seq)]


def sign_again(files: KeyFiles) -> tuple[list[str], list[str]]:
    """Sign anew each statement of the key list that does not verify, with the key file that must sign it;
    return (what was signed, what could not be and why). A statement that verifies is never touched."""
    by_seq = {key.seq: key for key in all_keys()}
    signed, left = [], []
    for key in by_seq.values():
        for kind in _unsigned(key, by_seq):
            try:
                signer = (_endorse_again if kind == ENDORSEMENT else _retire_again)(key, by_seq, files)
            except CommandKeyError as exc:
                left.append(f"{_named(kind, key)}: {exc}")
            else:
                signed.append(f"{_named(kind, key)}, by key {signer}")
    if signed:
        audit.record("command_key.sign_again", None, signed=signed)
        db.session.commit()
    return signed, left


def _unsigned(key: CommandKey, by_seq: dict[int, CommandKey]) -> list[str]:
    """Return which of a key's statements do not verify: its endorsement, its retirement (only once retired)."""
    kinds = []
    endorser = key if key.seq == 1 else by_seq.get(key.seq - 1)
    endorsement = canonical(key_statement(key.seq, key.kid, key.public_key))
    if not _signed(endorser, key.signed_by, key.signature, endorsement):
        kinds.append(ENDORSEMENT)
    if key.state is KeyState.RETIRED:
        retirement = canonical(retirement_statement(key.kid, protocol.format_time(key.not_after)))
        if not _signed(by_seq.get(key.seq + 1), key.retired_by, key.retirement_signature, retirement):
            kinds.append(RETIREMENT)
    return kinds


def _signed(signer: CommandKey | None, signed_by: str | None, signature: str | None, said: bytes) -> bool:
    return (signer is not None and signed_by == signer.kid and signature is not None
            and TrustedKey(signer.kid, signer.public_key, signer.seq).verifies(signature, said))


def _endorse_again(key: CommandKey, by_seq: dict[int, CommandKey], files: KeyFiles) -> str:
    endorser = key if key.seq == 1 else by_seq.get(key.seq - 1)
    if endorser is None:
        raise CommandKeyError(f"no key holds seq {key.seq - 1}; provision the clusters with key {key.kid} itself")
    entry = endorse(key.seq, key.kid, key.public_key, files.read(endorser.kid))
    key.signed_by, key.signature = entry["signed_by"], entry["signature"]
    return endorser.kid


def _retire_again(key: CommandKey, by_seq: dict[int, CommandKey], files: KeyFiles) -> str:
    successor = by_seq.get(key.seq + 1)
    if successor is None:
        raise CommandKeyError(f"no key holds seq {key.seq + 1} to sign it")
    retirement = retire(key.kid, key.not_after, files.read(successor.kid))
    key.retired_by, key.retirement_signature = retirement["retired_by"], retirement["retirement_signature"]
    return successor.kid


def _named(kind: str, key: CommandKey) -> str:
    return f"the {kind} of key {key.kid} (seq {key.seq})"
