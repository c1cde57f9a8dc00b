"""The preemption figure of one run: what was evicted, and what waiting it saved or caused.

Left: every eviction as a vertical segment at its time, from the preempting job's priority down
to the evicted one's (marker size: the evicted alloc's CPU), with the cumulative work lost
(CPU-seconds, the `preemptions` table's `cpu_seconds_lost`) on a second axis. Right: each job's
wait for its first placement (`jobs.first_placement - jobs.submit`) against its priority, with
the mean per priority; jobs never placed are drawn at the top edge.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

import sim.plots.data as data
from sim.plots.base import new_figure, note, time_unit
from sim.plots.cluster import Source


def preemption_overview(source: Source) -> Figure:
    """Evictions over time by priority, work lost, and first-placement wait by job priority."""
    tables = data.load_tables(source)
    evicted = data.table(tables, "preemptions")
    jobs = data.table(tables, "jobs")
    fig, (left, right) = new_figure(1, 2, width=12.0)
    left.set_title("preemptions (preempting -> evicted priority)")
    right.set_title("wait for first placement by job priority")
    end = data.run_end(tables)
    scale, xlabel = time_unit(end)
    if evicted.empty:
        note(left, "no allocation was preempted in this run")
    else:
        t = evicted["time"].to_numpy(float) / scale
        left.vlines(t, evicted["preempted_priority"], evicted["preempting_priority"], color="0.6", linewidth=0.8)
        left.scatter(t, evicted["preempting_priority"], marker="^", color="tab:blue", s=18, label="preempting job")
        sizes = 10 + 40 * evicted["cpu"].to_numpy(float) / max(float(evicted["cpu"].max()), 1.0)
        left.scatter(t, evicted["preempted_priority"], marker="v", color="tab:red", s=sizes, label="evicted alloc")
        left.set_xlabel(xlabel)
        left.set_ylabel("job priority")
        left.set_xlim(0, max(end, 1e-9) / scale)
        lost = left.twinx()
        order = np.argsort(evicted["time"].to_numpy(float), kind="stable")
        cumulative = np.cumsum(evicted["cpu_seconds_lost"].to_numpy(float)[order])
        lost.step(np.append(t[order], end / scale), np.append(cumulative, cumulative[-1]), where="post",
                  color="tab:orange", label="work lost (cumulative)")
        lost.set_ylabel("work lost (CPU-seconds)", color="tab:orange")
        lost.set_ylim(bottom=0)
        handles = left.collections[1:] + lost.get_lines()
        left.legend(handles=handles, loc="lower right", fontsize="small")
    if jobs.empty:
        note(right, "no jobs in this run")
        return fig
    wait = (jobs["first_placement"] - jobs["submit"]).to_numpy(float)
    priority = jobs["priority"].to_numpy(float)
    placed = ~np.isnan(wait)
    top = float(np.nanmax(wait)) if placed.any() else 1.0
    right.scatter(priority[placed], wait[placed], color="tab:blue", s=14, alpha=0.6, label="job")
    if (~placed).any():
        right.scatter(priority[~placed], np.full((~placed).sum(), top * 1.05 or 1.0), marker="x", color="tab:red",
                      s=18, label="never placed")
    means = jobs.assign(wait=wait).groupby("priority")["wait"].mean().dropna()
    right.plot(means.index.to_numpy(float), means.to_numpy(float), "o-", color="tab:green", label="mean per priority")
    right.set_xlabel("job priority")
    right.set_ylabel("seconds from submit to first placement")
    right.set_ylim(bottom=0)
    right.legend(loc="upper left", fontsize="small")
    return fig
