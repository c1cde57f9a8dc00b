"""Blocking-query parameters and wake-ups (sim/api/blocking.py)."""

from __future__ import annotations

import asyncio

import pytest

from sim.api.blocking import BlockingQueries, parse_index, parse_wait
from sim.errors import ApiError


class _State:
    """Just the subscribe hook of a StateStore."""

    def __init__(self):
        self.listeners = []

    def subscribe(self, fn):
        self.listeners.append(fn)

    def write(self, index, tables):
        for fn in self.listeners:
            fn(index, frozenset(tables))


def test_parse_index_accepts_unsigned_integers_only():
    """Nomad answers 400 `Invalid index` for anything but a uint."""
    assert parse_index(None) == 0 and parse_index("42") == 42
    for bad in ("-1", "x", "1.5"):
        with pytest.raises(ApiError) as err:
            parse_index(bad)
        assert (err.value.status, err.value.message) == (400, "Invalid index")


def test_parse_wait_uses_go_durations_capped_at_five_minutes():
    """`wait` is a Go duration; the default and the cap are 300s; bad ones are `Invalid wait time`."""
    assert parse_wait("10s") == 10.0 and parse_wait("1m30s") == 90.0
    assert parse_wait(None) == 300.0 and parse_wait("1h") == 300.0
    for bad in ("10", "ten"):
        with pytest.raises(ApiError) as err:
            parse_wait(bad)
        assert (err.value.status, err.value.message) == (400, "Invalid wait time")


def test_write_to_a_watched_table_wakes_the_waiter():
    """A write touching the request's tables ends its wait at once."""
    state = _State()
    hub = BlockingQueries(state)

    async def scenario():
        task = asyncio.ensure_future(hub.wait(frozenset({"jobs"}), 100.0, 5.0))
        await asyncio.sleep(0)
        state.write(5, {"evals"})
        await asyncio.sleep(0)
        assert not task.done()
        state.write(6, {"jobs", "evals"})
        await asyncio.wait_for(task, 1.0)
        return len(hub)

    assert asyncio.run(scenario()) == 0


def test_simulated_deadline_wakes_and_wall_timeout_guards():
    """on_time past the deadline wakes the waiter; without it the wall timeout ends the wait."""
    hub = BlockingQueries(_State())

    async def scenario():
        task = asyncio.ensure_future(hub.wait(frozenset({"jobs"}), 10.0, 5.0))
        await asyncio.sleep(0)
        assert hub.next_deadline() == 10.0
        hub.on_time(9.0)
        await asyncio.sleep(0)
        assert not task.done()
        hub.on_time(10.0)
        await asyncio.wait_for(task, 1.0)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await hub.wait(frozenset({"jobs"}), 1e9, 0.05)
        return loop.time() - start

    assert 0.04 <= asyncio.run(scenario()) < 1.0


def test_clock_stops_at_a_blocked_querys_deadline():
    """Advancing past a waiter's deadline wakes it at exactly that simulated instant."""
    from sim.api.simclock import SimClock
    from sim.simulation import Simulation

    from .support import tiny_scenario

    sim = Simulation.from_scenario(tiny_scenario())

    async def scenario():
        hub = BlockingQueries(sim.state)
        clock = SimClock(sim, hub, asyncio.Lock(), chunk=10.0)
        seen = {}

        async def blocked():
            await hub.wait(frozenset({"nodes"}), 5.0, 30.0)
            seen["at"] = sim.now

        task = asyncio.ensure_future(blocked())
        await asyncio.sleep(0)
        assert await clock.advance(30.0) == 30.0
        await task
        return seen["at"]

    assert asyncio.run(scenario()) == 5.0


def test_clock_rejects_unknown_modes_and_speeds():
    """Only manual and realtime clocks, with a positive speed."""
    from sim.api.simclock import SimClock

    with pytest.raises(ValueError):
        SimClock(None, None, None, mode="fast")
    with pytest.raises(ValueError):
        SimClock(None, None, None, mode="realtime", speed=0)
