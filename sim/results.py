"""Writing a run's results folder: resolved scenario, seed, version, tables and summary.

Layout of `results/<scenario>-<seed>/`: `scenario.json` (the resolved scenario), `run.json`
(seed, package version, simulated duration, status and error if the run failed), one Parquet
file per table (CSV too on request) and `summary.json` (sim.summary KPIs).
"""

from __future__ import annotations

import json
import math
import traceback
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from sim.summary import summarize


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
    summary = summarize(tables)
    (out / "summary.json").write_text(_json(summary))
    return summary


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
