"""`Simulation.final_results`: the tables of a run that is over, built after its state is released,
are those of `results()` (same columns, dtypes and values), and the state is gone."""

from __future__ import annotations

import gc
import weakref

import pandas as pd
import pytest
from conftest import ROOT

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
