"""Matplotlib figures from result tables: `import sim.plots as plots; plots.placement_map(tables)`.

Every function takes the tables of one run (the dict `Simulation.results()` returns) or a results
folder (`nomadsim run --out DIR`), and returns a `matplotlib.figure.Figure` without showing it:
save it with `fig.savefig("x.png")` (rendered with Agg) or let a notebook display it. A run with
nothing to show gives a figure that says so. The series behind each figure come from
`sim.plots.data` (fragmentation is defined there).

    placement_map           nodes x time: allocation lanes per node (up to 50 nodes) or a utilisation heatmap
    alloc_gantt             per-node allocation Gantt (pending / running / ended) for a node set
    utilisation_over_time   cluster cpu and memory allocated over capacity (no usage model: used = held)
    fragmentation_over_time share of free capacity on nodes that cannot host one more typical ask
    eval_latency            eval latency CDFs and broker queue depth over time
    deployment_timeline     deployments per job version, canaries, health, promotion and revert
    preemption_overview     evictions by priority over time, work lost, first-placement wait by priority
    gpu_over_time           cluster GPU allocation and FGD fragmentation, GPUs allocated per node
    compare_gpus            policy comparison: GPU allocation and fragmentation over time per run
    compare_kpis            policy comparison: KPI bars across runs or a sweep table
    compare_cdfs            policy comparison: a latency or utilisation CDF per run

`write_standard_plots(results_dir, out, fmt="png")` writes the standard set (`nomadsim plot`), leaving
out what a run has no data for. Figures are built under one pinned style (sim.plots.base.STYLE).
"""

from sim.plots.cluster import (
    alloc_gantt,
    eval_latency,
    fragmentation_over_time,
    placement_map,
    utilisation_over_time,
)
from sim.plots.compare import compare_cdfs, compare_kpis
from sim.plots.deployments import deployment_timeline
from sim.plots.gpus import compare_gpus, gpu_over_time
from sim.plots.preemption import preemption_overview
from sim.plots.standard import STANDARD_PLOTS, write_standard_plots

__all__ = ["placement_map", "alloc_gantt", "utilisation_over_time", "fragmentation_over_time",
           "eval_latency", "deployment_timeline", "preemption_overview", "compare_kpis", "compare_cdfs",
           "gpu_over_time", "compare_gpus",
           "STANDARD_PLOTS", "write_standard_plots"]
