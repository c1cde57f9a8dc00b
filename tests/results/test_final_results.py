"""`Simulation.final_results`: the tables of a run that is over, built after its state is released,
are those of `results()` (same columns, dtypes and values), and the state is gone; streamed into a
results folder (`write_final`), the same files as `write_tables` of `results()`."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

from sim.metrics.recorder import STREAMED
from sim.results.folder import write_final, write_tables
from sim.simulation import Simulation

SCENARIOS = ROOT / "scenarios"
CASES = {  # a scenario each for deployments, node events, GPUs, periodic launches, preemptions, a trace
    "canary-autorevert": {}, "node-failures": {}, "openb-gpu": {"duration": "20m"},
    "periodic-batch": {"duration": "30m"}, "preemption": {}, "mixed": {"duration": "20m"},
    "alibaba-trace": {"duration": "30m", "workload[0].trace.limit": 40},
}


def _run(name: str) -> Simulation:
    sim = Simulation.from_scenario(SCENARIOS / f"{name}.yaml", overrides=CASES[name])
    sim.run()
    return sim


@pytest.mark.parametrize("name", sorted(CASES))
def test_final_results_are_the_results(name):
    """Every table as `results()` gives it for the same run; afterwards the state is collected and
    what a caller reads of the run (time reached, rejected actions, recorder) is still there."""
    expected = _run(name).results()
    sim = _run(name)
    state, now, errors = weakref.ref(sim.state), sim.now, list(sim.workload.errors)
    tables = sim.final_results()
    assert list(tables) == list(expected)
    for table, frame in expected.items():
        pd.testing.assert_frame_equal(tables[table], frame, check_exact=True, obj=table)
    gc.collect()
    assert state() is None
    assert sim.now == now and sim.workload.errors == errors and len(sim.recorder.rows["allocations"])


@pytest.mark.parametrize("name", ["alibaba-trace", "openb-gpu", "preemption"])
@pytest.mark.parametrize("csv", [False, True])
def test_write_final_writes_the_results_folder(name, csv, tmp_path):
    """`write_final` (placements and allocations written as they are built, then only their
    STREAMED columns kept) writes the files `write_tables` writes of `results()`, byte for byte,
    and returns the same summary."""
    expected = write_tables(tmp_path / "whole", _run(name).results(), csv=csv)
    assert write_final(tmp_path / "streamed", _run(name), csv=csv) == expected
    _assert_same_files(tmp_path / "whole", tmp_path / "streamed")


def test_write_final_keeps_the_scenarios_tables(tmp_path):
    """With `metrics.tables`, the tables written are those kept, streamed or not."""
    overrides = {**CASES["alibaba-trace"], "metrics.tables": ["allocations", "jobs", "cluster"]}

    def run() -> Simulation:
        sim = Simulation.from_scenario(SCENARIOS / "alibaba-trace.yaml", overrides=overrides)
        sim.run()
        return sim

    write_tables(tmp_path / "whole", run().results())
    write_final(tmp_path / "streamed", run())
    _assert_same_files(tmp_path / "whole", tmp_path / "streamed")
    assert {p.stem for p in (tmp_path / "streamed").glob("*.parquet")} == {"allocations", "jobs", "cluster"}


def test_streamed_recorder_cannot_build_again():
    """After `final_results(emit)` the recorder holds no per-alloc rows: building again raises."""
    sim = _run("alibaba-trace")
    emitted = []
    tables = sim.final_results(lambda name, frame: emitted.append((name, list(frame.columns))))
    assert [name for name, _ in emitted] == ["placements", "allocations"]
    assert all("node_name" in columns for _, columns in emitted)
    assert {name: tuple(tables[name].columns) for name in STREAMED} == STREAMED
    placed = tables["placements"]["alloc_id"]
    assert len(placed) and (placed != "").all()  # (no failed rows)
    with pytest.raises(RuntimeError):
        sim.recorder.tables()


def _assert_same_files(expected: Path, got: Path) -> None:
    names = sorted(p.name for p in expected.iterdir())
    assert sorted(p.name for p in got.iterdir()) == names
    for file in names:
        assert (got / file).read_bytes() == (expected / file).read_bytes(), file
