"""Visual regression and readability of the figures of small deterministic runs.

Every figure of the quickstart's standard set, the canary auto-revert's deployments, the node
failures' placement map, the 100-node Alibaba sample (its first 150 trace rows) and a policy
comparison is rendered to PNG and compared with its reference in
`tests/plots/baseline/` (matplotlib.testing.compare.compare_images, RMS tolerance TOLERANCE on
0-255). The figures are built and saved under sim.plots.base.STYLE (Agg, DejaVu Sans, which ships
with matplotlib), so the pixels do not depend on the machine's fonts or rcParams. A deliberate
change of a figure re-records the references: `python tests/plots/test_visual.py --record`
(look at every image it writes). On a mismatch the rendered image and the difference are kept
in pytest's tmp_path for inspection.

The same figures are checked for what makes them readable: a title, axis labels with units,
and legends that list exactly what is drawn.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.testing.compare import compare_images

import sim.plots as plots
from sim.plots.base import save
from sim.simulation import Simulation

ROOT = Path(__file__).resolve().parents[2]
BASELINE = Path(__file__).resolve().parent / "baseline"
TOLERANCE = 3.0
DPI = 60


@cache
def run(name: str, **overrides) -> dict[str, pd.DataFrame]:
    """The tables of a sample scenario run with its own seed."""
    sim = Simulation.from_scenario(ROOT / "scenarios" / f"{name}.yaml", overrides=overrides or None)
    sim.run()
    return sim.results()


def quickstart() -> dict[str, pd.DataFrame]:
    return run("quickstart")


def alibaba() -> dict[str, pd.DataFrame]:
    return run("alibaba-trace", **{"workload[0].trace.limit": 150})


def policies() -> dict[str, dict[str, pd.DataFrame]]:
    return {"binpack": quickstart(), "spread": run("quickstart", **{"control_plane.scheduler_algorithm": "spread"})}


# figure name -> how to draw it
FIGURES: dict[str, Callable[[], Figure]] = {
    **{f"quickstart-{name}": (lambda f=func, kw=kwargs: f(quickstart(), **kw))
       for name, (func, kwargs) in plots.STANDARD_PLOTS.items()},
    "canary-deployment_timeline": lambda: plots.deployment_timeline(run("canary-autorevert")),
    "failures-placement_map": lambda: plots.placement_map(run("node-failures")),
    "alibaba-placement_map": lambda: plots.placement_map(alibaba()),
    "alibaba-eval_latency": lambda: plots.eval_latency(alibaba()),
    "alibaba-fragmentation": lambda: plots.fragmentation_over_time(alibaba()),
    "policies-kpis": lambda: plots.compare_kpis(policies(), kpis=["placement_latency_p95", "eval_latency_p95",
                                                                  "cpu_utilisation_mean", "placement_failures"]),
    "policies-cdfs": lambda: plots.compare_cdfs(policies(), ["placement_latency", "node_cpu_utilisation"]),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_matches_its_reference_image(name, tmp_path):
    """The rendered figure differs from its committed reference by at most TOLERANCE (RMS)."""
    expected = BASELINE / f"{name}.png"
    assert expected.is_file(), f"no reference image: python {Path(__file__).relative_to(ROOT)} --record"
    actual = save(FIGURES[name](), tmp_path / f"{name}.png", dpi=DPI)
    failure = compare_images(str(expected), str(actual), tol=TOLERANCE)
    assert failure is None, failure


# -- readability ----------------------------------------------------------------------------

CATEGORICAL_Y = ("node", "deployment")  # y axes of named rows carry no unit


def _axes_with_data(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"
            and (ax.lines or ax.collections or ax.patches or ax.images)]


def _drawn_colours(ax: Axes) -> set[tuple]:
    colours = set()
    for artist in [*ax.collections, *ax.patches]:
        faces = artist.get_facecolor()
        for face in np.atleast_2d(faces):
            colours.add(tuple(np.round(to_rgba(face), 3)))
    return colours


def _rgba(colour) -> tuple:
    return tuple(np.round(to_rgba(colour), 3))


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_has_a_title_labels_with_units_and_a_truthful_legend(name):
    """A title; every axes with data has x and y labels, numeric ones with a unit in parentheses;
    each legend entry is drawn (a line of that label, or a patch colour that is drawn), and every
    labelled line is in a legend."""
    fig = FIGURES[name]()
    titles = [fig.get_suptitle(), *(ax.get_title() for ax in fig.axes)]
    assert any(titles), "no title"
    listed: set[str] = set()
    legends = [fig.legends[0]] if fig.legends else []
    for ax in _axes_with_data(fig):
        xlabel = ax.get_xlabel() or next((s.get_xlabel() for s in ax.get_shared_x_axes().get_siblings(ax)
                                          if s.get_xlabel()), "")
        if not xlabel and ax.get_label() == "":  # a twin axes shares its host's x label
            xlabel = next((o.get_xlabel() for o in fig.axes if o is not ax and o.bbox.bounds == ax.bbox.bounds
                           and o.get_xlabel()), "")
        if ax.containers:  # bars over labels: a categorical x axis names what it compares
            assert xlabel, "no x label"
        else:
            assert "(" in xlabel and ")" in xlabel, f"x label without a unit: {xlabel!r}"
        ylabel = ax.get_ylabel()
        assert ylabel, "no y label"
        assert ylabel.startswith(CATEGORICAL_Y) or ("(" in ylabel and ")" in ylabel) or ylabel in (
            "count", "ratio") or "seconds" in ylabel or "fraction" in ylabel, f"y label without a unit: {ylabel!r}"
        if ax.get_legend() is not None:
            legends.append(ax.get_legend())
    lines = {str(line.get_label()): line for ax in fig.axes for line in ax.lines}
    colours = set().union(*(_drawn_colours(ax) for ax in fig.axes))
    for legend in legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
            label = text.get_text()
            listed.add(label)
            if isinstance(handle, Line2D) and label in lines:
                continue
            if isinstance(handle, Patch) and (label.startswith("...") or _rgba(handle.get_facecolor()) in colours
                                              or _rgba(handle.get_edgecolor()) in {_rgba("red")}):
                continue
            if not isinstance(handle, Line2D | Patch):  # a scatter's marker: the collection carries the label
                assert any(c.get_label() == label for ax in fig.axes for c in ax.collections), label
                continue
            raise AssertionError(f"legend entry {label!r} is not drawn")
    unlisted = [label for label in lines if not label.startswith("_") and label not in listed]
    assert not unlisted, f"lines missing from the legend: {unlisted}"


def record() -> None:
    """Rewrite every reference image."""
    BASELINE.mkdir(parents=True, exist_ok=True)
    for name, draw in sorted(FIGURES.items()):
        path = save(draw(), BASELINE / f"{name}.png", dpi=DPI)
        print(path, path.stat().st_size)


if __name__ == "__main__":
    matplotlib.use("Agg")
    if sys.argv[1:] == ["--record"]:
        record()
    else:
        sys.exit(f"usage: python {sys.argv[0]} --record")
