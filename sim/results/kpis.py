"""Headline KPIs of a run, computed from its result tables only.

Every figure in summary.json is computed here from the tables a run writes, so a test (or a
researcher) can reproduce each one from the Parquet files alone. A KPI whose table is missing (a
scenario's `metrics.tables` left it out) or has nothing to measure is NaN (null in JSON).

KPIs (`KPIS` gives every key with its unit and meaning):
- placements, placement failures, evaluations, rejected workload actions, node failures;
- node-hours: the registered nodes integrated over the `cluster` samples (nodes join and leave);
- placement latency: seconds from the placing eval becoming ready (`evaluations.ready`) to the
  placement, p50/p95/p99; eval latency: `evaluations.latency` (completed - ready), p50/p95/p99;
- utilisation: mean over samples of the cluster's allocated (and used) / capacity (`node_usage`);
- deployments: count, share of finished ones that succeeded, durations of successful ones;
- placement-sensitive: nodes in use, load imbalance, packing efficiency (sim.results.packing);
- wait from submission until running (`jobs.wait`);
- batch jobs: completion time (`jobs.makespan`), slowdown (makespan / longest alloc run) and
  bounded slowdown;
- preemption: allocs evicted, the work they lost, and the wait for a first placement per
  priority band (below, at and above Nomad's default priority 50);
- GPUs (runs whose nodes have GPUs): allocation rate and FGD fragmentation (`gpu_cluster`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from sim.results.packing import packing_series

TERMINAL_DEPLOYMENT = ("successful", "failed", "cancelled")
DEFAULT_PRIORITY = 50  # Nomad's JobDefaultPriority: the middle priority band
QUANTILES = (0.5, 0.95, 0.99)

# KPI -> (unit of sim.results.units.UNITS, meaning). Adding a KPI is one line here plus its value in
# one of the `_GROUPS` functions below; a count is written to summary.json as an integer.
KPIS: dict[str, tuple[str, str]] = {
    "placements": ("count", "allocations placed (placements rows with an alloc_id)"),
    "placement_failures": ("count", "sum of evaluations.failed_placements"),
    "evaluations": ("count", "evaluations rows"),
    "placement_latency_p50": ("s", "median of placements.time - evaluations.ready of the placing eval"),
    "placement_latency_p95": ("s", "95th percentile of the same"),
    "placement_latency_p99": ("s", "99th percentile of the same"),
    "eval_latency_p50": ("s", "median of evaluations.latency (completed - ready)"),
    "eval_latency_p95": ("s", "95th percentile of the same"),
    "eval_latency_p99": ("s", "99th percentile of the same"),
    "wait_time_p50": ("s", "median of jobs.wait (submission until every desired alloc ran; per type and "
                           "priority: the wait_times table)"),
    "wait_time_p95": ("s", "95th percentile of the same"),
    "wait_time_p99": ("s", "99th percentile of the same"),
    "cpu_utilisation_mean": ("fraction", "mean over sample times of sum cpu_allocated / sum cpu_capacity "
                                         "(node_usage)"),
    "memory_utilisation_mean": ("fraction", "the same for memory"),
    "cpu_used_utilisation_mean": ("fraction", "the same with cpu_used (allocs running on clients)"),
    "nodes_in_use_mean": ("nodes", "mean over sample times of ready nodes with anything allocated "
                                   "(sim.results.packing)"),
    "nodes_in_use_max": ("count", "most ready nodes with anything allocated at one sample time"),
    "load_imbalance_cv_mean": ("ratio", "mean over loaded sample times of std / mean of the ready nodes' "
                                        "dominant share"),
    "load_imbalance_max_mean": ("ratio", "mean over loaded sample times of max / mean of the same"),
    "packing_efficiency_mean": ("fraction", "mean over sample times of the mean dominant share of the nodes "
                                            "in use"),
    "deployments": ("count", "distinct deployments in deployment_events"),
    "deployment_success_rate": ("fraction", "successful / finished (successful, failed, cancelled) deployments"),
    "deployment_duration_mean": ("s", "mean of last - first status time of successful deployments"),
    "deployment_duration_p95": ("s", "95th percentile of the same"),
    "batch_jobs_completed": ("count", "batch jobs with a makespan (jobs table)"),
    "batch_completion_time_mean": ("s", "mean of jobs.makespan over batch jobs"),
    "batch_completion_time_p50": ("s", "median of the same"),
    "batch_completion_time_p95": ("s", "95th percentile of the same"),
    "batch_slowdown_mean": ("ratio", "mean of jobs.slowdown (makespan / runtime) over batch jobs"),
    "batch_slowdown_p50": ("ratio", "median of the same"),
    "batch_slowdown_p95": ("ratio", "95th percentile of the same"),
    "batch_bounded_slowdown_mean": ("ratio", "mean of jobs.bounded_slowdown over batch jobs"),
    "batch_bounded_slowdown_p95": ("ratio", "95th percentile of the same"),
    "rejected_actions": ("count", "workload_errors rows"),
    "node_failures": ("count", "node_events rows with event down"),
    "node_hours": ("node-h", "registered node-hours: sum over consecutive cluster samples of nodes x interval / 3600"),
    "preemptions": ("count", "preemptions rows (allocations evicted for higher-priority ones)"),
    "work_lost_cpu_seconds": ("CPU-s", "sum of preemptions.cpu_seconds_lost (run time x MHz / 1000 of evicted allocs)"),
    "wait_time_mean_priority_low": ("s", "mean of jobs.first_placement - jobs.submit over jobs of priority < 50"),
    "wait_time_mean_priority_default": ("s", "the same over jobs of priority 50"),
    "wait_time_mean_priority_high": ("s", "the same over jobs of priority > 50"),
    "gpu_allocation_rate_mean": ("fraction", "mean over sample times of gpu_cluster.gpu_allocation_rate (GPUs held / GPUs)"),
    "gpu_allocation_rate_max": ("fraction", "maximum of the same"),
    "gpu_fragmentation_mean": ("fraction", "mean over sample times of gpu_cluster.gpu_fragmentation (FGD: unallocated "
                                           "GPUs on nodes that cannot host the typical ask, over the GPUs)"),
    "gpu_allocations": ("count", "distinct allocations in the devices table holding a GPU"),
    "trace_fractional_gpu_pods": ("count", "sum of trace_reports.fractional_gpu: trace pods whose fraction of a GPU "
                                           "became one device"),
    "trace_never_placeable_jobs": ("count", "sum of trace_reports.never_placeable: trace jobs no node could ever hold"),
}
SUMMARY_KEYS: dict[str, str] = {key: meaning for key, (_, meaning) in KPIS.items()}
KPI_UNITS: dict[str, str] = {key: unit for key, (unit, _) in KPIS.items()}


def quantile(values: pd.Series | np.ndarray, q: float) -> float:
    """The q-quantile (numpy's linear interpolation) of the non-NaN values; NaN if none."""
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    return float(np.quantile(arr, q)) if arr.size else math.nan


def _mean(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.mean()) if len(values) else math.nan


def _quantiles(values: pd.Series, prefix: str, qs: tuple[float, ...] = QUANTILES) -> dict[str, float]:
    return {f"{prefix}_p{round(q * 100)}": quantile(values, q) for q in qs}


def placement_latency(tables: Mapping[str, pd.DataFrame]) -> pd.Series:
    """Seconds from the placing eval becoming ready to each placement."""
    placed = tables["placements"]
    placed = placed[placed["alloc_id"] != ""]
    ready = tables["evaluations"].set_index("eval_id")["ready"]
    return placed["time"] - placed["eval_id"].map(ready).astype("float64")


def cluster_utilisation(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per sample time: allocated (and used) / capacity over the whole cluster."""
    usage = tables["node_usage"]
    if usage.empty:
        return pd.DataFrame(columns=["time", "cpu", "memory", "cpu_used"])
    g = usage.groupby("time", sort=True)[["cpu_allocated", "cpu_used", "cpu_capacity", "memory_allocated",
                                           "memory_capacity"]].sum()
    return pd.DataFrame({"time": g.index, "cpu": (g["cpu_allocated"] / g["cpu_capacity"]).to_numpy(),
                         "memory": (g["memory_allocated"] / g["memory_capacity"]).to_numpy(),
                         "cpu_used": (g["cpu_used"] / g["cpu_capacity"]).to_numpy()})


def deployment_outcomes(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per deployment: first and last status time, final status, duration."""
    events = tables["deployment_events"]
    if events.empty:
        return pd.DataFrame(columns=["deployment_id", "start", "end", "status", "duration"])
    g = events.groupby("deployment_id", sort=True)
    out = pd.DataFrame({"start": g["time"].min(), "end": g["time"].max(), "status": g["status"].last()})
    out["duration"] = out["end"] - out["start"]
    return out.reset_index()


def _placement_kpis(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    evals, placed = tables["evaluations"], tables["placements"]
    out = {"placements": float((placed["alloc_id"] != "").sum()),
           "placement_failures": float(evals["failed_placements"].sum()),
           "evaluations": float(len(evals))}
    out.update(_quantiles(placement_latency(tables), "placement_latency"))
    out.update(_quantiles(evals["latency"], "eval_latency"))
    return out


def _wait_kpis(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    return _quantiles(tables["jobs"]["wait"], "wait_time")


def _packing_kpis(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    series = packing_series(tables)
    in_use = series["nodes_in_use"]
    return {"nodes_in_use_mean": _mean(in_use), "nodes_in_use_max": float(in_use.max()) if len(in_use) else math.nan,
            "load_imbalance_cv_mean": _mean(series["load_cv"]),
            "load_imbalance_max_mean": _mean(series["load_max_mean"]),
            "packing_efficiency_mean": _mean(series["packing_efficiency"])}


def _utilisation_kpis(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    util = cluster_utilisation(tables)
    return {"cpu_utilisation_mean": _mean(util["cpu"]), "memory_utilisation_mean": _mean(util["memory"]),
            "cpu_used_utilisation_mean": _mean(util["cpu_used"])}


def _deployment_kpis(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    deps = deployment_outcomes(tables)
    done = deps[deps["status"].isin(TERMINAL_DEPLOYMENT)]
    ok = done.loc[done["status"] == "successful", "duration"].astype(float)
    return {"deployments": float(len(deps)),
            "deployment_success_rate": float((done["status"] == "successful").mean()) if len(done) else math.nan,
            "deployment_duration_mean": _mean(ok), "deployment_duration_p95": quantile(ok, 0.95)}


def _batch_kpis(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    jobs = tables["jobs"]
    batch = jobs[jobs["type"].isin(("batch", "sysbatch"))]
    makespan, slowdown = batch["makespan"].dropna(), batch["slowdown"].dropna()
    out = {"batch_jobs_completed": float(len(makespan)), "batch_completion_time_mean": _mean(makespan)}
    out.update(_quantiles(makespan, "batch_completion_time", (0.5, 0.95)))
    out["batch_slowdown_mean"] = _mean(slowdown)
    out.update(_quantiles(slowdown, "batch_slowdown", (0.5, 0.95)))
    bounded = batch["bounded_slowdown"].dropna()
    out["batch_bounded_slowdown_mean"] = _mean(bounded)
    out["batch_bounded_slowdown_p95"] = quantile(bounded, 0.95)
    return out


def _preemption_kpis(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    evicted = tables["preemptions"]
    return {"preemptions": float(len(evicted)), "work_lost_cpu_seconds": float(evicted["cpu_seconds_lost"].sum())}


def _priority_wait_kpis(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    jobs = tables["jobs"]
    wait = jobs["first_placement"] - jobs["submit"]
    priority = jobs["priority"]
    bands = {"low": priority < DEFAULT_PRIORITY, "default": priority == DEFAULT_PRIORITY,
             "high": priority > DEFAULT_PRIORITY}
    return {f"wait_time_mean_priority_{band}": _mean(wait[mask]) for band, mask in bands.items()}


def _event_kpis(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    return {"rejected_actions": float(len(tables["workload_errors"])),
            "node_failures": float((tables["node_events"]["event"] == "down").sum())}


def _capacity_kpis(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    cluster = tables["cluster"]
    if len(cluster) < 2:
        return {}
    times, nodes = cluster["time"].to_numpy(float), cluster["nodes"].to_numpy(float)
    return {"node_hours": float((nodes[:-1] * np.diff(times)).sum() / 3600.0)}


def _gpu_kpis(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    gpus = tables["gpu_cluster"]
    rate = gpus["gpu_allocation_rate"]
    held = tables["devices"]
    return {"gpu_allocation_rate_mean": _mean(rate), "gpu_allocation_rate_max": float(rate.max()) if len(rate) else math.nan,
            "gpu_fragmentation_mean": _mean(gpus["gpu_fragmentation"]),
            "gpu_allocations": float(held.loc[held["type"] == "gpu", "alloc_id"].nunique()) if len(gpus) else math.nan}


def _trace_kpis(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    reports = tables["trace_reports"]
    if reports.empty:
        return {}
    return {"trace_fractional_gpu_pods": float(reports["fractional_gpu"].sum()),
            "trace_never_placeable_jobs": float(reports["never_placeable"].sum())}


_GROUPS = (
    (("placements", "evaluations"), _placement_kpis),
    (("cluster",), _capacity_kpis),
    (("node_usage",), _utilisation_kpis),
    (("node_usage",), _packing_kpis),
    (("jobs",), _wait_kpis),
    (("deployment_events",), _deployment_kpis),
    (("jobs",), _batch_kpis),
    (("preemptions",), _preemption_kpis),
    (("jobs",), _priority_wait_kpis),
    (("workload_errors", "node_events"), _event_kpis),
    (("gpu_cluster", "devices"), _gpu_kpis),
    (("trace_reports",), _trace_kpis),
)


def summarize(tables: Mapping[str, pd.DataFrame]) -> dict[str, float]:
    """The run's headline KPIs, in KPIS order (NaN where there was nothing to measure; counts are ints)."""
    out: dict[str, float] = dict.fromkeys(KPIS, math.nan)
    for needs, kpis in _GROUPS:
        if all(name in tables for name in needs):
            out.update(kpis(tables))
    return {key: (int(v) if KPI_UNITS[key] == "count" and math.isfinite(v) else v) for key, v in out.items()}
