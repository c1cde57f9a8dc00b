"""Plots: every figure is rendered to PNG from small runs and checked for the data it drew.

Runs come from the sample scenarios (canary auto-revert, node failures, quickstart) and from
small inline scenarios; synthetic tables pin down the derived series (fragmentation, queues).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_scenario
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

import sim.plots as plots
import sim.plots.data as data
from sim.cli.main import main
from sim.plots.base import draw_cdfs, new_figure
from sim.plots.deployments import deployment_marks, deployment_summary
from sim.results.folder import write_tables
from sim.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
PNG = b"\x89PNG\r\n\x1a\n"


def _batch(job_id: str, count: int, cpu: int, runtime: str = "5m") -> dict:
    return {"ID": job_id, "Type": "batch", "Datacenters": ["dc1"], "TaskGroups": [{
        "Name": "g", "Count": count, "Tasks": [{"Name": "t", "Driver": "exec", "Config": {"command": "x"},
                                                 "Meta": {"sim.runtime": runtime},
                                                 "Resources": {"CPU": cpu, "MemoryMB": 256}}]}]}


@pytest.fixture(scope="module")
def crowded() -> dict[str, pd.DataFrame]:
    """3 nodes of 3900 MHz: two small batch jobs, then one whose fourth alloc finds no node."""
    scenario = tiny_scenario(3, duration="30m", workload=[
        {"at": "0s", "register": _batch("small", 4, 500)},
        {"at": "1m", "register": _batch("wide", 3, 1000, "10m")},
        {"at": "2m", "register": _batch("big", 4, 2500)},
    ])
    sim = Simulation.from_scenario(scenario, seed=1)
    sim.run()
    return sim.results()


@pytest.fixture(scope="module")
def canary() -> dict[str, pd.DataFrame]:
    """The canary auto-revert sample: a failed canary rolled back, then a promoted one."""
    sim = Simulation.from_scenario(SCENARIOS / "canary-autorevert.yaml")
    sim.run()
    return sim.results()


@pytest.fixture(scope="module")
def failures() -> dict[str, pd.DataFrame]:
    """The node failures sample (first 70 minutes: node down/up, drain, a rack down)."""
    sim = Simulation.from_scenario(SCENARIOS / "node-failures.yaml")
    sim.run(until=70 * 60)
    return sim.results()


@pytest.fixture(scope="module")
def quickstart() -> dict[str, pd.DataFrame]:
    """The quickstart sample: one service deployment of 11 s, one batch job, one hour."""
    sim = Simulation.from_scenario(SCENARIOS / "quickstart.yaml")
    sim.run()
    return sim.results()


def legend_labels(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def visible_ticks(fig: Figure, axis) -> list:
    """The tick labels of an axis that are drawn (inside the axes' span, with text)."""
    FigureCanvasAgg(fig).draw()
    low, high = sorted(axis.get_view_interval())
    ticks = axis.get_major_ticks()
    return [t.label1 for t, v in zip(ticks, axis.get_majorticklocs(), strict=False)
            if t.label1.get_visible() and t.label1.get_text() and low - 1e-12 <= v <= high + 1e-12]


def assert_no_overlap(fig: Figure, axis) -> None:
    """No two drawn tick labels of an axis overlap."""
    boxes = [t.get_window_extent() for t in visible_ticks(fig, axis)]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)


def drawn(ax) -> int:
    """How many data artists an axes holds."""
    return len(ax.lines) + len(ax.collections) + len(ax.patches) + len(ax.images)


def png(fig: Figure) -> bytes:
    """The figure rendered to PNG (Agg)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    return buf.getvalue()


def by_gid(ax, gid: str) -> list:
    return [c for c in [*ax.collections, *ax.patches] if c.get_gid() == gid]


def placed_allocs(tables) -> pd.DataFrame:
    return tables["placements"][tables["placements"]["alloc_id"] != ""]


# -- placement map and Gantt ------------------------------------------------------------------


def test_placement_map_draws_one_bar_per_allocation_inside_its_named_row(crowded):
    """Each placed alloc is one bar inside its node's row; rows carry node names; the unplaced alloc
    has its own row."""
    fig = plots.placement_map(crowded)
    ax = fig.axes[0]
    (bars,) = by_gid(ax, "allocations")
    assert isinstance(bars, PolyCollection)
    assert len(bars.get_paths()) == len(placed_allocs(crowded)) == 4 + 3 + 4
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["(no node fit)", "node-0", "node-1", "node-2"]
    row = {n: i for i, n in enumerate(crowded["nodes"]["node_id"])}
    intervals = data.alloc_intervals(crowded)
    for path, node in zip(bars.get_paths(), intervals["node_id"], strict=True):
        y = path.vertices[:, 1]
        assert row[node] - 0.5 < y.min() < y.max() < row[node] + 0.5  # the lane lies within the row's band
    (failed,) = by_gid(ax, "failed")
    assert len(failed.get_offsets()) == int((crowded["placements"]["node_id"] == "").sum()) >= 1
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"small", "wide", "big"}
    assert png(fig).startswith(PNG)


def test_placement_map_by_utilisation_is_a_nodes_by_samples_image(crowded):
    """The heatmap has one row per node and one column per sample, in [0, 1], with a colour bar."""
    fig = plots.placement_map(crowded, color_by="utilisation", dimension="cpu")
    ax = fig.axes[0]
    (image,) = ax.images
    samples = crowded["node_usage"]["time"].nunique()
    assert image.get_array().shape == (3, samples)
    values = np.asarray(image.get_array(), dtype=float)
    assert 0 < np.nanmax(values) <= 1
    assert len(fig.axes) == 2  # the colour bar
    assert png(fig).startswith(PNG)


def test_placement_map_picks_a_heatmap_beyond_fifty_nodes_and_trims_the_idle_tail():
    """60 nodes: the default map is a nodes x samples heatmap with every few rows named; the run
    idles after about 6 of its 60 minutes, so the axis stops there (in seconds) and its label says so."""
    sim = Simulation.from_scenario(tiny_scenario(60, workload=[{"at": "1m", "register": _batch("b", 30, 500)}]),
                                   seed=1)
    sim.run()
    tables = sim.results()
    fig = plots.placement_map(tables)
    ax = fig.axes[0]
    (image,) = ax.images
    assert image.get_array().shape[0] == 60
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names[:2] == ["node-0", "node-3"] and len(names) == 20
    assert ax.get_ylabel() == "node (60; a name every 3 rows)"
    assert ax.get_xlim()[1] < 600 and ax.get_xlabel().startswith("simulated time (s); idle after")
    assert ax.get_xlabel().endswith("run ends at 60 min")
    assert not plots.placement_map(tables, color_by="job").axes[0].images  # lanes when asked for


def test_allocations_are_coloured_by_job_then_family_then_type():
    """Up to 20 jobs by job; more jobs in 2-20 families by family; else by job type."""
    few = pd.Series([f"web-{i}" for i in range(5)])
    assert data.job_keys({}, few) == (list(few), "job")
    families = pd.Series([f"{name}-{i}" for name in ("etl", "report") for i in range(15)])
    assert data.job_keys({}, families) == (["etl"] * 15 + ["report"] * 15, "job family")
    ids = pd.Series([f"alibaba-{i}" for i in range(30)])
    jobs = pd.DataFrame({"job_id": ids, "parent_id": "", "type": ["batch"] * 29 + ["service"]})
    assert data.job_keys({"jobs": jobs}, ids) == (["batch"] * 29 + ["service"], "job type")


def test_placement_map_rejects_an_unknown_colouring(crowded):
    """color_by takes auto, job or utilisation only."""
    with pytest.raises(ValueError, match="color_by"):
        plots.placement_map(crowded, color_by="rack")


def test_alloc_gantt_draws_pending_and_running_bars_for_the_chosen_nodes(crowded):
    """One pending and one running rectangle per alloc of the named nodes, rows in the given order."""
    fig = plots.alloc_gantt(crowded, nodes=["node-2", "node-0"])
    ax = fig.axes[0]
    names = crowded["nodes"].set_index("name")["node_id"]
    on_nodes = placed_allocs(crowded)["node_id"].isin([names["node-2"], names["node-0"]]).sum()
    (running,) = by_gid(ax, "running")
    (pending,) = by_gid(ax, "pending")
    assert isinstance(running, PolyCollection)
    assert len(running.get_paths()) == len(pending.get_paths()) == on_nodes > 0
    assert [t.get_text() for t in ax.get_yticklabels()] == ["node-2", "node-0"]
    assert png(fig).startswith(PNG)


def test_alloc_gantt_defaults_to_the_busiest_nodes(crowded):
    """Without a node set it shows the max_nodes nodes with the most allocations."""
    fig = plots.alloc_gantt(crowded, max_nodes=1)
    counts = placed_allocs(crowded)["node_id"].value_counts()
    busiest = crowded["nodes"].set_index("node_id").loc[counts.index[0], "name"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [busiest]


def test_node_down_periods_are_shaded_where_the_events_say(failures):
    """Down spans pair each node's down with its next up; the map shades each of them."""
    spans = data.node_down_spans(failures)
    a0 = failures["nodes"].set_index("name").loc["a-0", "node_id"]
    first = spans[spans["node_id"] == a0].iloc[0]
    assert (first["start"], first["end"]) == pytest.approx((600.0, 1200.0))
    ax = plots.placement_map(failures).axes[0]
    shaded = by_gid(ax, "node-down")
    assert len(shaded) == len(spans) >= 11  # a-0, then the ten nodes of rack r2


# -- cluster series ---------------------------------------------------------------------------


def test_utilisation_over_time_draws_one_line_per_dimension_when_used_equals_allocated(crowded):
    """No alloc waits between placement and running at a sample: used = allocated, drawn once and
    said so in the legend and title; the values are the cluster's sums."""
    ax = plots.utilisation_over_time(crowded).axes[0]
    assert [line.get_label() for line in ax.lines] == ["cpu allocated = used", "memory allocated = used"]
    assert legend_labels(ax) == ["cpu allocated = used", "memory allocated = used"]
    assert "no usage model" in ax.get_title()
    series = data.utilisation_series(crowded)
    np.testing.assert_allclose(series["cpu_allocated"], crowded["cluster"]["cpu_utilisation"])
    assert max(ax.lines[0].get_ydata()) == pytest.approx(series["cpu_allocated"].max())
    assert series["cpu_allocated"].max() > 0.5


def test_utilisation_over_time_draws_used_apart_when_allocs_wait_to_run(crowded):
    """A sample where an alloc is placed but not running yet: allocated and used are two lines."""
    usage = crowded["node_usage"].copy()
    usage.loc[usage["cpu_allocated"].idxmax(), "cpu_used"] = 0.0
    ax = plots.utilisation_over_time({**crowded, "node_usage": usage}).axes[0]
    assert [line.get_label() for line in ax.lines] == ["cpu allocated", "cpu used (held by running allocs)",
                                                       "memory allocated = used"]
    assert legend_labels(ax) == [line.get_label() for line in ax.lines]


def _usage(allocated: list[float], memory: list[float], status: list[str] | None = None) -> pd.DataFrame:
    n = len(allocated)
    return pd.DataFrame({"time": [0.0] * n, "node_id": [f"n{i}" for i in range(n)],
                         "cpu_allocated": allocated, "cpu_capacity": [1000.0] * n,
                         "memory_allocated": memory, "memory_capacity": [1000.0] * n,
                         "disk_allocated": [0.0] * n, "disk_capacity": [1000.0] * n,
                         "status": status or ["ready"] * n})


def _asks(cpu: float, memory: float) -> pd.DataFrame:
    return pd.DataFrame({"alloc_id": ["a"], "cpu": [cpu], "memory": [memory], "disk": [0.0]})


def test_fragmentation_is_the_free_share_on_nodes_that_cannot_host_the_typical_ask():
    """Typical ask 300 MHz / 100 MB: node a (free 400 MHz, 900 MB) can host one; node b (free 250 MHz,
    1000 MB) cannot, so all its free cpu and memory count; node c is down and not counted."""
    usage = _usage([600.0, 750.0, 0.0], [100.0, 0.0, 0.0], ["ready", "ready", "down"])
    frag = data.fragmentation_series({"node_usage": usage, "placements": _asks(300.0, 100.0)})
    assert frag["cpu"].iloc[0] == pytest.approx(250 / (400 + 250))
    assert frag["memory"].iloc[0] == pytest.approx(1000 / (900 + 1000))


def test_fragmentation_of_an_empty_cluster_is_zero_and_of_a_full_dimension_is_one():
    """Lightly loaded clusters read near 0, not near the old 1 - 1/n; free cpu next to full memory
    is all stranded; nothing placed gives no typical ask (NaN)."""
    empty = data.fragmentation_series({"node_usage": _usage([0.0] * 10, [0.0] * 10), "placements": _asks(500, 100)})
    assert empty["cpu"].iloc[0] == 0.0 and empty["memory"].iloc[0] == 0.0
    full_memory = data.fragmentation_series({"node_usage": _usage([0.0] * 3, [1000.0] * 3),
                                             "placements": _asks(500, 100)})
    assert full_memory["cpu"].iloc[0] == 1.0 and np.isnan(full_memory["memory"].iloc[0])
    assert np.isnan(data.fragmentation_series({"node_usage": _usage([0.0], [0.0])})["cpu"].iloc[0])


def test_fragmentation_agrees_with_the_cluster_table(crowded):
    """The plotted series equals the recorder's cluster fragmentation (same definition)."""
    frag = data.fragmentation_series(crowded)
    np.testing.assert_allclose(frag["cpu"], crowded["cluster"]["cpu_fragmentation"], equal_nan=True)
    np.testing.assert_allclose(frag["memory"], crowded["cluster"]["memory_fragmentation"], equal_nan=True)


def test_fragmentation_plot_draws_a_line_per_dimension_and_names_the_typical_ask(crowded):
    """cpu and memory lines, the ask they are measured against in the title."""
    ax = plots.fragmentation_over_time(crowded).axes[0]
    assert [line.get_label() for line in ax.lines] == legend_labels(ax) == ["cpu", "memory"]
    assert np.nanmax(ax.lines[0].get_ydata()) > 0
    assert "typical = median placed: 1000 MHz cpu, 256 MB memory" in ax.get_title()


def test_eval_latency_draws_three_cdfs_and_the_queues(crowded):
    """Left: three CDFs ending at 1. Right: waiting, being scheduled, blocked; queued allocs on a twin axis."""
    fig = plots.eval_latency(crowded)
    left, right, twin = fig.axes
    assert [line.get_label().split(" (")[0] for line in left.lines] == ["ready to completed", "wait in broker",
                                                                         "scheduling time"]
    assert legend_labels(left) == [line.get_label() for line in left.lines]
    assert all(line.get_ydata()[-1] == pytest.approx(1.0) for line in left.lines)
    assert len({(line.get_linestyle(), line.get_linewidth()) for line in left.lines}) == 3  # told apart when they meet
    assert [line.get_label() for line in right.lines] == ["waiting in broker", "being scheduled", "blocked (sampled)"]
    assert [line.get_label() for line in twin.lines] == ["queued allocs (sampled)"]
    assert max(twin.lines[0].get_ydata()) >= 1  # the big job's unplaced alloc
    for ax in (right, twin):  # every series fits its axis (the limit is set once all are drawn)
        assert max(max(line.get_ydata()) for line in ax.lines) <= ax.get_ylim()[1]
    assert png(fig).startswith(PNG)


def test_eval_latency_of_milliseconds_reads_in_ms_with_several_ticks(quickstart):
    """Latencies of about 7 ms (waits of 0): a linear axis in ms from 0 with several labelled ticks
    that do not overlap."""
    fig = plots.eval_latency(quickstart)
    left = fig.axes[0]
    assert left.get_xscale() == "linear" and "(ms)" in left.get_xlabel()
    assert len(visible_ticks(fig, left.xaxis)) >= 4
    assert_no_overlap(fig, left.xaxis)


def test_latency_cdfs_go_logarithmic_over_decades_and_count_the_zeros():
    """Samples over four decades: a log axis with several labelled decades; the share of zeros, which
    a log axis cannot show, in a note; a set of zeros only is not in the legend."""
    fig, (ax,) = new_figure()
    draw_cdfs(ax, {"a": np.array([0.0, 0.001, 0.01, 0.1, 1.0, 10.0]), "b": np.zeros(3)}, "latency")
    assert ax.get_xscale() == "log"
    assert legend_labels(ax) == ["a"]
    assert ax.get_xlabel() == "latency (s, log scale)\nshare of 0s (not drawn): a 17%, b 100%"
    assert len(visible_ticks(fig, ax.xaxis)) >= 4
    assert_no_overlap(fig, ax.xaxis)


def test_eval_queue_depth_counts_evals_between_ready_and_dequeue():
    """Two overlapping evals: waiting counts 1, 2, 1, 0 at their ready and dequeue times."""
    nan = float("nan")
    evals = pd.DataFrame({"eval_id": ["a", "b"], "created": [0.0, 1.0], "ready": [0.0, 1.0], "dequeued": [2.0, 4.0],
                          "completed": [3.0, 5.0], "status": ["complete", "complete"],
                          "wait_in_broker": [2.0, 3.0], "scheduling_time": [1.0, 1.0], "latency": [3.0, nan]})
    queues = data.eval_queue_depth({"evaluations": evals})
    waiting = queues["waiting in broker"]
    assert list(waiting["time"]) == [0.0, 1.0, 2.0, 4.0]
    assert list(waiting["count"]) == [1, 2, 1, 0]
    assert list(queues["being scheduled"]["count"]) == [1, 0, 1, 0]


# -- deployments ------------------------------------------------------------------------------


def test_deployment_timeline_shows_versions_revert_and_promotion(canary):
    """A bar per deployment, the revert and promotion markers, running allocs per version below."""
    fig = plots.deployment_timeline(canary, job="api")
    top, bottom = fig.axes
    assert [t.get_text() for t in top.get_yticklabels()] == ["api v0", "api v1", "api v2", "api v3"]
    assert len(top.patches) == 4
    marks = {c.get_label() for c in top.collections}
    assert {"status change", "revert", "promoted"} <= marks
    assert [line.get_label() for line in bottom.lines] == ["api v0", "api v1", "api v3"]
    assert max(bottom.lines[2].get_ydata()) == 4
    assert png(fig).startswith(PNG)


def test_deployment_marks_find_the_revert_and_the_promotion(canary):
    """The failed v1 rolls back to v0 at the progress deadline; v3 is promoted at 35 minutes."""
    marks = deployment_marks(canary)
    summary = deployment_summary(canary).set_index("deployment_id")
    revert = marks[marks["kind"] == "revert"].iloc[0]
    assert summary.loc[revert["deployment_id"], "job_version"] == 1 and revert["to_version"] == 0
    promoted = marks[marks["kind"] == "promoted"].iloc[0]
    assert summary.loc[promoted["deployment_id"], "job_version"] == 3
    assert promoted["time"] == pytest.approx(35 * 60, abs=1.0)


def test_deployment_timeline_zooms_to_a_short_deployment_on_a_long_run(quickstart):
    """The quickstart's 11 s deployment in a 60-minute run: the axis spans the deployment, in seconds,
    and says it is zoomed; the constant count of 3 gets an axis from 0 with whole-number ticks."""
    top, bottom = plots.deployment_timeline(quickstart).axes
    low, high = bottom.get_xlim()
    assert "simulated time (s)" in bottom.get_xlabel() and "zoomed to the deployments" in bottom.get_xlabel()
    assert low == 0 and 11 < high < 20
    assert top.patches[0].get_width() > 0.5 * (high - low)
    assert -0.1 < bottom.get_ylim()[0] <= 0 and bottom.get_ylim()[1] > 3
    assert all(float(t).is_integer() and t >= 0 for t in bottom.get_yticks() if t >= bottom.get_ylim()[0])


def test_deployment_timeline_without_deployments_is_one_panel_that_says_so(crowded):
    """A batch-only run gets a single axes with a note, and `nomadsim plot` skips the figure."""
    fig = plots.deployment_timeline(crowded)
    (ax,) = fig.axes
    assert not ax.patches
    assert any("no deployments" in t.get_text() for t in ax.texts)


# -- comparisons ------------------------------------------------------------------------------


def test_compare_kpis_draws_a_bar_per_label_for_every_kpi(crowded, canary, tmp_path):
    """Runs given as tables or a results folder; one axes per KPI with one bar per label."""
    write_tables(tmp_path / "canary", canary)
    kpis = ["placements", "evaluations", "cpu_utilisation_mean"]
    fig = plots.compare_kpis({"crowded": crowded, "canary": str(tmp_path / "canary")}, kpis=kpis)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == kpis
    for ax in axes:
        assert len(ax.patches) == 2
    assert axes[0].patches[0].get_height() == len(placed_allocs(crowded))
    assert png(fig).startswith(PNG)


def test_compare_kpis_names_zero_kpis_instead_of_drawing_empty_panels(crowded):
    """A KPI that is 0 in every run gets no panel but a line naming it; units label the y axes."""
    fig = plots.compare_kpis({"a": crowded, "b": crowded}, kpis=["placements", "rejected_actions", "eval_latency_p95"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["placements", "eval_latency_p95"]
    assert [ax.get_ylabel() for ax in axes] == ["count", "simulated seconds (s)"]
    assert "0 in every run: rejected_actions" in fig.get_supxlabel()


def test_compare_kpis_tick_labels_do_not_overlap_for_two_factors():
    """Six labels of two factors: one value per line under each bar, none overlapping."""
    rows = [{"run_id": f"r{i}", "control_plane.scheduler_algorithm": alg, "control_plane.num_schedulers": n,
             "seed": 1, "status": "complete", "error": "", "eval_latency_p95": 0.01 * (i + 1)}
            for i, (alg, n) in enumerate((a, n) for a in ("binpack", "spread") for n in (1, 2, 4))]
    fig = plots.compare_kpis(pd.DataFrame(rows), kpis=["eval_latency_p95"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["binpack\n1", "binpack\n2"]
    assert "scheduler_algorithm, num_schedulers" in fig.get_suptitle()
    assert_no_overlap(fig, ax.xaxis)


def test_compare_kpis_reads_a_sweep_table_and_averages_seeds():
    """Factor columns label the bars; the height is the mean over seeds; failed runs are left out."""
    sweep = pd.DataFrame({"run_id": ["r1", "r2", "r3", "r4"],
                          "control_plane.scheduler_algorithm": ["binpack", "binpack", "spread", "spread"],
                          "seed": [1, 2, 1, 2], "status": ["complete", "complete", "complete", "failed"],
                          "error": ["", "", "", "boom"], "placements": [10.0, 20.0, 7.0, 1000.0]})
    ax = plots.compare_kpis(sweep, kpis=["placements"]).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["binpack", "spread"]
    assert [p.get_height() for p in ax.patches] == [15.0, 7.0]


def test_compare_cdfs_draws_one_line_per_label_and_metric(crowded, canary):
    """Each metric's axes has a CDF line per label, rising to 1."""
    metrics = ["placement_latency", "node_cpu_utilisation", "cpu_fragmentation"]
    fig = plots.compare_cdfs({"crowded": crowded, "canary twice": [canary, canary]}, metrics)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert [line.get_label() for line in ax.lines] == ["crowded", "canary twice"]
        assert all(line.get_ydata()[-1] == pytest.approx(1.0) for line in ax.lines)
    pooled = fig.axes[1].lines[1].get_xdata()
    # every ready sample of both runs, after the line's start at 0
    assert len(pooled) == 1 + 2 * data.table(canary, "node_usage").query("status == 'ready'").shape[0]


def test_compare_cdfs_rejects_an_unknown_metric(crowded):
    """Metric names come from METRICS."""
    with pytest.raises(ValueError, match="unknown metric"):
        plots.compare_cdfs({"a": crowded}, "throughput")


# -- the standard set and the command ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(plots.STANDARD_PLOTS))
def test_every_standard_plot_renders_data_to_png(canary, name):
    """Each figure of the standard set draws data on every visible axes and renders to PNG."""
    func, kwargs = plots.STANDARD_PLOTS[name]
    fig = func(canary, **kwargs)
    assert all(drawn(ax) > 0 for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>")
    assert len(png(fig)) > 5000


@pytest.mark.parametrize("name", sorted(plots.STANDARD_PLOTS))
def test_every_standard_plot_handles_a_run_without_work(name):
    """A run with no jobs still gives a figure, saying what is missing instead of failing."""
    sim = Simulation.from_scenario(tiny_scenario(2, duration="5m"), seed=1)
    sim.run()
    func, kwargs = plots.STANDARD_PLOTS[name]
    assert png(func(sim.results(), **kwargs)).startswith(PNG)


def test_plots_fall_back_to_the_cluster_table_without_node_usage(crowded):
    """Utilisation and fragmentation use the cluster series when node_usage was not kept."""
    tables = {k: v for k, v in crowded.items() if k != "node_usage"}
    util = plots.utilisation_over_time(tables).axes[0]
    assert [line.get_label() for line in util.lines] == ["cpu allocated = used", "memory allocated"]
    frag = data.fragmentation_series(tables)
    np.testing.assert_allclose(frag["cpu"], crowded["cluster"]["cpu_fragmentation"], equal_nan=True)


def test_nomadsim_plot_writes_the_standard_set_for_the_quickstart(tmp_path, capsys):
    """`nomadsim run` then `nomadsim plot` on the quickstart writes every standard PNG."""
    results = tmp_path / "quickstart"
    assert main(["run", str(SCENARIOS / "quickstart.yaml"), "--out", str(results), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["plot", str(results)]) == 0
    printed = capsys.readouterr().out.split()
    expected = [results / "plots" / f"{name}.png" for name in plots.STANDARD_PLOTS]
    assert printed == [str(p) for p in expected]
    for path in expected:
        assert path.read_bytes().startswith(PNG) and path.stat().st_size > 5000


def test_nomadsim_plot_on_a_sweep_folder_writes_the_comparison(crowded, canary, tmp_path, capsys):
    """A folder with sweep.csv gets the KPI bars and the CDFs, labelled by factor."""
    rows = []
    for run_id, (label, tables) in {"r1": ("a", crowded), "r2": ("b", canary)}.items():
        summary = write_tables(tmp_path / run_id, tables)
        rows.append({"run_id": run_id, "policy": label, "seed": 1, "status": "complete", "error": "", **summary})
    pd.DataFrame(rows).to_csv(tmp_path / "sweep.csv", index=False)
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "png")]) == 0
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["cdf_comparison.png", "kpi_comparison.png"]


@pytest.mark.parametrize(("fmt", "magic"), [("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_nomadsim_plot_writes_svg_or_pdf_and_skips_what_a_run_lacks(crowded, tmp_path, capsys, fmt, magic):
    """--format svg|pdf writes every figure in that format; a run without deployments gets no
    deployment timeline, and stderr says why."""
    write_tables(tmp_path / "run", crowded)
    (tmp_path / "run" / "run.json").write_text(json.dumps({"status": "complete"}))  # `plot` draws complete runs only
    assert main(["plot", str(tmp_path / "run"), "--format", fmt]) == 0
    out, err = capsys.readouterr()
    names = [name for name in plots.STANDARD_PLOTS if name != "deployment_timeline"]
    assert out.split() == [str(tmp_path / "run" / "plots" / f"{name}.{fmt}") for name in names]
    assert all(Path(p).read_bytes().startswith(magic) for p in out.split())
    assert "skipped deployment_timeline: no deployments in this run" in err


def test_nomadsim_plot_refuses_an_unknown_format(tmp_path, capsys):
    """Only png, svg and pdf."""
    with pytest.raises(SystemExit):
        main(["plot", str(tmp_path), "--format", "jpg"])
    assert "invalid choice: 'jpg'" in capsys.readouterr().err


def test_nomadsim_plot_reports_a_missing_folder(tmp_path, capsys):
    """A folder that does not exist, or holds no tables, is a one-line error with exit code 2."""
    assert main(["plot", str(tmp_path / "nope")]) == 2
    assert "no such results folder" in capsys.readouterr().err
    assert main(["plot", str(tmp_path)]) == 2
    assert "not a results folder" in capsys.readouterr().err
