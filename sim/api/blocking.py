"""Blocking queries in simulated time.

Nomad: command/agent/http.go parseWait/parseIndex and nomad/rpc.go blockingRPC. A read with
`?index=N` waits until the index of what it reads exceeds N: it is woken by any state write that
touches its tables (StateStore.subscribe), and gives up once `wait` simulated seconds have
passed (the clock reports time through `on_time`) or, as a guard, once a wall-clock timeout
expires. The clock lets woken requests read (`resumed`) before it moves time on, so a request
answers the state at the instant it was woken. Everything runs on the event loop's thread, as
the simulation does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sim.errors import ApiError
from sim.structs.duration import parse_go_duration

DEFAULT_WAIT = 300.0  # Nomad: defaultQueryTime, also the maximum (maxQueryTime)
MAX_WAIT = 300.0


def parse_index(text: str | None) -> int:
    """The `index` query parameter (0 when absent). Raises ApiError 400 `Invalid index`."""
    if not text:
        return 0
    if not text.isdigit():
        raise ApiError(400, "Invalid index")
    return int(text)


def parse_wait(text: str | None) -> float:
    """The `wait` query parameter in seconds, capped at 300s. Raises ApiError 400 `Invalid wait time`."""
    if not text:
        return DEFAULT_WAIT
    try:
        seconds = parse_go_duration(text) / 1e9
    except ValueError:
        raise ApiError(400, "Invalid wait time") from None
    return min(max(seconds, 0.0), MAX_WAIT)


@dataclass(eq=False, slots=True)
class Waiter:
    """One blocked request: the tables it reads and its simulated deadline."""

    tables: frozenset[str]
    deadline: float
    future: asyncio.Future = field(repr=False)
    resumed: asyncio.Future = field(repr=False)

    def wake(self) -> bool:
        """Let the request re-run its read; False if it was already woken."""
        if self.future.done():
            return False
        self.future.set_result(None)
        return True


class BlockingQueries:
    """The waiting requests of one server, and what wakes them."""

    def __init__(self, state: Any) -> None:
        self._waiters: list[Waiter] = []
        self._woken: set[Waiter] = set()  # woken, not yet resumed
        state.subscribe(self._on_write)

    def __len__(self) -> int:
        return len(self._waiters)

    def _on_write(self, index: int, tables: frozenset[str]) -> None:
        """A state write (StateStore.subscribe): wake requests reading any of `tables`."""
        for waiter in self._waiters:
            if waiter.tables & tables and waiter.wake():
                self._woken.add(waiter)

    def on_time(self, now: float) -> None:
        """Simulated time reached `now`: wake requests whose wait ran out."""
        for waiter in self._waiters:
            if now >= waiter.deadline and waiter.wake():
                self._woken.add(waiter)

    async def resumed(self, timeout: float = 1.0) -> None:
        """Let every request woken so far re-run its read before time moves on."""
        woken, self._woken = self._woken, set()
        if woken:
            await asyncio.wait([w.resumed for w in woken], timeout=timeout)

    def next_deadline(self) -> float | None:
        """The earliest simulated deadline of a waiting request."""
        return min((w.deadline for w in self._waiters if not w.future.done()), default=None)

    async def wait(self, tables: frozenset[str], deadline: float, wall_timeout: float | None) -> None:
        """Block until a write touches `tables`, simulated time passes `deadline`, or the wall timeout."""
        loop = asyncio.get_running_loop()
        waiter = Waiter(tables, deadline, loop.create_future(), loop.create_future())
        self._waiters.append(waiter)
        try:
            await asyncio.wait([waiter.future], timeout=wall_timeout)
        finally:
            self._waiters.remove(waiter)
            self._woken.discard(waiter)
            waiter.resumed.set_result(None)  # the caller reads on, synchronously, before the clock resumes
