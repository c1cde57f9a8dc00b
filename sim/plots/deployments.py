"""The deployment timeline: versions, canaries, health, promotion and auto-revert of a run's deployments.

Top panel: one bar per deployment (labelled `job vN`) from its creation to its first terminal
status (or the run's end), coloured by its final status, with a tick at every status change, a
star where it was promoted (the description stops mentioning a pending promotion) and
an arrow where it failed and rolled back ("rolling back to job version N"). The text after each
bar gives the final counters of the `deployments` table (canaries placed / desired, healthy /
desired, unhealthy).

Bottom panel: running allocations of each job version over time. The version of an alloc is the
`job_version` column of the allocations table when present; otherwise the version of the job's
latest deployment created at or before the alloc's placement (so allocs updated in place keep
the version they were placed with). When a table holds deployment health over time (`time`,
`deployment_id`, `healthy_allocs`), healthy counts are drawn dashed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

import sim.plots.data as data
from sim.plots.base import (
    STATUS_COLOURS,
    TimeAxis,
    count_axis,
    new_figure,
    note,
    side_legend,
    step,
    styled,
)
from sim.plots.data import Tables

REVERT = re.compile(r"rolling back to job version (\d+)")
PROMOTION = "promotion"  # in both "requires manual promotion" and "pending automatic promotion"


def deployment_summary(tables: Tables) -> pd.DataFrame:
    """One row per deployment (creation order): job, version, start, end, status and summed counters."""
    events = data.table(tables, "deployment_events")
    deps = data.table(tables, "deployments")
    if events.empty and deps.empty:
        return pd.DataFrame(columns=["deployment_id", "job_id", "job_version", "start", "end", "status"])
    if events.empty:
        base = deps.groupby("deployment_id", sort=False).agg(
            job_id=("job_id", "first"), job_version=("job_version", "first"), start=("start", "first"),
            end=("end", "first"), status=("status", "first"), status_description=("status_description", "first"))
    else:
        g = events.groupby("deployment_id", sort=False)
        terminal = events[~events["status"].isin(("running", "paused", "pending", "initializing", "blocked",
                                                   "unblocking"))]
        base = g.agg(job_id=("job_id", "first"), job_version=("job_version", "first"), start=("time", "min"),
                     status=("status", "last"), status_description=("description", "last"))
        base["end"] = terminal.groupby("deployment_id")["time"].min()
    counters = ["desired_total", "desired_canaries", "placed_canaries", "placed_allocs", "healthy_allocs",
                "unhealthy_allocs"]
    if not deps.empty:
        present = [c for c in counters if c in deps.columns]
        sums = deps.groupby("deployment_id", sort=False)[present].sum()
        base = base.join(sums, how="left")
        if "promoted" in deps.columns:
            base["promoted"] = deps.groupby("deployment_id", sort=False)["promoted"].any()
    return base.reset_index().sort_values(["start", "deployment_id"], kind="stable").reset_index(drop=True)


def deployment_marks(tables: Tables) -> pd.DataFrame:
    """Promotions and reverts: rows of (time, deployment_id, kind, to_version)."""
    events = data.table(tables, "deployment_events")
    rows = []
    for dep_id, g in events.groupby("deployment_id", sort=False):
        previous = ""
        for t, status, desc in zip(g["time"], g["status"], g["description"].fillna(""), strict=True):
            if PROMOTION in previous and PROMOTION not in desc and status in ("running", "successful"):
                rows.append((float(t), dep_id, "promoted", -1))
            match = REVERT.search(desc)
            if match:
                rows.append((float(t), dep_id, "revert", int(match.group(1))))
            previous = desc
    return pd.DataFrame(rows, columns=["time", "deployment_id", "kind", "to_version"])


def running_by_version(tables: Tables, jobs: list[str]) -> dict[tuple[str, int], pd.DataFrame]:
    """(job, version) -> step series of its running allocations (module docstring)."""
    intervals = data.alloc_intervals(tables)
    intervals = intervals[intervals["job_id"].isin(jobs)]
    if intervals.empty:
        return {}
    if "job_version" not in intervals.columns:
        summary = deployment_summary(tables)
        versions = []
        for job, placed in zip(intervals["job_id"], intervals["placed"], strict=True):
            deps = summary[(summary["job_id"] == job) & (summary["start"] <= placed + 1e-9)]
            versions.append(int(deps["job_version"].iloc[-1]) if len(deps) else 0)
        intervals = intervals.assign(job_version=versions)
    out = {}
    for (job, version), g in intervals.groupby(["job_id", "job_version"], sort=True):
        out[(job, int(version))] = data.count_open(g["started"].to_numpy(), g["ended"].to_numpy())
    return out


def _duration(seconds: float) -> str:
    """A duration in the unit that reads best: 11.2 s, 5 min, 1.5 h."""
    for limit, size, unit in ((120.0, 1.0, "s"), (7200.0, 60.0, "min")):
        if seconds < limit:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds / 3600:.3g} h"


def _counters_text(row: pd.Series, duration: float) -> str:
    parts = []
    if row.get("desired_canaries", 0) > 0:
        parts.append(f"canaries {int(row['placed_canaries'])}/{int(row['desired_canaries'])}")
    if "healthy_allocs" in row and pd.notna(row["healthy_allocs"]):
        parts.append(f"healthy {int(row['healthy_allocs'])}/{int(row['desired_total'])}")
    if row.get("unhealthy_allocs", 0) > 0:
        parts.append(f"unhealthy {int(row['unhealthy_allocs'])}")
    status = str(row["status"])
    if status == "running" and PROMOTION in str(row.get("status_description", "")):
        status = "running, awaiting promotion"
    parts.append(f"{status} after {_duration(duration)}" if pd.notna(row["end"]) else status)
    return ", ".join(parts)


def _bars(ax, summary: pd.DataFrame, marks: pd.DataFrame, events: pd.DataFrame, axis: TimeAxis) -> None:
    """The top panel: a bar per deployment, status ticks, promotions and reverts."""
    row_of = {d: i for i, d in enumerate(summary["deployment_id"])}
    start = summary["start"].to_numpy(dtype=float)
    stop = summary["end"].fillna(axis.end).to_numpy(dtype=float)
    span, scale = axis.stop - axis.start, axis.scale
    colours = [STATUS_COLOURS.get(s, "tab:gray") for s in summary["status"]]
    ax.barh(np.arange(len(summary)), np.maximum(stop - start, span * 4e-3) / scale, left=start / scale,
            height=0.6, color=colours, alpha=0.8)
    reverts = dict(zip(marks.loc[marks["kind"] == "revert", "deployment_id"],
                       marks.loc[marks["kind"] == "revert", "to_version"], strict=True))
    for i, row in summary.iterrows():
        text = _counters_text(row, stop[i] - start[i])
        if row["deployment_id"] in reverts:
            text += f", reverted to v{reverts[row['deployment_id']]}"
        # right of the bar, else left of it, else (a long bar) inside it: never past the axes
        if stop[i] <= axis.start + 0.6 * span:
            at, offset, ha = stop[i], 12, "left"
        elif start[i] >= axis.start + 0.4 * span:
            at, offset, ha = start[i], -12, "right"
        else:
            at, offset, ha = max(start[i], axis.start), 6, "left"
        ax.annotate(text, (at / scale, i), xytext=(offset, 0), textcoords="offset points", va="center", ha=ha,
                    fontsize="small")
    if not events.empty:
        ax.scatter(events["time"] / scale, events["deployment_id"].map(row_of), marker="|", s=120, color="black",
                   zorder=3, label="status change")
    for kind, marker, colour in (("promoted", "*", "gold"), ("revert", "<", "tab:red")):
        sel = marks[marks["kind"] == kind]
        if not sel.empty:
            ax.scatter(sel["time"] / scale, sel["deployment_id"].map(row_of), marker=marker, s=140, color=colour,
                       edgecolor="black", zorder=4, label=kind)
    labels = [f"{j} v{v}" for j, v in zip(summary["job_id"], summary["job_version"], strict=True)]
    ax.set_yticks(range(len(summary)), labels, fontsize="small")
    ax.set_ylim(len(summary) - 0.5, -0.8)
    ax.set_ylabel("deployment (job version)")
    statuses = [Patch(color=STATUS_COLOURS.get(s, "tab:gray"), alpha=0.8, label=s)
                for s in dict.fromkeys(summary["status"])]
    handles, _ = ax.get_legend_handles_labels()
    side_legend(ax, handles=[*statuses, *handles], fontsize="small", title="final status, marks")


def no_deployments(tables: Tables, job: str | None = None) -> str | None:
    """Why a run has no deployment timeline ("no deployments in this run"), or None when it has one."""
    summary = deployment_summary(tables)
    if job is not None:
        summary = summary[summary["job_id"] == job]
    return None if len(summary) else "no deployments in this run" + (f" of job {job}" if job else "")


@styled
def deployment_timeline(source: Tables | str | Path, job: str | None = None) -> Figure:
    """Deployments of a run (or of one job) on a timeline, above running allocs per job version.

    The time axis spans the deployments (with some margin) when they cover a small part of the
    run, so that a deployment of seconds in an hour-long run can be read; the axis label says so.
    A run without deployments gives a one-panel figure that says so.
    """
    tables = data.load_tables(source)
    summary = deployment_summary(tables)
    events = data.table(tables, "deployment_events")
    if job is not None:
        summary = summary[summary["job_id"] == job].reset_index(drop=True)
        events = events[events["job_id"] == job] if not events.empty else events
    title = "deployments" + (f" of {job}" if job else "")
    if summary.empty:
        fig, (ax,) = new_figure(height=2.5)
        ax.set_title(title)
        note(ax, str(no_deployments(tables, job)))
        return fig
    end = data.run_end(tables)
    axis = TimeAxis.zoom(float(summary["start"].min()), float(summary["end"].fillna(end).max()), end, "deployments")
    fig, (top, bottom) = new_figure(2, 1, height=6.5, sharex=True,
                                    height_ratios=(max(1.0, 0.5 * len(summary) ** 0.5), 1.2))
    top.set_title(title)
    marks = deployment_marks(tables)
    marks = marks[marks["deployment_id"].isin(set(summary["deployment_id"]))]
    _bars(top, summary, marks, events, axis)
    _versions(bottom, tables, sorted(set(summary["job_id"])), axis)
    axis.apply(bottom)
    return fig


def _versions(ax, tables: Tables, jobs: list[str], axis: TimeAxis) -> None:
    """The bottom panel: running allocs per (job, version), and healthy counts when recorded."""
    end, scale = axis.end, axis.scale
    for (job, version), series in running_by_version(tables, jobs).items():
        step(ax, series["time"].to_numpy(), series["count"].to_numpy(), end, scale, label=f"{job} v{version}")
    health = data.find_table(tables, ("time", "deployment_id", "healthy_allocs"), exclude=("deployments",))
    if health is not None:
        summary = deployment_summary(tables).set_index("deployment_id")
        for dep_id, g in health.groupby("deployment_id", sort=False):
            if dep_id in summary.index and summary.loc[dep_id, "job_id"] in jobs:
                label = f"healthy {summary.loc[dep_id, 'job_id']} v{summary.loc[dep_id, 'job_version']}"
                step(ax, g["time"].to_numpy(), g["healthy_allocs"].to_numpy(), end, scale, linestyle="--", label=label)
    if ax.lines:
        count_axis(ax, "running allocs (count)")
        side_legend(ax, fontsize="small")
    else:
        note(ax, "no allocations of these jobs ran")
