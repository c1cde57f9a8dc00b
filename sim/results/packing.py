"""Placement-sensitive measures of a run, from its `node_usage` samples.

What a scheduling researcher compares policies on, beyond utilisation (which packing does not
change): how many nodes hold work, how evenly the load is spread and how full the used nodes are.
A node's load at a sample is its dominant share: max(cpu_allocated / cpu_capacity,
memory_allocated / memory_capacity). Only ready nodes count.

- nodes in use: ready nodes with any cpu or memory allocated;
- load imbalance: over the ready nodes, the coefficient of variation (std / mean) of the load and
  max / mean (samples with no load are skipped);
- packing efficiency: the mean load of the nodes in use (1 = the used nodes are full).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

PACKING_COLUMNS = ["time", "nodes_ready", "nodes_in_use", "load_cv", "load_max_mean", "packing_efficiency"]


def node_load(usage: pd.DataFrame) -> pd.DataFrame:
    """Ready nodes' samples with their dominant-share `load` and whether they are `in_use`."""
    ready = usage[usage["status"] == "ready"]
    cpu = (ready["cpu_allocated"] / ready["cpu_capacity"].where(ready["cpu_capacity"] > 0)).fillna(0.0)
    mem = (ready["memory_allocated"] / ready["memory_capacity"].where(ready["memory_capacity"] > 0)).fillna(0.0)
    return pd.DataFrame({"time": ready["time"].to_numpy(), "load": np.maximum(cpu, mem).to_numpy(),
                         "in_use": ((ready["cpu_allocated"] > 0) | (ready["memory_allocated"] > 0)).to_numpy()})


def packing_series(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per sample time: nodes ready and in use, load CV and max/mean, packing efficiency."""
    load = node_load(tables["node_usage"])
    if load.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in PACKING_COLUMNS})
    g = load.groupby("time", sort=True)
    mean, std, peak = g["load"].mean(), g["load"].std(ddof=0), g["load"].max()
    busy = mean.where(mean > 0)
    used = load[load["in_use"]].groupby("time")["load"].mean()
    return pd.DataFrame({"time": mean.index, "nodes_ready": g.size().to_numpy(),
                         "nodes_in_use": g["in_use"].sum().to_numpy(), "load_cv": (std / busy).to_numpy(),
                         "load_max_mean": (peak / busy).to_numpy(),
                         "packing_efficiency": used.reindex(mean.index).to_numpy()})
