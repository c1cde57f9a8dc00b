"""GPU series derived when a run's tables are built (sim.metrics.recorder).

`gpu_usage`: every node with GPUs at every sample: GPUs allocated (instances of type "gpu" held
by live allocs, as the state store counts them) and the node's free CPU and memory.
`gpu_cluster`: per sample, the cluster's GPU allocation rate and its GPU fragmentation as the
FGD paper defines it (Weng et al., "Beware of Fragmentation", USENIX ATC 2023): the unallocated
GPUs on nodes that cannot host the typical ask, over the cluster's GPUs. A ready node cannot
host the typical ask when it has fewer free GPUs, CPU MHz or memory MB than the ask; a node that
is not ready cannot host anything. The typical ask is the most frequent GPU count among the
run's GPU allocations (ties: the smaller), with the median CPU and memory of those allocations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.metrics.schema import SCHEMA, empty
from sim.metrics.series import Sample

GpuSample = tuple[np.ndarray, np.ndarray]  # GPUs held, GPUs present: one entry per node row then


def gpu_usage_frame(gpu_samples: list[GpuSample | None], samples: list[Sample], node_usage: pd.DataFrame) -> pd.DataFrame:
    """The `gpu_usage` table: the GPU nodes' rows of `node_usage` with their GPU counts (one
    `gpu_samples` entry per node sample: the GPUs held and present per row then, None when no node
    had GPUs). Rows follow `node_usage`'s: the nodes registered at each sample."""
    if node_usage.empty or all(g is None for g in gpu_samples):
        return empty("gpu_usage")
    n = max(len(s[1]) for s in samples)
    allocated = np.zeros((len(samples), n), dtype=np.int64)
    capacity = np.zeros((len(samples), n), dtype=np.int64)
    mask = np.zeros((len(samples), n), dtype=bool)
    for i, (gpus, (_, used, _, present)) in enumerate(zip(gpu_samples, samples, strict=True)):
        mask[i, : len(used)] = True if present is None else present
        if gpus is not None:
            allocated[i, : len(gpus[0])], capacity[i, : len(gpus[1])] = gpus
    alive = mask.ravel()
    allocated, capacity = allocated.ravel()[alive], capacity.ravel()[alive]
    keep = capacity > 0
    usage = node_usage.iloc[np.flatnonzero(keep)]
    frame = pd.DataFrame({
        "time": usage["time"].to_numpy(), "node_id": usage["node_id"].to_numpy(),
        "gpus_allocated": allocated[keep], "gpu_capacity": capacity[keep],
        "cpu_free": (usage["cpu_capacity"] - usage["cpu_allocated"]).clip(lower=0).to_numpy(),
        "memory_free": (usage["memory_capacity"] - usage["memory_allocated"]).clip(lower=0).to_numpy(),
        "status": usage["status"].to_numpy(),
    }, columns=[c for c, _, _ in SCHEMA["gpu_usage"]])
    return frame.astype({c: t for c, t, _ in SCHEMA["gpu_usage"]})


def typical_ask(devices: pd.DataFrame, placements: pd.DataFrame) -> tuple[int, float, float] | None:
    """(GPUs, CPU MHz, memory MB) of the typical GPU allocation; None without any."""
    gpus = devices[devices["type"] == "gpu"].groupby("alloc_id").size()
    if gpus.empty:
        return None
    counts = gpus.value_counts()
    count = int(min(c for c, n in counts.items() if n == counts.max()))
    allocs = placements[placements["alloc_id"].isin(gpus.index[gpus == count])]
    return count, float(allocs["cpu"].median()), float(allocs["memory"].median())


def gpu_cluster_frame(gpu_usage: pd.DataFrame, devices: pd.DataFrame, placements: pd.DataFrame) -> pd.DataFrame:
    """The `gpu_cluster` table: per sample, GPUs allocated, allocation rate and FGD fragmentation."""
    if gpu_usage.empty:
        return empty("gpu_cluster")
    ask = typical_ask(devices, placements) or (1, 0.0, 0.0)
    free = (gpu_usage["gpu_capacity"] - gpu_usage["gpus_allocated"]).clip(lower=0)
    cannot = ((gpu_usage["status"] != "ready") | (free < ask[0]) | (gpu_usage["cpu_free"] < ask[1])
              | (gpu_usage["memory_free"] < ask[2]))
    parts = pd.DataFrame({"time": gpu_usage["time"], "cap": gpu_usage["gpu_capacity"],
                          "alloc": gpu_usage["gpus_allocated"], "frag": free.where(cannot, 0)})
    g = parts.groupby("time", sort=True).sum()
    frame = pd.DataFrame({
        "time": g.index.to_numpy(float), "gpu_capacity": g["cap"].to_numpy(), "gpus_allocated": g["alloc"].to_numpy(),
        "gpu_allocation_rate": (g["alloc"] / g["cap"]).to_numpy(float), "fragmented_gpus": g["frag"].to_numpy(),
        "gpu_fragmentation": (g["frag"] / g["cap"]).to_numpy(float),
        "typical_gpus": ask[0], "typical_cpu": ask[1], "typical_memory": ask[2],
    }, columns=[c for c, _, _ in SCHEMA["gpu_cluster"]])
    return frame.astype({c: t for c, t, _ in SCHEMA["gpu_cluster"]})
