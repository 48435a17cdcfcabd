"""Times on the wire: RFC 3339, aware, rendered in UTC with milliseconds."""

import re
from datetime import UTC, datetime

from pa_protocol.errors import ProtocolError

_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})")


def format_time(moment: datetime) -> str:
    """Render an aware datetime as RFC 3339 UTC with milliseconds."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: times on the wire must be aware")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 time with an offset into an aware UTC datetime."""
    if not isinstance(text, str) or not _RFC3339.fullmatch(text):
        raise ProtocolError("malformed", f"{text!r} is not an RFC 3339 time with an offset")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ProtocolError("malformed", f"{text!r} is not a valid time") from exc
