"""The openb GPU trace replayed on its own GPU node list (issue 16's acceptance).

One run of the default pod list (8,152 pods) on the GPU node list (1,213 nodes, 6,212 GPUs), as
scenarios/openb-gpu.yaml sets it up: the load report counts the fractional-GPU pods, every pod
whose ask fits some node is placed, no device instance is ever held by two live allocations, and
the GPU KPIs are in the summary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from sim.results.kpis import summarize
from sim.simulation import Simulation

SCENARIO = ROOT / "scenarios" / "openb-gpu.yaml"
TERMINAL = ("complete", "failed", "lost")


@pytest.fixture(scope="module")
def openb() -> tuple[Simulation, dict[str, pd.DataFrame]]:
    sim = Simulation.from_scenario(SCENARIO)
    sim.run()
    return sim, sim.results()


def holding_intervals(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per device instance and alloc: from the placement to the alloc's first terminal row
    (client terminal or stopped by the server; inf while it still holds the device)."""
    allocs = t["allocations"]
    done = allocs[allocs["client_status"].isin(TERMINAL) | allocs["desired_status"].isin(("stop", "evict"))]
    end = done.groupby("alloc_id")["time"].min()
    held = t["devices"][["device_id", "alloc_id", "time"]].rename(columns={"time": "start"})
    held["end"] = held["alloc_id"].map(end).fillna(np.inf).astype(float)
    return held


def test_load_report_counts_fractional_pods(openb):
    """3,078 pods ask for part of a GPU (one whole device each); no job is unplaceable on this node list."""
    _, t = openb
    report = t["trace_reports"].iloc[0]
    assert (report["submissions"], report["fractional_gpu"], report["never_placeable"]) == (8152, 3078, 0)


def test_every_pod_that_fits_is_placed(openb):
    """Every pod (all fit some node) is placed by the end; GPU pods hold as many devices as they ask."""
    sim, t = openb
    placed = t["placements"][t["placements"]["alloc_id"] != ""]
    assert placed["job_id"].nunique() == 8152
    gpus = pd.read_csv(ROOT / "scenarios" / "traces" / "openb_pod_list_default.csv")
    asked = dict(zip("openb-" + gpus["name"], gpus["num_gpu"], strict=True))
    held = t["devices"].groupby("job_id")["device_id"].size()
    assert all(held.get(job, 0) == n for job, n in asked.items())
    assert sim.workload.errors == []


def test_no_device_instance_is_held_twice(openb):
    """Sorted by start, each instance's next holder starts no earlier than the previous one ended."""
    _, t = openb
    held = holding_intervals(t).sort_values(["device_id", "start"], kind="stable")
    same = held["device_id"].to_numpy()[1:] == held["device_id"].to_numpy()[:-1]
    overlap = held["start"].to_numpy()[1:] < held["end"].to_numpy()[:-1]
    assert len(held) > 5000 and not (same & overlap).any()
    assert held.groupby("device_id")["alloc_id"].nunique().max() > 1  # instances are reused


def test_gpu_kpis_and_series(openb):
    """summary.json's GPU KPIs come from the gpu_cluster series."""
    _, t = openb
    kpis = summarize(t)
    series = t["gpu_cluster"]
    assert (series["gpu_capacity"] == 6212).all()
    assert 0.5 < kpis["gpu_allocation_rate_max"] <= 1.0
    assert kpis["gpu_allocation_rate_mean"] == pytest.approx(series["gpu_allocation_rate"].mean())
    assert 0.0 <= kpis["gpu_fragmentation_mean"] < 1.0 and kpis["gpu_allocations"] == 7064


def test_same_seed_same_device_choices():
    """Device offers draw from the scheduler stream: the same seed gives the same instances."""
    def run(seed: int) -> pd.DataFrame:
        sim = Simulation.from_scenario(SCENARIO, seed=seed, overrides={"workload[0].trace.limit": 300, "duration": "1h"})
        sim.run()
        return sim.results()["devices"]

    first = run(1)
    assert first.equals(run(1)) and len(first) > 250
    assert not first["device_id"].equals(run(2)["device_id"])
