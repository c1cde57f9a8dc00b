"""The control plane's event savings leave every result as it was: a worker taking a ready eval
without a dequeue event (sim.server.worker), the broker's nack timers sharing one event and a
worker's think time reusing one (sim.server.timers), against one event per dequeue, one timeout
per nack timer and one per think time."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ROOT
from test_failed_pass import CASES
from test_golden import table_digest

from sim.server.timers import Pause, TimerQueue
from sim.server.worker import Worker
from sim.simulation import Simulation


def _timeout_per_timer(self: TimerQueue, item: Any) -> None:
    timer = self.env.timeout(self.delay)
    timer.callbacks.append(lambda _event: self._fire(item) if self._live(item) else None)


def _tables(name: str, saving: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], int]:
    with monkeypatch.context() as patch:
        if not saving:
            patch.setattr(Worker, "take_ready_now", False)
            patch.setattr(TimerQueue, "start", _timeout_per_timer)
            patch.setattr(Pause, "__call__", lambda self, delay: self.env.timeout(delay))
        sim = Simulation.from_scenario(ROOT / "scenarios" / f"{name}.yaml", overrides=CASES[name])
        sim.run()
    return {table: table_digest(frame) for table, frame in sorted(sim.results().items())}, sim.recorder.scheduler_runs()


@pytest.mark.parametrize("name", sorted(CASES))
def test_tables_are_the_same_with_one_event_per_dequeue_and_timer(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    slow, slow_runs = _tables(name, False, monkeypatch)
    fast, fast_runs = _tables(name, True, monkeypatch)
    assert sorted(t for t in slow if slow[t] != fast[t]) == []
    assert slow_runs == fast_runs > 0
