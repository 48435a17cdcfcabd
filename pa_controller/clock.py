"""The one source of 'now' for the controller, replaceable in tests."""

import logging
import time
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


def local_struct_time(seconds: float | None = None) -> time.struct_time:
    """`time.localtime` in Asia/Ho_Chi_Minh whatever the host's zone: a logging.Formatter converter."""
    return datetime.fromtimestamp(time.time() if seconds is None else seconds, LOCAL_ZONE).timetuple()


def log_in_local_time() -> None:
    """Make every handler of the root logger stamp its lines in Asia/Ho_Chi_Minh (call after basicConfig)."""
    for handler in logging.getLogger().handlers:
        if handler.formatter is not None:
            handler.formatter.converter = local_struct_time
