"""One run of a scenario into its results folder (what `nomadsim run` and each sweep run do).

A run that fails still leaves its config and the error in the folder, then raises RunFailed (a
one-line SimError).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sim.errors import SimError
from sim.metrics.schema import TABLES
from sim.results.folder import write_config, write_failure, write_tables
from sim.scenario.types import Scenario
from sim.simulation import Simulation


class RunFailed(SimError):
    """A simulation raised; its results folder holds the config, the error and the traceback."""

    def __init__(self, out: Path, error: BaseException):
        self.out = out
        self.error = error
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        super().__init__(f"run failed: {type(error).__name__}: {first} (details in {out / 'run.json'})")


def run_to_folder(scenario: Scenario, out: str | Path, seed: int | None = None, until: float | None = None,
                  csv: bool = False, advance: Callable[[Simulation, float], None] | None = None,
                  ) -> tuple[dict[str, float], Simulation]:
    """Run a scenario and write its results folder; returns (summary, simulation).

    `advance(sim, until)` runs the simulation (default `sim.run(until)`; the CLI passes one that
    draws a progress bar).

    Raises:
        RunFailed: the simulation raised; the folder holds its config and the error.
    """
    out = Path(out)
    seed = scenario.seed if seed is None else int(seed)
    until = scenario.duration if until is None else float(until)
    config = {**scenario.to_dict(), "seed": seed}  # re-running scenario.json repeats this run
    write_config(out, config, {"seed": seed, "until": until, "status": "running"})
    for old in [out / f"{name}.{ext}" for name in TABLES for ext in ("parquet", "csv")] + [out / "summary.json"]:
        old.unlink(missing_ok=True)  # a previous run's tables must not pass for this run's
    try:
        sim = Simulation(scenario, seed=seed)
        (advance or (lambda s, t: s.run(t)))(sim, until)
        summary = write_tables(out, sim.results(), csv=csv)
    except Exception as err:
        write_failure(out, err)
        raise RunFailed(out, err) from err
    rejected = [list(e) for e in sim.workload.errors]
    write_config(out, config, {"seed": seed, "until": until, "status": "complete", "rejected_actions": rejected})
    return summary, sim


