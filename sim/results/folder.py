"""Writing a run's results folder: resolved scenario, seed, version, tables and summary.

Layout of `results/<scenario>-<seed>/`: `scenario.json` (the resolved scenario, loadable again by
`nomadsim run`), `run.json` (seed, package version and the versions of Python and the libraries
that determine the bytes, status, simulated time reached, wall time, the rejected workload
actions, and the error and traceback if the run failed), one Parquet file per table (CSV too on
request), `schema.json` (every column of every table written, with its dtype, unit and meaning,
and every KPI with its unit) and `summary.json` (sim.results.kpis: each KPI's value, and `units`).
Every file is written atomically (a temporary file renamed over it); `require_complete` is the
check `show` and `plot` make before reading a folder. `sim.experiments.run.run_to_folder` runs a scenario
into such a folder.
"""

from __future__ import annotations

import json
import math
import os
import platform
import traceback
from collections.abc import Callable
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from sim.results.kpis import KPI_UNITS, KPIS, summarize
from sim.results.units import column_unit, typed


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


def default_dir(root: str | Path, name: str, seed: int, fresh: bool = False) -> Path:
    """`<root>/<scenario name>-<seed>`; with `fresh`, the first of it, `...-<seed>-2`, `-3`... that is empty."""
    base = Path(root) / f"{name}-{seed}"
    candidate, n = base, 1
    while fresh and candidate.exists() and any(candidate.iterdir()):
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


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


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """`write(tmp)` into a temporary file next to `path`, then rename it over `path` (never half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_config(out: Path, scenario_dict: dict[str, Any], run: dict[str, Any]) -> None:
    """The resolved scenario and run facts; written first so a failed run still leaves them."""
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "scenario.json", _json(scenario_dict))
    write_run(out, run)


def write_run(out: Path, run: dict[str, Any]) -> None:
    """run.json: the run's facts with the versions that determine its bytes."""
    write_text(out / "run.json", _json({"package_version": package_version(), "versions": versions(), **run}))


def write_tables(out: Path, tables: dict[str, pd.DataFrame], csv: bool = False,
                 written: dict[str, pd.Series] | None = None) -> dict[str, float]:
    """One Parquet file per table (and CSV if asked), schema.json and summary.json; returns the summary.

    Every file is written atomically; summary.json is written last. `written`: the dtypes of the
    tables already written (by `write_table`): `tables` holds what the KPIs read of them.
    """
    out.mkdir(parents=True, exist_ok=True)
    written = dict(written or {})
    for name, frame in sorted(tables.items()):
        if name not in written:
            written[name] = write_table(out, name, frame, csv)
    write_text(out / "schema.json", _json(_schemas(written)))
    summary = summarize(tables)
    write_text(out / "summary.json", _json(summary_document(summary)))
    return summary


def write_table(out: Path, name: str, frame: pd.DataFrame, csv: bool = False) -> pd.Series:
    """One table's Parquet file (and CSV if asked), written atomically; returns its dtypes."""
    atomic_write(out / f"{name}.parquet", partial(_to_parquet, frame))
    if csv:
        atomic_write(out / f"{name}.csv", partial(_to_csv, frame))
    return frame.dtypes


def write_final(out: Path, sim: Any, csv: bool = False) -> dict[str, float]:
    """`write_tables(out, sim.final_results())` of a Simulation whose run is over, the same files
    with less memory: each table with a row per allocation is written as soon as it is built,
    and only what the other tables read of it is kept (`Simulation.final_results`'s `emit`)."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, pd.Series] = {}

    def emit(name: str, frame: pd.DataFrame) -> None:
        written[name] = write_table(out, name, frame, csv)

    return write_tables(out, sim.final_results(emit), csv, written)


def _to_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False)


def _to_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False)


def summary_document(summary: dict[str, float]) -> dict[str, Any]:
    """summary.json: every KPI's value (counts as integers, null when undefined) and `units` of each."""
    return {**{k: typed(v, KPI_UNITS.get(k, "")) for k, v in summary.items()},
            "units": {k: KPI_UNITS.get(k, "") for k in summary}}


def read_summary(folder: str | Path) -> dict[str, float]:
    """A results folder's KPIs from summary.json (NaN where null), without the units."""
    data = json.loads((Path(folder) / "summary.json").read_text())
    values = {k: (math.nan if v is None else v) for k, v in data.items() if k != "units"}
    return {**{k: values.pop(k) for k in KPIS if k in values}, **values}  # KPIS order, then any others


def _schemas(dtypes: dict[str, pd.Series]) -> dict[str, Any]:
    from sim.results.tables import table_schemas

    known = table_schemas()
    out: dict[str, Any] = {}
    for name, types in sorted(dtypes.items()):
        meaning = {c: m for c, _, m in known.get(name, [])}
        out[name] = [{"column": c, "dtype": str(t), "unit": column_unit(str(c), str(t)), "meaning": meaning.get(c, "")}
                     for c, t in types.items()]
    out["summary"] = [{"kpi": k, "unit": unit, "meaning": meaning} for k, (unit, meaning) in KPIS.items()]
    return out


def write_failure(out: Path, error: BaseException) -> None:
    """Record why a run failed next to its config."""
    run_file = out / "run.json"
    run = json.loads(run_file.read_text()) if run_file.exists() else {}
    run.update(status="failed", error=f"{type(error).__name__}: {error}",
               traceback="".join(traceback.format_exception(error)))
    if not (out / "scenario.json").exists():
        write_text(out / "scenario.json", _json({}))
    write_run(out, run)


def read_results(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Every table of a results folder."""
    return {p.stem: pd.read_parquet(p) for p in sorted(Path(folder).glob("*.parquet"))}


def require_complete(folder: str | Path) -> dict[str, Any]:
    """run.json of a results folder whose run completed; SimError saying why otherwise."""
    from sim.errors import SimError

    folder = Path(folder)
    if not folder.is_dir():
        raise SimError(f"{folder}: no such results folder")
    try:
        run = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        raise SimError(f"{folder}: not a results folder (no readable run.json)") from None
    status = run.get("status")
    if status == "complete":
        return dict(run)
    if status == "failed":
        raise SimError(f"{folder}: the run failed: {run.get('error', 'unknown error')}")
    if status == "interrupted":
        raise SimError(f"{folder}: the run was interrupted at simulated time {run.get('simulated_until', 0):g} s; "
                       "its partial tables can be read with sim.results.folder.read_results")
    reached = run.get("checkpoint_time")
    at = f" (last checkpoint at simulated time {reached:g} s)" if reached is not None else ""
    raise SimError(f"{folder}: the run is not complete (status {status!r}){at}: still running, or it crashed")
