"""Drawing helpers shared by the plot modules: figures, time axes, job colours, empty notes.

Figures are built with `matplotlib.figure.Figure` directly, never through pyplot: no global
figure registry, no backend switch (saving to PNG renders with Agg), and a notebook's inline
backend displays them as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

MAX_LEGEND = 12
STATUS_COLOURS = {"successful": "tab:green", "failed": "tab:red", "running": "tab:blue",
                  "paused": "tab:orange", "cancelled": "tab:gray", "pending": "tab:cyan",
                  "blocked": "tab:purple", "initializing": "tab:cyan", "unblocking": "tab:olive"}


def new_figure(rows: int = 1, cols: int = 1, width: float = 10.0, height: float = 4.5,
               **subplot_kw) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure and its axes as a flat array."""
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, **subplot_kw)
    return fig, axes.ravel()


def time_unit(end: float) -> tuple[float, str]:
    """Divisor and axis label for simulated seconds spanning [0, end]."""
    if end > 3 * 3600:
        return 3600.0, "simulated time (h)"
    if end > 600:
        return 60.0, "simulated time (min)"
    return 1.0, "simulated time (s)"


def job_colours(jobs: Iterable[str]) -> dict[str, tuple]:
    """A stable colour per job: tab10/tab20 in sorted order, cycling beyond 20 jobs."""
    from matplotlib import colormaps

    names = sorted(set(jobs))
    cmap: Colormap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    n = cmap.N
    return {job: cmap(i % n) for i, job in enumerate(names)}


def job_legend(ax: Axes, colours: dict[str, tuple], title: str = "job") -> None:
    """A legend of job colours, trimmed to MAX_LEGEND entries."""
    items = list(colours.items())
    handles = [Patch(color=c, label=j) for j, c in items[:MAX_LEGEND]]
    if len(items) > MAX_LEGEND:
        handles.append(Patch(color="white", label=f"... {len(items) - MAX_LEGEND} more"))
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


def log_x(ax: Axes) -> None:
    """A log x axis when every value drawn is positive, else symlog linear up to the smallest positive one."""
    x = np.concatenate([np.asarray(line.get_xdata(), dtype=float) for line in ax.lines] or [np.zeros(0)])
    positive = x[x > 0]
    if len(positive) and len(positive) == len(x):
        ax.set_xscale("log")
    elif len(positive):
        ax.set_xscale("symlog", linthresh=float(positive.min()))


def save(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write a figure (format from the suffix, PNG rendered with Agg) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
