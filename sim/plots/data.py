"""The series the plots draw, derived from a run's result tables with pandas only (no matplotlib).

Each function takes the tables of one run (`Simulation.results()` or `sim.results.folder.read_results`)
and returns a tidy DataFrame, so a figure can be checked, or redrawn another way, from data.
Only the tables a series needs are read, and a missing table (a scenario's `metrics.tables` can
leave some out) gives an empty series: `nodes` (names) falls back to short node IDs, `node_usage`
to the `cluster` series, `node_events` (down periods) to node_usage's status samples.

Fragmentation (per dimension d, at each sample time, over the nodes whose status is `ready`) is
the share of free capacity on nodes that cannot host one more typical ask, as the `cluster` table
records it (sim.metrics.series): with ask = the median cpu, memory and disk of the allocations
placed and free_i = max(capacity_i - allocated_i, 0),

    fragmentation(d) = sum of free_i(d) over nodes short of the ask in some dimension / sum_i free_i(d)

0: every node with free capacity can take another typical ask (an empty cluster reads 0);
1: capacity is free but no node can take one (free cpu on nodes whose memory is full, or pieces
smaller than the ask). NaN when nothing is free or nothing was placed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

import sim.metrics.series as series

Tables = Mapping[str, pd.DataFrame]
TERMINAL_CLIENT = ("complete", "failed", "lost")
DIMENSIONS = ("cpu", "memory", "disk")


def load_tables(source: Tables | str | Path) -> dict[str, pd.DataFrame]:
    """The tables of one run: a mapping as given, or read from a results folder."""
    if isinstance(source, str | Path):
        from sim.errors import SimError
        from sim.results.folder import read_results

        folder = Path(source)
        if not folder.is_dir():
            raise SimError(f"{source}: no such results folder")
        tables = read_results(folder)
        if not tables:
            raise SimError(f"{source}: no result tables (*.parquet) in this folder")
        return tables
    return dict(source)


def table(tables: Tables, name: str) -> pd.DataFrame:
    """A table by name, or an empty frame when the run did not write it."""
    frame = tables.get(name)
    return frame if frame is not None else pd.DataFrame()


def find_table(tables: Tables, columns: tuple[str, ...], exclude: tuple[str, ...] = ()) -> pd.DataFrame | None:
    """The first table (by name) holding every one of `columns`, or None."""
    for name in sorted(tables):
        if name not in exclude and set(columns) <= set(tables[name].columns):
            return tables[name]
    return None


def run_end(tables: Tables) -> float:
    """The last simulated time any table mentions (0 for an empty run)."""
    times = [0.0]
    for name, col in (("node_usage", "time"), ("allocations", "time"), ("placements", "time"),
                      ("evaluations", "completed"), ("evaluations", "created"), ("deployment_events", "time")):
        frame = table(tables, name)
        if col in frame.columns and len(frame):
            times.append(float(frame[col].max(skipna=True)) if frame[col].notna().any() else 0.0)
    return max(times)


def last_activity(tables: Tables) -> float:
    """The last time anything happened: a placement, an alloc or deployment status change, an eval,
    a node event; the run's end while an allocation still runs."""
    intervals = alloc_intervals(tables)
    if len(intervals) and intervals["ended"].isna().any():
        return run_end(tables)
    times = [0.0]
    for name, col in (("allocations", "time"), ("placements", "time"), ("evaluations", "completed"),
                      ("evaluations", "created"), ("deployment_events", "time"), ("node_events", "time")):
        frame = table(tables, name)
        if col in frame.columns and frame[col].notna().any():
            times.append(float(frame[col].max(skipna=True)))
    return max(times)


# -- nodes ------------------------------------------------------------------------------------


def node_order(tables: Tables) -> list[str]:
    """Node IDs in cluster order (as sampled), then any others that only allocations mention."""
    usage = table(tables, "node_usage")
    order = list(dict.fromkeys(usage["node_id"])) if "node_id" in usage.columns else []
    seen = set(order)
    for name in ("allocations", "placements"):
        frame = table(tables, name)
        if "node_id" in frame.columns:
            extra = sorted({n for n in frame["node_id"].dropna() if n and n not in seen})
            order.extend(extra)
            seen.update(extra)
    return order


def node_labels(tables: Tables) -> dict[str, str]:
    """Node ID -> display name: from a table with node names when the run has one, else the ID's first 8 characters."""
    labels = {n: n[:8] for n in node_order(tables)}
    for name, frame in sorted(tables.items()):  # every table naming nodes (`nodes`, or node_name columns)
        col = "name" if name == "nodes" else "node_name"
        if {"node_id", col} <= set(frame.columns):
            named = frame[frame["node_id"] != ""]
            labels.update(dict(zip(named["node_id"], named[col].astype(str), strict=True)))
    return labels


# -- allocations ------------------------------------------------------------------------------


def alloc_intervals(tables: Tables) -> pd.DataFrame:
    """One row per allocation: job, group, node, `placed`, `started` (first running), `ended`.

    `ended` is the first terminal client status (complete, failed, lost), NaN while the alloc
    lives; `status` is its last client status. Rows are sorted by placement time, then alloc ID.
    """
    cols = ["alloc_id", "job_id", "task_group", "node_id", "placed", "started", "ended", "status"]
    allocs = table(tables, "allocations")
    if allocs.empty:
        return pd.DataFrame(columns=cols)
    g = allocs.groupby("alloc_id", sort=False)
    out = g.agg(job_id=("job_id", "first"), task_group=("task_group", "first"), node_id=("node_id", "first"),
                placed=("time", "min"), status=("client_status", "last"))
    out["started"] = allocs[allocs["client_status"] == "running"].groupby("alloc_id")["time"].min()
    out["ended"] = allocs[allocs["client_status"].isin(TERMINAL_CLIENT)].groupby("alloc_id")["time"].min()
    if "job_version" in allocs.columns:
        out["job_version"] = g["job_version"].last()
        cols.append("job_version")
    out = out.reset_index().sort_values(["placed", "alloc_id"], kind="stable").reset_index(drop=True)
    return out[cols].astype({"placed": "float64", "started": "float64", "ended": "float64"})


MAX_JOB_COLOURS = 20


def job_keys(tables: Tables, job_ids: pd.Series) -> tuple[list[str], str]:
    """What to colour allocations by, and its name: the job ID while a run has at most 20 jobs,
    else the job's family while there are 2 to 20 families, else the job's type.

    A job's family is its periodic or parameterized parent (`jobs.parent_id`, else the part
    before a "/"), else its ID without a trailing "-<number>" (batch-17 -> batch).
    """
    ids = [str(j) for j in job_ids]
    if len(set(ids)) <= MAX_JOB_COLOURS:
        return ids, "job"
    jobs = table(tables, "jobs")
    parents = dict(zip(jobs["job_id"], jobs["parent_id"], strict=True)) if "parent_id" in jobs.columns else {}
    families = []
    for job in ids:
        parent = parents.get(job)
        parent = parent if isinstance(parent, str) and parent else job.split("/", 1)[0]
        families.append(re.sub(r"[-_.]\d+$", "", parent) or parent)
    if 1 < len(set(families)) <= MAX_JOB_COLOURS:
        return families, "job family"
    types = dict(zip(jobs["job_id"], jobs["type"], strict=True)) if "type" in jobs.columns else {}
    return [str(types.get(job, "unknown")) for job in ids], "job type"


def assign_lanes(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Lane per interval so that intervals in one lane never overlap (greedy, in start order)."""
    order = np.lexsort((ends, starts))
    lane_end: list[float] = []
    lanes = np.zeros(len(starts), dtype=int)
    for i in order:
        free = next((k for k, e in enumerate(lane_end) if e <= starts[i]), None)
        if free is None:
            free = len(lane_end)
            lane_end.append(0.0)
        lane_end[free] = ends[i]
        lanes[i] = free
    return lanes


def failed_placements(tables: Tables) -> pd.DataFrame:
    """Placement rows that found no node (time, job, group, dimension exhausted)."""
    placed = table(tables, "placements")
    if placed.empty:
        return pd.DataFrame(columns=["time", "job_id", "task_group", "dimension_exhausted"])
    return placed[placed["node_id"] == ""][["time", "job_id", "task_group", "dimension_exhausted"]]


# -- cluster ----------------------------------------------------------------------------------


def utilisation_series(tables: Tables) -> pd.DataFrame:
    """Per sample time, cluster-wide allocated / capacity per dimension, and used / capacity when sampled.

    Columns: `time`, then `<dim>_allocated` and (if node_usage has `<dim>_used`) `<dim>_used`.
    """
    usage = table(tables, "node_usage")
    if usage.empty:
        return _from_cluster(tables, {"cpu_utilisation": "cpu_allocated", "memory_utilisation": "memory_allocated",
                                      "cpu_used_utilisation": "cpu_used"})
    g = usage.groupby("time", sort=True).sum(numeric_only=True)
    out = pd.DataFrame({"time": g.index.to_numpy(dtype=float)})
    for dim in DIMENSIONS:
        cap = g.get(f"{dim}_capacity")
        if cap is None:
            continue
        cap = cap.replace(0, np.nan).to_numpy(dtype=float)
        for kind in ("allocated", "used"):
            col = f"{dim}_{kind}"
            if col in g.columns:
                out[col] = g[col].to_numpy(dtype=float) / cap
    return out


def _from_cluster(tables: Tables, columns: dict[str, str]) -> pd.DataFrame:
    """Columns of the `cluster` table renamed, when a run kept it but not node_usage."""
    cluster = table(tables, "cluster")
    present = {k: v for k, v in columns.items() if k in cluster.columns}
    if cluster.empty or not present:
        return pd.DataFrame(columns=["time", *columns.values()])
    return cluster[["time", *present]].rename(columns=present).astype(float).reset_index(drop=True)


def node_utilisation(tables: Tables, dimension: str = "cpu") -> pd.DataFrame:
    """Allocated / capacity per node (rows, cluster order) and sample time (columns)."""
    usage = table(tables, "node_usage")
    if usage.empty:
        return pd.DataFrame()
    frac = usage[f"{dimension}_allocated"] / usage[f"{dimension}_capacity"].replace(0, np.nan)
    wide = pd.DataFrame({"node_id": usage["node_id"], "time": usage["time"], "u": frac}).pivot_table(
        index="node_id", columns="time", values="u", aggfunc="last", sort=True)
    return wide.reindex([n for n in node_order(tables) if n in wide.index])


def typical_ask(tables: Tables) -> dict[str, float]:
    """The median cpu (MHz), memory and disk (MB) of the run's placed allocations (NaN: none placed)."""
    placements = table(tables, "placements")
    if not {"alloc_id", *DIMENSIONS} <= set(placements.columns):
        return dict.fromkeys(DIMENSIONS, np.nan)
    return series.typical_ask(placements)


def fragmentation_series(tables: Tables, dimensions: tuple[str, ...] = ("cpu", "memory")) -> pd.DataFrame:
    """Per sample time: fragmentation of free capacity per dimension (module docstring), ready nodes only."""
    usage = table(tables, "node_usage")
    if usage.empty:
        return _from_cluster(tables, {f"{d}_fragmentation": d for d in dimensions})
    if "status" not in usage.columns:
        usage = usage.assign(status="ready")
    frame = series.fragmentation(usage, typical_ask(tables), dimensions)
    frame.index.name = "time"
    return frame.reset_index()


def count_open(starts: np.ndarray, ends: np.ndarray) -> pd.DataFrame:
    """How many [start, end) intervals are open after each change time.

    Intervals with a NaN start are ignored; a NaN end never closes.
    """
    starts, ends = np.asarray(starts, dtype=float), np.asarray(ends, dtype=float)
    keep = ~np.isnan(starts)
    starts, ends = starts[keep], ends[keep]
    ends = ends[~np.isnan(ends)]
    times = np.concatenate([starts, ends])
    delta = np.concatenate([np.ones(len(starts)), -np.ones(len(ends))])
    frame = pd.DataFrame({"time": times, "delta": delta}).groupby("time", sort=True)["delta"].sum()
    return pd.DataFrame({"time": frame.index.to_numpy(dtype=float), "count": frame.cumsum().to_numpy()})


def eval_queue_depth(tables: Tables) -> dict[str, pd.DataFrame]:
    """Step series (`time`, `count`) of the evaluation queues.

    Exact, from `evaluations`: waiting in the broker is ready (else created) to dequeued, or to
    completion or the run's end for an eval never dequeued; being scheduled is dequeued to
    completed. Blocked evals and the allocs they still wait to place come from the `cluster`
    table's samples when the run has one; otherwise blocked is derived: an eval whose final
    status is `blocked`, from when it was written blocked to the run's end.
    """
    out = _derived_queue_depth(tables)
    cluster = table(tables, "cluster")
    if {"time", "blocked_evals"} <= set(cluster.columns) and len(cluster):
        out.pop("blocked", None)
        for label, col in (("blocked (sampled)", "blocked_evals"), ("queued allocs (sampled)", "queued_allocs")):
            if col in cluster.columns:
                out[label] = pd.DataFrame({"time": cluster["time"].to_numpy(dtype=float),
                                           "count": cluster[col].to_numpy(dtype=float)})
    return out


def _derived_queue_depth(tables: Tables) -> dict[str, pd.DataFrame]:
    evals = table(tables, "evaluations")
    if evals.empty:
        return {}
    end = run_end(tables)
    blocked = (evals["status"] == "blocked").to_numpy()
    created = evals["ready" if "ready" in evals.columns else "created"].to_numpy(dtype=float)
    dequeued = evals["dequeued"].to_numpy(dtype=float)
    completed = evals["completed"].to_numpy(dtype=float)
    never = np.isnan(dequeued)
    wait_end = np.where(never, np.where(np.isnan(completed) | blocked, end, completed), dequeued)
    wait_start = np.where(never & blocked, np.nan, created)
    sched_end = np.where(np.isnan(completed), end, completed)
    out = {"waiting in broker": count_open(wait_start, wait_end),
           "being scheduled": count_open(dequeued, sched_end)}
    if blocked.any():
        start = np.where(blocked, np.where(np.isnan(completed), created, completed), np.nan)
        out["blocked"] = count_open(start, np.full(len(start), end))
    return out


def eval_latencies(tables: Tables) -> dict[str, pd.Series]:
    """Per-evaluation latencies: ready (or created) to completed, wait in broker, scheduling time."""
    evals = table(tables, "evaluations")
    if evals.empty:
        return {}
    total = evals["latency"] if "latency" in evals.columns else evals["completed"] - evals["created"]
    return {"ready to completed": total, "wait in broker": evals["wait_in_broker"],
            "scheduling time": evals["scheduling_time"]}


def node_down_spans(tables: Tables) -> pd.DataFrame:
    """Periods nodes were down (`node_id`, `start`, `end`), from node_events, else node_usage samples.

    A node still down at the run's end gets the run's end as `end`.
    """
    end = run_end(tables)
    events = table(tables, "node_events")
    rows = []
    if {"node_id", "event", "time"} <= set(events.columns):
        for node, g in events[events["event"].isin(("down", "up"))].groupby("node_id", sort=True):
            down = None
            for t, ev in zip(g["time"], g["event"], strict=True):
                if ev == "down" and down is None:
                    down = float(t)
                elif ev == "up" and down is not None:
                    rows.append((node, down, float(t)))
                    down = None
            if down is not None:
                rows.append((node, down, end))
    else:
        usage = table(tables, "node_usage")
        if "status" in usage.columns:
            for node, g in usage.groupby("node_id", sort=True):
                is_down = (g["status"] == "down").to_numpy()
                times = g["time"].to_numpy(dtype=float)
                edges = np.flatnonzero(np.diff(np.concatenate([[0], is_down.astype(int), [0]])))
                for a, b in zip(edges[::2], edges[1::2], strict=True):
                    rows.append((node, times[a], times[b] if b < len(times) else end))
    return pd.DataFrame(rows, columns=["node_id", "start", "end"])


def ecdf(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted finite values and their cumulative fractions (empty arrays when none)."""
    x = np.sort(np.asarray(values, dtype=float))
    x = x[np.isfinite(x)]
    return x, np.arange(1, len(x) + 1) / max(len(x), 1)
