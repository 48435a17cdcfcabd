"""What can be a broker username: one rule for the settings (the controller's own login) and the broker's files."""

from pa_protocol import CID_PATTERN


def is_username(text: str) -> bool:
    """Tell whether a text can be a broker username in LoaNet's files: printable, no space, ':', '+', '#' or '/'."""
    return bool(text) and text.isprintable() and not any(c in text for c in ":+#/") \
        and not any(c.isspace() for c in text)


def is_own_username(text: str) -> bool:
    """Tell whether a text can name one of LoaNet's own accounts: a username no cluster id can ever be."""
    return is_username(text) and not CID_PATTERN.match(text)
