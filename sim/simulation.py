"""Simulation: one run of a scenario, with its workload, its in-process API and its results.

`Simulation` is the public entry point (`from sim import Simulation`): the engine of
`sim.world.World`, plus the Jobs API facade (`s.api`), the workload replay that submits the
scenario's jobs and events, and the results tables.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from sim.api.jobs import JobsApi
from sim.results.tables import FinalState, final_state, named_emit, with_derived
from sim.scenario.load import load_scenario
from sim.scenario.types import Scenario
from sim.workload.replay import Workload
from sim.world import World


class Simulation(World):
    """One run: the world, a workload replaying the scenario, and `api`, Nomad's API over it."""

    def __init__(self, scenario: Scenario, seed: int | None = None):
        super().__init__(scenario, seed)
        self.api = JobsApi(self)
        self.workload = Workload(self)
        self.start_sampling()

    @classmethod
    def from_scenario(cls, source: str | Path | dict[str, Any], seed: int | None = None,
                      overrides: dict[str, Any] | None = None) -> Simulation:
        """Load and validate a scenario (a path or a dict), then build its world."""
        return cls(load_scenario(source, overrides), seed=seed)

    def results(self) -> dict[str, pd.DataFrame]:
        """Every results table as a DataFrame (schemas: `sim.results.tables.table_schemas`)."""
        final = self._final_state()
        return with_derived(final, self.recorder.tables(), self.recorder.take_runs())

    def final_results(self, emit: Callable[[str, pd.DataFrame], None] | None = None) -> dict[str, pd.DataFrame]:
        """`results()` of a run that is over, built without the run's state: what the tables read
        from the state is read first, then the simulation is released (`release`), then the
        recorder's tables are built (the peak memory holds the tables, not the state too).

        With `emit`, the tables with a row per allocation (placements, allocations) are handed to
        `emit(name, table)` (as in `results()`) once built, and only the columns the other tables
        read of them (`sim.metrics.recorder.STREAMED`) are returned: the peak memory then holds one
        of them whole, not both (`sim.results.folder.write_final`)."""
        final = self._final_state()
        self.release()
        tables = self.recorder.tables(None if emit is None else named_emit(final, emit))
        return with_derived(final, tables, self.recorder.take_runs())

    def _final_state(self) -> FinalState:
        """What the tables read from the state now (the deployment log into the recorder's rows)."""
        self.recorder.rows["deployment_events"] = list(self.state.deployment_log)
        return final_state(self, self.workload)

    def release(self) -> None:
        """End the run for good (see `World.release`): the API and the workload's references to
        the world go too; `workload.errors`, `recorder`, `scenario` and `now` stay."""
        del self.api
        self.workload.release()
        super().release()
