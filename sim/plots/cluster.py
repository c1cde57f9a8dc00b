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
from matplotlib.figure import Figure
from matplotlib.patches import Patch

import sim.plots.data as data
from sim.plots.base import (
    LINESTYLES,
    TimeAxis,
    count_axis,
    draw_cdfs,
    job_colours,
    job_legend,
    new_figure,
    note,
    rectangles,
    side_legend,
    step,
    styled,
)
from sim.plots.data import Tables

Source = Tables | str | Path
MAX_TICK_LABELS = 50  # node names on every row up to this many rows, else on evenly spaced rows
LANE_MAX_NODES = 50  # placement_map(color_by="auto"): lanes up to this many nodes, a heatmap beyond
DOWN_COLOUR = (0.84, 0.15, 0.16, 0.15)


def run_axis(tables: Tables) -> TimeAxis:
    """The run's time axis, trimmed after its last activity."""
    return TimeAxis.of(data.run_end(tables), data.last_activity(tables))


def _node_axis(ax, labels: list[str], extra: list[str] | None = None, rows: bool = True) -> None:
    """Node rows top to bottom in cluster order (row i at y = i), named; `rows` draws row borders."""
    names = [*(extra or []), *labels]
    first = -len(extra or [])
    ys = np.arange(first, first + len(names))
    if len(names) <= MAX_TICK_LABELS:
        ax.set_yticks(ys, names, fontsize="small" if len(names) <= 25 else "x-small")
        ax.set_ylabel("node")
    else:
        every = int(np.ceil(len(names) / 25))
        ax.set_yticks(ys[::every], names[::every], fontsize="x-small")
        ax.set_ylabel(f"node ({len(labels)}; a name every {every} rows)")
    ax.tick_params(axis="y", length=0)
    if rows:
        for y in ys[1::2]:
            ax.axhspan(y - 0.5, y + 0.5, color="0.95", zorder=0, gid="row")
        for y in ys[:-1]:
            ax.axhline(y + 0.5, color="0.8", linewidth=0.6, zorder=0.5)
    ax.set_ylim(len(labels) - 0.5, first - 0.5)


def _lanes(intervals, end: float) -> tuple[np.ndarray, np.ndarray]:
    """Centre offset in (-0.4, 0.4) of each alloc within its node row, and its lane height."""
    offsets, heights = np.zeros(len(intervals)), np.full(len(intervals), 0.8)
    ends = intervals["ended"].fillna(end).to_numpy(dtype=float)
    starts = intervals["placed"].to_numpy(dtype=float)
    for _node, idx in intervals.groupby("node_id", sort=False).indices.items():
        lanes = data.assign_lanes(starts[idx], ends[idx])
        heights[idx] = 0.8 / (lanes.max() + 1)
        offsets[idx] = -0.4 + (lanes + 0.5) * heights[idx]
    return offsets, heights


def _shade_down(ax, tables: Tables, row: dict[str, int], scale: float) -> dict[str, tuple]:
    """Shade the periods each node in `row` was down; the legend entry to add, if any."""
    spans = data.node_down_spans(tables)
    spans = spans[spans["node_id"].isin(row)]
    if spans.empty:
        return {}
    ax.barh(spans["node_id"].map(row).to_numpy(dtype=float), (spans["end"] - spans["start"]) / scale,
            left=spans["start"] / scale, height=1.0, color=DOWN_COLOUR, gid="node-down")
    return {"(node down)": DOWN_COLOUR}


@styled
def placement_map(source: Source, color_by: str = "auto", dimension: str = "cpu") -> Figure:
    """Nodes (rows) over time: each allocation's lifetime in a lane of its node, or node utilisation.

    Args:
        source: a run's tables or results folder.
        color_by: "job" draws one bar per allocation, from placement to its terminal status (or
            the run's end), in a lane inside its node's row, coloured by job (by job family or
            type when there are too many jobs to tell apart, see `sim.plots.data.job_keys`);
            failed placements are marked on a row of their own. "utilisation" draws a node x
            time heatmap of allocated / capacity. "auto" (the default) takes lanes up to
            LANE_MAX_NODES nodes and the heatmap beyond, where lanes are too thin to read.
        dimension: resource of the utilisation heatmap ("cpu", "memory" or "disk").

    The time axis stops shortly after the run's last activity when the run idles after it (the
    axis label says so).
    """
    if color_by not in ("auto", "job", "utilisation"):
        raise ValueError(f"color_by must be 'auto', 'job' or 'utilisation', not {color_by!r}")
    tables = data.load_tables(source)
    order, labels = data.node_order(tables), data.node_labels(tables)
    if color_by == "auto":
        color_by = "job" if len(order) <= LANE_MAX_NODES else "utilisation"
    if color_by == "utilisation":
        return _utilisation_map(tables, dimension, labels)
    fig, (ax,) = new_figure(height=max(3.5, min(12.0, 1.5 + 0.3 * len(order))))
    ax.set_title("placement map: allocations by node, coloured by job")
    axis = run_axis(tables)
    axis.apply(ax)
    intervals = data.alloc_intervals(tables)
    failed = data.failed_placements(tables)
    if intervals.empty and failed.empty:
        note(ax, "no allocations in this run")
        return fig
    end = axis.end
    row = {n: i for i, n in enumerate(order)}
    offsets, heights = _lanes(intervals, end)
    y = intervals["node_id"].map(row).to_numpy(dtype=float) + offsets
    x0 = intervals["placed"].to_numpy(dtype=float)
    x1 = np.maximum(intervals["ended"].fillna(end).to_numpy(dtype=float), x0 + 1e-3 * end)
    keys, kind = data.job_keys(tables, pd.concat([intervals["job_id"], failed["job_id"]], ignore_index=True))
    colours = job_colours(keys)
    keys, failed_keys = keys[: len(intervals)], keys[len(intervals):]
    ax.set_title(f"placement map: allocations by node, coloured by {kind}")
    rectangles(ax, x0 / axis.scale, y - 0.45 * heights, (x1 - x0) / axis.scale, 0.9 * heights,
               [colours[j] for j in keys], gid="allocations")
    extra = []
    if not failed.empty:
        extra = ["(no node fit)"]
        ax.scatter(failed["time"] / axis.scale, np.full(len(failed), -1.0), marker="x",
                   c=[colours[j] for j in failed_keys], gid="failed")
    down = _shade_down(ax, tables, row, axis.scale)
    axis.apply(ax)
    _node_axis(ax, [labels[n] for n in order], extra)
    job_legend(ax, {**colours, **down}, title=kind)
    return fig


def _utilisation_map(tables: Tables, dimension: str, labels: dict[str, str]) -> Figure:
    wide = data.node_utilisation(tables, dimension)
    fig, (ax,) = new_figure(height=max(3.5, min(9.0, 1.5 + 0.06 * len(wide))))
    ax.set_title(f"placement map: {dimension} allocated / capacity per node")
    axis = run_axis(tables)
    axis.apply(ax)
    if wide.empty:
        note(ax, "no node usage samples in this run")
        return fig
    times = wide.columns.to_numpy(dtype=float)
    step_ = times[1] - times[0] if len(times) > 1 else 1.0
    values = wide.to_numpy(dtype=float)
    top = float(np.nanmax(values, initial=0.0))
    vmax = 1.0 if top > 0.5 else max(0.1, np.ceil(top * 10) / 10)  # a lightly loaded cluster keeps its contrast
    image = ax.imshow(values, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0.0, vmax=vmax,
                      extent=(times[0] / axis.scale, (times[-1] + step_) / axis.scale, len(wide) - 0.5, -0.5))
    up_to = "" if vmax == 1 else f", colours up to {vmax:g}"
    fig.colorbar(image, ax=ax, label=f"{dimension} allocated / capacity (fraction{up_to})")
    axis.apply(ax)
    _node_axis(ax, [labels[n] for n in wide.index], rows=False)
    return fig


def _busiest_nodes(intervals, order: list[str], max_nodes: int) -> list[str]:
    counts = intervals["node_id"].value_counts()
    top = sorted(counts.index, key=lambda n: (-counts[n], order.index(n) if n in order else len(order)))
    chosen = set(top[:max_nodes])
    return [n for n in order if n in chosen]


@styled
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
    axis = run_axis(tables)
    fig, (ax,) = new_figure(height=max(3.0, min(12.0, 1.5 + 0.5 * len(intervals) ** 0.5 + 0.4 * len(chosen))))
    ax.set_title(f"allocations on {len(chosen)} node(s): pending, then running")
    axis.apply(ax)
    if intervals.empty:
        note(ax, "no allocations on these nodes")
        return fig
    keys, kind = data.job_keys(tables, intervals["job_id"])
    colours = job_colours(keys)
    offsets, height = _lanes(intervals, axis.end)
    row = {n: i for i, n in enumerate(chosen)}
    y = intervals["node_id"].map(row).to_numpy(dtype=float) + offsets
    placed = intervals["placed"].to_numpy(dtype=float)
    started = intervals["started"].to_numpy(dtype=float)
    ended = intervals["ended"].fillna(axis.end).to_numpy(dtype=float)
    run_from = np.where(np.isnan(started), ended, started)
    bad = intervals["status"].isin(("failed", "lost")).to_numpy()
    bottom, h, scale = y - 0.45 * height, 0.9 * height, axis.scale
    rectangles(ax, placed / scale, bottom, (run_from - placed) / scale, h, "0.8", gid="pending")
    rectangles(ax, run_from / scale, bottom, (ended - run_from) / scale, h,
               [colours[j] for j in keys], np.where(bad, "red", "none").tolist(), gid="running")
    down = _shade_down(ax, tables, row, scale)
    axis.apply(ax)
    _node_axis(ax, [labels.get(n, n) for n in chosen])
    failed = [Patch(facecolor="white", edgecolor="red", label="(failed or lost)")] if bad.any() else []
    job_legend(ax, {"(pending)": (0.8, 0.8, 0.8, 1.0), **colours, **down}, title=kind, extra=failed)
    return fig


def _series_axes(tables: Tables, series, title: str):
    """One titled time axis for a node-usage series: (figure, axes, time axis)."""
    fig, (ax,) = new_figure()
    ax.set_title(title)
    axis = run_axis(tables)
    axis.apply(ax)
    if series.empty:
        note(ax, "no node usage samples in this run")
    return fig, ax, axis


DIM_COLOURS = {"cpu": "tab:blue", "memory": "tab:orange", "disk": "tab:green"}


@styled
def utilisation_over_time(source: Source) -> Figure:
    """Cluster cpu and memory allocated over schedulable capacity, and held by running allocs.

    There is no usage model: a running allocation uses exactly what it reserves, so "used" is
    what running allocations hold. Where it equals what is allocated (no alloc waited between
    placement and running at any sample) one line per dimension says so; else allocated is
    solid and running dashed.
    """
    tables = data.load_tables(source)
    series = data.utilisation_series(tables)
    fig, ax, axis = _series_axes(tables, series, "cluster utilisation: allocated / schedulable capacity\n"
                                                 "(no usage model: a running allocation uses what it reserves)")
    if series.empty:
        return fig
    times = series["time"].to_numpy()
    for dim in ("cpu", "memory"):
        allocated, used = series.get(f"{dim}_allocated"), series.get(f"{dim}_used")
        if allocated is None:
            continue
        same = used is not None and np.allclose(allocated, used, equal_nan=True)
        label = f"{dim} allocated = used" if same else f"{dim} allocated"
        step(ax, times, allocated.to_numpy(), axis.end, axis.scale, color=DIM_COLOURS[dim], label=label,
             linewidth=2.0)
        if used is not None and not same:
            step(ax, times, used.to_numpy(), axis.end, axis.scale, color=DIM_COLOURS[dim], linestyle="--",
                 label=f"{dim} used (held by running allocs)")
    ax.set_ylabel("fraction of schedulable capacity")
    top = float(np.nanmax(series.drop(columns="time").to_numpy(dtype=float), initial=0.0))
    ax.set_ylim(0, min(1.05, max(0.05, top * 1.15)))
    axis.apply(ax)
    side_legend(ax)
    return fig


@styled
def fragmentation_over_time(source: Source, dimensions: tuple[str, ...] = ("cpu", "memory")) -> Figure:
    """Share of free capacity on nodes that cannot host one more typical ask, per dimension (sim.plots.data)."""
    tables = data.load_tables(source)
    series = data.fragmentation_series(tables, dimensions)
    ask = data.typical_ask(tables)
    units = {"cpu": "MHz", "memory": "MB", "disk": "MB"}
    described = ", ".join(f"{ask[d]:g} {units[d]} {d}" for d in ask if np.isfinite(ask[d]) and ask[d] > 0)
    fig, ax, axis = _series_axes(tables, series, "fragmentation: share of free capacity on nodes that "
                                                 "cannot host one more typical ask\n(typical = median placed: "
                                                 f"{described or 'nothing placed'}; ready nodes)")
    if series.empty:
        return fig
    values = series[list(dimensions)].to_numpy(dtype=float)
    if np.isnan(values).all():
        note(ax, "no typical ask (nothing placed) or no free capacity: fragmentation undefined")
        return fig
    for i, dim in enumerate(dimensions):  # wide solid, then narrower dashed: equal lines stay visible
        step(ax, series["time"].to_numpy(), series[dim].to_numpy(), axis.end, axis.scale, label=dim,
             color=DIM_COLOURS[dim], linewidth=3.0 - i, linestyle=LINESTYLES[i % len(LINESTYLES)])
    ax.set_ylim(-0.02, 1.02)
    axis.apply(ax)
    ax.set_ylabel("fragmented share of free capacity (fraction)")
    side_legend(ax)
    return fig


@styled
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
    draw_cdfs(left, data.eval_latencies(tables), "latency")
    left.set_ylabel("fraction of evaluations ≤ x")
    axis = run_axis(tables)
    allocs = None
    for i, (label, series) in enumerate(data.eval_queue_depth(tables).items()):
        target = right
        if label.startswith("queued allocs"):
            allocs = target = right.twinx()
        step(target, series["time"].to_numpy(), series["count"].to_numpy(), axis.end, axis.scale, label=label,
             color=f"C{i}", linestyle="--" if target is allocs else "-", linewidth=2.0 - 0.3 * min(i, 2))
    count_axis(right, "evaluations (count)")
    if allocs is not None:
        count_axis(allocs, "queued allocs (count)")
    axis.apply(right)
    handles = right.get_lines() + (allocs.get_lines() if allocs is not None else [])
    right.legend(handles=handles, loc="upper right", fontsize="small")
    return fig
