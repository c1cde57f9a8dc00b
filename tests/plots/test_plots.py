"""Plots: every figure is rendered to PNG from small runs and checked for the data it drew.

Runs come from the sample scenarios (canary auto-revert, node failures, quickstart) and from
small inline scenarios; synthetic tables pin down the derived series (fragmentation, queues).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_scenario
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure

import sim.plots as plots
import sim.plots.data as data
from sim.cli.main import main
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


def test_placement_map_draws_one_segment_per_allocation_on_named_rows(crowded):
    """Each placed alloc is one segment; rows carry node names; the unplaced alloc has its own row."""
    fig = plots.placement_map(crowded)
    ax = fig.axes[0]
    (segments,) = by_gid(ax, "allocations")
    assert isinstance(segments, LineCollection)
    assert len(segments.get_segments()) == len(placed_allocs(crowded)) == 4 + 3 + 4
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["(no node fit)", "node-0", "node-1", "node-2"]
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


def test_placement_map_rejects_an_unknown_colouring(crowded):
    """color_by takes job or utilisation only."""
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


def test_utilisation_over_time_draws_allocated_and_used_per_dimension(crowded):
    """Four lines (cpu and memory, allocated and used) whose values are the cluster's sums."""
    ax = plots.utilisation_over_time(crowded).axes[0]
    assert [line.get_label() for line in ax.lines] == ["cpu allocated", "cpu used", "memory allocated", "memory used"]
    series = data.utilisation_series(crowded)
    np.testing.assert_allclose(series["cpu_allocated"], crowded["cluster"]["cpu_utilisation"])
    assert max(ax.lines[0].get_ydata()) == pytest.approx(series["cpu_allocated"].max())
    assert series["cpu_allocated"].max() > 0.5


def test_fragmentation_follows_its_definition_on_hand_built_samples():
    """1 - largest free / total free over ready nodes; NaN when nothing is free."""
    usage = pd.DataFrame({
        "time": [0.0, 0.0, 0.0, 10.0, 10.0, 10.0],
        "node_id": ["a", "b", "c"] * 2,
        "cpu_allocated": [900.0, 700.0, 0.0, 1000.0, 1000.0, 0.0],
        "cpu_capacity": [1000.0] * 6,
        "status": ["ready", "ready", "down", "ready", "ready", "down"],
    })
    frag = data.fragmentation_series({"node_usage": usage}, ("cpu",))
    assert frag["cpu"].iloc[0] == pytest.approx(1 - 300 / 400)
    assert np.isnan(frag["cpu"].iloc[1])


def test_fragmentation_agrees_with_the_cluster_table(crowded):
    """The plotted series equals the recorder's cluster fragmentation (same definition)."""
    frag = data.fragmentation_series(crowded)
    np.testing.assert_allclose(frag["cpu"], crowded["cluster"]["cpu_fragmentation"], equal_nan=True)
    np.testing.assert_allclose(frag["memory"], crowded["cluster"]["memory_fragmentation"], equal_nan=True)


def test_fragmentation_plot_draws_a_line_per_dimension_and_the_bound(crowded):
    """cpu, memory and the 1 - 1/n ceiling."""
    ax = plots.fragmentation_over_time(crowded).axes[0]
    assert [line.get_label() for line in ax.lines] == ["cpu", "memory", "max (1 - 1/3)"]
    assert np.nanmax(ax.lines[0].get_ydata()) > 0


def test_eval_latency_draws_three_cdfs_and_the_queues(crowded):
    """Left: three CDFs ending at 1. Right: waiting, being scheduled, blocked; queued allocs on a twin axis."""
    fig = plots.eval_latency(crowded)
    left, right, twin = fig.axes
    assert [line.get_label() for line in left.lines] == ["ready to completed", "wait in broker", "scheduling time"]
    assert all(line.get_ydata()[-1] == pytest.approx(1.0) for line in left.lines)
    assert [line.get_label() for line in right.lines] == ["waiting in broker", "being scheduled", "blocked (sampled)"]
    assert [line.get_label() for line in twin.lines] == ["queued allocs (sampled)"]
    assert max(twin.lines[0].get_ydata()) >= 1  # the big job's unplaced alloc
    assert png(fig).startswith(PNG)


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


def test_deployment_timeline_without_deployments_says_so(crowded):
    """A batch-only run gets a figure with a note and no bars."""
    top, _ = plots.deployment_timeline(crowded).axes
    assert not top.patches
    assert any("no deployments" in t.get_text() for t in top.texts)


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
    assert len(pooled) == 2 * data.table(canary, "node_usage").query("status == 'ready'").shape[0]


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
    assert [line.get_label() for line in util.lines] == ["cpu allocated", "cpu used", "memory allocated"]
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


def test_nomadsim_plot_reports_a_missing_folder(tmp_path, capsys):
    """A folder that does not exist, or holds no tables, is a one-line error with exit code 2."""
    assert main(["plot", str(tmp_path / "nope")]) == 2
    assert "no such results folder" in capsys.readouterr().err
    assert main(["plot", str(tmp_path)]) == 2
    assert "not a results folder" in capsys.readouterr().err
