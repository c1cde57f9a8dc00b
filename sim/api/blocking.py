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
import heapq
from dataclasses import dataclass, field
from typing import Any

from sim.api.requests import ascii_uint
from sim.errors import ApiError
from sim.structs.duration import parse_go_duration

DEFAULT_WAIT = 300.0  # Nomad: defaultQueryTime, also the maximum (maxQueryTime)
MAX_WAIT = 300.0
DEFAULT_LIMIT = 4096  # concurrent blocking queries


def parse_index(text: str | None) -> int:
    """The `index` query parameter (0 when absent). Raises ApiError 400 `Invalid index`."""
    if not text:
        return 0
    index = ascii_uint(text)
    if index is None:
        raise ApiError(400, "Invalid index")
    return index


def parse_wait(text: str | None) -> float:
    """The `wait` query parameter in seconds, capped at 300s. Raises ApiError 400 `Invalid wait time`."""
    if not text:
        return DEFAULT_WAIT
    try:
        seconds = parse_go_duration(text) / 1e9
    except ValueError:
        raise ApiError(400, "Invalid wait time") from None
    return min(max(seconds, 0.0), MAX_WAIT)


class ClientGone(Exception):
    """The client of a blocked request disconnected: nothing is left to answer."""


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
    """The waiting requests of one server, and what wakes them.

    Waiters are indexed by the tables they read (a write wakes only those) and kept in a heap
    by simulated deadline, so a write or a clock step costs what it wakes, not what waits. At
    most `limit` requests wait at once: the next one is a 429 (Nomad limits concurrent HTTP
    connections per client the same way, `limits.http_max_conns_per_client`).
    """

    def __init__(self, state: Any, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.closed = False  # shutting down: every wait ends at once
        self._by_table: dict[str, set[Waiter]] = {}
        self._deadlines: list[tuple[float, int, Waiter]] = []  # heap; finished waiters dropped lazily
        self._count = 0
        self._seq = 0
        self._woken: set[Waiter] = set()  # woken, not yet resumed
        state.subscribe(self._on_write)

    def __len__(self) -> int:
        return self._count

    def _on_write(self, index: int, tables: frozenset[str]) -> None:
        """A state write (StateStore.subscribe): wake requests reading any of `tables`."""
        for table in tables:
            for waiter in self._by_table.get(table, ()):
                if waiter.wake():
                    self._woken.add(waiter)

    def on_time(self, now: float) -> None:
        """Simulated time reached `now`: wake requests whose wait ran out."""
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            waiter = heapq.heappop(heap)[2]
            if waiter.wake():
                self._woken.add(waiter)

    @property
    def has_woken(self) -> bool:
        """Whether a woken request has yet to re-run its read (time must wait for it)."""
        return bool(self._woken)

    def close(self) -> None:
        """The server is stopping: wake every waiter and end every later wait at once."""
        self.closed = True
        for _, _, waiter in self._deadlines:
            waiter.wake()

    async def resumed(self, timeout: float = 1.0) -> None:
        """Let every request woken so far re-run its read before time moves on."""
        woken, self._woken = self._woken, set()
        if woken:
            await asyncio.wait([w.resumed for w in woken], timeout=timeout)

    def next_deadline(self) -> float | None:
        """The earliest simulated deadline of a waiting request."""
        heap = self._deadlines
        while heap and heap[0][2].future.done():
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    async def wait(self, tables: frozenset[str], deadline: float, wall_timeout: float | None,
                   gone: asyncio.Future | None = None) -> None:
        """Block until a write touches `tables`, simulated time passes `deadline`, the wall
        timeout, or the server closes.

        Raises:
            ApiError: 429 when `limit` requests already wait.
            ClientGone: `gone` (the client's disconnect) completed first.
        """
        if self.closed:
            return
        if self._count >= self.limit:
            raise ApiError(429, f"Too many concurrent blocking queries (limit {self.limit}), retry later")
        loop = asyncio.get_running_loop()
        waiter = Waiter(tables, deadline, loop.create_future(), loop.create_future())
        for table in tables:
            self._by_table.setdefault(table, set()).add(waiter)
        self._seq += 1
        heapq.heappush(self._deadlines, (deadline, self._seq, waiter))
        self._count += 1
        try:
            await asyncio.wait([waiter.future] if gone is None else [waiter.future, gone], timeout=wall_timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._count -= 1
            waiter.wake()  # done: the heap drops it lazily (all at once when mostly finished ones)
            if len(self._deadlines) > 2 * self._count + 1024:
                self._deadlines = [e for e in self._deadlines if not e[2].future.done()]
                heapq.heapify(self._deadlines)
            for table in tables:
                self._by_table[table].discard(waiter)
            self._woken.discard(waiter)
            waiter.resumed.set_result(None)  # the caller reads on, synchronously, before the clock resumes
        if gone is not None and gone.done():
            raise ClientGone
