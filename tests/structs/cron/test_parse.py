"""Tests for sim.structs.cron.parse: cronexpr's field grammar, below CronExpr's search."""

from __future__ import annotations

import pytest

from sim.structs.cron.parse import DayRules, parse_fields


def test_macro_expands_to_seven_fields() -> None:
    """@hourly is "0 0 * * * * *": second and minute 0, every hour, day, month and year."""
    f = parse_fields("@hourly")
    assert (f["seconds"], f["minutes"], f["hours"]) == ((0,), (0,), tuple(range(24)))
    assert f["months"] == tuple(range(1, 13)) and f["years"] == tuple(range(1970, 2100))
    assert not f["days"].dom_restricted and not f["days"].dow_restricted


def test_last_day_and_nth_weekday_become_day_rules() -> None:
    """`L` sets last_dom; `5#3` (third Friday) is stored as (3-1)*7 + 5."""
    days = parse_fields("0 12 L * 5#3")["days"]
    assert days == DayRules(last_dom=True, dow_nth=frozenset({19}))


def test_five_fields_are_the_minimum() -> None:
    """Fewer than five fields is cronexpr's "missing field(s)"."""
    with pytest.raises(ValueError, match=r"^missing field\(s\)$"):
        parse_fields("* * * *")
