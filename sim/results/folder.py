"""Writing a run's results folder: resolved scenario, seed, version, tables and summary.

Layout of `results/<scenario>-<seed>/`: `scenario.json` (the resolved scenario, loadable again by
`nomadsim run`), `run.json` (seed, package version, simulated duration, status, the rejected
workload actions, and the error and traceback if the run failed), one Parquet file per table (CSV
too on request), `schema.json` (every column of every table written, with its dtype and meaning)
and `summary.json` (sim.summary KPIs). `run_to_folder` does all of it for one run; a run that
fails still leaves its config and the error, then raises RunFailed (a one-line SimError).
"""

from __future__ import annotations

import json
import math
import traceback
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim.errors import SimError
from sim.results.kpis import summarize

if TYPE_CHECKING:
    from collections.abc import Callable

    from sim.scenario.types import Scenario
    from sim.simulation import Simulation


class RunFailed(SimError):
    """A simulation raised; its results folder holds the config, the error and the traceback."""

    def __init__(self, out: Path, error: BaseException):
        self.out = out
        self.error = error
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        super().__init__(f"run failed: {type(error).__name__}: {first} (details in {out / 'run.json'})")


def package_version() -> str:
    """The installed nomadsim version."""
    try:
        return version("nomadsim")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def default_dir(root: str | Path, name: str, seed: int) -> Path:
    """`<root>/<scenario name>-<seed>`."""
    return Path(root) / f"{name}-{seed}"


def _json(data: Any) -> str:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(data), indent=2, sort_keys=True) + "\n"


def write_config(out: Path, scenario_dict: dict[str, Any], run: dict[str, Any]) -> None:
    """The resolved scenario and run facts; written first so a failed run still leaves them."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "scenario.json").write_text(_json(scenario_dict))
    (out / "run.json").write_text(_json({"package_version": package_version(), **run}))


def write_tables(out: Path, tables: dict[str, pd.DataFrame], csv: bool = False) -> dict[str, float]:
    """One Parquet file per table (and CSV if asked), plus summary.json; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in sorted(tables.items()):
        frame.to_parquet(out / f"{name}.parquet", index=False)
        if csv:
            frame.to_csv(out / f"{name}.csv", index=False)
    (out / "schema.json").write_text(_json(_schemas(tables)))
    summary = summarize(tables)
    (out / "summary.json").write_text(_json(summary))
    return summary


def _schemas(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    from sim.results.tables import table_schemas

    known = table_schemas()
    out = {}
    for name, frame in sorted(tables.items()):
        meaning = {c: m for c, _, m in known.get(name, [])}
        out[name] = [{"column": c, "dtype": str(t), "meaning": meaning.get(c, "")} for c, t in frame.dtypes.items()]
    return out


def run_to_folder(scenario: Scenario, out: str | Path, seed: int | None = None, until: float | None = None,
                  csv: bool = False, advance: Callable[[Simulation, float], None] | None = None,
                  ) -> tuple[dict[str, float], Simulation]:
    """Run a scenario and write its results folder; returns (summary, simulation).

    `advance(sim, until)` runs the simulation (default `sim.run(until)`; the CLI passes one that
    draws a progress bar).

    Raises:
        RunFailed: the simulation raised; the folder holds its config and the error.
    """
    from sim.simulation import Simulation

    out = Path(out)
    seed = scenario.seed if seed is None else int(seed)
    until = scenario.duration if until is None else float(until)
    config = {**scenario.to_dict(), "seed": seed}  # re-running scenario.json repeats this run
    write_config(out, config, {"seed": seed, "until": until, "status": "running"})
    from sim.metrics.recorder import TABLES

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


def write_failure(out: Path, error: BaseException) -> None:
    """Record why a run failed next to its config."""
    run_file = out / "run.json"
    run = json.loads(run_file.read_text()) if run_file.exists() else {}
    run.update(status="failed", error=f"{type(error).__name__}: {error}",
               traceback="".join(traceback.format_exception(error)))
    write_config(out, json.loads((out / "scenario.json").read_text()) if (out / "scenario.json").exists() else {}, run)


def read_results(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Every table of a results folder."""
    return {p.stem: pd.read_parquet(p) for p in sorted(Path(folder).glob("*.parquet"))}
