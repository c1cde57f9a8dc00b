"""Headline KPIs of a run, computed from its result tables only.

Every figure in summary.json is recomputed here from the tables a run writes, so a test (or a
researcher) can reproduce each one from the Parquet files alone.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

TERMINAL_DEPLOYMENT = ("successful", "failed", "cancelled")


def _quantiles(values: pd.Series, prefix: str) -> dict[str, float]:
    values = values.dropna()
    if values.empty:
        return {f"{prefix}_p50": math.nan, f"{prefix}_p95": math.nan, f"{prefix}_p99": math.nan}
    q = np.quantile(values.to_numpy(dtype=float), [0.5, 0.95, 0.99])
    return {f"{prefix}_p50": float(q[0]), f"{prefix}_p95": float(q[1]), f"{prefix}_p99": float(q[2])}


def placement_latency(tables: dict[str, pd.DataFrame]) -> pd.Series:
    """Seconds from an eval's creation to each placement it made."""
    placed = tables["placements"]
    placed = placed[placed["alloc_id"] != ""]
    created = tables["evaluations"].set_index("eval_id")["created"]
    return placed["time"] - placed["eval_id"].map(created).astype("float64")


def cluster_utilisation(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per sample time: allocated / capacity over the whole cluster, for cpu and memory."""
    usage = tables["node_usage"]
    if usage.empty:
        return pd.DataFrame(columns=["time", "cpu", "memory"])
    g = usage.groupby("time", sort=True)[["cpu_allocated", "cpu_capacity", "memory_allocated", "memory_capacity"]].sum()
    return pd.DataFrame({"time": g.index, "cpu": (g["cpu_allocated"] / g["cpu_capacity"]).to_numpy(),
                         "memory": (g["memory_allocated"] / g["memory_capacity"]).to_numpy()})


def deployment_outcomes(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per deployment: first and last status time, final status, duration."""
    events = tables["deployment_events"]
    if events.empty:
        return pd.DataFrame(columns=["deployment_id", "start", "end", "status", "duration"])
    g = events.groupby("deployment_id", sort=True)
    out = pd.DataFrame({"start": g["time"].min(), "end": g["time"].max(), "status": g["status"].last()})
    out["duration"] = out["end"] - out["start"]
    return out.reset_index()


def summarize(tables: dict[str, pd.DataFrame]) -> dict[str, float]:
    """The run's headline KPIs (NaN where the run had nothing to measure)."""
    evals = tables["evaluations"]
    out: dict[str, float] = {
        "placements": float((tables["placements"]["alloc_id"] != "").sum()),
        "placement_failures": float(evals["failed_placements"].sum()) if not evals.empty else 0.0,
        "evaluations": float(len(evals)),
    }
    out.update(_quantiles(placement_latency(tables), "placement_latency"))
    out.update(_quantiles(evals["completed"] - evals["created"], "eval_latency"))
    util = cluster_utilisation(tables)
    out["cpu_utilisation_mean"] = float(util["cpu"].mean()) if not util.empty else math.nan
    out["memory_utilisation_mean"] = float(util["memory"].mean()) if not util.empty else math.nan
    deps = deployment_outcomes(tables)
    done = deps[deps["status"].isin(TERMINAL_DEPLOYMENT)]
    out["deployments"] = float(len(deps))
    out["deployment_success_rate"] = float((done["status"] == "successful").mean()) if not done.empty else math.nan
    ok = done[done["status"] == "successful"]["duration"]
    out["deployment_duration_mean"] = float(ok.mean()) if not ok.empty else math.nan
    return out
