"""Tests of sim.results.kpis: every KPI of summary.json is recomputed here from the Parquet tables alone."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, tiny_scenario

from sim.experiments.run import run_to_folder
from sim.results.folder import read_results, read_summary
from sim.results.kpis import KPI_UNITS, SUMMARY_KEYS, summarize
from sim.results.units import UNITS
from sim.scenario.load import load_scenario

JOBS = ROOT / "scenarios" / "jobs"


def _batch(job_id: str, runtime: str, count: int, priority: int = 50) -> dict:
    return {"ID": job_id, "Type": "batch", "Priority": priority, "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [
        {"Name": "t", "Driver": "exec", "Config": {"command": "x"}, "Meta": {"sim.runtime": runtime},
         "Resources": {"CPU": 1500, "MemoryMB": 512}}]}]}


SCENARIO = tiny_scenario(
    6, duration="50m",
    workload=[
        {"at": 0, "register": str(JOBS / "api-canary.json")},
        {"at": "30s", "register": _batch("small", "2m", 3, priority=30)},
        {"at": "1m", "register": _batch("wide", "5m", 12, priority=70)},  # more than fits: preempts, then queues
        {"at": "2m", "register": str(JOBS / "thumbnailer.json")},
        {"at": "3m", "dispatch": {"job": "thumbnailer", "meta": {"colour": "red"}}},  # rejected
        {"at": "5m", "update": {"job": "api", "set": {"TaskGroups.api.Tasks.server.Config.image": "api:2-bad"}}},
        {"at": "20m", "update": {"job": "api", "set": {"TaskGroups.api.Tasks.server.Config.image": "api:3"}}},
        {"at": "25m", "promote": {"job": "api"}},
    ],
    events=[{"at": "10m", "node_down": "node-5"}, {"at": "15m", "node_up": "node-5"}],
    task_behavior=[{"match": {"image": "*-bad"}, "fail_health": True}],
    metrics={"sample_every": "30s"},
    control_plane={"preemption": {"batch": True}},
)
# GPUs: one node with four, and the first openb pods (CPU asks scaled down to fit it)
SCENARIO["cluster"]["nodes"].append({"count": 1, "name_prefix": "gpu", "resources": {"cpu": 4000, "memory": 65536},
                                     "devices": [{"vendor": "nvidia", "type": "gpu", "name": "V100", "count": 4}]})
SCENARIO["workload"].append({"at": "1m", "trace": {"format": "openb", "limit": 6, "machine": {"mhz_per_core": 10}, "time_scale": 0.0001,
                                                   "path": str(ROOT / "scenarios" / "traces" / "openb_pod_list_default.csv")}})


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory):
    """A run with placements, queueing, deployments (one failed), batch jobs, a rejected action, a node failure."""
    out = tmp_path_factory.mktemp("summary") / "run"
    run_to_folder(load_scenario(SCENARIO), out)
    return out


def _pct(values: pd.Series | np.ndarray, q: float) -> float:
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    return float(np.percentile(arr, q)) if arr.size else math.nan


def _avg(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.sum() / len(values)) if len(values) else math.nan


def recompute(t: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Every KPI, computed from the tables with plain pandas and numpy (no sim.results.kpis code)."""
    placed = t["placements"][t["placements"]["alloc_id"] != ""]
    evals = t["evaluations"]
    lat = placed.merge(evals[["eval_id", "ready"]], on="eval_id")
    lat = lat["time"] - lat["ready"]
    usage = t["node_usage"].groupby("time").sum(numeric_only=True)
    ev = t["deployment_events"]
    final = ev.groupby("deployment_id").agg(first=("time", "min"), last=("time", "max"), status=("status", "last"))
    finished = final[final["status"].isin(["successful", "failed", "cancelled"])]
    ok = finished[finished["status"] == "successful"]
    batch = t["jobs"][t["jobs"]["type"] == "batch"]
    out = {"placements": float(len(placed)), "placement_failures": float(evals["failed_placements"].sum()),
           "evaluations": float(len(evals))}
    for q in (50, 95, 99):
        out[f"placement_latency_p{q}"] = _pct(lat, q)
        out[f"eval_latency_p{q}"] = _pct(evals["latency"], q)
    out["cpu_utilisation_mean"] = _avg(usage["cpu_allocated"] / usage["cpu_capacity"])
    out["memory_utilisation_mean"] = _avg(usage["memory_allocated"] / usage["memory_capacity"])
    out["cpu_used_utilisation_mean"] = _avg(usage["cpu_used"] / usage["cpu_capacity"])
    out["deployments"] = float(len(final))
    out["deployment_success_rate"] = len(ok) / len(finished)
    out["deployment_duration_mean"] = _avg(ok["last"] - ok["first"])
    out["deployment_duration_p95"] = _pct(ok["last"] - ok["first"], 95)
    out["batch_jobs_completed"] = float(batch["makespan"].notna().sum())
    out["batch_completion_time_mean"] = _avg(batch["makespan"])
    out["batch_slowdown_mean"] = _avg(batch["slowdown"])
    for q in (50, 95):
        out[f"batch_completion_time_p{q}"] = _pct(batch["makespan"], q)
        out[f"batch_slowdown_p{q}"] = _pct(batch["slowdown"], q)
    out["preemptions"] = float(len(t["preemptions"]))
    out["work_lost_cpu_seconds"] = float((t["preemptions"]["ran_seconds"] * t["preemptions"]["cpu"] / 1000).sum())
    jobs = t["jobs"]
    wait = jobs["first_placement"] - jobs["submit"]
    out["wait_time_mean_priority_low"] = _avg(wait[jobs["priority"] < 50])
    out["wait_time_mean_priority_default"] = _avg(wait[jobs["priority"] == 50])
    out["wait_time_mean_priority_high"] = _avg(wait[jobs["priority"] > 50])
    out["batch_bounded_slowdown_mean"] = _avg(batch["bounded_slowdown"])
    out["batch_bounded_slowdown_p95"] = _pct(batch["bounded_slowdown"], 95)
    for q in (50, 95, 99):
        out[f"wait_time_p{q}"] = _pct(t["jobs"]["all_started"] - t["jobs"]["submit"], q)
    out.update(_packing(t["node_usage"]))
    out["rejected_actions"] = float(len(t["workload_errors"]))
    out["node_failures"] = float((t["node_events"]["event"] == "down").sum())
    cluster = t["cluster"]
    out["node_hours"] = float((cluster["nodes"].iloc[:-1].to_numpy() * cluster["time"].diff().iloc[1:].to_numpy()).sum() / 3600)
    gpus = t["gpu_cluster"]
    out["gpu_allocation_rate_mean"] = _avg(gpus["gpus_allocated"] / gpus["gpu_capacity"])
    out["gpu_allocation_rate_max"] = float((gpus["gpus_allocated"] / gpus["gpu_capacity"]).max())
    out["gpu_fragmentation_mean"] = _avg(gpus["fragmented_gpus"] / gpus["gpu_capacity"])
    out["gpu_allocations"] = float(t["devices"].loc[t["devices"]["type"] == "gpu", "alloc_id"].nunique())
    out["trace_fractional_gpu_pods"] = float(t["trace_reports"]["fractional_gpu"].sum())
    out["trace_never_placeable_jobs"] = float(t["trace_reports"]["never_placeable"].sum())
    return out


def _packing(usage: pd.DataFrame) -> dict[str, float]:
    """Nodes in use, load imbalance and packing efficiency, one sample time at a time."""
    in_use, cv, max_mean, packing = [], [], [], []
    for _, at in usage[usage["status"] == "ready"].groupby("time"):
        load = np.maximum(at["cpu_allocated"] / at["cpu_capacity"], at["memory_allocated"] / at["memory_capacity"])
        used = (at["cpu_allocated"] > 0) | (at["memory_allocated"] > 0)
        in_use.append(int(used.sum()))
        if load.mean() > 0:
            cv.append(load.std(ddof=0) / load.mean())
            max_mean.append(load.max() / load.mean())
        if used.any():
            packing.append(load[used].mean())
    return {"nodes_in_use_mean": float(np.mean(in_use)), "nodes_in_use_max": float(max(in_use)),
            "load_imbalance_cv_mean": float(np.mean(cv)), "load_imbalance_max_mean": float(np.mean(max_mean)),
            "packing_efficiency_mean": float(np.mean(packing))}


def test_every_kpi_is_recomputed_from_the_parquet_tables(folder):
    """summary.json holds exactly the documented KPIs, each equal to its recomputation."""
    summary = json.loads((folder / "summary.json").read_text())
    assert summary.pop("units") == KPI_UNITS
    expected = recompute(read_results(folder))
    assert set(summary) == set(SUMMARY_KEYS) == set(expected)
    for key, value in expected.items():
        got = math.nan if summary[key] is None else summary[key]
        assert got == pytest.approx(value, nan_ok=True, rel=1e-9), key


def test_counts_are_integers_and_every_kpi_has_a_known_unit(folder):
    """summary.json: a count is an int (`"placements": 8`, never 8.0); every other value a float."""
    summary = json.loads((folder / "summary.json").read_text())
    units = summary.pop("units")
    assert set(units.values()) <= set(UNITS)
    for key, value in summary.items():
        assert isinstance(value, int if units[key] == "count" else float), (key, value)
    assert '"placements": ' in (folder / "summary.json").read_text() and isinstance(summary["placements"], int)


def test_the_run_exercises_every_kpi(folder):
    """The scenario measures something for every KPI (none is NaN), including failures and queueing."""
    summary = read_summary(folder)
    assert not any(math.isnan(v) for v in summary.values()), [k for k, v in summary.items() if math.isnan(v)]
    assert summary["deployment_success_rate"] < 1 and summary["rejected_actions"] == 1
    assert summary["node_failures"] == 1 and summary["batch_slowdown_p95"] > 1
    assert summary["preemptions"] > 0 and summary["work_lost_cpu_seconds"] > 0


def test_missing_tables_give_nan_kpis():
    """Without the tables a KPI needs (metrics.tables), the KPI is NaN, never an error."""
    out = summarize({})
    assert list(out) == list(SUMMARY_KEYS) and all(math.isnan(v) for v in out.values())
