"""Tests of sim.workload and sim.workload.events: every workload action, generator and node event."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import ROOT, tiny_scenario

from sim.scenario.load import load_scenario
from sim.simulation import Simulation
from sim.workload.replay import generated_job

JOBS = ROOT / "scenarios" / "jobs"
HCL = """job "hello" {
  type = "batch"
  datacenters = ["dc1"]
  group "g" {
    count = 2
    task "t" {
      driver = "exec"
      config { command = "/bin/true" }
      resources {
        cpu    = 100
        memory = 64
      }
      meta = { "sim.runtime" = "30s" }
    }
  }
}
"""


def batch(job_id: str, runtime: str = "30s", count: int = 1) -> dict:
    """A one-group batch job whose tasks run `runtime`."""
    return {"ID": job_id, "Type": "batch", "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [
        {"Name": "t", "Driver": "exec", "Config": {"command": "x"}, "Meta": {"sim.runtime": runtime},
         "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}


def run(until: float = 600.0, nodes: int = 3, base_dir: Path | None = None, **extra) -> Simulation:
    """Build a tiny scenario with `extra` keys and run it `until` seconds."""
    sim = Simulation(load_scenario(tiny_scenario(nodes, **extra), base_dir=base_dir))
    sim.run(until)
    return sim


def job(sim: Simulation, job_id: str):
    """The job as stored."""
    return sim.state.job_by_id("default", job_id)


# --- job actions -------------------------------------------------------------------------------


def test_register_inline_json_file_and_hcl(tmp_path):
    """Inline, JSON-file and HCL-file registers all reach the state, each at its time."""
    (tmp_path / "hello.hcl").write_text(HCL)
    sim = run(base_dir=tmp_path, workload=[
        {"at": 0, "register": batch("inline")},
        {"at": "10s", "register": str(JOBS / "web.json")},
        {"at": "20s", "register": "hello.hcl"},
    ])
    assert sim.workload.errors == []
    submits = sim.results()["jobs"].set_index("job_id")["submit"].to_dict()
    assert submits == {"inline": 0.0, "web": 10.0, "hello": 20.0}
    assert job(sim, "hello").task_groups[0].count == 2
    assert job(sim, "hello").status == "dead"  # ran its 30 s and finished


def test_update_sets_fields_as_a_new_version():
    """An update re-registers the job with the `set` paths changed."""
    sim = run(workload=[{"at": 0, "register": str(JOBS / "web.json")},
                        {"at": "1m", "update": {"job": "web", "set": {"TaskGroups.frontend.Count": 1}}}])
    web = job(sim, "web")
    assert (web.version, web.task_groups[0].count) == (1, 1)


def test_deregister_stops_the_job():
    """A deregister stops the job and its allocs."""
    sim = run(workload=[{"at": 0, "register": str(JOBS / "web.json")}, {"at": "1m", "deregister": {"job": "web"}}])
    assert job(sim, "web").stop and job(sim, "web").status == "dead"


def test_dispatch_creates_a_child_with_the_meta():
    """A dispatch registers a child of the parameterized job with the request's meta."""
    sim = run(workload=[{"at": 0, "register": str(JOBS / "thumbnailer.json")},
                        {"at": "1m", "dispatch": {"job": "thumbnailer", "meta": {"size": "64"}, "payload": "x"}}])
    children = [j for j in sim.state.jobs() if j.parent_id == "thumbnailer"]
    assert len(children) == 1 and children[0].meta["size"] == "64"
    assert children[0].payload  # base64 of the payload


def test_rejected_dispatch_is_recorded_not_raised():
    """Meta the parent does not permit is Nomad's error, kept in errors and the workload_errors table."""
    sim = run(workload=[{"at": 0, "register": str(JOBS / "thumbnailer.json")},
                        {"at": "1m", "dispatch": {"job": "thumbnailer", "meta": {"colour": "red"}}}])
    (time, action, job_id, message), = sim.workload.errors
    assert (time, action, job_id) == (60.0, "dispatch", "thumbnailer")
    assert "unpermitted metadata keys: [colour]" in message
    assert list(sim.results()["workload_errors"]["action"]) == ["dispatch"]


def test_revert_registers_the_old_version_again():
    """Reverting to version 0 writes version 2 with version 0's count."""
    sim = run(workload=[{"at": 0, "register": str(JOBS / "web.json")},
                        {"at": "1m", "update": {"job": "web", "set": {"TaskGroups.frontend.Count": 1}}},
                        {"at": "5m", "revert": {"job": "web", "version": 0}}])
    web = job(sim, "web")
    assert web.version == 2 and web.task_groups[0].count == 3


def test_promote_promotes_the_latest_deployment():
    """A promote after the canary is healthy finishes the canary deployment successfully."""
    sim = run(nodes=6, until=1200, workload=[
        {"at": 0, "register": str(JOBS / "api-canary.json")},
        {"at": "5m", "update": {"job": "api", "set": {"TaskGroups.api.Tasks.server.Config.image": "api:2"}}},
        {"at": "8m", "promote": {"job": "api"}}])
    latest = sim.state.latest_deployment("default", "api")
    assert latest.job_version == 1 and latest.status == "successful"
    assert all(g.promoted for g in latest.task_groups.values())


def test_promote_without_deployment_is_rejected():
    """Promoting a job that has no deployment is a rejected action."""
    sim = run(workload=[{"at": 0, "register": batch("b")}, {"at": "1s", "promote": {"job": "b"}}])
    assert sim.workload.errors[0][1:3] == ("promote", "b")


def test_update_of_a_purged_job_is_rejected():
    """An update of a job that no longer exists does not crash the run."""
    sim = run(workload=[{"at": 0, "register": batch("b")}, {"at": "1s", "deregister": {"job": "b", "purge": True}},
                        {"at": "2s", "update": {"job": "b", "set": {"Priority": 60}}}])
    assert sim.workload.errors[0][1:] == ("update", "b", "job 'b' not found")


# --- generators --------------------------------------------------------------------------------


GENERATE = {"rate": "60/h", "stop": "1h", "id_prefix": "gen", "template": str(JOBS / "worker-template.json"),
            "distributions": {"count": {"dist": "choice", "values": [1, 2]},
                              "cpu": {"dist": "uniform", "low": 100, "high": 200},
                              "memory": 128, "runtime": {"dist": "uniform", "low": "10s", "high": "20s"}}}


def test_generate_poisson_jobs_with_sampled_sizes():
    """Poisson arrivals in [start, stop) with count, cpu, memory and runtime drawn per job."""
    sim = run(until=3600, workload=[{"generate": GENERATE}])
    gen = [j for j in sim.state.jobs() if j.id.startswith("gen-")]
    assert 30 <= len(gen) <= 100 and sim.workload.submitted["generate"] == len(gen)
    for j in gen:
        tg, task = j.task_groups[0], j.task_groups[0].tasks[0]
        assert tg.count in (1, 2) and 100 <= task.resources.cpu <= 200 and task.resources.memory_mb == 128
        assert 10 <= float(task.meta["sim.runtime"]) <= 20
    submits = sim.results()["jobs"].set_index("job_id").loc[[f"gen-{i}" for i in range(len(gen))], "submit"]
    assert submits.is_monotonic_increasing and submits.max() < 3600


def test_generate_is_deterministic_and_fixed_rate_is_regular():
    """Same seed, same jobs; `arrival: fixed` submits every 1/rate from start, at most `count`."""
    fixed = {**GENERATE, "arrival": "fixed", "start": "1m", "count": 5}
    a, b = run(until=900, workload=[{"generate": fixed}]), run(until=900, workload=[{"generate": fixed}])
    submits = a.results()["jobs"]["submit"].tolist()
    assert submits == [60.0, 120.0, 180.0, 240.0, 300.0]
    sizes = lambda s: [(j.id, j.task_groups[0].tasks[0].resources.cpu) for j in s.state.jobs()]  # noqa: E731
    assert sizes(a) == sizes(b)


def test_generated_job_applies_sizes_to_every_group_and_task():
    """The template's groups and tasks all get the sampled count, resources and runtime."""
    spec = load_scenario(tiny_scenario(workload=[{"generate": GENERATE}])).workload[0]
    out = generated_job(spec, 7, {"count": 2.6, "cpu": 150.4, "memory": 99.5, "runtime": 12.5})
    group = out["TaskGroups"][0]
    assert out["ID"] == "gen-7" and group["Count"] == 3
    assert group["Tasks"][0]["Resources"] == {"CPU": 150, "MemoryMB": 100}
    assert group["Tasks"][0]["Meta"]["sim.runtime"] == "12.5"
    assert spec.template.job["TaskGroups"][0]["Count"] == 1  # the template is not edited


def test_dispatch_generate_uses_one_process_for_many_dispatches():
    """10,000 dispatches a day are one pending event at a time, not 10,000 timers."""
    sim = Simulation.from_scenario(tiny_scenario(workload=[
        {"at": 0, "register": str(JOBS / "thumbnailer.json")},
        {"dispatch_generate": {"job": "thumbnailer", "rate": "10000/d", "meta": {"size": "1"}}}]))
    assert len(sim.env._queue) < 20
    sim.run(1800)
    children = [j for j in sim.state.jobs() if j.parent_id == "thumbnailer"]
    assert 150 <= len(children) <= 260
    assert sim.workload.submitted["dispatch_generate"] == len(children)


def test_dispatch_generate_runtime_becomes_child_meta():
    """A sampled runtime is the child's sim.runtime, so its allocs run that long."""
    sim = run(until=900, workload=[
        {"at": 0, "register": str(JOBS / "thumbnailer.json")},
        {"dispatch_generate": {"job": "thumbnailer", "rate": "1/m", "arrival": "fixed", "count": 3,
                               "distributions": {"runtime": "45s"}}}])
    children = [j for j in sim.state.jobs() if j.parent_id == "thumbnailer"]
    assert [c.meta["sim.runtime"] for c in children] == ["45.0"] * 3
    runtimes = sim.results()["jobs"].set_index("parent_id").loc["thumbnailer", "runtime"]
    assert np.allclose(runtimes, 45.0)


def test_trace_replay_submits_each_row_at_its_time(tmp_path):
    """A small Alibaba trace: one batch job per row, at its offset, running its duration."""
    trace = tmp_path / "t.csv"
    trace.write_text(",submit_time,duration,cpu,memory,job_id,task_id,instances_num,disk\n"
                     "0,100,30,1.0,0.01,1,1,3,0\n1,160,12,0.5,0.02,2,5,2,0\n2,100,5,0.25,0.01,1,2,1,0\n")
    sim = run(until=900, workload=[{"at": "1m", "trace": {"format": "alibaba2017", "path": str(trace),
                                                           "machine": {"cpu_cores": 2, "memory": 8000}}}])
    jobs = sim.results()["jobs"].set_index("job_id")
    assert jobs["submit"].to_dict() == {"alibaba-1-1": 60.0, "alibaba-1-2": 60.0, "alibaba-2-5": 120.0}
    assert jobs.loc["alibaba-1-1", "desired_allocs"] == 3
    assert jobs["runtime"].round(6).to_dict() == {"alibaba-1-1": 30.0, "alibaba-1-2": 5.0, "alibaba-2-5": 12.0}
    assert job(sim, "alibaba-2-5").task_groups[0].tasks[0].resources.cpu == 1000  # 0.5 core × 2000 MHz
    assert (jobs["status"] == "dead").all() and sim.workload.submitted["trace"] == 3


# --- node events -------------------------------------------------------------------------------

RACKED = {"count": 4, "name_prefix": "r", "resources": {"cpu": 4000, "memory": 4096}, "meta": {"rack": "r1"},
          "rack": "meta.rack"}


def _cluster(*groups: dict) -> dict:
    return {"nodes": list(groups)}


def test_node_down_and_up_are_recorded():
    """A node goes down then up; both are node_events rows and the server marks it down meanwhile."""
    sim = run(until=100, events=[{"at": "10s", "node_down": "node-1"}])
    node = next(n for n in sim.state.nodes.nodes if n.name == "node-1")
    assert node.id in sim.clients.down and node.status == "down"
    sim2 = run(until=200, events=[{"at": "10s", "node_down": "node-1"}, {"at": "100s", "node_up": "node-1"}])
    events = sim2.results()["node_events"]
    assert list(events["event"]) == ["down", "up"] and list(events["time"]) == [10.0, 100.0]


def test_domain_down_takes_every_node_of_the_rack():
    """domain_down of a rack stops all its nodes and no others."""
    other = {"count": 2, "name_prefix": "o", "resources": {"cpu": 4000, "memory": 4096}}
    sim = Simulation.from_scenario(tiny_scenario(cluster=_cluster(RACKED, other),
                                                 events=[{"at": "5s", "domain_down": "r1"}]))
    sim.run(10)
    down = sorted(n.name for n in sim.state.nodes.nodes if n.id in sim.clients.down)
    assert down == ["r-0", "r-1", "r-2", "r-3"]
    assert set(sim.results()["node_events"]["cause"]) == {"domain:r1"}


def test_node_drain_marks_the_node_draining():
    """node_drain goes through the node endpoint and the drainer: the node ends ineligible."""
    sim = run(until=60, events=[{"at": "5s", "node_drain": ["node-0"], "deadline": "1m"}])
    node = next(n for n in sim.state.nodes.nodes if n.name == "node-0")
    assert node.scheduling_eligibility == "ineligible"
    assert list(sim.results()["node_events"][["time", "event"]].itertuples(index=False, name=None)) == [(5.0, "drain")]


def test_drain_fraction_drains_that_share_of_the_class():
    """Half of a class of four: two of its nodes drained, chosen by the events stream."""
    big = {**RACKED, "node_class": "big"}
    small = {"count": 2, "name_prefix": "s", "resources": {"cpu": 4000, "memory": 4096}}
    scenario = tiny_scenario(cluster=_cluster(big, small), events=[{"at": "5s", "drain_fraction": {
        "node_class": "big", "fraction": 0.5}}])
    drained = []
    for _ in range(2):
        sim = Simulation.from_scenario(scenario)
        sim.run(10)
        drained.append(sorted(n.name for n in sim.state.nodes.nodes if n.scheduling_eligibility == "ineligible"))
    assert len(drained[0]) == 2 and all(name.startswith("r-") for name in drained[0])
    assert drained[0] == drained[1]


def test_random_failures_take_nodes_down_and_repair_them():
    """With a short MTBF every node fails and recovers; failures stop at `stop`; runs are reproducible."""
    events = [{"random_failures": {"mtbf": "10m", "mttr": "1m", "stop": "1h"}}]
    tables = []
    for _ in range(2):
        sim = Simulation.from_scenario(tiny_scenario(4, events=events, duration="2h"))
        sim.run(7200)
        tables.append(sim.results()["node_events"])
    ev = tables[0]
    downs, ups = ev[ev["event"] == "down"], ev[ev["event"] == "up"]
    assert len(downs) >= 8 and downs["time"].max() < 3600 and len(ups) == len(downs)
    assert set(ev["cause"]) == {"random_failure"}
    assert ev.equals(tables[1])
