"""The standard set of figures of one run, as `nomadsim plot` writes them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure

import sim.plots.data as data
from sim.plots.base import FORMATS, save
from sim.plots.cluster import (
    LANE_MAX_NODES,
    Source,
    alloc_gantt,
    eval_latency,
    fragmentation_over_time,
    placement_map,
    utilisation_over_time,
)
from sim.plots.data import Tables
from sim.plots.deployments import deployment_timeline, no_deployments
from sim.plots.gpus import gpu_over_time
from sim.plots.preemption import preemption_overview


def _lanes_drawn(tables: Tables) -> str | None:
    if len(data.node_order(tables)) > LANE_MAX_NODES:
        return f"more than {LANE_MAX_NODES} nodes: placement_map already is the utilisation heatmap"
    return None


def _without(table: str, what: str) -> Callable[[Tables], str | None]:
    """A SKIP rule: no figure when the run's `table` has no rows."""
    return lambda tables: None if len(data.table(tables, table)) else f"no {what} in this run"


# name -> (function, keyword arguments): the figures `nomadsim plot` writes for one run
STANDARD_PLOTS: dict[str, tuple[Callable[..., Figure], dict[str, str]]] = {
    "placement_map": (placement_map, {"color_by": "auto"}),
    "placement_heatmap": (placement_map, {"color_by": "utilisation"}),
    "alloc_gantt": (alloc_gantt, {}),
    "utilisation": (utilisation_over_time, {}),
    "fragmentation": (fragmentation_over_time, {}),
    "eval_latency": (eval_latency, {}),
    "deployment_timeline": (deployment_timeline, {}),
}
# the figures of what only some runs have (written after STANDARD_PLOTS, when SKIP lets them)
RUN_PLOTS: dict[str, tuple[Callable[..., Figure], dict[str, str]]] = {
    "preemptions": (preemption_overview, {}),
    "gpus": (gpu_over_time, {}),
}
# name -> why a run gets no such figure (None: it does), for figures that would repeat another or be empty
SKIP: dict[str, Callable[[Tables], str | None]] = {
    "placement_heatmap": _lanes_drawn,
    "deployment_timeline": no_deployments,
    "preemptions": _without("preemptions", "preemptions"),
    "gpus": _without("gpu_cluster", "GPUs"),
}


def write_standard_plots(source: Source, out: str | Path, dpi: int = 110, fmt: str = "png",
                         skipped: Callable[[str, str], None] | None = None) -> list[Path]:
    """Write every figure of STANDARD_PLOTS and RUN_PLOTS a run has as `<out>/<name>.<fmt>`; returns the paths in order.

    A figure whose SKIP entry gives a reason is not written; `skipped(name, reason)` hears of it.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    tables = data.load_tables(source)
    paths = []
    for name, (func, kwargs) in (STANDARD_PLOTS | RUN_PLOTS).items():
        reason = SKIP[name](tables) if name in SKIP else None
        if reason is not None:
            if skipped is not None:
                skipped(name, reason)
            continue
        paths.append(save(func(tables, **kwargs), Path(out) / f"{name}.{fmt}", dpi=dpi))
    return paths
