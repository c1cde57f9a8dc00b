"""The standard set of figures of one run, as `nomadsim plot` writes them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure

import sim.plots.data as data
from sim.plots.base import save
from sim.plots.cluster import (
    Source,
    alloc_gantt,
    eval_latency,
    fragmentation_over_time,
    placement_map,
    utilisation_over_time,
)
from sim.plots.deployments import deployment_timeline
from sim.plots.gpus import gpu_over_time
from sim.plots.preemption import preemption_overview

# name -> (function, keyword arguments): the PNGs `nomadsim plot` writes for one run
STANDARD_PLOTS: dict[str, tuple[Callable[..., Figure], dict[str, str]]] = {
    "placement_map": (placement_map, {"color_by": "job"}),
    "placement_heatmap": (placement_map, {"color_by": "utilisation"}),
    "alloc_gantt": (alloc_gantt, {}),
    "utilisation": (utilisation_over_time, {}),
    "fragmentation": (fragmentation_over_time, {}),
    "eval_latency": (eval_latency, {}),
    "deployment_timeline": (deployment_timeline, {}),
}


# name -> (function, the table that must have rows): figures written only for runs that have them
RUN_PLOTS: dict[str, tuple[Callable[..., Figure], str]] = {
    "preemptions": (preemption_overview, "preemptions"),
    "gpus": (gpu_over_time, "gpu_cluster"),
}


def write_standard_plots(source: Source, out: str | Path, dpi: int = 110) -> list[Path]:
    """Write every figure of STANDARD_PLOTS as `<out>/<name>.png`, then those of RUN_PLOTS whose
    table has rows; returns the paths in order."""
    tables = data.load_tables(source)
    paths = []
    for name, (func, kwargs) in STANDARD_PLOTS.items():
        paths.append(save(func(tables, **kwargs), Path(out) / f"{name}.png", dpi=dpi))
    for name, (func, needs) in RUN_PLOTS.items():
        if len(data.table(tables, needs)):
            paths.append(save(func(tables), Path(out) / f"{name}.png", dpi=dpi))
    return paths
