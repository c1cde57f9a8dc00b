"""One run of a scenario into its results folder (what `nomadsim run` and each sweep run do).

The folder's life: run.json is written first with status "running"; every file is written
atomically (write, then rename); run.json flips to "complete" last, so a folder whose run.json says
"complete" holds every table of that run. A run never writes into a folder holding another run's
results unless asked to (`overwrite`: the old run's files are removed first). With
`checkpoint_every`, the tables and summary so far are rewritten every so many simulated seconds
(run.json stays "running" and names the time they reach), so a crash loses at most that much work.
Interrupted (Ctrl-C, SIGTERM), the run writes its tables and summary so far, marks run.json
"interrupted" with the simulated time reached and raises RunInterrupted. A run that fails leaves
its config and the error in the folder, then raises RunFailed (a one-line SimError).

run.json also reports the run's wall time (`wall_seconds`) and the simulated span it covered
(`simulated_until`); the wall time lives only there, never in the tables or summary, whose bytes
depend on the scenario and the seed alone.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.errors import SimError
from sim.results.folder import write_config, write_failure, write_final, write_run, write_tables
from sim.scenario.types import Scenario
from sim.simulation import Simulation

# What a run writes into its folder (removed before an overwrite).
RUN_FILES = ("*.parquet", "*.csv", "scenario.json", "run.json", "schema.json", "summary.json")


class RunFailed(SimError):
    """A simulation raised; its results folder holds the config, the error and the traceback."""

    def __init__(self, out: Path, error: BaseException):
        self.out = out
        self.error = error
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        super().__init__(f"run failed: {type(error).__name__}: {first} (details in {out / 'run.json'})")


class RunInterrupted(SimError):
    """The run was interrupted; its folder holds the tables and summary up to `reached`."""

    def __init__(self, out: Path, reached: float):
        self.out = out
        self.reached = reached
        super().__init__(f"interrupted at simulated time {reached:g} s; the results so far are in {out} "
                         "(run.json status: interrupted)")


def prepare_folder(out: Path, overwrite: bool = False) -> None:
    """Refuse a non-empty folder unless `overwrite`; then remove a previous run's files (and plots/)."""
    if out.exists() and not out.is_dir():
        raise SimError(f"{out}: exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise SimError(f"{out}: the folder is not empty (results of an earlier run?); choose another --out "
                       "or pass --force to replace its results")
    for pattern in RUN_FILES:
        for old in out.glob(pattern):
            old.unlink()
    shutil.rmtree(out / "plots", ignore_errors=True)


def run_to_folder(scenario: Scenario, out: str | Path, seed: int | None = None, until: float | None = None,
                  csv: bool = False, advance: Callable[[Simulation, float], None] | None = None,
                  overwrite: bool = False, checkpoint_every: float | None = None,
                  ) -> tuple[dict[str, float], Simulation]:
    """Run a scenario and write its results folder; returns (summary, simulation). The final
    tables are built once the simulation is released and written as they are built
    (`sim.results.folder.write_final`): it keeps its recorder, `now` and `workload.errors`, but
    cannot run on nor build its tables again.

    `advance(sim, until)` runs the simulation (default `sim.run(until)`; the CLI passes one that
    draws a progress bar). `overwrite` replaces the results of an earlier run in `out`;
    `checkpoint_every` (simulated seconds) writes the results so far periodically.

    Raises:
        SimError: `out` is not empty and `overwrite` is False (nothing is written).
        RunFailed: the simulation raised; the folder holds its config and the error.
        RunInterrupted: KeyboardInterrupt; the folder holds the results so far.
    """
    out = Path(out)
    seed = scenario.seed if seed is None else int(seed)
    until = scenario.duration if until is None else float(until)
    if checkpoint_every is not None and checkpoint_every <= 0:
        raise SimError(f"checkpoint every: expected a positive duration, got {checkpoint_every:g}")
    prepare_folder(out, overwrite)
    config = {**scenario.to_dict(), "seed": seed}  # re-running scenario.json repeats this run
    facts: dict[str, Any] = {"seed": seed, "until": until}
    write_config(out, config, {**facts, "status": "running"})
    started = time.monotonic()  # wall time: reported in run.json only
    step = advance or (lambda s, t: s.run(t))
    sim: Simulation | None = None
    try:
        sim = Simulation(scenario, seed=seed)
        for target in _stops(until, checkpoint_every):
            step(sim, target)
            if target < until:
                write_tables(out, sim.results(), csv=csv)
                write_run(out, {**facts, "status": "running", "checkpoint_time": sim.now,
                                "wall_seconds": time.monotonic() - started})
        summary = write_final(out, sim, csv=csv)  # (the run's state released first, one big table at a time)
    except KeyboardInterrupt:
        if sim is None:
            write_run(out, {**facts, "status": "interrupted", "simulated_until": 0.0})
            raise RunInterrupted(out, 0.0) from None
        reached = _finish(out, sim, facts, "interrupted", started, csv)
        raise RunInterrupted(out, reached) from None
    except Exception as err:
        write_failure(out, err)
        raise RunFailed(out, err) from err
    _finish(out, sim, facts, "complete", started, csv, summary_written=True)
    return summary, sim


def _stops(until: float, every: float | None) -> list[float]:
    """The simulated times a run stops at: each checkpoint, then `until`."""
    if not every:
        return [until]
    count = int(until // every)
    return [every * i for i in range(1, count + 1) if every * i < until] + [until]


def _finish(out: Path, sim: Simulation, facts: dict[str, Any], status: str, started: float, csv: bool,
            summary_written: bool = False) -> float:
    """Write the tables (unless written) and then run.json with the final status; the time reached."""
    if not summary_written:
        write_tables(out, sim.results(), csv=csv)
    rejected = [list(e) for e in sim.workload.errors]
    write_run(out, {**facts, "status": status, "simulated_until": sim.now, "rejected_actions": rejected,
                    "wall_seconds": round(time.monotonic() - started, 3)})
    return sim.now
