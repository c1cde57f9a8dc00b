"""Tests of sim.metrics, sim.metrics.series and sim.results.tables: every results table and its schema."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, tiny_scenario

from sim.metrics.recorder import Recorder
from sim.metrics.schema import SCHEMA, TABLES
from sim.results.tables import table_schemas
from sim.simulation import Simulation
from sim.structs.alloc import AllocMetric
from sim.structs.evaluation import Evaluation

JOBS = ROOT / "scenarios" / "jobs"


def batch(job_id: str, runtime: str = "30s", count: int = 2, delay: str | None = None) -> dict:
    """A one-group batch job of `count` allocs running `runtime` (optionally starting after `delay`)."""
    meta = {"sim.runtime": runtime, **({"sim.start_delay": delay} if delay else {})}
    return {"ID": job_id, "Type": "batch", "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [
        {"Name": "t", "Driver": "exec", "Config": {"command": "x"}, "Meta": meta,
         "Resources": {"CPU": 500, "MemoryMB": 256}}]}]}


def run(until: float, **extra) -> tuple[Simulation, dict[str, pd.DataFrame]]:
    """A tiny scenario with `extra` keys, run `until` seconds, and its tables."""
    sim = Simulation.from_scenario(tiny_scenario(**extra))
    sim.run(until)
    return sim, sim.results()


@pytest.fixture(scope="module")
def mixed() -> tuple[Simulation, dict[str, pd.DataFrame]]:
    """A service, a batch job and a periodic job for 40 minutes, sampled every 10 s."""
    return run(2400, workload=[{"at": 0, "register": str(JOBS / "web.json")},
                               {"at": "1m", "register": batch("crunch", "5m", delay="20s")},
                               {"at": 0, "register": {**batch("cron", "8m", 1), "Periodic": {
                                   "Enabled": True, "SpecType": "cron", "Spec": "*/5 * * * *",
                                   "ProhibitOverlap": True}}}])


def test_every_table_has_its_documented_columns_and_dtypes(mixed):
    """Each table a run returns is documented in TABLES and matches its schema column by column."""
    _, tables = mixed
    schemas = table_schemas()
    assert set(tables) == set(TABLES)
    for name, frame in tables.items():
        assert [(c, str(t)) for c, t in frame.dtypes.items()] == [(c, t) for c, t, _ in schemas[name]], name
        assert all(meaning for _, _, meaning in schemas[name])


def test_eval_row_follows_its_lifecycle():
    """Created, ready (after a wait), two dequeues, a conflicting plan, done: every column derived."""
    rec = Recorder()
    ev = Evaluation(id="e1", namespace="default", priority=50, type="batch", triggered_by="job-register",
                    job_id="j", wait=5.0)
    rec.eval_created(ev, 10.0)
    rec.eval_created(ev, 12.0)  # a later write keeps the first times
    rec.eval_dequeued(ev, 16.0)
    rec.eval_dequeued(ev, 20.0)
    rec.plan_submitted(ev, 20.5)
    rec.plan_applied(ev, 21.0, placed=3, conflict=True)
    ev.status = "complete"
    rec.eval_done(ev, 22.0, failed_placements=1)
    row = rec.tables()["evaluations"].iloc[0]
    assert (row["created"], row["ready"], row["dequeued"], row["completed"]) == (10.0, 15.0, 16.0, 22.0)
    assert (row["wait_in_broker"], row["scheduling_time"], row["latency"]) == (1.0, 2.0, 7.0)
    assert (row["dequeues"], row["plans"], row["conflicts"], row["placements"], row["failed_placements"]) == (2, 1, 1, 3, 1)
    assert row["status"] == "complete"
    assert rec.scheduler_runs() == 2


def test_a_reblocked_evals_rows_are_those_of_eval_done_and_failed_placements():
    """`eval_reblocked` (its failed rows made once per eval) against `eval_done` then
    `failed_placements`, over re-runs of blocked evals with random failed groups."""
    rng = np.random.default_rng(7)
    fast, slow = Recorder(), Recorder()
    evals = []
    for i in range(6):
        failed = {f"g{g}": AllocMetric(nodes_evaluated=int(rng.integers(100)), nodes_exhausted=int(rng.integers(9)),
                                       dimension_exhausted={d: int(rng.integers(1, 4)) for d in ("cpu", "memory")[:g % 3]})
                  for g in rng.permutation(int(rng.integers(4)))}
        evals.append(Evaluation(id=f"e{i}", namespace="default", priority=50, type="batch",
                                triggered_by="queued-allocs", job_id=f"j{i % 4}", status="blocked", failed_tg_allocs=failed))
    for step in range(60):
        i = int(rng.integers(len(evals)))
        if step % 17 == 16:  # the eval blocked anew, with other failed groups: its rows made again
            evals[i].failed_tg_allocs = {name: AllocMetric(nodes_evaluated=step) for name in evals[i].failed_tg_allocs}
        ev = evals[i].copy()  # (a re-run's copy shares the failed groups)
        for rec in (fast, slow):
            rec.eval_dequeued(ev, float(step))
        fast.eval_reblocked(ev, step + 0.5, step % 3)
        slow.eval_done(ev, step + 0.5, step % 3)
        if ev.failed_tg_allocs:
            slow.failed_placements(step + 0.5, ev)
    got, want = fast.tables(), slow.tables()
    assert len(want["placements"]) > 60
    for table in ("evaluations", "placements"):
        pd.testing.assert_frame_equal(got[table], want[table])


def test_placements_carry_the_reserved_resources(mixed):
    """Each placement row has the alloc's cpu, memory and disk; they add up to the jobs' asks."""
    _, tables = mixed
    placed = tables["placements"]
    web = placed[placed["job_id"] == "web"]
    assert len(web) == 3 and (web["cpu"] == 500).all() and (web["memory"] == 256).all() and (web["disk"] > 0).all()


def test_allocation_transitions_are_complete():
    """Batch allocs go pending → running → complete; a stopped service alloc gets a stop row; a dead node's allocs turn lost."""
    _, tables = run(900, workload=[{"at": 0, "register": batch("b", "30s")},
                                   {"at": 0, "register": str(JOBS / "web.json")},
                                   {"at": "2m", "deregister": {"job": "web"}}])
    rows = tables["allocations"]
    for _, g in rows[rows["job_id"] == "b"].groupby("alloc_id"):
        assert list(g["client_status"]) == ["pending", "running", "complete"]
    web = rows[rows["job_id"] == "web"]
    for _, g in web.groupby("alloc_id"):
        assert list(g["desired_status"])[-2:] == ["stop", "stop"] and g["client_status"].iloc[-1] == "complete"
    _, lost = run(300, workload=[{"at": 0, "register": str(JOBS / "web.json")}],
                  events=[{"at": "1m", "node_down": ["node-0", "node-1", "node-2"]}])
    last = lost["allocations"].groupby("alloc_id").last()
    assert (last["client_status"] == "lost").all() and len(last) >= 3
    assert lost["cluster"]["running_allocs"].iloc[-1] == 0


def test_node_usage_used_lags_allocated_until_tasks_start(mixed):
    """Allocated counts a placed alloc at once; used only once its tasks run (20 s start delay)."""
    _, tables = mixed
    usage = tables["node_usage"].groupby("time")[["cpu_allocated", "cpu_used"]].sum()
    assert usage.loc[70.0, "cpu_allocated"] - usage.loc[70.0, "cpu_used"] == pytest.approx(2 * 500)
    assert usage.loc[100.0, "cpu_allocated"] == usage.loc[100.0, "cpu_used"]
    assert (usage["cpu_used"] <= usage["cpu_allocated"] + 1e-9).all()


def test_cluster_series_agrees_with_node_usage_and_state(mixed):
    """The cluster table aggregates node_usage; its running count matches the clients at the end."""
    sim, tables = mixed
    cluster, usage = tables["cluster"], tables["node_usage"]
    assert list(cluster["time"]) == sorted(usage["time"].unique())
    g = usage.groupby("time")[["cpu_allocated", "cpu_capacity"]].sum()
    assert np.allclose(cluster["cpu_utilisation"], (g["cpu_allocated"] / g["cpu_capacity"]).to_numpy())
    last = usage[(usage["time"] == usage["time"].max()) & (usage["status"] == "ready")]
    placed = tables["placements"][tables["placements"]["alloc_id"] != ""]
    ask = {d: placed[d].median() for d in ("cpu", "memory", "disk")}
    stuck = total = 0.0
    for _, node in last.iterrows():  # free cpu of nodes that cannot take one more typical ask
        free = {d: max(node[f"{d}_capacity"] - node[f"{d}_allocated"], 0.0) for d in ask}
        stuck += free["cpu"] if any(free[d] < ask[d] for d in ask) else 0.0
        total += free["cpu"]
    assert cluster["cpu_fragmentation"].iloc[-1] == pytest.approx(stuck / total)
    running = sum(1 for a in sim.state.allocs() if a.client_status == "running")
    assert cluster["running_allocs"].iloc[-1] == running and (cluster["nodes_ready"] == 3).all()


def test_cluster_counts_blocked_evals_and_queued_allocs():
    """A job too big for the cluster leaves a blocked eval and its queued allocs in the series."""
    _, tables = run(60, workload=[{"at": 0, "register": batch("huge", "1h", count=40)}])
    last = tables["cluster"].iloc[-1]
    assert last["running_allocs"] == 21  # 7 of 500 MHz fit on each 3,900 MHz node
    assert last["blocked_evals"] == 1 and last["queued_allocs"] == 40 - 21


def test_jobs_table_times_and_batch_makespan(mixed):
    """A batch job's submit, first placement, all started, completion, makespan, runtime and slowdown."""
    _, tables = mixed
    jobs = tables["jobs"].set_index("job_id")
    crunch = jobs.loc["crunch"]
    assert crunch["submit"] == 60.0 and 60.0 < crunch["first_placement"] < 61.0
    assert crunch["all_started"] == pytest.approx(crunch["first_placement"] + 20.0)
    assert crunch["runtime"] == pytest.approx(300.0)
    assert crunch["makespan"] == pytest.approx(crunch["completed"] - 60.0)
    assert crunch["slowdown"] == pytest.approx(crunch["makespan"] / 300.0) and crunch["slowdown"] > 1
    assert crunch["succeeded"] and crunch["status"] == "dead"
    web = jobs.loc["web"]
    assert web["status"] == "running" and math.isnan(web["makespan"]) and web["placed_allocs"] == 3


def test_children_table_lists_periodic_launches_including_skipped(mixed):
    """Every 5 minutes a launch; an 8-minute child makes the next launch skip (ProhibitOverlap)."""
    _, tables = mixed
    kids = tables["children"]
    assert (kids["parent_id"] == "cron").all() and (kids["kind"] == "periodic").all()
    assert list(kids["launch"][:3]) == [300.0, 600.0, 900.0]
    assert list(kids["outcome"][:3]) == ["launched", "skipped", "launched"]
    first = kids.iloc[0]
    assert first["status"] == "dead" and first["runtime"] == pytest.approx(480.0)
    assert first["duration"] == pytest.approx(first["completed"] - 300.0)


def test_metrics_tables_keeps_only_the_named_tables():
    """metrics.tables restricts what results() returns."""
    _, tables = run(60, workload=[{"at": 0, "register": batch("b")}], metrics={"tables": ["jobs", "placements"]})
    assert set(tables) == {"jobs", "placements"}


def test_schema_documents_every_recorded_table():
    """Every SCHEMA table is in TABLES with a description."""
    assert set(SCHEMA) <= set(TABLES) and all(TABLES.values())


@pytest.mark.parametrize("stops", [(), (300,), (61, 62, 900, 1500)])
def test_tables_built_mid_run_match_tables_built_once(stops):
    """The recorder hands its per-alloc rows over to the tables it builds and keeps those: tables
    built at any stops before (and again at) the end equal the tables of one build at the end,
    and the rows still count every row recorded."""
    workload = [{"at": "1m", "register": batch("crunch", "5m", count=4)},
                {"at": "10m", "register": batch("later", "2m", count=3, delay="20s")},
                {"at": "20m", "register": batch("huge", "1m", count=40)}]
    once = Simulation.from_scenario(tiny_scenario(workload=workload, metrics={"sample_every": "10s"}))
    once.run(1800)
    expected = once.results()
    sim = Simulation.from_scenario(tiny_scenario(workload=workload, metrics={"sample_every": "10s"}))
    held = dict(sim.recorder.rows)  # (writers may keep the rows they append to)
    for stop in stops:
        sim.run(stop)
        tables = sim.results()
        tables["placements"]["extra"] = 1.0  # (a caller's column stays its own)
    sim.run(1800)
    got = sim.results()
    assert got.keys() == expected.keys()
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, obj=name)
    for name in ("placements", "allocations"):
        assert held[name] is sim.recorder.rows[name] and len(held[name]) == len(got[name]) > 0
    assert (got["placements"]["alloc_id"] == "").any()  # failed placements (the huge job) included
