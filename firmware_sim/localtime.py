"""Times as people here read them: Asia/Ho_Chi_Minh whatever the host's zone, day before month."""

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

LOCAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
LOCAL_FORMAT = "%H:%M:%S %d/%m/%Y"
LOCAL_DAY_FORMAT = "%d/%m/%Y"


def local_time(moment: datetime | None, fmt: str = LOCAL_FORMAT) -> str:
    """Render an aware time in Asia/Ho_Chi_Minh (time, then day/month/year), or "—" for none."""
    return "—" if moment is None else moment.astimezone(LOCAL_ZONE).strftime(fmt)


def local_clock(moment: datetime) -> str:
    """Render an aware time as the time of day in Asia/Ho_Chi_Minh, with milliseconds."""
    return moment.astimezone(LOCAL_ZONE).strftime("%H:%M:%S.%f")[:-3]


def local_day(moment: datetime) -> date:
    """Return the Asia/Ho_Chi_Minh calendar day of an aware time."""
    return moment.astimezone(LOCAL_ZONE).date()


def local_struct_time(seconds: float | None = None):
    """`time.localtime` in Asia/Ho_Chi_Minh: a logging.Formatter converter, so log lines show local time."""
    return datetime.fromtimestamp(time.time() if seconds is None else seconds, LOCAL_ZONE).timetuple()
