"""Who moves simulated time when the simulation is served over HTTP.

In `manual` mode only clients do (`/v1/sim/advance`, `/v1/sim/settle`). In `realtime` mode a
background task also follows the wall clock: every tick, simulated time moves by the wall time
elapsed times `speed`. Either way time moves in chunks under the one simulation lock, released
between chunks so that requests interleave at consistent instants, and each chunk ends at the
earliest deadline of a blocked query so that it answers exactly when its `wait` runs out. The wall
clock is read here (and in sim/api/http.py) only: it decides when to advance, never what happens.
Also here: what /v1/sim/status and /v1/sim/metrics report, and finding a node by ID or name.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sim.errors import ApiError

if TYPE_CHECKING:
    from sim.api.blocking import BlockingQueries
    from sim.world import World

CLOCK_MODES = ("manual", "realtime")


class SimClock:
    """Advances one simulation on behalf of the HTTP server."""

    def __init__(self, simulation: World, blocking: BlockingQueries, lock: asyncio.Lock,
                 mode: str = "manual", speed: float = 1.0, chunk: float = 1.0, tick: float = 0.05,
                 slice_seconds: float = 0.02):
        if mode not in CLOCK_MODES:
            raise ValueError(f"unknown clock mode {mode!r} (use one of {', '.join(CLOCK_MODES)})")
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.sim = simulation
        self.blocking = blocking
        self.lock = lock
        self.mode = mode
        self.speed = float(speed)
        self.chunk = chunk
        self.tick = tick
        self.slice = slice_seconds  # wall seconds the lock is held at most per slice
        self.on_advance: Callable[[float], None] | None = None  # told the time after each slice (the journal)
        self._task: asyncio.Task | None = None
        self.error = ""  # what stopped the realtime clock, if the simulation raised

    async def advance_to(self, target: float, gone: asyncio.Future | None = None) -> float:
        """Run the simulation up to `target` simulated seconds; returns the time reached.

        Time moves in slices: under the lock, chunks of `chunk` simulated seconds (each ending
        at the earliest blocked query's deadline) until `slice` wall seconds pass or a blocked
        query wakes; then the lock is released so other requests run. It stops early when
        `gone` (the client's disconnect) completes or the server is closing.
        """
        loop = asyncio.get_running_loop()
        while self.sim.now < target and not self.blocking.closed and not (gone is not None and gone.done()):
            async with self.lock:
                slice_end = loop.time() + self.slice
                while self.sim.now < target:
                    stop = min(target, self.sim.now + self.chunk)
                    deadline = self.blocking.next_deadline()
                    if deadline is not None and self.sim.now < deadline < stop:
                        stop = deadline
                    self.sim.run(stop)
                    self.blocking.on_time(self.sim.now)
                    if self.blocking.has_woken or loop.time() >= slice_end:
                        break
                if self.on_advance is not None:
                    self.on_advance(self.sim.now)
            await asyncio.sleep(0)
            await self.blocking.resumed()
        return self.sim.now

    async def advance(self, seconds: float, gone: asyncio.Future | None = None) -> float:
        """Run `seconds` more of simulated time."""
        return await self.advance_to(self.sim.now + max(0.0, seconds), gone)

    async def settle(self, max_seconds: float, step: float = 1.0, gone: asyncio.Future | None = None) -> bool:
        """Run until nothing is pending or in flight (Simulation.busy) or `max_seconds` pass.

        What is due now (the scenario's 0 s registrations at the start) runs first.
        """
        async with self.lock:
            self.sim.run(self.sim.now)
            self.blocking.on_time(self.sim.now)
            if self.on_advance is not None:
                self.on_advance(self.sim.now)
        deadline = self.sim.now + max(0.0, max_seconds)
        while self.sim.now < deadline and not self.blocking.closed and not (gone is not None and gone.done()):
            if not self.sim.busy():
                return True
            await self.advance_to(min(deadline, self.sim.now + step), gone)
        return not self.sim.busy()

    def start(self) -> None:
        """Start following the wall clock (realtime mode only)."""
        if self.mode == "realtime" and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._follow_wall())

    async def stop(self) -> None:
        """Stop following the wall clock."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _follow_wall(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.tick)
            now = loop.time()
            try:
                await self.advance(max(0.0, now - last) * self.speed)
            except Exception as exc:  # the run is broken: stop the clock, say why in /v1/sim/status
                self.error = f"{type(exc).__name__}: {exc}"
                return
            last = now


# -- what /v1/sim reports ------------------------------------------------------------------------


def find_node(simulation: World, ident: str) -> Any:
    """A node by ID or by name. Raises ApiError 404 `node not found`."""
    state = simulation.state
    node = state.node_by_id(ident) or next((n for n in state.nodes.live() if n.name == ident), None)
    if node is None:
        raise ApiError(404, "node not found")
    return node


def node_event(simulation: World, ident: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/sim/nodes/:id/down|up|drain: a node event now (`payload` of a drain: its Deadline).

    Raises:
        ApiError: 404 for an unknown node, 400 for a bad Deadline.
    """
    from sim.api.limits import advance_seconds

    node = find_node(simulation, ident)
    if action == "down":
        simulation.clients.node_down(node.id)
    elif action == "up":
        simulation.clients.node_up(node.id)
    else:
        deadline = advance_seconds(payload.get("Deadline", 0.0), "Deadline")
        simulation.server.node_endpoint.set_drain(node.id, True, deadline or None)
    return {"NodeID": node.id, "Name": node.name, "Status": node.status, "Drain": node.drain,
            "Time": simulation.now}


def sim_status(simulation: World, clock: SimClock, blocked_queries: int) -> dict[str, Any]:
    """What GET /v1/sim/status answers."""
    state = simulation.state
    return {"Time": simulation.now, "UnixNanos": simulation.server.unix_nanos(), "Clock": clock.mode,
            "Speed": clock.speed, "Busy": simulation.busy(), "PendingEvals": simulation.pending_evals(),
            "QueuedEvents": len(simulation.env._queue), "Nodes": len(state.nodes.live()),
            "Jobs": len(state.jobs(None)), "Allocations": len(state.allocs()), "Evaluations": len(state.evals()),
            "BlockedQueries": blocked_queries, "ClockError": clock.error}


def _count(values: Iterable[str]) -> dict[str, int]:
    """How many of each value, sorted by value."""
    return dict(sorted(Counter(values).items()))


def sim_metrics(simulation: World) -> dict[str, Any]:
    """What GET /v1/sim/metrics answers."""
    state = simulation.state
    return {"Time": simulation.now,
            "Jobs": _count(j.status for j in state.jobs(None)),
            "Evaluations": _count(e.status for e in state.evals()),
            "Allocations": _count(a.client_status for a in state.allocs()),
            "Deployments": _count(d.status for d in state.deployments()),
            "Nodes": _count(n.status for n in state.nodes.live()),
            "MetricRows": {name: len(rows) for name, rows in sorted(simulation.recorder.rows.items())}}
