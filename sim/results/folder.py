"""Writing a run's results folder: resolved scenario, seed, version, tables and summary.

Layout of `results/<scenario>-<seed>/`: `scenario.json` (the resolved scenario, loadable again by
`nomadsim run`), `run.json` (seed, package version and the versions of Python and the libraries
that determine the bytes, simulated duration, status, the rejected workload actions, and the
error and traceback if the run failed), one Parquet file per table (CSV
too on request), `schema.json` (every column of every table written, with its dtype and meaning)
and `summary.json` (sim.results.kpis). `sim.experiments.run.run_to_folder` runs a scenario
into such a folder.
"""

from __future__ import annotations

import json
import math
import platform
import traceback
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from sim.results.kpis import summarize


def package_version() -> str:
    """The installed nomadsim version."""
    return _version_of("nomadsim")


# What determines a run's bytes besides the scenario and the seed: "same seed, same bytes" holds
# for one set of these versions.
VERSIONED = ("numpy", "pandas", "simpy", "pyarrow")


def versions() -> dict[str, str]:
    """The versions that determine a run's bytes: Python, nomadsim and the numeric libraries."""
    return {"python": platform.python_version(), "nomadsim": package_version(),
            **{name: _version_of(name) for name in VERSIONED}}


def _version_of(distribution: str) -> str:
    try:
        return version(distribution)
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
    (out / "run.json").write_text(_json({"package_version": package_version(), "versions": versions(), **run}))


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
