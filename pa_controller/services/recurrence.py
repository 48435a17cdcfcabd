"""Occurrences of a broadcast: one-off or an RFC 5545 rule evaluated in Asia/Ho_Chi_Minh."""

from datetime import UTC, datetime

from dateutil.rrule import rrulestr

from pa_controller.clock import LOCAL_ZONE
from pa_controller.errors import ValidationFailed


def parse_rule(rule: str, start_at: datetime):
    """Return a dateutil rule anchored at start_at (local wall time), or raise ValidationFailed."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or "\n" in text or "DTSTART" in text.upper():
        raise ValidationFailed("rrule must be a single RRULE line", fields={"rrule": "invalid"})
    try:
        parsed = rrulestr(text, dtstart=start_at.astimezone(LOCAL_ZONE))
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(f"rrule is not a valid RFC 5545 rule: {exc}", fields={"rrule": "invalid"}) from exc
    return parsed


def occurrences(start_at: datetime, rule: str | None, until: datetime | None, after: datetime, before: datetime):
    """Yield occurrence start times (UTC) with after <= t < before."""
    if rule is None:
        if after <= start_at < before:
            yield start_at
        return
    for moment in parse_rule(rule, start_at).xafter(after.astimezone(LOCAL_ZONE), inc=True):
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
