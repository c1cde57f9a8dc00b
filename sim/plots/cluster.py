"""Figures of one run's cluster: where things were placed, how full it was, how fast it scheduled.

Every function takes the tables of one run (the dict `Simulation.results()` returns) or a results
folder (`nomadsim run --out DIR`), and returns a `matplotlib.figure.Figure` without showing it.
A run with nothing to show gives a figure that says so. The series behind each figure come from
`sim.plots.data` (fragmentation is defined there).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

import sim.plots.data as data
from sim.plots.base import (
    job_colours,
    job_legend,
    log_x,
    new_figure,
    note,
    rectangles,
    step,
    time_unit,
)
from sim.plots.data import Tables

Source = Tables | str | Path
MAX_TICK_LABELS = 40


def _node_axis(ax, labels: list[str], extra: list[str] | None = None) -> None:
    """Node rows top to bottom in cluster order (row i at y = i)."""
    names = [*(extra or []), *labels]
    first = -len(extra or [])
    if len(names) <= MAX_TICK_LABELS:
        ax.set_yticks(range(first, first + len(names)), names, fontsize="small")
    ax.set_ylim(len(labels) - 0.5, first - 0.5)
    ax.set_ylabel("node")


def _lanes(intervals, end: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertical offset in (-0.4, 0.4) of each alloc within its node row, and the lane height."""
    offsets, heights = np.zeros(len(intervals)), np.full(len(intervals), 0.8)
    ends = intervals["ended"].fillna(end).to_numpy(dtype=float)
    starts = intervals["placed"].to_numpy(dtype=float)
    for _node, idx in intervals.groupby("node_id", sort=False).indices.items():
        lanes = data.assign_lanes(starts[idx], ends[idx])
        heights[idx] = 0.8 / (lanes.max() + 1)
        offsets[idx] = -0.4 + (lanes + 0.5) * heights[idx]
    return offsets, heights


DOWN_COLOUR = (0.84, 0.15, 0.16, 0.15)


def _shade_down(ax, tables: Tables, row: dict[str, int], scale: float) -> dict[str, tuple]:
    """Shade the periods each node in `row` was down; the legend entry to add, if any."""
    spans = data.node_down_spans(tables)
    spans = spans[spans["node_id"].isin(row)]
    if spans.empty:
        return {}
    ax.barh(spans["node_id"].map(row).to_numpy(dtype=float), (spans["end"] - spans["start"]) / scale,
            left=spans["start"] / scale, height=1.0, color=DOWN_COLOUR, gid="node-down")
    return {"(node down)": DOWN_COLOUR}


def placement_map(source: Source, color_by: str = "job", dimension: str = "cpu") -> Figure:
    """Nodes (rows) over time: each allocation's lifetime coloured by job, or node utilisation.

    Args:
        source: a run's tables or results folder.
        color_by: "job" draws one segment per allocation, from placement to its terminal status
            (or the run's end), in a lane of its node's row; failed placements are marked on a
            row of their own. "utilisation" draws a heatmap of allocated / capacity.
        dimension: resource of the utilisation heatmap ("cpu", "memory" or "disk").
    """
    if color_by not in ("job", "utilisation"):
        raise ValueError(f"color_by must be 'job' or 'utilisation', not {color_by!r}")
    tables = data.load_tables(source)
    order, labels = data.node_order(tables), data.node_labels(tables)
    fig, (ax,) = new_figure(height=max(3.5, min(10.0, 1.5 + 0.25 * len(order))))
    end = data.run_end(tables)
    scale, xlabel = time_unit(end)
    ax.set_xlabel(xlabel)
    if color_by == "utilisation":
        return _utilisation_map(fig, ax, tables, dimension, labels, scale)
    ax.set_title("placement map: allocations by node and job")
    intervals = data.alloc_intervals(tables)
    failed = data.failed_placements(tables)
    if intervals.empty and failed.empty:
        note(ax, "no allocations in this run")
        return fig
    row = {n: i for i, n in enumerate(order)}
    y = intervals["node_id"].map(row).to_numpy(dtype=float) + _lanes(intervals, end)[0]
    x0 = intervals["placed"].to_numpy(dtype=float) / scale
    x1 = intervals["ended"].fillna(end).to_numpy(dtype=float) / scale
    keys = data.job_keys(tables, pd.concat([intervals["job_id"], failed["job_id"]], ignore_index=True))
    colours = job_colours(keys)
    keys, failed_keys = keys[: len(intervals)], keys[len(intervals):]
    lw = max(1.0, min(6.0, 60.0 / max(len(order), 1)))
    segments = np.stack([np.column_stack([x0, y]), np.column_stack([np.maximum(x1, x0 + 1e-3), y])], axis=1)
    # An (N, 2, 2) array is a sequence of N segments; matplotlib's stub wants a typing Sequence.
    ax.add_collection(LineCollection(segments, colors=[colours[j] for j in keys], linewidths=lw,  # type: ignore[arg-type]
                                     capstyle="butt", gid="allocations"))
    extra = []
    if not failed.empty:
        extra = ["(no node fit)"]
        ax.scatter(failed["time"] / scale, np.full(len(failed), -1.0), marker="x",
                   c=[colours[j] for j in failed_keys], label="failed placement", gid="failed")
    down = _shade_down(ax, tables, row, scale)
    ax.set_xlim(0, max(end, 1e-9) / scale)
    _node_axis(ax, [labels[n] for n in order], extra)
    job_legend(ax, {**colours, **down})
    return fig


def _utilisation_map(fig: Figure, ax, tables: Tables, dimension: str, labels: dict[str, str], scale: float) -> Figure:
    ax.set_title(f"placement map: {dimension} allocated / capacity per node")
    wide = data.node_utilisation(tables, dimension)
    if wide.empty:
        note(ax, "no node usage samples in this run")
        return fig
    times = wide.columns.to_numpy(dtype=float)
    step_ = times[1] - times[0] if len(times) > 1 else 1.0
    image = ax.imshow(wide.to_numpy(dtype=float), aspect="auto", interpolation="nearest", cmap="viridis",
                      vmin=0.0, vmax=1.0, extent=(times[0] / scale, (times[-1] + step_) / scale, len(wide) - 0.5, -0.5))
    fig.colorbar(image, ax=ax, label=f"{dimension} allocated / capacity")
    _node_axis(ax, [labels[n] for n in wide.index])
    return fig


def _busiest_nodes(intervals, order: list[str], max_nodes: int) -> list[str]:
    counts = intervals["node_id"].value_counts()
    top = sorted(counts.index, key=lambda n: (-counts[n], order.index(n) if n in order else len(order)))
    chosen = set(top[:max_nodes])
    return [n for n in order if n in chosen]


def alloc_gantt(source: Source, nodes: Iterable[str] | None = None, max_nodes: int = 8) -> Figure:
    """Allocations of a node set as Gantt bars: pending in grey, running in the job's colour.

    Each node gets as many lanes as it had overlapping allocations. Bars of allocations that
    ended failed or lost have a red edge. `nodes` takes node IDs or display names; by default
    the `max_nodes` nodes with the most allocations, in cluster order.
    """
    tables = data.load_tables(source)
    labels, order = data.node_labels(tables), data.node_order(tables)
    intervals = data.alloc_intervals(tables)
    if nodes is None:
        chosen = _busiest_nodes(intervals, order, max_nodes)
    else:
        by_label = {v: k for k, v in labels.items()}
        chosen = [by_label.get(n, n) for n in nodes]
    intervals = intervals[intervals["node_id"].isin(chosen)].reset_index(drop=True)
    end = data.run_end(tables)
    scale, xlabel = time_unit(end)
    fig, (ax,) = new_figure(height=max(3.0, min(12.0, 1.5 + 0.5 * len(intervals) ** 0.5 + 0.4 * len(chosen))))
    ax.set_title(f"allocations on {len(chosen)} node(s)")
    ax.set_xlabel(xlabel)
    if intervals.empty:
        note(ax, "no allocations on these nodes")
        return fig
    keys = data.job_keys(tables, intervals["job_id"])
    colours = job_colours(keys)
    offsets, height = _lanes(intervals, end)
    row = {n: i for i, n in enumerate(chosen)}
    y = intervals["node_id"].map(row).to_numpy(dtype=float) + offsets
    placed = intervals["placed"].to_numpy(dtype=float)
    started = intervals["started"].to_numpy(dtype=float)
    ended = intervals["ended"].fillna(end).to_numpy(dtype=float)
    run_from = np.where(np.isnan(started), ended, started)
    bad = intervals["status"].isin(("failed", "lost")).to_numpy()
    bottom, h = y - 0.45 * height, 0.9 * height
    rectangles(ax, placed / scale, bottom, (run_from - placed) / scale, h, "0.8", gid="pending")
    rectangles(ax, run_from / scale, bottom, (ended - run_from) / scale, h,
               [colours[j] for j in keys], np.where(bad, "red", "none").tolist(), gid="running")
    for i in range(1, len(chosen)):
        ax.axhline(i - 0.5, color="0.85", linewidth=0.8)
    down = _shade_down(ax, tables, row, scale)
    ax.set_xlim(0, max(end, 1e-9) / scale)
    _node_axis(ax, [labels.get(n, n) for n in chosen])
    job_legend(ax, {"(pending)": (0.8, 0.8, 0.8, 1.0), **colours, **down})
    return fig


def _series_axes(tables: dict, series, title: str):
    """One titled time axis for a node-usage series: (figure, axes, run end, time scale)."""
    fig, (ax,) = new_figure()
    ax.set_title(title)
    end = data.run_end(tables)
    scale, xlabel = time_unit(end)
    ax.set_xlabel(xlabel)
    if series.empty:
        note(ax, "no node usage samples in this run")
    return fig, ax, end, scale


def utilisation_over_time(source: Source) -> Figure:
    """Cluster cpu and memory allocated over schedulable capacity (solid), and used (dashed) if sampled."""
    tables = data.load_tables(source)
    series = data.utilisation_series(tables)
    fig, ax, end, scale = _series_axes(tables, series, "cluster utilisation")
    if series.empty:
        return fig
    colours = {"cpu": "tab:blue", "memory": "tab:orange", "disk": "tab:green"}
    for dim in ("cpu", "memory"):
        for kind, style in (("allocated", "-"), ("used", "--")):
            col = f"{dim}_{kind}"
            if col in series.columns:
                step(ax, series["time"].to_numpy(), series[col].to_numpy(), end, scale,
                     color=colours[dim], linestyle=style, label=f"{dim} {kind}")
    ax.set_ylabel("fraction of schedulable capacity")
    top = float(np.nanmax(series.drop(columns="time").to_numpy(dtype=float), initial=0.0))
    ax.set_ylim(0, min(1.05, max(0.05, top * 1.15)))
    ax.set_xlim(0, max(end, 1e-9) / scale)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def fragmentation_over_time(source: Source, dimensions: tuple[str, ...] = ("cpu", "memory")) -> Figure:
    """Fragmentation of free capacity (1 - largest free block / total free) per dimension."""
    tables = data.load_tables(source)
    series = data.fragmentation_series(tables, dimensions)
    fig, ax, end, scale = _series_axes(tables, series,
                                       "fragmentation of free capacity (1 - largest free / total free, ready nodes)")
    if series.empty:
        return fig
    for dim in dimensions:
        step(ax, series["time"].to_numpy(), series[dim].to_numpy(), end, scale, label=dim)
    cluster = data.table(tables, "cluster")
    counts = cluster["nodes"] if "nodes" in cluster.columns else None
    n = len(data.node_order(tables))
    if counts is not None and counts.nunique() > 1:  # nodes joined or left: the bound moves
        bound = 1 - 1 / counts.where(counts > 1).to_numpy(float)
        step(ax, cluster["time"].to_numpy(), bound, end, scale, color="0.6", linestyle=":", label="max (1 - 1/nodes)")
    elif n > 1:
        ax.axhline(1 - 1 / n, color="0.6", linestyle=":", label=f"max (1 - 1/{n})")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, max(end, 1e-9) / scale)
    ax.set_ylabel("fragmentation")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def eval_latency(source: Source) -> Figure:
    """Left: CDFs of eval latency (ready to completed), wait in broker and scheduling time.
    Right: evaluation queues over time (sim.plots.data.eval_queue_depth)."""
    tables = data.load_tables(source)
    evals = data.table(tables, "evaluations")
    fig, (left, right) = new_figure(1, 2, width=12.0)
    left.set_title("evaluation latency")
    right.set_title("evaluation queue depth")
    if evals.empty:
        note(left, "no evaluations in this run")
        note(right, "no evaluations in this run")
        return fig
    for label, values in data.eval_latencies(tables).items():
        x, y = data.ecdf(values)
        if len(x):
            left.step(x, y, where="post", label=label)
    log_x(left)
    left.set_xlabel("seconds (log scale)")
    left.set_ylabel("fraction of evaluations")
    left.set_ylim(0, 1.02)
    left.legend(loc="lower right", fontsize="small")
    end = data.run_end(tables)
    scale, xlabel = time_unit(end)
    allocs = None
    for i, (label, series) in enumerate(data.eval_queue_depth(tables).items()):
        target = right
        if label.startswith("queued allocs"):
            allocs = target = right.twinx()
            target.set_ylabel("queued allocs", color=f"C{i}")
        step(target, series["time"].to_numpy(), series["count"].to_numpy(), end, scale, label=label,
             color=f"C{i}", linestyle="--" if target is allocs else "-")
        target.set_ylim(bottom=0)
    right.set_xlabel(xlabel)
    right.set_ylabel("evaluations")
    right.set_ylim(bottom=0)
    right.set_xlim(0, max(end, 1e-9) / scale)
    handles = right.get_lines() + (allocs.get_lines() if allocs is not None else [])
    right.legend(handles=handles, loc="upper right", fontsize="small")
    return fig
