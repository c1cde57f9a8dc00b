"""Tests for sim.structs.cron.expr: cronexpr parsing and next-time semantics, Nomad's PeriodicConfig.Next."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sim.structs.cron.expr import next_launch, parse_cron

LA = ZoneInfo("America/Los_Angeles")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz)


def plus(dt: datetime, minutes: int) -> datetime:
    """dt + minutes of elapsed time (Go's Time.Add), kept in dt's zone."""
    return (dt.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(dt.tzinfo)


def chain(spec: str, start: datetime, expected: list[datetime]) -> None:
    """Assert that successive next() calls from start give expected (as Nomad's DST tests do).

    Instants are compared as timestamps: Python compares two datetimes of one zone by wall
    clock, which cannot tell the two 01:30s of a fall-back night apart.
    """
    expr = parse_cron(spec)
    current = start
    for want in expected:
        got = expr.next(current)
        assert got is not None and got.timestamp() == want.timestamp(), f"next({current}) = {got}, want {want}"
        current = want


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["foo", "* *", "@foo", "1 15-0 *", "@midnight"])
def test_invalid_specs_are_rejected_with_missing_fields(spec: str) -> None:
    """Nomad: structs_test.go TestPeriodicConfig_InvalidCron (and NextCron `1 15-0 *`)."""
    with pytest.raises(ValueError, match=r"missing field\(s\)"):
        parse_cron(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("*/60 * * * * *", "invalid interval */60"),
        ("*/61 * * * * *", "invalid interval */61"),
        ("2/60 * * * * *", "invalid interval 2/60"),
        ("2-20/61 * * * * *", "invalid interval 2-20/61"),
        ("x * * * *", "syntax error in minute field: 'x'"),
        ("0 24 * * *", "syntax error in hour field: '24'"),
        ("0 0 32 * *", "syntax error in day-of-month field: '32'"),
        ("0 0 * 13 *", "syntax error in month field: '13'"),
        ("0 0 * * 8", "syntax error in day-of-week field: '8'"),
        ("0 0 * * * 2100", "syntax error in year field: '2100'"),
        ("0 , * * *", "hour field: missing directive"),
    ],
)
def test_malformed_fields_give_cronexpr_messages(spec: str, message: str) -> None:
    """Nomad: cronexpr_test.go TestInterval_Interval60Issue plus cronexpr's field messages."""
    with pytest.raises(ValueError) as err:
        parse_cron(spec)
    assert str(err.value) == message


@pytest.mark.parametrize("spec", ["0 0 29 2 *", "@hourly", "0 0-15 * * *", "@yearly", "@annually",
                                  "@monthly", "@weekly", "@daily", "0 0 ? * MON-FRI", "0 0 LW * *",
                                  "0 0 * * 5L", "0 0 * * 6#5", "0 0 15W * *"])
def test_valid_specs_parse(spec: str) -> None:
    """Nomad: structs_test.go TestPeriodicConfig_ValidCron, extended to every supported form."""
    assert parse_cron(spec).expression == spec


def test_names_are_case_insensitive_and_seven_is_sunday() -> None:
    """Month and day names (any case) and day 7 map to cronexpr's numbers."""
    expr = parse_cron("0 0 * JAN,Feb,march sun,7")
    assert expr.months == (1, 2, 3)
    assert expr.days.dow == frozenset({0})


def test_six_fields_add_a_year_and_seven_add_seconds() -> None:
    """6 fields: year last; 7 fields: seconds first and year last."""
    six = parse_cron("0 0 1 1 * 2030")
    seven = parse_cron("30 0 0 1 1 * 2030")
    assert six.years == (2030,) and six.seconds == (0,)
    assert seven.years == (2030,) and seven.seconds == (30,)
    assert seven.next(utc(2026, 1, 1)) == utc(2030, 1, 1, 0, 0, 30)


def test_macros_expand_as_cronexpr_does() -> None:
    """@hourly/@daily/@weekly/@monthly/@yearly launch at the top of their period."""
    start = utc(2026, 3, 4, 10, 20)  # a Wednesday
    assert parse_cron("@hourly").next(start) == utc(2026, 3, 4, 11)
    assert parse_cron("@daily").next(start) == utc(2026, 3, 5)
    assert parse_cron("@weekly").next(start) == utc(2026, 3, 8)
    assert parse_cron("@monthly").next(start) == utc(2026, 4, 1)
    assert parse_cron("@yearly").next(start) == utc(2027, 1, 1)


# --- next() in UTC ---------------------------------------------------------------------------

CRONEXPR_CASES = [
    # Nomad: hashicorp/cronexpr cronexpr_test.go crontests
    ("* * * * * * *", "2013-01-01 00:00:59", "2013-01-01 00:01:00"),
    ("* * * * * * *", "2012-12-31 23:59:59", "2013-01-01 00:00:00"),
    ("*/5 * * * * * *", "2013-01-01 00:00:00", "2013-01-01 00:00:05"),
    ("*/5 * * * * * *", "2016-02-28 23:59:59", "2016-02-29 00:00:00"),
    ("* * * * *", "2013-01-01 00:00:59", "2013-01-01 00:01:00"),
    ("* * * * *", "2013-02-28 23:59:00", "2013-03-01 00:00:00"),
    ("17-43/5 * * * *", "2013-01-01 00:16:59", "2013-01-01 00:17:00"),
    ("17-43/5 * * * *", "2013-01-01 00:30:00", "2013-01-01 00:32:00"),
    ("17-43/5 * * * *", "2013-01-01 00:50:00", "2013-01-01 01:17:00"),
    ("15-30/4,55 * * * *", "2013-01-01 00:16:00", "2013-01-01 00:19:00"),
    ("15-30/4,55 * * * *", "2013-01-01 00:30:00", "2013-01-01 00:55:00"),
    ("15-30/4,55 * * * *", "2012-12-31 23:55:00", "2013-01-01 00:15:00"),
    ("0 0 * * MON", "2013-12-30 00:30:00", "2014-01-06 00:00:00"),
    ("0 0 * * friday", "2013-01-28 00:00:00", "2013-02-01 00:00:00"),
    ("0 0 * * 6,7", "2013-01-01 00:00:00", "2013-01-05 00:00:00"),
    ("0 0 * * 5-7", "2013-12-30 00:30:00", "2014-01-03 00:00:00"),
    ("0 0 * * 6#5", "2013-09-02 00:00:00", "2013-11-30 00:00:00"),
    ("0 0 14W * *", "2013-03-31 00:00:00", "2013-04-15 00:00:00"),
    ("0 0 14W * *", "2013-08-31 00:00:00", "2013-09-13 00:00:00"),
    ("0 0 30W * *", "2013-03-02 00:00:00", "2013-03-29 00:00:00"),
    ("0 0 30W * *", "2013-09-02 00:00:00", "2013-09-30 00:00:00"),
    ("0 0 L * *", "2014-02-01 00:00:00", "2014-02-28 00:00:00"),
    ("0 0 L * *", "2016-02-15 00:00:00", "2016-02-29 00:00:00"),
    ("0 0 LW * *", "2013-11-02 00:00:00", "2013-11-29 00:00:00"),
    ("0 0 LW * *", "2014-08-15 00:00:00", "2014-08-29 00:00:00"),
    ("0 0 * 04 * *", "2013-09-02 00:00:00", "2014-04-01 00:00:00"),
    ("0 0 * 04 * *", "2014-04-03 03:00:00", "2014-04-04 00:00:00"),
]


@pytest.mark.parametrize(("spec", "start", "want"), CRONEXPR_CASES)
def test_next_matches_cronexpr_cases(spec: str, start: str, want: str) -> None:
    """Nomad: hashicorp/cronexpr cronexpr_test.go TestExpressions (UTC)."""
    parse = lambda s: datetime.fromisoformat(s).replace(tzinfo=UTC)  # noqa: E731
    assert parse_cron(spec).next(parse(start)) == parse(want)


def test_every_five_minutes_from_midnight() -> None:
    """`*/5 * * * *` from 00:00:00 gives 00:05, 00:10, 00:15 ..."""
    expr, t, got = parse_cron("*/5 * * * *"), utc(2026, 1, 1), []
    for _ in range(4):
        t = expr.next(t)
        got.append(t)
    assert got == [utc(2026, 1, 1, 0, m) for m in (5, 10, 15, 20)]


def test_next_is_strictly_after_even_on_a_match() -> None:
    """A start that matches is skipped; fractions of a second round down first."""
    expr = parse_cron("*/5 * * * *")
    assert expr.next(utc(2026, 1, 1, 0, 5)) == utc(2026, 1, 1, 0, 10)
    assert expr.next(utc(2026, 1, 1, 0, 4, 59, 999999)) == utc(2026, 1, 1, 0, 5)


def test_last_dom_and_nth_weekday_runs_over_months() -> None:
    """Nomad: cronexpr_test.go TestNextN (`0 0 * * 6#5`, the fifth Saturday)."""
    expr, t, got = parse_cron("0 0 * * 6#5"), utc(2013, 9, 2, 8, 44, 30), []
    for _ in range(5):
        t = expr.next(t)
        got.append(t.date().isoformat())
    assert got == ["2013-11-30", "2014-03-29", "2014-05-31", "2014-08-30", "2014-11-29"]


def test_last_weekday_of_month_with_l_suffix() -> None:
    """`5L` is the last Friday of the month."""
    assert parse_cron("0 0 * * 5L").next(utc(2026, 1, 1)) == utc(2026, 1, 30)


def test_dom_and_dow_both_restricted_match_either() -> None:
    """With both day fields restricted a day matching either one fires (crontab rule)."""
    expr = parse_cron("0 0 13 * FRI")
    assert expr.next(utc(2026, 2, 1)) == utc(2026, 2, 6)  # Friday before the 13th
    assert expr.next(utc(2026, 2, 12)) == utc(2026, 2, 13)


def test_past_year_gives_none() -> None:
    """Nomad: structs_test.go TestPeriodicConfig_NextCron (`0 0 29 2 * 1980` → zero time)."""
    assert parse_cron("0 0 29 2 * 1980").next(utc(2009, 11, 10, 23, 22, 30)) is None
    assert parse_cron("* * * * * 2050").next(utc(2013, 8, 31)) == utc(2050, 1, 1)


def test_reversed_range_never_matches() -> None:
    """A reversed range parses (cronexpr accepts it) but yields no time."""
    assert parse_cron("0 15-0 * * *").next(utc(2026, 1, 1)) is None


def test_naive_datetime_is_rejected() -> None:
    """next() needs an aware datetime to know the zone."""
    with pytest.raises(ValueError):
        parse_cron("* * * * *").next(datetime(2026, 1, 1))


# --- daylight saving (Nomad's tests) ------------------------------------------------------------


def test_dst_spring_forward_skips_missing_two_am() -> None:
    """Nomad: structs_test.go TestPeriodicConfig_DST (semantics §8.1)."""
    spec = ["0 2 11-13 3 * 2017"]
    first = next_launch(spec, "America/Los_Angeles", local(LA, 2017, 3, 11, 1).timestamp())
    second = next_launch(spec, "America/Los_Angeles", local(LA, 2017, 3, 12, 1).timestamp())
    assert first == utc(2017, 3, 11, 10).timestamp()
    assert second == utc(2017, 3, 13, 9).timestamp()


DST_LA_CASES = [
    # Nomad: structs_periodic_test.go TestPeriodicConfig_DSTChange_Transitions
    ("normal time", "0 2 * * * 2019", (2019, 2, 7, 1),
     [(2019, 2, 7, 2), (2019, 2, 8, 2), (2019, 2, 9, 2)]),
    ("spring forward not at switch", "0 4 * * * 2019", (2019, 3, 9, 1),
     [(2019, 3, 9, 4), (2019, 3, 10, 4), (2019, 3, 11, 4)]),
    ("spring forward skipped odd", "2 2 * * * 2019", (2019, 3, 9, 1),
     [(2019, 3, 9, 2, 2), (2019, 3, 11, 2, 2), (2019, 3, 12, 2, 2)]),
    ("spring forward skipped boundary", "0 2 * * * 2019", (2019, 3, 9, 1),
     [(2019, 3, 9, 2), (2019, 3, 11, 2), (2019, 3, 12, 2)]),
    ("fall back before", "30 0 * * * 2019", (2019, 11, 3, 0),
     [(2019, 11, 3, 0, 30), (2019, 11, 4, 0, 30), (2019, 11, 5, 0, 30)]),
    ("fall back after", "30 3 * * * 2019", (2019, 11, 3, 0),
     [(2019, 11, 3, 3, 30), (2019, 11, 4, 3, 30), (2019, 11, 5, 3, 30)]),
]


@pytest.mark.parametrize(("name", "spec", "start", "expected"), DST_LA_CASES)
def test_dst_transitions_los_angeles(name: str, spec: str, start: tuple, expected: list) -> None:
    """Nomad: structs_periodic_test.go TestPeriodicConfig_DSTChange_Transitions (plain cases)."""
    chain(spec, local(LA, *start), [local(LA, *e) for e in expected])


def test_dst_spring_forward_boundary_of_repeating_time() -> None:
    """Nomad: ...DSTChange_Transitions "Spring forward at a boundary of repeating time"."""
    expected = [local(LA, 2019, 3, 9, 1), plus(local(LA, 2019, 3, 10), 60),
                local(LA, 2019, 3, 11, 1), local(LA, 2019, 3, 12, 1)]
    chain("0 1 * * * 2019", local(LA, 2019, 3, 9), expected)


def test_dst_fall_back_fires_twice_in_repeated_hour() -> None:
    """Nomad: ...DSTChange_Transitions "Fall back: in repeated region" (01:30 PDT and PST)."""
    base = local(LA, 2019, 11, 3, 0, 30)
    expected = [plus(base, 60), plus(base, 120), local(LA, 2019, 11, 4, 1, 30)]
    chain("30 1 * * * 2019", local(LA, 2019, 11, 3), expected)


def test_dst_fall_back_repeated_region_boundaries() -> None:
    """Nomad: ...DSTChange_Transitions "in repeated region boundary" and "boundary 2"."""
    midnight = local(LA, 2019, 11, 3)
    chain("0 1 * * * 2019", midnight,
          [plus(midnight, 60), plus(midnight, 120), local(LA, 2019, 11, 4, 1)])
    chain("0 2 * * * 2019", midnight, [plus(midnight, 180), local(LA, 2019, 11, 4, 2)])


def test_dst_fall_back_starting_inside_repeated_region() -> None:
    """Nomad: ...DSTChange_Transitions "starting from within region" 1 and 2, "starting in
    repeated span before/after"."""
    start = local(LA, 2019, 11, 3, 0, 40)
    chain("30 1 * * * 2019", plus(start, 60),
          [plus(local(LA, 2019, 11, 3, 0, 30), 120), local(LA, 2019, 11, 4, 1, 30)])
    chain("30 1 * * * 2019", plus(start, 120), [local(LA, 2019, 11, 4, 1, 30)])
    early = local(LA, 2019, 11, 3, 0, 10)
    chain("30 3 * * * 2019", plus(early, 60), [local(LA, 2019, 11, 3, 3, 30)])
    chain("30 3 * * * 2019", plus(early, 120), [local(LA, 2019, 11, 3, 3, 30)])


def test_dst_fall_back_wildcard_hour() -> None:
    """Nomad: ...DSTChange_Transitions "Fall back: wildcard"."""
    base = local(LA, 2019, 11, 3, 0, 30)
    chain("30 * * * * 2019", local(LA, 2019, 11, 3),
          [base, plus(base, 60), plus(base, 120), local(LA, 2019, 11, 3, 2, 30)])


def test_dst_lord_howe_half_hour_shifts() -> None:
    """Nomad: cronexpr_test.go TestPeriodicConfig_DSTChange_Transitions_LordHowe."""
    base = local(LORD_HOWE, 2019, 4, 7, 0, 31)
    chain("31 1 * * * 2019", local(LORD_HOWE, 2019, 4, 6),
          [local(LORD_HOWE, 2019, 4, 6, 1, 31), plus(base, 60), plus(base, 90),
           local(LORD_HOWE, 2019, 4, 8, 1, 31)])
    chain("3 2 * * * 2019", local(LORD_HOWE, 2019, 10, 5),
          [local(LORD_HOWE, 2019, 10, 5, 2, 3), local(LORD_HOWE, 2019, 10, 7, 2, 3)])
    chain("31 2 * * * 2019", local(LORD_HOWE, 2019, 10, 5),
          [local(LORD_HOWE, 2019, 10, 5, 2, 31), local(LORD_HOWE, 2019, 10, 7, 2, 31)])


@pytest.mark.parametrize("spec", ["* * * * *", "0 2 * * *", "* 1 * * *"])
@pytest.mark.parametrize("day", [(2019, 3, 10), (2019, 3, 11), (2019, 11, 3), (2019, 11, 4)])
def test_dst_property_next_is_after_and_monotone(spec: str, day: tuple) -> None:
    """Nomad: structs_periodic_test.go TestPeriodConfig_DSTSprintForward_Property."""
    expr, init = parse_cron(spec), local(LA, *day)
    last = init.timestamp()
    for minute in range(0, 240):
        start = plus(init, minute)
        got = expr.next(start).timestamp()
        assert got > start.timestamp()
        if start.timestamp() < last:
            assert got == last
        if spec.startswith("* * "):
            assert got - start.timestamp() == 60
        last = got


@pytest.mark.parametrize(
    ("zone", "start", "spec"),
    [("America/Sao_Paulo", (2018, 11, 3, 23), "5 1 * * *"),
     ("America/Sao_Paulo", (2018, 2, 17, 22), "5 23 * * *"),
     ("America/Sao_Paulo", (2018, 11, 3, 23), "* * * * *"),
     ("Australia/Lord_Howe", (2019, 4, 7), "35 1 * * *"),
     ("Australia/Lord_Howe", (2019, 10, 6), "5 2 * * *")],
)
def test_dst_property_midnight_and_half_hour_zones(zone: str, start: tuple, spec: str) -> None:
    """Nomad: cronexpr_test.go TestNext_DaylightSaving_Property_Brazil / _LordHowe."""
    tz, expr = ZoneInfo(zone), parse_cron(spec)
    init = local(tz, *start).timestamp()
    last = init
    for minute in range(0, 240):
        start_ts = init + 60 * minute
        got = expr.next(datetime.fromtimestamp(start_ts, tz)).timestamp()
        assert got > start_ts and got >= last
        if spec.startswith("* * "):
            assert got - start_ts == 60
        last = got


# --- next_launch (PeriodicConfig.Next) ---------------------------------------------------------


def test_next_launch_single_spec_in_utc() -> None:
    """Nomad: structs_test.go TestPeriodicConfig_NextCron (`*/5 * * * *` → 23:25)."""
    after = utc(2009, 11, 10, 23, 22, 30).timestamp()
    assert next_launch(["*/5 * * * *"], "", after) == utc(2009, 11, 10, 23, 25).timestamp()
    assert next_launch(["0 0 29 2 * 1980"], "UTC", after) is None


def test_next_launch_invalid_spec_raises_nomad_message() -> None:
    """Nomad: structs_test.go TestPeriodicConfig_NextCron (`1 15-0 *` → parse error)."""
    with pytest.raises(ValueError, match="failed parsing cron expression"):
        next_launch(["1 15-0 *"], "", 0.0)


def test_next_launch_takes_earliest_of_specs() -> None:
    """With several specs the earliest next time wins."""
    after = utc(2026, 1, 1).timestamp()
    got = next_launch(["0 12 * * *", "30 6 * * *"], "UTC", after)
    assert got == utc(2026, 1, 1, 6, 30).timestamp()


def test_next_launch_later_spec_without_future_time_wins_as_nomad_does() -> None:
    """Nomad's Specs loop lets a later zero time replace an earlier time (kept quirk)."""
    after = utc(2026, 1, 1).timestamp()
    assert next_launch(["0 12 * * *", "0 0 1 1 * 1980"], "UTC", after) is None
    assert next_launch(["0 0 1 1 * 1980", "0 12 * * *"], "UTC", after) == utc(2026, 1, 1, 12).timestamp()


def test_next_launch_honours_time_zone() -> None:
    """A daily 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer."""
    winter = next_launch(["0 9 * * *"], "America/New_York", utc(2026, 1, 10).timestamp())
    summer = next_launch(["0 9 * * *"], "America/New_York", utc(2026, 7, 10).timestamp())
    assert winter == utc(2026, 1, 10, 14).timestamp()
    assert summer == utc(2026, 7, 10, 13).timestamp()


def test_next_launch_is_fast_enough_for_simulation() -> None:
    """10k sequential launches of a 5-minute job stay well under a second."""
    t, begin = utc(2026, 1, 1).timestamp(), time.perf_counter()
    for _ in range(10_000):
        t = next_launch(["*/5 * * * *"], "UTC", t)
    assert time.perf_counter() - begin < 1.0
    assert t == utc(2026, 1, 1).timestamp() + 10_000 * 300
