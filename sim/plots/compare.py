"""Policy comparison figures: KPI bars and distribution CDFs across runs.

Runs come as a mapping of label -> one run or a list of runs (seeds of the same configuration),
each run being its tables or its results folder; or, for the KPI bars, as a sweep table
(`sim.experiments.sweep.sweep()`'s DataFrame, or a sweep folder holding `sweep.csv`). Bars show the mean over
a label's runs, whiskers span their minimum to maximum and dots mark each run. CDFs pool the
samples of a label's runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

import sim.plots.data as data
from sim.errors import SimError
from sim.plots.base import log_x, new_figure, note
from sim.plots.data import Tables

Run = Tables | str | Path
Runs = Mapping[str, Run | Sequence[Run]]
DEFAULT_KPIS = ("placement_latency_p95", "eval_latency_p95", "cpu_utilisation_mean", "placement_failures")
SWEEP_KEYS = ("run_id", "seed", "status", "error")


def _node_cpu(tables: Tables) -> pd.Series:
    usage = data.table(tables, "node_usage")
    if usage.empty:
        return pd.Series(dtype=float)
    usage = usage[usage["status"] == "ready"] if "status" in usage.columns else usage
    return usage["cpu_allocated"] / usage["cpu_capacity"].replace(0, np.nan)


def _placement_latency(tables: Tables) -> pd.Series:
    from sim.results.kpis import placement_latency

    if data.table(tables, "placements").empty or data.table(tables, "evaluations").empty:
        return pd.Series(dtype=float)
    return placement_latency(tables)


def _column(name: str, column: str) -> Callable[[Tables], pd.Series]:
    def values(tables: Tables) -> pd.Series:
        frame = data.table(tables, name)
        return frame[column] if column in frame.columns else pd.Series(dtype=float)

    return values


# metric -> (axis label, values of one run); LOG_METRICS get a logarithmic x axis (long tails)
LOG_METRICS = ("placement_latency", "eval_latency", "wait_in_broker", "job_makespan", "job_slowdown")
METRICS: dict[str, tuple[str, Callable[[Tables], pd.Series]]] = {
    "placement_latency": ("placement latency (s)", _placement_latency),
    "eval_latency": ("evaluation latency, ready to completed (s)",
                     lambda t: data.eval_latencies(t).get("ready to completed")),
    "wait_in_broker": ("wait in broker (s)", _column("evaluations", "wait_in_broker")),
    "cpu_utilisation": ("cluster cpu allocated / capacity", lambda t: data.utilisation_series(t).get("cpu_allocated")),
    "memory_utilisation": ("cluster memory allocated / capacity",
                           lambda t: data.utilisation_series(t).get("memory_allocated")),
    "node_cpu_utilisation": ("per-node cpu allocated / capacity (all samples)", _node_cpu),
    "cpu_fragmentation": ("cpu fragmentation", lambda t: data.fragmentation_series(t, ("cpu",))["cpu"]),
    "job_makespan": ("batch job makespan (s)", _column("jobs", "makespan")),
    "job_slowdown": ("batch job slowdown (makespan / runtime)", _column("jobs", "slowdown")),
}


def _as_list(value: Run | Sequence[Run]) -> list[Run]:
    if isinstance(value, str | Path | Mapping):
        return [value]
    return list(value)


def run_kpis(run: Run) -> dict[str, float]:
    """A run's summary KPIs: its folder's summary.json as written, else computed from its tables."""
    if isinstance(run, str | Path) and (Path(run) / "summary.json").is_file():
        from sim.results.folder import read_summary

        return read_summary(run)
    from sim.results.kpis import summarize

    return summarize(data.load_tables(run))


def kpi_table(runs: Runs) -> pd.DataFrame:
    """One row per run: its `label` and every summary KPI (sim.results.kpis)."""
    rows = []
    for label, value in runs.items():
        for run in _as_list(value):
            rows.append({"label": label, **run_kpis(run)})
    return pd.DataFrame(rows)


def factor_columns(sweep: pd.DataFrame) -> list[str]:
    """A sweep table's factor (and label) columns: those between `run_id` and `seed`."""
    cols = list(sweep.columns)
    if "seed" not in cols:
        raise SimError("not a sweep table (no 'seed' column): pass by=<column> to say what to compare")
    return [c for c in cols[: cols.index("seed")] if c not in SWEEP_KEYS]


def _sweep_frame(sweep: pd.DataFrame | str | Path) -> pd.DataFrame:
    if isinstance(sweep, str | Path):
        path = Path(sweep)
        path = path / "sweep.csv" if path.is_dir() else path
        if not path.is_file():
            raise SimError(f"{sweep}: no sweep.csv")
        return pd.read_csv(path)
    return sweep


def _labelled(sweep: pd.DataFrame, by: str | Sequence[str] | None) -> pd.DataFrame:
    cols = [by] if isinstance(by, str) else list(by) if by is not None else factor_columns(sweep)
    if "status" in sweep.columns:
        sweep = sweep[sweep["status"] == "complete"]
    if not cols:
        return sweep.assign(label="all runs")
    if len(cols) == 1:
        return sweep.assign(label=sweep[cols[0]].astype(str))
    return sweep.assign(label=[", ".join(f"{c.rsplit('.', 1)[-1]}={v}" for c, v in zip(cols, row, strict=True))
                               for row in sweep[cols].itertuples(index=False)])


def runs_from_sweep(sweep_dir: str | Path, by: str | Sequence[str] | None = None) -> dict[str, list[Path]]:
    """Label -> results folders of a sweep folder's completed runs (for compare_cdfs)."""
    frame = _labelled(_sweep_frame(sweep_dir), by)
    out: dict[str, list[Path]] = {}
    for label, run_id in zip(frame["label"], frame["run_id"], strict=True):
        out.setdefault(label, []).append(Path(sweep_dir) / str(run_id))
    return out


def compare_kpis(runs: Runs | pd.DataFrame | str | Path, kpis: Sequence[str] = DEFAULT_KPIS,
                 by: str | Sequence[str] | None = None) -> Figure:
    """One bar chart per KPI: mean per label, min-max whiskers, a dot per run.

    Args:
        runs: label -> run(s), or a sweep table / sweep folder.
        kpis: summary KPI names (see sim.results.kpis.summarize).
        by: for a sweep table, the column(s) naming what is compared (default: its factors).
    """
    if isinstance(runs, pd.DataFrame | str | Path):
        frame = _labelled(_sweep_frame(runs), by)
    else:
        frame = kpi_table(runs)
    labels = list(dict.fromkeys(frame["label"])) if len(frame) else []
    cols = min(len(kpis), 3) or 1
    rows = -(-len(kpis) // cols)
    fig, axes = new_figure(rows, cols, width=4.0 * cols, height=3.2 * rows)
    for ax, kpi in zip(axes, kpis, strict=False):
        ax.set_title(kpi, fontsize="medium")
        if kpi not in frame.columns or frame[kpi].isna().all():
            note(ax, "not measured")
            continue
        _kpi_bars(ax, frame, kpi, labels)
    for ax in axes[len(kpis):]:
        ax.set_visible(False)
    return fig


def _kpi_bars(ax, frame: pd.DataFrame, kpi: str, labels: list[str]) -> None:
    g = frame.groupby("label", sort=False)[kpi]
    mean, low, high = g.mean().reindex(labels), g.min().reindex(labels), g.max().reindex(labels)
    x = np.arange(len(labels))
    ax.bar(x, mean.to_numpy(dtype=float), color=[f"C{i % 10}" for i in range(len(labels))], alpha=0.8,
           yerr=np.vstack([(mean - low).to_numpy(dtype=float), (high - mean).to_numpy(dtype=float)]), capsize=4)
    for i, label in enumerate(labels):
        values = frame.loc[frame["label"] == label, kpi].to_numpy(dtype=float)
        ax.plot(np.full(len(values), i), values, "k.", markersize=4)
    ax.set_xticks(x, labels, rotation=20 if max(map(len, labels), default=0) > 8 else 0, fontsize="small")


def compare_cdfs(runs: Runs, metric: str | Sequence[str] = "placement_latency") -> Figure:
    """One CDF line per label of a metric's samples pooled over the label's runs (see METRICS).

    Latencies, makespan and slowdown (LOG_METRICS) are drawn on a logarithmic x axis.
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; expected one of {', '.join(METRICS)}")
    loaded = {label: [data.load_tables(r) for r in _as_list(value)] for label, value in runs.items()}
    fig, axes = new_figure(1, len(metrics), width=5.5 * len(metrics), height=4.0)
    for ax, name in zip(axes, metrics, strict=True):
        xlabel, values_of = METRICS[name]
        for i, (label, runs_) in enumerate(loaded.items()):
            parts = [values_of(t) for t in runs_]
            x, y = data.ecdf(np.concatenate([np.asarray(p, dtype=float) for p in parts if p is not None] or [np.empty(0)]))
            if len(x):
                ax.step(x, y, where="post", color=f"C{i % 10}", label=label)
        ax.set_xlabel(xlabel)
        if name in LOG_METRICS and ax.lines:
            log_x(ax)
        ax.set_ylabel("fraction")
        ax.set_ylim(0, 1.02)
        if ax.lines:
            ax.legend(loc="lower right", fontsize="small")
        else:
            note(ax, f"no {name} samples")
    return fig
