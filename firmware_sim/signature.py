"""Where command signatures will be verified (PROTOCOL.md rule 5)."""


def check_signature(command: dict) -> str | None:
    """Return a rejection reason (`unsigned`, `bad_signature`) for a command, or None to accept it.

    Verification is not implemented yet: every command, signed or not, is
    accepted. The key issue replaces this body with an Ed25519 check of `sig`
    over `protocol.canonical(command)` against the key named by `kid`.
    """
    return None
