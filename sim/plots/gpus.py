"""GPU figures: cluster GPU allocation and FGD fragmentation over time, GPUs per node, and a
comparison of runs (e.g. scheduling policies) on both series.

The series come from the `gpu_cluster` and `gpu_usage` tables (sim.metrics.gpus defines them).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

import sim.plots.data as data
from sim.plots.base import new_figure, note, step, time_unit
from sim.plots.cluster import Source


def gpu_over_time(source: Source) -> Figure:
    """Top: the cluster's GPU allocation rate and GPU fragmentation (FGD) over time. Bottom: each
    GPU node's share of allocated GPUs over time (nodes by GPU model, then name)."""
    tables = data.load_tables(source)
    series, usage = data.table(tables, "gpu_cluster"), data.table(tables, "gpu_usage")
    fig, (top, bottom) = new_figure(2, 1, width=11.0, height=7.5)
    top.set_title("cluster GPUs: allocated and fragmented (FGD: unallocated GPUs on nodes that cannot host the typical ask)")
    bottom.set_title("GPUs allocated per node")
    if series.empty:
        note(top, "no GPUs in this run")
        note(bottom, "no GPUs in this run")
        return fig
    end = data.run_end(tables)
    scale, xlabel = time_unit(end)
    times = series["time"].to_numpy()
    step(top, times, series["gpu_allocation_rate"].to_numpy(), end, scale, label="allocated / GPUs")
    step(top, times, series["gpu_fragmentation"].to_numpy(), end, scale, label="fragmented / GPUs")
    ask = series.iloc[0]
    top.set_ylim(0, 1)
    top.set_xlim(0, max(end, 1e-9) / scale)
    top.set_ylabel(f"share of {int(ask['gpu_capacity']):,} GPUs")
    top.legend(loc="upper right", title=f"typical ask: {int(ask['typical_gpus'])} GPU", fontsize="small")
    share = usage.assign(share=usage["gpus_allocated"] / usage["gpu_capacity"])
    grid = share.pivot_table(index="node_id", columns="time", values="share", aggfunc="first", sort=True)
    image = bottom.imshow(grid.to_numpy(dtype=float), aspect="auto", interpolation="nearest", cmap="viridis",
                          vmin=0, vmax=1, extent=(float(grid.columns.min()) / scale, max(end, 1e-9) / scale,
                                                  len(grid), 0))
    bottom.set_ylabel(f"node ({len(grid):,} with GPUs)")
    bottom.set_xlabel(xlabel)
    fig.colorbar(image, ax=bottom, label="allocated / node GPUs")
    return fig


def compare_gpus(runs: Mapping[str, Source]) -> Figure:
    """GPU allocation rate (left) and GPU fragmentation (right) over time, one line per run."""
    fig, (left, right) = new_figure(1, 2, width=12.0)
    left.set_title("GPU allocation rate")
    right.set_title("GPU fragmentation (FGD)")
    series = {label: data.table(data.load_tables(run), "gpu_cluster") for label, run in runs.items()}
    if all(s.empty for s in series.values()):
        note(left, "no GPUs in these runs")
        note(right, "no GPUs in these runs")
        return fig
    end = max(float(s["time"].max()) for s in series.values() if not s.empty)
    scale, xlabel = time_unit(end)
    for label, s in series.items():
        if s.empty:
            continue
        times = s["time"].to_numpy()
        step(left, times, s["gpu_allocation_rate"].to_numpy(), end, scale, label=label)
        step(right, times, s["gpu_fragmentation"].to_numpy(), end, scale, label=label)
    for ax in (left, right):
        ax.set_xlabel(xlabel)
        ax.set_xlim(0, end / scale)
    left.set_ylim(0, 1)
    right.set_ylim(0, max(0.01, float(np.nanmax([s["gpu_fragmentation"].max() for s in series.values() if not s.empty])) * 1.2))
    right.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def has_gpus(tables: Mapping[str, pd.DataFrame]) -> bool:
    """Whether a run's tables hold GPU samples."""
    frame = tables.get("gpu_cluster")
    return frame is not None and not frame.empty
