"""IntColumn: the values read back as appended, in the narrowest type that holds them."""

from __future__ import annotations

import random

import pytest

from sim.state.narrow import SIGNED, UNSIGNED, IntColumn


@pytest.mark.parametrize("seed", range(20))
def test_values_read_back_as_appended(seed: int) -> None:
    rng = random.Random(seed)
    signed = rng.random() < 0.5
    column, expected = IntColumn(SIGNED if signed else UNSIGNED), []
    for _ in range(rng.randrange(1, 12)):
        bits = rng.choice((7, 15, 31, 63))
        values = [rng.randrange(-(2**bits) if signed else 0, 2**bits) for _ in range(rng.randrange(0, 50))]
        if rng.random() < 0.3:
            for value in values:
                column.extend([value])
        else:
            column.extend(values)
        expected += values
    assert list(column) == expected == [column[i] for i in range(len(column))]
    def fits(code: str) -> bool:
        bits = IntColumn(code).values.itemsize * 8 - signed
        return all(-(2**bits) * signed <= value < 2**bits for value in expected)

    narrowest = next(code for code in (SIGNED if signed else UNSIGNED) if fits(code))
    assert column.values.typecode == narrowest


def test_widening_stops_at_last() -> None:
    column = IntColumn(last="i")
    column.extend([1, -(2**31)])
    assert column.values.typecode == "i"
    with pytest.raises(OverflowError):
        column.extend([2**31])
    assert list(column) == [1, -(2**31)]


@pytest.mark.parametrize("seed", range(10))
def test_repeat_is_extend_of_the_value_n_times(seed: int) -> None:
    rng = random.Random(seed)
    repeated, extended = IntColumn(), IntColumn()
    for _ in range(rng.randrange(1, 8)):
        value, n = rng.randrange(-(2 ** rng.choice((7, 15, 31, 63))), 2**7), rng.randrange(0, 20)
        repeated.repeat(value, n)
        extended.extend([value] * n)
    assert list(repeated) == list(extended) and repeated.values.typecode == extended.values.typecode
