"""TimerQueue (sim/server/timers.py) against one SimPy timeout per timer: the same firings, at the
same places among same-time events."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import pytest
import simpy

from sim.server.timers import TimerQueue


def _run(seed: int, lazy: bool) -> list[tuple[float, str]]:
    """Processes on a coarse time grid (many ties) log their steps, start timers of 3 s and disarm
    about half of them; every due timer logs too. Returns the log."""
    env = simpy.Environment()
    log: list[tuple[float, str]] = []
    disarmed: set[int] = set()

    def fire(n: int) -> None:
        log.append((env.now, f"timer {n}"))

    def live(n: int) -> bool:
        return n not in disarmed

    queue = TimerQueue(env, 3.0, fire, live)

    def start(n: int) -> None:
        if lazy:
            queue.start(n)
        else:
            timer = env.timeout(3.0)
            timer.callbacks.append(lambda _e, n=n: fire(n) if live(n) else None)

    def actor(name: str, rng: np.random.Generator, counter: list[int]) -> Generator[simpy.Event, Any, None]:
        for _ in range(40):
            yield env.timeout(float(rng.integers(0, 3)) * 0.5)
            log.append((env.now, name))
            counter[0] += 1
            start(counter[0])
            if rng.random() < 0.5:
                disarmed.add(int(rng.integers(1, counter[0] + 1)))

    rng = np.random.default_rng(seed)
    counter = [0]
    for i in range(4):
        env.process(actor(f"actor {i}", rng, counter))
    env.run()
    return log


@pytest.mark.parametrize("seed", range(20))
def test_timer_queue_fires_as_one_timeout_per_timer(seed: int) -> None:
    assert _run(seed, lazy=True) == _run(seed, lazy=False)


def test_disarmed_timers_leave_no_event() -> None:
    env = simpy.Environment()
    fired: list[int] = []
    queue: TimerQueue[int] = TimerQueue(env, 5.0, fired.append, lambda n: n % 2 == 0)
    for n in range(1, 6):
        queue.start(n)
    assert len(env._queue) == 1  # type: ignore[attr-defined]
    env.run()
    assert fired == [2, 4] and env.now == 5.0 and len(queue) == 0
