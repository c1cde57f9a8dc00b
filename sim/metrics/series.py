"""Time series derived from the recorded rows when a run's tables are built (sim.metrics.recorder).

An allocation *runs* from its first `running` transition to its first terminal one (complete,
failed or lost) in the `allocations` table, whose rows are in time order. From those intervals
and the resources each alloc reserves (`placements`): the `*_used` columns of `node_usage` (what
running allocs hold on each node at each sample) and the `running_allocs` column of `cluster`.
A sample at time t counts an alloc as running when start <= t < end.

Fragmentation is the share of free capacity on nodes that cannot host one more typical ask
(`typical_ask`: the median cpu, memory and disk of the allocations placed), as Weng et al. measure
GPU fragmentation ("Beware of Fragmentation", USENIX ATC 2023) with the run's typical ask as the
task. At each sample, over the ready nodes, with free_i = max(capacity_i - allocated_i, 0):

    fragmentation(d) = sum of free_i(d) over the nodes i where the ask does not fit in some
                       dimension (free_i(e) < ask(e) for an e with ask(e) > 0) / sum_i free_i(d)

0 when every node with free capacity can take another typical ask (an empty cluster); 1 when
capacity is free but no node can take one (free cpu on nodes whose memory is full, or free
capacity scattered in pieces smaller than the ask). NaN when nothing of d is free or nothing
was placed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from sim.metrics import strings
from sim.metrics.schema import SCHEMA, empty

TERMINAL_CLIENT = ("complete", "failed", "lost")
DIMS = ("cpu", "memory", "disk")
Sample = tuple[float, np.ndarray, np.ndarray, np.ndarray | None]  # time, used, status, present (None: all)


def running_intervals(allocations: pd.DataFrame, columns: tuple[str, ...] = ("alloc_id", "job_id", "task_group", "node_id"),
                      codes: np.ndarray | None = None) -> pd.DataFrame:
    """One row per alloc that ever ran: the `columns` of its first running row, start, end (NaN:
    still running); the index is that row's position in `allocations`. `codes`: each row's alloc ID
    as a number, if known (`AllocCodes`)."""
    status = allocations["client_status"]
    if codes is None:
        codes = pd.factorize(allocations["alloc_id"], use_na_sentinel=False)[0]
    time = allocations["time"].to_numpy(float)
    run = _first_rows(codes, (status == "running").to_numpy(bool, na_value=False))
    end = _first_rows(codes, status.isin(TERMINAL_CLIENT).to_numpy(bool, na_value=False))
    ends = np.full(len(codes) and int(codes.max()) + 1, np.nan)
    ends[codes[end]] = time[end]
    out = pd.DataFrame({c: allocations[c].take(run).array for c in columns}, index=run)
    out["start"], out["end"] = time[run], ends[codes[run]]
    out.loc[out["end"] < out["start"], "end"] = np.nan
    return out


class AllocCodes(NamedTuple):
    """The alloc ID of each row of the allocations and the placements tables as a number (the same
    ID, the same number in both)."""

    allocations: np.ndarray
    placements: np.ndarray


def _first_rows(keys: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The rows where `mask` holds, keeping each key's first only (in row order)."""
    rows = np.flatnonzero(mask)
    return rows[np.sort(np.unique(keys[rows], return_index=True)[1])]


def _placement_of(runs: pd.DataFrame, placements: pd.DataFrame, allocations: pd.DataFrame,
                  codes: AllocCodes | None) -> np.ndarray:
    """Each run's row in `placements` (its alloc's first placement; -1: none)."""
    placed = (placements["alloc_id"] != "").to_numpy(bool, na_value=False)
    rows = runs.index.to_numpy()  # (each run's row in `allocations`)
    if codes is None:
        at = strings.first_index(allocations["alloc_id"], placements["alloc_id"][placed])[rows]
        return np.append(np.flatnonzero(placed), -1)[at]
    first = _first_rows(codes.placements, placed)
    of = np.full(int(max(codes.allocations.max(), codes.placements.max(initial=0))) + 1, -1)
    of[codes.placements[first]] = first
    return of[codes.allocations[rows]]


def run_node_rows(allocations: pd.DataFrame, runs: pd.DataFrame, node_ids: list[str]) -> np.ndarray:
    """Each run's node, as its index in `node_ids` (-1: none)."""
    return strings.first_index(allocations["node_id"], node_ids)[runs.index.to_numpy()]


def _used(times: np.ndarray, node_ids: list[str], placements: pd.DataFrame, allocations: pd.DataFrame,
          runs: pd.DataFrame, codes: AllocCodes | None, node_rows: np.ndarray | None) -> np.ndarray:
    """(samples, nodes, 3): resources of the allocs running on each node at each sample."""
    used = np.zeros((len(times) + 1, len(node_ids), 3))
    if runs.empty:
        return used[:-1]
    at = _placement_of(runs, placements, allocations, codes)
    row = run_node_rows(allocations, runs, node_ids) if node_rows is None else node_rows
    keep = (at >= 0) & (row >= 0)
    first = np.searchsorted(times, runs["start"].to_numpy(float)[keep], side="left")
    last = np.searchsorted(times, runs["end"].fillna(np.inf).to_numpy(float)[keep], side="left")
    placed = at[keep]
    amount = np.column_stack([placements[d].to_numpy(float)[placed] for d in DIMS])  # (the runs' rows only)
    np.add.at(used, (first, row[keep]), amount)
    np.add.at(used, (last, row[keep]), -amount)
    return np.cumsum(used, axis=0)[:-1]


def node_usage_frame(samples: list[Sample], node_ids: list[str], capacity: np.ndarray, placements: pd.DataFrame,
                     allocations: pd.DataFrame, runs: pd.DataFrame, codes: AllocCodes | None = None,
                     node_rows: np.ndarray | None = None) -> pd.DataFrame:
    """The `node_usage` table from the node samples, the placements, the allocations and their
    running intervals (`running_intervals`); `codes`, if known, join runs to placements, and
    `node_rows`, if known, runs to nodes (`run_node_rows`: `allocations` then needs no `node_id`).

    Each sample has a row per node registered at its time: nodes that joined later (rows beyond
    the sample's) and nodes that left (masked in the sample) are absent.
    """
    if not samples:
        return empty("node_usage")
    n, reps = len(node_ids), len(samples)
    times = np.array([s[0] for s in samples], dtype=float)
    used = _used(times, node_ids, placements, allocations, runs, codes, node_rows).reshape(reps * n, 3)
    if all(len(u) == n and present is None for _, u, _, present in samples):  # a fixed set of nodes
        alive: slice | np.ndarray = slice(None)
        allocated = np.concatenate([u for _, u, _, _ in samples])
        status = np.concatenate([st for _, _, st, _ in samples])
    else:
        mask = np.zeros((reps, n), dtype=bool)
        allocated = np.zeros((reps, n, 3))
        status = np.empty((reps, n), dtype=object)
        for i, (_, u, st, present) in enumerate(samples):
            k = len(u)
            mask[i, :k] = True if present is None else present
            allocated[i, :k], status[i, :k] = u, st
        alive = mask.ravel()
        allocated, status = allocated.reshape(reps * n, 3)[alive], status.ravel()[alive]
    frame = pd.DataFrame({
        "time": np.repeat(times, n)[alive],
        "node_id": np.tile(np.array(node_ids, dtype=object), reps)[alive],
        **{f"{d}_allocated": allocated[:, i] for i, d in enumerate(DIMS)},
        **{f"{d}_used": used[alive, i] for i, d in enumerate(DIMS)},
        **{f"{d}_capacity": np.tile(capacity[:n], (reps, 1))[alive, i] for i, d in enumerate(DIMS)},
        "status": status,
    }, columns=[c for c, _, _ in SCHEMA["node_usage"]])
    return frame.astype({c: t for c, t, _ in SCHEMA["node_usage"]})


def typical_ask(placements: pd.DataFrame) -> dict[str, float]:
    """Median cpu, memory and disk of the allocations placed (NaN each when nothing was placed)."""
    placed = placements.loc[placements["alloc_id"] != "", list(DIMS)]
    return {d: float(placed[d].median()) if len(placed) else np.nan for d in DIMS}


def fragmentation(usage: pd.DataFrame, ask: dict[str, float], dims: tuple[str, ...] = ("cpu", "memory")
                  ) -> pd.DataFrame:
    """Per sample time (index) and dimension (columns): the share of the ready nodes' free capacity
    on nodes that cannot host one more typical `ask` (module docstring)."""
    times = np.sort(pd.unique(usage["time"].to_numpy(float)))
    asked = [d for d in DIMS if ask.get(d, 0) > 0]
    if not asked:
        return pd.DataFrame({d: np.full(len(times), np.nan) for d in dims}, index=times)
    ready = usage[usage["status"] == "ready"]
    free = {d: (ready[f"{d}_capacity"] - ready[f"{d}_allocated"]).clip(lower=0).to_numpy(float) for d in DIMS}
    stuck = np.any([free[d] < ask[d] for d in asked], axis=0)
    at, sampled = pd.factorize(ready["time"].to_numpy(float), sort=True)
    out = {}
    for d in dims:
        total = np.bincount(at, weights=free[d], minlength=len(sampled))
        on_stuck = np.bincount(at, weights=np.where(stuck, free[d], 0.0), minlength=len(sampled))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[d] = np.where(total > 0, on_stuck / total, np.nan)
    return pd.DataFrame(out, index=sampled).reindex(times)


def running_counts(times: np.ndarray, runs: pd.DataFrame) -> np.ndarray:
    """How many of the running intervals cover each of `times` (start <= t < end)."""
    starts = np.sort(runs["start"].to_numpy(float))
    ends = np.sort(runs["end"].dropna().to_numpy(float))
    return np.searchsorted(starts, times, side="right") - np.searchsorted(ends, times, side="right")


def cluster_frame(usage: pd.DataFrame, counters: list[tuple[float, int, int, int]], runs: pd.DataFrame,
                  placements: pd.DataFrame) -> pd.DataFrame:
    """The `cluster` table: node_usage aggregated per sample time, with the control-plane counters."""
    times = np.unique(np.concatenate([usage["time"].to_numpy(float), [float(c[0]) for c in counters]]))
    if not len(times):
        return empty("cluster")
    frag = fragmentation(usage, typical_ask(placements)).reindex(times)
    g = usage.groupby("time", sort=True)  # a time without registered nodes sums to 0 (utilisation NaN)
    sums = g[["cpu_allocated", "cpu_capacity", "memory_allocated", "memory_capacity", "cpu_used"]].sum().reindex(times, fill_value=0.0)
    ready = (usage["status"] == "ready").groupby(usage["time"], sort=True).sum().reindex(times, fill_value=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame({
            "time": times,
            "nodes": g.size().reindex(times, fill_value=0).to_numpy(),
            "nodes_ready": ready.to_numpy(),
            "cpu_utilisation": (sums["cpu_allocated"] / sums["cpu_capacity"]).to_numpy(),
            "memory_utilisation": (sums["memory_allocated"] / sums["memory_capacity"]).to_numpy(),
            "cpu_used_utilisation": (sums["cpu_used"] / sums["cpu_capacity"]).to_numpy(),
            "cpu_fragmentation": frag["cpu"].to_numpy(),
            "memory_fragmentation": frag["memory"].to_numpy(),
        })
    ctr = pd.DataFrame(counters, columns=["time", "pending_evals", "blocked_evals", "queued_allocs"])
    ctr = ctr.drop_duplicates("time", keep="last")
    out = out.merge(ctr, on="time", how="left").fillna({"pending_evals": 0, "blocked_evals": 0, "queued_allocs": 0})
    out["running_allocs"] = running_counts(times, runs)
    cols = SCHEMA["cluster"]
    return out[[c for c, _, _ in cols]].astype({c: t for c, t, _ in cols})
