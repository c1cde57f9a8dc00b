"""Policy comparison figures: KPI bars and distribution CDFs across runs.

Runs come as a mapping of label -> one run or a list of runs (seeds of the same configuration),
each run being its tables or its results folder; or, for the KPI bars, as a sweep table
(`sim.experiments.sweep.sweep()`'s DataFrame, or a sweep folder holding `sweep.csv`). Bars show the mean over
a label's runs, whiskers span their minimum to maximum and dots mark each run; a KPI that is 0
in every run, or measured in none, gets no panel but a line under the figure naming it. CDFs
pool the samples of a label's runs; their x axis is logarithmic when the samples span more
than LOG_DECADES decades (sim.plots.base.draw_cdfs).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

import sim.plots.data as data
from sim.errors import SimError
from sim.plots.base import draw_cdfs, new_figure, note, styled
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


# metric -> (quantity, kind of values for sim.plots.base.draw_cdfs, values of one run)
METRICS: dict[str, tuple[str, str, Callable[[Tables], pd.Series]]] = {
    "placement_latency": ("placement latency", "duration", _placement_latency),
    "eval_latency": ("evaluation latency, ready to completed", "duration",
                     lambda t: data.eval_latencies(t).get("ready to completed")),
    "wait_in_broker": ("wait in broker", "duration", _column("evaluations", "wait_in_broker")),
    "cpu_utilisation": ("cluster cpu allocated / capacity", "fraction",
                        lambda t: data.utilisation_series(t).get("cpu_allocated")),
    "memory_utilisation": ("cluster memory allocated / capacity", "fraction",
                           lambda t: data.utilisation_series(t).get("memory_allocated")),
    "node_cpu_utilisation": ("per-node cpu allocated / capacity, all samples", "fraction", _node_cpu),
    "cpu_fragmentation": ("cpu fragmentation", "fraction", lambda t: data.fragmentation_series(t, ("cpu",))["cpu"]),
    "job_makespan": ("batch job makespan", "duration", _column("jobs", "makespan")),
    "job_slowdown": ("batch job slowdown, makespan / runtime", "ratio", _column("jobs", "slowdown")),
}
# unit -> y axis label of a KPI panel
UNIT_LABELS = {"s": "simulated seconds (s)", "fraction": "fraction (0 to 1)", "ratio": "ratio", "count": "count",
               "nodes": "nodes", "MHz": "MHz", "MB": "MB"}


def kpi_unit(kpi: str) -> str:
    """A summary KPI's unit: sim.results.kpis.KPI_UNITS when it lists it, else read from the name."""
    from sim.results import kpis

    known: Mapping[str, str] = getattr(kpis, "KPI_UNITS", {})
    if kpi in known:
        return known[kpi]
    if any(w in kpi for w in ("latency", "duration", "time", "makespan", "wait")):
        return "s"
    if any(w in kpi for w in ("utilisation", "rate", "fragmentation", "efficiency")):
        return "fraction"
    if any(w in kpi for w in ("slowdown", "imbalance")):
        return "ratio"
    return "count"


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


@styled
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
    missing = [k for k in kpis if k not in frame.columns or frame[k].isna().all()]
    zero = [k for k in kpis if k not in missing and (frame[k].fillna(0) == 0).all()]
    shown = [k for k in kpis if k not in missing and k not in zero]
    cols = min(len(shown), 3) or 1
    rows = -(-len(shown) // cols) or 1
    fig, axes = new_figure(rows, cols, width=4.2 * cols, height=3.4 * rows)
    compared = ", ".join(_by_names(runs, by)) or "label"
    fig.suptitle(f"KPIs by {compared}: mean over runs, whiskers min to max, a dot per run", fontsize="medium")
    for ax, kpi in zip(axes, shown, strict=False):
        _kpi_bars(ax, frame, kpi, labels)
        ax.set_xlabel(compared, fontsize="small")
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    if not shown:
        axes[0].set_visible(True)
        note(axes[0], "no KPI to compare")
    lines = [f"0 in every run: {', '.join(zero)}" if zero else "",
             f"not measured: {', '.join(missing)}" if missing else ""]
    if any(lines):
        fig.supxlabel("\n".join(line for line in lines if line), fontsize="small", color="0.3")
    return fig


def _by_names(runs, by: str | Sequence[str] | None) -> list[str]:
    """The factor names a comparison is labelled by (empty for a mapping of runs)."""
    if by is not None:
        return [by] if isinstance(by, str) else list(by)
    if isinstance(runs, pd.DataFrame | str | Path):
        return [c.rsplit(".", 1)[-1] for c in factor_columns(_sweep_frame(runs))]
    return []


def _kpi_bars(ax, frame: pd.DataFrame, kpi: str, labels: list[str]) -> None:
    g = frame.groupby("label", sort=False)[kpi]
    mean, low, high = g.mean().reindex(labels), g.min().reindex(labels), g.max().reindex(labels)
    x = np.arange(len(labels))
    ax.bar(x, mean.to_numpy(dtype=float), color=[f"C{i % 10}" for i in range(len(labels))], alpha=0.8,
           yerr=np.vstack([(mean - low).to_numpy(dtype=float), (high - mean).to_numpy(dtype=float)]), capsize=4)
    for i, label in enumerate(labels):
        values = frame.loc[frame["label"] == label, kpi].to_numpy(dtype=float)
        ax.plot(np.full(len(values), i), values, "k.", markersize=4)
    unit = kpi_unit(kpi)
    ax.set_title(kpi, fontsize="medium")
    ax.set_ylabel(UNIT_LABELS.get(unit, unit))
    if unit == "count":
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    # factor values one per line (the title names the factors), long ones wrapped; slanted when crowded
    ticks = ["\n".join("\n".join(textwrap.wrap(part.split("=", 1)[-1], 16)) for part in str(label).split(", "))
             for label in labels]
    widest = max((len(line) for tick in ticks for line in tick.split("\n")), default=0)
    slanted = len(labels) * widest > 48
    ax.set_xticks(x, ticks, fontsize="small", rotation=35 if slanted else 0, ha="right" if slanted else "center",
                  rotation_mode="anchor")


@styled
def compare_cdfs(runs: Runs, metric: str | Sequence[str] = "placement_latency") -> Figure:
    """One CDF line per label of a metric's samples pooled over the label's runs (see METRICS).

    A label keeps its colour in every panel; the axes are chosen by sim.plots.base.draw_cdfs.
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; expected one of {', '.join(METRICS)}")
    loaded = {label: [data.load_tables(r) for r in _as_list(value)] for label, value in runs.items()}
    colours = {label: f"C{i % 10}" for i, label in enumerate(loaded)}
    fig, axes = new_figure(1, len(metrics), width=5.5 * len(metrics), height=4.2)
    fig.suptitle("distributions by label (samples pooled over each label's runs)", fontsize="medium")
    drawn: dict[str, Line2D] = {}
    for ax, name in zip(axes, metrics, strict=True):
        quantity, kind, values_of = METRICS[name]
        samples = {}
        for label, runs_ in loaded.items():
            parts = [np.asarray(p, dtype=float) for p in (values_of(t) for t in runs_) if p is not None]
            samples[label] = np.concatenate(parts or [np.empty(0)])
        ax.set_title(name, fontsize="medium")
        draw_cdfs(ax, samples, quantity, kind, colours=colours, legend=False)
        drawn.update({str(line.get_label()): line for line in ax.lines if str(line.get_label()) not in drawn})
        if not ax.lines:
            note(ax, f"no {name} samples")
    if drawn:  # one legend for every panel: a label has one colour and style throughout
        fig.legend(handles=[drawn[label] for label in loaded if label in drawn], loc="outside lower center",
                   ncols=min(len(drawn), 3), fontsize="small", frameon=False)
    return fig
