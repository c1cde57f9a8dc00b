"""Drawing helpers shared by the plot modules: figures, time axes, latency CDFs, colours, notes.

Figures are built with `matplotlib.figure.Figure` directly, never through pyplot: no global
figure registry, no backend switch (saving to PNG renders with Agg), and a notebook's inline
backend displays them as they are. Every public figure function builds its figure under STYLE
(`styled`), and `save` renders under it, so a figure looks the same whatever the caller's
rcParams (the visual regression test relies on it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

MAX_LEGEND = 12
FORMATS = ("png", "svg", "pdf")
# The rcParams every figure is built and saved under: matplotlib's defaults made explicit where
# they decide the pixels (the font ships with matplotlib), so renders agree across machines.
STYLE: dict[str, object] = {
    "font.family": "DejaVu Sans", "font.size": 10.0, "axes.titlesize": "large", "axes.labelsize": "medium",
    "xtick.labelsize": "medium", "ytick.labelsize": "medium", "legend.fontsize": "medium",
    "lines.linewidth": 1.5, "axes.grid": False, "figure.facecolor": "white", "savefig.facecolor": "white",
    "text.hinting": "default", "text.antialiased": True, "lines.antialiased": True,
    "svg.hashsalt": "nomadsim", "pdf.compression": 6,
}
P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def plot_style() -> Iterator[None]:
    """Matplotlib's rcParams set to STYLE for the duration (restored after)."""
    # matplotlib's stub types the keys as a Literal of every rcParam name, which a str key is not
    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
        yield


def styled(func: Callable[P, R]) -> Callable[P, R]:
    """Build a figure under STYLE."""
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with plot_style():
            return func(*args, **kwargs)

    return wrapper
STATUS_COLOURS = {"successful": "tab:green", "failed": "tab:red", "running": "tab:blue",
                  "paused": "tab:orange", "cancelled": "tab:gray", "pending": "tab:cyan",
                  "blocked": "tab:purple", "initializing": "tab:cyan", "unblocking": "tab:olive"}


def new_figure(rows: int = 1, cols: int = 1, width: float = 10.0, height: float = 4.5,
               **subplot_kw) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure and its axes as a flat array."""
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, **subplot_kw)
    return fig, axes.ravel()


def time_unit(span: float) -> tuple[float, str]:
    """Divisor and unit for simulated seconds spanning `span`: h, min or s."""
    if span > 3 * 3600:
        return 3600.0, "h"
    if span > 600:
        return 60.0, "min"
    return 1.0, "s"


IDLE_TRIM = 0.8  # a run idle for more than the last 20% of its span is drawn up to its last activity


@dataclass(frozen=True)
class TimeAxis:
    """The simulated-time x axis of a figure: the span shown, its unit, and what was left out.

    `TimeAxis.of(end, active_until)` shows [0, end], or [0, a little past active_until] when
    the run was idle after IDLE_TRIM of its span; `TimeAxis.zoom` shows a part of the run. `apply`
    sets the limits and a label that says what was left out ("idle after 22 min, run ends at 60 min").
    """

    start: float
    stop: float
    end: float
    scale: float
    unit: str
    why: str = ""  # what the shown span is, when it is not the whole run

    @classmethod
    def of(cls, end: float, active_until: float | None = None) -> TimeAxis:
        """[0, end], or up to a little past `active_until` when the run idles after it."""
        end = max(end, 1e-9)
        if active_until is not None and active_until < IDLE_TRIM * end:
            stop = min(end, max(active_until * 1.05, active_until + 1.0))
            return cls(0.0, stop, end, *time_unit(stop), why="idle after {stop:.3g} {unit}")
        return cls(0.0, end, end, *time_unit(end))

    @classmethod
    def zoom(cls, start: float, stop: float, end: float, what: str) -> TimeAxis:
        """[start, stop] padded by 5% of its span, when it covers less than IDLE_TRIM of [0, end]."""
        end = max(end, 1e-9)
        if stop - start >= IDLE_TRIM * end:
            return cls.of(end)
        pad = max(0.05 * (stop - start), 1e-3 * end)
        lo, hi = max(0.0, start - pad), min(end, stop + pad)
        return cls(lo, hi, end, *time_unit(hi - lo), why=f"zoomed to the {what}")

    def apply(self, ax: Axes) -> None:
        """Set the x limits and a label with the unit and, for part of a run, what is shown."""
        ax.set_xlim(self.start / self.scale, self.stop / self.scale)
        label = f"simulated time ({self.unit})"
        if self.why:
            end_scale, end_unit = time_unit(self.end)
            label += (f"; {self.why.format(stop=self.stop / self.scale, unit=self.unit)}, "
                      f"run ends at {self.end / end_scale:.3g} {end_unit}")
        ax.set_xlabel(label)


def count_axis(ax: Axes, label: str) -> None:
    """A y axis of whole counts from 0, with head room over the largest drawn value."""
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    top = max([float(np.nanmax(line.get_ydata(), initial=0.0)) for line in ax.lines] or [0.0])
    top = max(1.0, top * 1.15)
    ax.set_ylim(-0.02 * top, top)  # a series at 0 stays clear of the axis' edge
    ax.set_ylabel(label)


LINESTYLES = ("-", "--", ":", "-.")
LOG_DECADES = 1.5  # draw_cdfs: a log axis when the positive values span more decades than this


def duration_unit(values: np.ndarray) -> tuple[float, str]:
    """Multiplier and unit for durations in seconds: ms or µs for sub-second data."""
    top = float(np.nanmax(np.abs(values), initial=0.0)) if len(values) else 0.0
    if top == 0 or top >= 1:
        return 1.0, "s"
    if top >= 1e-3:
        return 1e3, "ms"
    return 1e6, "µs"


def draw_cdfs(ax: Axes, samples: Mapping[str, np.ndarray], quantity: str, kind: str = "duration",
              colours: Mapping[str, object] | None = None, legend: bool = True) -> None:
    """One empirical CDF line per sample set on a readable x axis.

    `kind` is "duration" (seconds, shown in s, ms or µs by their size), "ratio" or "fraction"
    (a linear axis from 0 to 1). Durations and ratios get a logarithmic axis when the positive
    values span more than LOG_DECADES decades, else a linear one over the data's range (zeros
    drawn at 0). A log axis cannot show zeros: the axis label says which share of each set was 0.
    Lines that coincide stay visible: the first is wide and translucent, the next ones narrower
    and dashed or dotted.
    """
    arrays = {k: np.sort(np.asarray(v, dtype=float)) for k, v in samples.items()}
    arrays = {k: v[np.isfinite(v)] for k, v in arrays.items()}
    arrays = {k: v for k, v in arrays.items() if len(v)}
    every = np.concatenate(list(arrays.values()) or [np.zeros(0)])
    factor, unit = duration_unit(every) if kind == "duration" else (1.0, kind)
    positive = every[every > 0]
    decades = float(np.log10(positive.max() / positive.min())) if len(positive) else 0.0
    log = kind != "fraction" and decades > LOG_DECADES
    zeros = []
    for i, (label, x) in enumerate(arrays.items()):
        share = float((x <= 0).mean())
        if log and share:
            zeros.append(f"{label} {share:.0%}")
        if log and share == 1:
            continue
        colour = colours.get(label) if colours else None
        ax.step(np.concatenate([[x[0]], x]) * factor, np.concatenate([[0.0], np.arange(1, len(x) + 1) / len(x)]),
                where="post", label=label, color=colour if colour is not None else f"C{i % 10}",
                linestyle=LINESTYLES[i % len(LINESTYLES)], linewidth=(4.0, 2.2, 1.4, 1.0)[min(i, 3)],
                alpha=0.5 if i == 0 else 1.0)
    if log:  # 1-2-5 ticks over up to three decades, else one per decade
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 3 else (1.0,)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    elif kind == "fraction":
        ax.set_xlim(-0.02, 1.02)
    else:  # the data's own range with a margin: a zero line stays clear of the axis' edge
        ax.margins(x=0.05)
    xlabel = f"{quantity} ({unit}{', log scale' if log else ''})"
    if zeros:  # a log axis cannot show zeros: say how many each set had
        xlabel += "\nshare of 0s (not drawn): " + ", ".join(zeros)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of samples ≤ x")
    ax.set_ylim(0, 1.02)
    if legend and ax.lines:
        ax.legend(loc="lower right", fontsize="small")


def job_colours(jobs: Iterable[str]) -> dict[str, tuple]:
    """A stable colour per job: tab10/tab20 in sorted order, cycling beyond 20 jobs."""
    from matplotlib import colormaps

    names = sorted(set(jobs))
    cmap: Colormap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    n = cmap.N
    return {job: cmap(i % n) for i, job in enumerate(names)}


def job_legend(ax: Axes, colours: dict[str, tuple], title: str = "job", extra: Iterable[Patch] = ()) -> None:
    """A legend of job colours, trimmed to MAX_LEGEND entries, then the `extra` entries."""
    items = list(colours.items())
    handles = [Patch(color=c, label=j) for j, c in items[:MAX_LEGEND]]
    if len(items) > MAX_LEGEND:
        handles.append(Patch(color="white", label=f"... {len(items) - MAX_LEGEND} more"))
    handles.extend(extra)
    if handles:
        ax.legend(handles=handles, title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  fontsize="small", frameon=False)


def rectangles(ax: Axes, left: np.ndarray, bottom: np.ndarray, width: np.ndarray, height: np.ndarray | float,
               colors, edgecolors="none", gid: str | None = None) -> PolyCollection:
    """Many axis-aligned rectangles as one PolyCollection (fast where barh makes one patch each)."""
    left, bottom, width = (np.asarray(a, dtype=float) for a in (left, bottom, width))
    height = np.broadcast_to(np.asarray(height, dtype=float), left.shape)
    x0, x1, y0, y1 = left, left + width, bottom, bottom + height
    verts = np.stack([np.column_stack(p) for p in ((x0, y0), (x0, y1), (x1, y1), (x1, y0))], axis=1)
    # An (N, 4, 2) array is a sequence of N polygons (and takes set_verts' fast path), but
    # matplotlib's stub accepts only a typing Sequence, which ndarray is not.
    coll = PolyCollection(verts, facecolors=colors, edgecolors=edgecolors, linewidths=1.0, gid=gid)  # type: ignore[arg-type]
    ax.add_collection(coll)
    ax.autoscale_view()
    return coll


def note(ax: Axes, text: str) -> None:
    """Write `text` in the middle of an axes that has no data to show."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def step(ax: Axes, times: np.ndarray, values: np.ndarray, end: float, scale: float, **kw):
    """Draw a post-step series that holds its last value until `end`."""
    if len(times) == 0:
        return None
    t = np.append(np.asarray(times, dtype=float), max(end, float(times[-1]))) / scale
    v = np.append(np.asarray(values, dtype=float), float(values[-1]))
    (line,) = ax.step(t, v, where="post", **kw)
    return line


def side_legend(ax: Axes, **kw) -> None:
    """A legend of the labelled artists, outside the axes on the right."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, **kw)


def save(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write a figure under STYLE (format from the suffix: png, svg or pdf) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with plot_style():
        fig.savefig(path, dpi=dpi, metadata=_METADATA.get(path.suffix.lstrip("."), {}))
    return path


# no creation date or tool version in the files: the same figure gives the same bytes
_METADATA: dict[str, dict[str, str | None]] = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
                                                "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}
