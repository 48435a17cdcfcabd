"""The one source of 'now' for the controller, replaceable in tests."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LOCAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def now() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


def parse_local(text: str) -> datetime:
    """Parse RFC 3339; a time without an offset means Asia/Ho_Chi_Minh. Return it in UTC."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_ZONE)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is outside the range of dates LoaNet handles") from None
