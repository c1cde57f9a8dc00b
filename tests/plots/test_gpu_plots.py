"""GPU figures: allocation and FGD fragmentation over time, GPUs per node, runs compared."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

import sim.plots as plots
from sim.plots.standard import write_standard_plots
from sim.simulation import Simulation

from .test_plots import PNG, drawn, png


@pytest.fixture(scope="module")
def openb() -> dict:
    sim = Simulation.from_scenario(ROOT / "scenarios" / "openb-gpu.yaml",
                                   overrides={"workload[0].trace.limit": 400, "duration": "1h"})
    sim.run()
    return sim.results()


def test_gpu_over_time_draws_both_panels(openb):
    """Top: allocation and fragmentation lines; bottom: a nodes x samples image."""
    fig = plots.gpu_over_time(openb)
    top, bottom = fig.axes[:2]
    assert [line.get_label() for line in top.lines] == ["allocated / GPUs", "fragmented / GPUs"]
    assert drawn(bottom) > 0 and bottom.images[0].get_array().shape[0] == 1213
    assert png(fig).startswith(PNG)


def test_compare_gpus_one_line_per_run(openb):
    """One line per run in each panel."""
    fig = plots.compare_gpus({"a": openb, "b": openb})
    assert [len(ax.lines) for ax in fig.axes[:2]] == [2, 2]


def test_gpu_figures_without_gpus_say_so():
    """A run without GPUs: the figure says so instead of failing."""
    sim = Simulation.from_scenario({"name": "n", "seed": 1, "duration": "5m", "cluster": {"nodes": [
        {"count": 1, "resources": {"cpu": 1000, "memory": 1024}}]}})
    sim.run()
    assert png(plots.gpu_over_time(sim.results())).startswith(PNG)


def test_standard_plots_add_gpus_png_for_a_gpu_run(openb, tmp_path: Path):
    """`nomadsim plot` writes gpus.png when the run has GPUs."""
    paths = write_standard_plots(openb, tmp_path)
    assert paths[-1].name == "gpus.png" and paths[-1].read_bytes().startswith(PNG)
