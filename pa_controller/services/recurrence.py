"""Occurrences of a broadcast: one-off or an RFC 5545 rule evaluated in Asia/Ho_Chi_Minh."""

from datetime import UTC, datetime

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrulestr

from pa_controller.clock import LOCAL_ZONE
from pa_controller.errors import ValidationFailed

ALLOWED_FREQUENCIES = {DAILY, WEEKLY, MONTHLY, YEARLY}
MAX_PER_DAY = 24  # at most one run an hour on average, within any planning horizon
MAX_CANDIDATES = 10_000  # occurrences examined while looking ahead, so no rule can spin


def parse_rule(rule: str, start_at: datetime):
    """Return a dateutil rule anchored at start_at (local wall time), or raise ValidationFailed.

    Announcements repeat daily, weekly, monthly or yearly (with BYHOUR and friends
    for several times a day); sub-daily frequencies are refused, because a rule such
    as FREQ=SECONDLY would flood every cluster.
    """
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or "\n" in text or "DTSTART" in text.upper():
        raise ValidationFailed("rrule must be a single RRULE line", fields={"rrule": "invalid"})
    try:
        parsed = rrulestr(text, dtstart=start_at.astimezone(LOCAL_ZONE))
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValidationFailed(f"rrule is not a valid RFC 5545 rule: {exc}", fields={"rrule": "invalid"}) from exc
    if parsed._freq not in ALLOWED_FREQUENCIES or parsed._interval < 1:
        raise ValidationFailed("rrule must repeat DAILY, WEEKLY, MONTHLY or YEARLY with INTERVAL of at least 1; "
                               "use BYHOUR/BYMINUTE for several times a day", fields={"rrule": "frequency"})
    if len(parsed._byhour or ()) * len(parsed._byminute or ()) > MAX_PER_DAY:
        raise ValidationFailed(f"rrule asks for more than {MAX_PER_DAY} runs a day", fields={"rrule": "too_often"})
    return parsed


def occurrences(start_at: datetime, rule: str | None, until: datetime | None, after: datetime, before: datetime):
    """Yield occurrence start times (UTC) with after <= t < before."""
    if rule is None:
        if after <= start_at < before:
            yield start_at
        return
    candidates = parse_rule(rule, start_at).xafter(after.astimezone(LOCAL_ZONE), count=MAX_CANDIDATES, inc=True)
    for moment in candidates:
        moment = moment.astimezone(UTC)
        if moment >= before or (until is not None and moment > until):
            return
        yield moment


def next_occurrences(start_at, rule, until, after: datetime, limit: int = 5) -> list[datetime]:
    """Return up to `limit` occurrences from `after` on."""
    found = []
    horizon = datetime.max.replace(tzinfo=UTC)
    for moment in occurrences(start_at, rule, until, after, horizon):
        found.append(moment)
        if len(found) == limit:
            break
    return found
