"""Every sample scenario of scenarios/ runs end to end (at reduced size where it is large).

Each test loads the scenario file with overrides (as `nomadsim run --set` would), runs it, and
checks the behaviour the scenario exists to show.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

from sim.results.kpis import summarize
from sim.simulation import Simulation

SCENARIOS = ROOT / "scenarios"
SAMPLES = ("quickstart", "mixed", "canary-autorevert", "periodic-batch", "dispatch-burst", "node-failures",
           "alibaba-trace", "autoscale", "preemption", "openb-gpu")


def run(name: str, **overrides: object) -> tuple[Simulation, dict[str, pd.DataFrame]]:
    """Run scenarios/<name>.yaml with `--set` style overrides; the simulation and its tables."""
    sim = Simulation.from_scenario(SCENARIOS / f"{name}.yaml", overrides=overrides)
    sim.run()
    return sim, sim.results()


def test_every_sample_is_covered():
    """The samples listed here are exactly the scenarios in scenarios/."""
    assert sorted(p.stem for p in Path(SCENARIOS).glob("*.yaml")) == sorted(SAMPLES)


def test_quickstart():
    """A service and a batch job: everything placed, the batch job completes, nothing rejected."""
    sim, t = run("quickstart")
    jobs = t["jobs"].set_index("job_id")
    assert jobs.loc["web", "status"] == "running" and jobs.loc["report", "succeeded"]
    assert t["placements"]["alloc_id"].ne("").sum() == 8
    assert sim.workload.errors == []


def test_mixed_service_and_batch():
    """System, service, periodic, generated batch jobs and a workflow share two node classes and racks."""
    sim, t = run("mixed", duration="30m")
    jobs = t["jobs"]
    generated = jobs[jobs["job_id"].str.startswith("batch-")]
    assert len(generated) >= 20 and generated["makespan"].notna().sum() >= 10
    placed = t["placements"].merge(t["nodes"], on="node_id")
    assert set(placed["rack"]) == {"r1", "r2"}
    assert (t["children"]["kind"] == "periodic").any()
    dag = t["dags"].iloc[0]
    assert (dag["dag"], dag["status"], dag["critical_path"]) == ("ingest", "complete", "ingest -> train -> publish")
    assert sim.workload.errors == []


def test_canary_autorevert():
    """The bad canary never turns healthy: its deployment fails and the job reverts; the good one is promoted."""
    sim, t = run("canary-autorevert")
    deps = t["deployments"].sort_values("start")
    assert list(deps["status"]) == ["successful", "failed", "successful", "successful"]
    assert "rolling back" in deps.iloc[1]["status_description"]
    assert deps.iloc[-1]["promoted"] and sim.state.job_by_id("default", "api").version == 3
    assert sim.workload.errors == []


def test_periodic_batch():
    """Launches every 15 minutes and one at the hour; children complete."""
    _, t = run("periodic-batch", duration="70m")
    kids = t["children"]
    nightly = kids[kids["parent_id"] == "nightly"]
    assert list(nightly["launch"]) == [900.0, 1800.0, 2700.0, 3600.0]
    assert (kids["parent_id"] == "hourly-cleanup").sum() == 1
    assert (kids[kids["launch"] < 3600]["status"] == "dead").all()


def test_dispatch_burst():
    """About 150 dispatches in 15 minutes, each a child with its own run time."""
    sim, t = run("dispatch-burst")
    kids = t["children"]
    assert 100 <= len(kids) <= 220 and (kids["kind"] == "dispatch").all()
    assert (kids["status"] == "dead").mean() > 0.9
    assert kids["runtime"].std() > 1.0
    assert sim.workload.submitted["dispatch_generate"] == len(kids) - 1


def test_node_failures_and_drain():
    """A node down and up, a drain, a rack down and up, a drained fraction and random failures."""
    _, t = run("node-failures")
    events = t["node_events"]
    assert {"node_event", "domain:r2", "drain_fraction", "random_failure"} <= set(events["cause"])
    assert (events[events["cause"] == "domain:r2"]["event"] == "down").sum() == 10
    assert (t["allocations"]["client_status"] == "lost").any()
    assert t["cluster"]["nodes_ready"].min() <= 10


@pytest.mark.parametrize("limit", [40])
def test_alibaba_trace(limit):
    """The first task rows of the Alibaba trace replay as batch jobs that all finish."""
    sim, t = run("alibaba-trace", duration="30m", **{"workload[0].trace.limit": limit})
    jobs = t["jobs"]
    assert len(jobs) == limit and (jobs["status"] == "dead").all()
    assert (jobs["slowdown"] >= 1).all() and sim.workload.submitted["trace"] == limit


def test_autoscale():
    """Spot nodes join at 1h (blocked batch evals then place on them), 8 of 12 are reclaimed at 3h
    (their allocs are lost and replaced), and 8 more join at 4h."""
    sim, t = run("autoscale", duration="4h10m", **{"workload[1].generate.rate": "60/h"})
    cluster = t["cluster"].set_index("time")
    assert [cluster.loc[at, "nodes"] for at in (3540.0, 3600.0, 10800.0, 14400.0)] == [4, 16, 8, 16]
    assert cluster.loc[3540.0, "blocked_evals"] > 0
    assert summarize(t)["node_hours"] == pytest.approx(4 * 1 + 16 * 2 + 8 * 1 + 16 * 10 / 60, abs=0.3)
    spot = t["nodes"][t["nodes"]["name"].str.startswith("spot-")]
    placed = t["placements"].merge(spot, on="node_id")
    assert placed["time"].between(3600.0, 3660.0).any()
    events = t["node_events"].merge(t["nodes"], on="node_id")
    removed = events[events["event"] == "remove"]["name"].tolist()
    assert removed == [f"spot-{i}" for i in range(11, 3, -1)]
    lost = t["allocations"][t["allocations"]["client_status"] == "lost"]
    assert set(lost["node_id"]) <= set(events[events["event"] == "remove"]["node_id"]) and len(lost) > 0
    assert sim.workload.errors == []


def test_preemption():
    """Nomad's defaults: the priority-70/80 jobs wait for the backfill; with service and batch
    preemption on they are placed at once, evicting priority-20 backfill allocs."""
    _, off = run("preemption", duration="30m")
    _, on = run("preemption", duration="30m", **{"control_plane.preemption.service": "true",
                                                "control_plane.preemption.batch": "true"})
    assert off["preemptions"].empty and len(on["preemptions"]) >= 4
    assert set(on["preemptions"]["preempted_job_id"]) == {"backfill"}
    assert set(on["preemptions"]["preempting_priority"]) <= {70, 80}
    high = lambda t: t["jobs"].query("priority > 50")  # noqa: E731
    waited = high(off)["first_placement"] - high(off)["submit"]
    assert waited.isna().any() or waited.max() > 60
    assert ((high(on)["first_placement"] - high(on)["submit"]) < 1).all()


def test_openb_gpu():
    """The openb pod list on its GPU node list (first 500 pods here; tests/test_openb.py runs all)."""
    sim, t = run("openb-gpu", **{"workload[0].trace.limit": 500, "duration": "1h"})
    placed = t["placements"]
    assert placed["alloc_id"].ne("").sum() == 500
    per_alloc = t["devices"].groupby("alloc_id")["device_id"].agg(["size", "nunique"])
    assert (per_alloc["size"] == per_alloc["nunique"]).all() and per_alloc["size"].max() == 8
    assert t["gpu_cluster"]["gpus_allocated"].max() > 0 and sim.workload.errors == []
