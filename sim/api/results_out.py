"""The results folder of a served simulation (`serve --out DIR`, `POST /v1/sim/results`).

The same folder `nomadsim run` writes (sim/experiments/run.py): the scenario with its seed, the
run's metadata (here `until` is the simulated time reached) and every results table.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sim.results.folder import write_config, write_tables

if TYPE_CHECKING:
    from sim.world import World


def write_results(world: World, out: Path) -> dict[str, float]:
    """Write the results folder of the run so far; returns the summary KPIs."""
    scenario, seed = world.scenario, world.seed
    config = {**scenario.to_dict(), "seed": seed}
    tables = world.results()  # type: ignore[attr-defined]  # a Simulation (the served world)
    summary = write_tables(out, tables)
    write_config(out, config, {"seed": seed, "until": world.now, "status": "complete", "served": True})
    return summary
