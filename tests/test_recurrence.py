"""Recurrence: LoaNet's expansion agrees with dateutil.rrule for arbitrary rules, windows and excluded dates."""

from datetime import UTC, date, datetime, time, timedelta
from itertools import islice, takewhile

import pytest
from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, weekday
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pa_controller.clock import LOCAL_ZONE
from pa_controller.errors import ValidationFailed
from pa_controller.recurrence import Schedule, parse_times
from pa_controller.services.guardrails import in_quiet_hours
from pa_controller.services.timetable import Slot

EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Local wall times around month ends and the leap days of 2028 and 2032.
walls = st.datetimes(min_value=datetime(2027, 12, 1), max_value=datetime(2032, 3, 31)).map(
    lambda d: d.replace(second=0, microsecond=0))


@st.composite
def rules(draw):
    """A dateutil rule (on local wall time) drawn from what officers can ask for."""
    freq = draw(st.sampled_from([DAILY, WEEKLY, MONTHLY, YEARLY]))
    kwargs = {"interval": draw(st.integers(1, 4))}
    if draw(st.booleans()):
        kwargs["byhour"] = draw(st.lists(st.integers(0, 23), min_size=1, max_size=3, unique=True))
        kwargs["byminute"] = draw(st.lists(st.sampled_from([0, 15, 30, 45, 59]), min_size=1, max_size=2, unique=True))
    if (freq is WEEKLY or (freq is DAILY and kwargs["interval"] == 1)) and draw(st.booleans()):
        kwargs["byweekday"] = draw(st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True))
    if freq in (MONTHLY, YEARLY):
        choice = draw(st.sampled_from(["day", "nth", "none"]))
        if choice == "day":
            kwargs["bymonthday"] = draw(st.lists(st.sampled_from([1, 15, 28, 29, 30, 31, -1]), min_size=1,
                                                 max_size=3, unique=True))
        elif choice == "nth":
            kwargs["byweekday"] = [weekday(draw(st.integers(0, 6)), draw(st.sampled_from([1, 2, 3, 4, -1])))]
    if freq is YEARLY and draw(st.booleans()):
        kwargs["bymonth"] = draw(st.lists(st.integers(1, 12), min_size=1, max_size=3, unique=True))
    end = draw(st.sampled_from(["count", "until", "none"]))
    if end == "count":
        kwargs["count"] = draw(st.integers(1, 40))
    start = draw(walls).replace(second=draw(st.integers(0, 59)), microsecond=draw(st.integers(0, 999_999)))
    if end == "until":
        kwargs["until"] = start + timedelta(days=draw(st.integers(0, 400)), minutes=draw(st.integers(0, 1439)))
    rule = rrule(freq, dtstart=start, **kwargs)
    rule.requested_start = instant(start)  # what an officer sent, to the microsecond ("now" + lead)
    return rule


def schedule_of(rule: rrule, **extra) -> Schedule:
    """LoaNet's schedule for a drawn rule; rules it refuses as never occurring are left out of the comparison."""
    try:
        return Schedule(rule.requested_start, rule_line(rule), **extra)
    except ValidationFailed as refused:
        assume(refused.fields.get("rrule") != "never")
        raise


def instant(wall: datetime) -> datetime:
    return wall.replace(tzinfo=LOCAL_ZONE).astimezone(UTC)


def rule_line(rule: rrule) -> str:
    """The RRULE line as an officer's client would send it, UNTIL in UTC as RFC 5545 asks."""
    line = str(rule).split("\n")[1].removeprefix("RRULE:")
    if rule._until:
        local = rule._until.strftime("%Y%m%dT%H%M%S")
        line = line.replace(f"UNTIL={local}", "UNTIL=" + instant(rule._until).strftime("%Y%m%dT%H%M%SZ"))
    return line


def expected(rule: rrule, after: datetime, before: datetime, skip=frozenset()) -> list[datetime]:
    """dateutil's own iteration from DTSTART, filtered to the window: no shortcuts shared with the code."""
    walls_in = takewhile(lambda w: w < before, islice(rule, 50_000))
    return [instant(w) for w in walls_in if w >= after and w.date() not in skip]


@EXAMPLES
@given(rule=rules(), offset=st.integers(-10, 500), span=st.integers(1, 60 * 24 * 45))
def test_expansion_matches_dateutil_for_any_window(rule, offset, span):
    after = rule._dtstart + timedelta(days=offset, minutes=offset * 7)
    before = after + timedelta(minutes=span)  # windows of any length, most of them crossing midnight
    schedule = schedule_of(rule)
    assert list(schedule.occurrences(instant(after), instant(before))) == expected(rule, after, before)


@EXAMPLES
@given(rule=rules(), cuts=st.lists(st.integers(0, 60 * 24 * 90), min_size=1, max_size=4))
def test_planning_in_successive_horizons_never_loses_or_doubles_a_run(rule, cuts):
    schedule = schedule_of(rule)
    bounds = [instant(rule._dtstart)] + [instant(rule._dtstart + timedelta(minutes=m)) for m in sorted(cuts)]
    pieces = [t for a, b in zip(bounds, bounds[1:], strict=False) for t in schedule.occurrences(a, b)]
    assert pieces == list(schedule.occurrences(bounds[0], bounds[-1]))


@EXAMPLES
@given(rule=rules(), holidays=st.lists(st.integers(0, 90), max_size=10))
def test_excluded_dates_remove_exactly_those_days(rule, holidays):
    skip = frozenset(rule._dtstart.date() + timedelta(days=d) for d in holidays)
    schedule = schedule_of(rule, exdates=skip)
    after, before = rule._dtstart, rule._dtstart + timedelta(days=120)
    assert list(schedule.occurrences(instant(after), instant(before))) == expected(rule, after, before, skip)


def test_feb_29_yearly_and_31st_monthly_follow_rfc_5545():
    leap = Schedule(instant(datetime(2028, 2, 29, 7)), "FREQ=YEARLY")
    assert [t.astimezone(LOCAL_ZONE).date() for t in leap.next(instant(datetime(2028, 1, 1)), 2)] == [
        date(2028, 2, 29), date(2032, 2, 29)]
    month_end = Schedule(instant(datetime(2027, 1, 31, 17)), "FREQ=MONTHLY;BYMONTHDAY=-1")
    assert [t.astimezone(LOCAL_ZONE).day for t in month_end.next(instant(datetime(2027, 1, 1)), 3)] == [31, 28, 31]


def test_weekday_rule_at_0530_local_is_2230_utc_the_day_before():
    schedule = Schedule(instant(datetime(2026, 11, 30, 5, 30)), "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA")
    first = schedule.next(instant(datetime(2026, 11, 30)), 7)
    assert first[0] == datetime(2026, 11, 29, 22, 30, tzinfo=UTC)
    assert all(t.astimezone(LOCAL_ZONE).isoweekday() != 7 for t in first)


def test_a_bare_until_date_means_the_whole_local_day():
    schedule = Schedule(instant(datetime(2026, 12, 1, 17)), "FREQ=DAILY;UNTIL=20261203")
    assert len(list(schedule.occurrences(instant(datetime(2026, 12, 1)), instant(datetime(2027, 1, 1))))) == 3


def test_rules_that_never_occur_are_refused_quickly_and_sparse_ones_are_not():
    start = instant(datetime(2027, 1, 31, 5, 30))
    never_rules = ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "FREQ=MONTHLY;BYDAY=+6MO",
                   "FREQ=MONTHLY;BYMONTHDAY=1;BYDAY=+2MO")
    for never in never_rules:
        with pytest.raises(ValidationFailed) as refused:
            Schedule(start, never)
        assert refused.value.fields == {"rrule": "never"}
    for sparse in ("FREQ=DAILY;BYMONTH=2", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "FREQ=MONTHLY;BYDAY=+5MO"):
        assert Schedule(start, sparse).next(start, 1)


@pytest.mark.parametrize("text", ["FREQ=HOURLY", "FREQ=DAILY;BYHOUR=5;BYMINUTE=30;BYSECOND=0,1,2",
                                  "FREQ=DAILY;INTERVAL=7;BYDAY=MO", "FREQ=DAILY;INTERVAL=0",
                                  "FREQ=DAILY;BYHOUR=1,2,3,4,5;BYMINUTE=0,5,10,15,20,25",
                                  "FREQ=DAILY\nFREQ=WEEKLY", "DTSTART:20260101T000000\nFREQ=DAILY",
                                  "FREQ=DAILY;UNTIL=tomorrow", "BYDAY=MO", "FREQ=WEEKLY;BYDAY=XX", ""])
def test_rules_that_would_flood_or_cannot_be_read_are_refused(text):
    with pytest.raises(ValidationFailed):
        Schedule(datetime(2026, 12, 1, tzinfo=UTC), text)


@EXAMPLES
@given(start=walls, minutes=st.integers(1, 180), quiet_from=st.integers(0, 1439), quiet_to=st.integers(0, 1439))
def test_quiet_hours_across_midnight_match_a_minute_by_minute_check(start, minutes, quiet_from, quiet_to):
    if quiet_from == quiet_to:
        return
    quiet = (time(quiet_from // 60, quiet_from % 60), time(quiet_to // 60, quiet_to % 60))
    slot = Slot(instant(start), instant(start + timedelta(minutes=minutes)))

    def quiet_at(wall: datetime) -> bool:
        t = wall.time()
        return quiet[0] <= t < quiet[1] if quiet[0] < quiet[1] else (t >= quiet[0] or t < quiet[1])

    brute = any(quiet_at(start + timedelta(minutes=m)) for m in range(minutes))
    assert in_quiet_hours(slot, quiet) == brute


def test_a_rule_on_whole_minutes_is_valid_however_it_spells_them():
    start = instant(datetime(2026, 12, 3, 4))
    plain = Schedule(start, "FREQ=DAILY;BYHOUR=5;BYMINUTE=30").next(start, 3)
    assert Schedule(start, "FREQ=DAILY;BYHOUR=5;BYMINUTE=30;BYSECOND=0").next(start, 3) == plain
    with pytest.raises(ValidationFailed) as refused:
        Schedule(start, "FREQ=DAILY;BYHOUR=5;BYMINUTE=30;BYSECOND=15")
    assert refused.value.fields == {"rrule": "too_often"}


def test_byhour_and_byminute_multiply_so_the_example_rule_gives_0530_and_1730():
    start = instant(datetime(2026, 12, 3, 0))
    walls = [t.astimezone(LOCAL_ZONE).strftime("%H:%M") for t in
             Schedule(start, "FREQ=DAILY;BYHOUR=5,17;BYMINUTE=30").next(start, 2)]
    assert walls == ["05:30", "17:30"]


def test_one_schedule_sounds_at_several_times_of_day():
    start = instant(datetime(2026, 12, 3, 0))
    schedule = Schedule(start, "FREQ=DAILY", times=(time(5, 30), time(17, 0)))
    walls = [t.astimezone(LOCAL_ZONE).strftime("%d %H:%M") for t in schedule.next(start, 5)]
    assert walls == ["03 05:30", "03 17:00", "04 05:30", "04 17:00", "05 05:30"]


def test_times_of_day_start_at_the_first_start_and_count_counts_days():
    start = instant(datetime(2026, 12, 7, 10))  # a Monday, after 05:30
    schedule = Schedule(start, "FREQ=WEEKLY;COUNT=2", times=(time(5, 30), time(17, 0)))
    walls = [t.astimezone(LOCAL_ZONE).strftime("%d/%m %H:%M") for t in schedule.next(start, 10)]
    assert walls == ["07/12 17:00", "14/12 05:30", "14/12 17:00"]  # weekly stays on Mondays


def test_times_of_day_need_a_rule_without_byhour_or_byminute():
    start = instant(datetime(2026, 12, 3, 0))
    for rule in (None, "FREQ=DAILY;BYHOUR=5"):
        with pytest.raises(ValidationFailed) as refused:
            Schedule(start, rule, times=(time(5, 30),))
        assert "times" in refused.value.fields


@pytest.mark.parametrize("values", [["5:30", "17h00"], ["05:30", "17:00", "05:30"]])
def test_times_of_day_are_read_as_hours_and_minutes(values):
    assert parse_times(values) == (time(5, 30), time(17, 0))


@pytest.mark.parametrize("values", [["25:00"], ["5.30"], "05:30", [530], [f"{h}:00" for h in range(24)] + ["5:30"]])
def test_times_of_day_that_are_not_times_are_refused(values):
    with pytest.raises(ValidationFailed):
        parse_times(values)


@pytest.mark.parametrize("text, words", [("FREQ=DAILY;BYHOUR", "BYHOUR"), ("FREQ=DAILY;FOO=1", "FOO"),
                                         ("FREQ=DAILY;BYHOUR=25", "BYHOUR"), ("BYDAY=MO", "FREQ"),
                                         ("FREQ=SOMETIMES", "FREQ")])
def test_an_unreadable_rule_is_explained_by_its_part_not_by_the_parser(text, words):
    with pytest.raises(ValidationFailed) as refused:
        Schedule(datetime(2026, 12, 1, tzinfo=UTC), text)
    message = str(refused.value.message)
    assert words in message and "unpack" not in message and "FREQ=DAILY;BYHOUR=5;BYMINUTE=30" in message
