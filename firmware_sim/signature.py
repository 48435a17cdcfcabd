"""Where command signatures are verified (PROTOCOL.md rule 5), against the keys the board's clusters trust."""

from collections.abc import Mapping

from firmware_sim.keyring import CommandKeys
from pa_protocol.signing import BAD_SIGNATURE, Refusal

NO_KEYS = Refusal(BAD_SIGNATURE, "this cluster was given no command keys, so it trusts no signature")


def check_signature(keys: CommandKeys | None, command: Mapping, now: float) -> Refusal | None:
    """Return why a command's signature is refused (`unsigned`, `bad_signature`), or None to go on with it."""
    if keys is None:
        return NO_KEYS
    return keys.verify(command, now)
