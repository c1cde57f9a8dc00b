"""Timers of one fixed delay that are mostly disarmed before they fire (the broker's nack timers),
and a process's reusable timeout (a worker's think time).

A SimPy timeout per timer keeps an event in the environment's queue for the whole delay, though
nearly every nack timer is disarmed (its eval acked) long before it fires. Here a started timer is
an entry in a FIFO (deadlines come in start order, the delay being fixed), and only the oldest live
entry holds an event. Each entry takes its event ID when it starts, as its own timeout would, and
its event is queued under that ID: a timer fires at the same place among same-time events as a
timeout started at the same moment, and the other events keep their order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from heapq import heappush
from typing import Generic, TypeVar

import simpy
from simpy.events import NORMAL

T = TypeVar("T")


class TimerQueue(Generic[T]):
    """Timers of `delay` seconds: `fire(item)` at the deadline unless `live(item)` is false by then."""

    __slots__ = ("env", "delay", "_fire", "_live", "_entries", "_armed")

    def __init__(self, env: simpy.Environment, delay: float, fire: Callable[[T], None],
                 live: Callable[[T], bool]) -> None:
        self.env = env
        self.delay = delay
        self._fire = fire
        self._live = live
        self._entries: deque[tuple[float, int, T]] = deque()  # (deadline, event ID, item), oldest first
        self._armed = False  # whether the oldest entry's event is in the environment's queue

    def start(self, item: T) -> None:
        """Start a timer for `item`. Disarm it by making `live(item)` false, for good."""
        env = self.env
        self._entries.append((env._now + self.delay, next(env._eid), item))  # type: ignore[attr-defined]
        if not self._armed:
            self._arm()

    def _arm(self) -> None:
        """Queue the event of the oldest live entry (dropping disarmed ones: they would do nothing)."""
        entries, live = self._entries, self._live
        while entries and not live(entries[0][2]):
            entries.popleft()
        self._armed = bool(entries)
        if entries:
            deadline, eid, _ = entries[0]
            event = simpy.Event(self.env)
            event._ok, event._value = True, None  # triggered, as a timeout is when it is created
            event.callbacks.append(self._due)  # type: ignore[union-attr]
            heappush(self.env._queue, (deadline, NORMAL, eid, event))  # type: ignore[attr-defined]

    def _due(self, _event: simpy.Event) -> None:
        item = self._entries.popleft()[2]
        if self._live(item):
            self._fire(item)
        self._arm()

    def __len__(self) -> int:
        """Timers started and not yet due (disarmed ones included until dropped)."""
        return len(self._entries)


class Pause:
    """`env.timeout(delay)` for one process that waits on one at a time (a worker's think time),
    without a new event each time: its one event is queued again once processed, under a new
    event ID taken as a new timeout's would be, so it runs at the same place among same-time events."""

    __slots__ = ("env", "_event")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._event = simpy.Event(env)
        self._event._ok, self._event._value = True, None  # triggered, as a timeout is when it is created

    def __call__(self, delay: float) -> simpy.Event:
        """The event, due in `delay` seconds (the last one it gave must have been processed)."""
        env, event = self.env, self._event
        event.callbacks = []
        heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), event))  # type: ignore[attr-defined]
        return event
