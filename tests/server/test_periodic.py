"""Periodic launches over simulated time (sim/server/periodic.py).

Nomad: nomad/periodic_test.go, nomad/periodic_endpoint_test.go. The scenario starts at
2026-01-01T00:00:00Z, i.e. Unix 1767225600.
"""

from __future__ import annotations

import re

import pytest

from sim.errors import ApiError, ValidationError
from sim.server.periodic import derive_child, derived_job_id, periodic_next
from sim.simulation import Simulation
from sim.structs.job import Job, PeriodicConfig

START = 1767225600  # 2026-01-01T00:00:00Z
HOUR = 3600.0


def scenario(nodes: int = 3) -> dict:
    """A few roomy nodes in dc1, one hour from 2026-01-01T00:00:00Z."""
    return {"name": "periodic", "seed": 3, "duration": "1h", "start_time": "2026-01-01T00:00:00Z",
            "cluster": {"nodes": [{"count": nodes, "resources": {"cpu": 4000, "memory": 8192, "disk": 102400}}]}}


def periodic_job(job_id: str = "cron", spec: str = "*/5 * * * *", runtime: str = "30s", **periodic) -> dict:
    """A periodic batch job whose task runs `runtime` (task meta sim.runtime)."""
    config = {"Enabled": True, "SpecType": "cron", "Spec": spec, **periodic}
    if "Specs" in periodic:
        config.pop("Spec")
    task = {"Name": "t", "Driver": "docker", "Config": {"image": "busybox"}, "Meta": {"sim.runtime": runtime},
            "Resources": {"CPU": 100, "MemoryMB": 64}}
    return {"Job": {"ID": job_id, "Type": "batch", "Datacenters": ["dc1"], "Periodic": config,
                    "TaskGroups": [{"Name": "work", "Count": 1, "Tasks": [task]}]}}


def run_through(sim: Simulation, until: float) -> None:
    """Run to `until` including the events scheduled at exactly `until` (SimPy's run stops before them)."""
    sim.run(until)
    while sim.env.peek() == until:
        sim.env.step()


def child_ids(sim: Simulation, parent: str = "cron") -> list[str]:
    """IDs of the stored children of `parent`, sorted."""
    return [j.id for j in sim.state.jobs("default", f"{parent}/periodic-") if j.parent_id == parent]


@pytest.fixture
def sim() -> Simulation:
    return Simulation.from_scenario(scenario())


def test_every_five_minutes_for_an_hour_launches_twelve_children(sim):
    """`*/5` registered at 00:00:00 launches exactly 12 children at 00:05 ... 01:00, each ID its Unix time."""
    sim.api.register_job(periodic_job())
    run_through(sim, HOUR)
    expected = [f"cron/periodic-{START + 300 * k}" for k in range(1, 13)]
    assert child_ids(sim) == expected
    launches = sim.server.periodic.launches
    assert [(x.time, x.outcome) for x in launches] == [(300.0 * k, "launched") for k in range(1, 13)]
    for child_id in expected:
        evals = sim.state.evals_by_job("default", child_id)
        assert [e.triggered_by for e in evals][:1] == ["periodic-job"]


def test_registration_creates_no_eval_and_parent_runs(sim):
    """Registering a periodic parent writes no eval; its status is running and nothing launches at 00:00."""
    out = sim.api.register_job(periodic_job())
    assert out["EvalID"] == "" and sim.state.evals() == []
    assert sim.api.read_job("cron")["Status"] == "running"
    assert sim.server.periodic.scheduled("default", "cron") == START + 300
    sim.run(299)
    assert child_ids(sim) == []


def test_a_launch_is_strictly_after_the_time_it_is_computed_from(sim):
    """Registered at exactly 00:05:00, the first launch is 00:10:00, not 00:05:00. Nomad: Periodic.Next."""
    sim.run(300)
    sim.api.register_job(periodic_job())
    run_through(sim, 600)
    assert child_ids(sim) == [f"cron/periodic-{START + 600}"]


def test_prohibit_overlap_skips_launches_while_a_child_runs(sim):
    """7-minute children on a 5-minute spec: every other launch is skipped.

    Nomad: TestPeriodicDispatch_Run_DisallowOverlaps.
    """
    sim.api.register_job(periodic_job(runtime="7m", ProhibitOverlap=True))
    run_through(sim, HOUR)
    outcomes = [(x.launch_unix - START, x.outcome) for x in sim.server.periodic.launches]
    assert outcomes == [(300 * k, "launched" if k % 2 else "skipped") for k in range(1, 13)]
    assert child_ids(sim) == [f"cron/periodic-{START + 300 * k}" for k in range(1, 13, 2)]


def test_without_prohibit_overlap_children_overlap(sim):
    """Without ProhibitOverlap the same 7-minute children all launch and run side by side."""
    sim.api.register_job(periodic_job(runtime="7m"))
    sim.run(660)  # 00:11: the 00:05 child still runs when the 00:10 one has started
    live = [c for c in child_ids(sim) if any(not a.terminal() for a in sim.state.allocs_by_job("default", c))]
    assert live == [f"cron/periodic-{START + 300}", f"cron/periodic-{START + 600}"]
    run_through(sim, HOUR)
    assert len(child_ids(sim)) == 12


def test_parent_summary_counts_follow_the_children(sim):
    """Children counts move pending → running → dead with the children; the summary index follows.

    Nomad: nomad/job_endpoint_test.go TestJobEndpoint_Dispatch_JobChildrenSummary (for periodic children).
    """
    sim.api.register_job(periodic_job(runtime="2m"))
    created = sim.api.job_summary("cron")["ModifyIndex"]
    sim.run(301)
    assert sim.api.job_summary("cron")["Children"] == {"Pending": 0, "Running": 1, "Dead": 0}
    run_through(sim, 1200)
    summary = sim.api.job_summary("cron")
    assert summary["Children"] == {"Pending": 1, "Running": 0, "Dead": 3}
    assert summary["ModifyIndex"] > created
    assert sim.api.read_job("cron")["Status"] == "running"


def test_force_launch_answers_the_child_eval(sim):
    """Force launches `<id>/periodic-<now>` with a periodic-job eval and answers its indexes.

    Nomad: TestPeriodicEndpoint_Force.
    """
    sim.api.register_job(periodic_job())
    sim.run(125)
    out = sim.api.force_periodic("cron")
    ev = sim.state.eval_by_id(out["EvalID"])
    assert ev.job_id == f"cron/periodic-{START + 125}" and ev.triggered_by == "periodic-job"
    assert out["EvalCreateIndex"] == out["Index"] == ev.create_index == sim.state.index
    assert sim.server.periodic.scheduled("default", "cron") == START + 300  # the schedule is untouched


def test_force_launch_ignores_prohibit_overlap(sim):
    """A forced launch happens even while a child runs. Nomad: ForceEval skips the overlap check."""
    sim.api.register_job(periodic_job(runtime="7m", ProhibitOverlap=True))
    sim.run(360)
    assert sim.server.periodic.running_children(sim.state.job_by_id("default", "cron"))
    sim.api.force_periodic("cron")
    assert child_ids(sim) == [f"cron/periodic-{START + 300}", f"cron/periodic-{START + 360}"]


def test_force_launch_errors(sim):
    """Missing, non-periodic and untracked jobs get Nomad's messages and write nothing.

    Nomad: TestPeriodicDispatch_ForceEval_Untracked.
    """
    sim.api.register_job(periodic_job("off", Enabled=False))
    sim.api.register_job({"Job": {**periodic_job("plain")["Job"], "Periodic": None}})
    before = sim.state.index
    dispatcher = sim.server.periodic
    cases = [("nope", "job not found"), ("plain", "can't force launch non-periodic job"),
             ("off", 'force launch for job "off" failed: can\'t force run non-tracked job "off" (default)')]
    for job_id, message in cases:
        with pytest.raises(ValidationError, match=re.escape(message)):
            dispatcher.force_run("default", job_id)
        with pytest.raises(ApiError) as err:
            sim.api.force_periodic(job_id)
        assert err.value.status == 500 and err.value.message == message
    assert sim.state.index == before


def test_disabled_stopped_and_parameterized_jobs_are_not_tracked(sim):
    """Only active periodic parents are tracked.

    Nomad: TestPeriodicDispatch_Add_NonPeriodic, _Periodic_Parameterized, _Periodic_Stopped.
    """
    sim.api.register_job(periodic_job("off", Enabled=False))
    param = periodic_job("param")
    param["Job"]["ParameterizedJob"] = {"Payload": "optional"}
    sim.api.register_job(param)
    sim.api.register_job(periodic_job("cron"))
    sim.api.deregister_job("cron")
    assert sim.server.periodic.tracked_jobs() == []
    run_through(sim, 900)
    assert [j.id for j in sim.state.jobs()] == ["cron", "off", "param"]


def test_stopping_or_purging_the_parent_ends_its_launches(sim):
    """Deregistering a tracked parent (stop or purge) stops further launches.

    Nomad: TestPeriodicDispatch_Remove_Tracked.
    """
    sim.api.register_job(periodic_job("a"))
    sim.api.register_job(periodic_job("b"))
    sim.run(420)
    sim.api.deregister_job("a")
    sim.api.deregister_job("b", purge=True)
    run_through(sim, 1800)
    assert child_ids(sim, "a") == [f"a/periodic-{START + 300}"]
    assert child_ids(sim, "b") == [f"b/periodic-{START + 300}"]
    assert sim.api.read_job("a")["Status"] == "dead"


def test_updating_the_spec_reschedules_from_the_update(sim):
    """A new spec takes effect from the update time. Nomad: TestPeriodicDispatch_Add_UpdateJob."""
    sim.api.register_job(periodic_job())
    sim.run(420)
    sim.api.register_job(periodic_job(spec="*/20 * * * *"))
    run_through(sim, 2400)
    assert child_ids(sim) == [f"cron/periodic-{START + t}" for t in (300, 1200, 2400)]


def test_specs_list_launches_at_the_earliest_of_its_specs(sim):
    """With Specs, each launch is the earliest next time of any spec."""
    sim.api.register_job(periodic_job(Specs=["*/20 * * * *", "7 * * * *"]))
    run_through(sim, HOUR)
    assert child_ids(sim) == [f"cron/periodic-{START + t}" for t in (420, 1200, 2400, 3600)]


def test_launches_follow_the_jobs_time_zone(sim):
    """`0 * * * *` in Asia/Kathmandu (UTC+05:45) launches at :15 UTC."""
    sim.api.register_job(periodic_job(spec="0 * * * *", TimeZone="Asia/Kathmandu"))
    run_through(sim, 2 * HOUR)
    assert child_ids(sim) == [f"cron/periodic-{START + 900}", f"cron/periodic-{START + 4500}"]


def test_hourly_macro_and_daylight_saving_next_times():
    """`@hourly`, and a Los Angeles spec that skips the nonexistent 2am.

    Nomad: nomad/structs/structs_periodic_test.go TestPeriodicConfig_DSTChange_Transitions.
    """
    hourly = PeriodicConfig(enabled=True, spec="@hourly", spec_type="cron")
    assert periodic_next(hourly, START) == START + 3600
    la = PeriodicConfig(enabled=True, spec="0 2 11-13 3 * 2017", spec_type="cron", time_zone="America/Los_Angeles")
    mar11_0100_pst, mar12_0100_pst = 1489222800, 1489309200
    assert periodic_next(la, mar11_0100_pst) == 1489226400  # Mar 11 10:00 UTC
    assert periodic_next(la, mar12_0100_pst) == 1489395600  # Mar 13 09:00 UTC


def test_test_spec_type_and_exhausted_specs_never_launch():
    """The test spec type picks the next listed Unix time; a spec with no future time gives None."""
    test = PeriodicConfig(enabled=True, spec="100,200,300", spec_type="_internal_test")
    assert [periodic_next(test, t) for t in (0, 100, 250, 300)] == [100, 200, 300, None]
    past = PeriodicConfig(enabled=True, spec="0 0 29 2 * 1980", spec_type="cron")
    assert periodic_next(past, START) is None


def test_derived_child_is_a_non_periodic_copy():
    """The child: derived ID and name, ParentID, no Periodic, status cleared.

    Nomad: TestPeriodicDispatch_JobEmptyStatus.
    """
    parent = Job(id="p", name="p", namespace="default", type="batch", status="running", status_description="x",
                 periodic=PeriodicConfig(enabled=True, spec="* * * * *"), meta={"k": "v"})
    child = derive_child(parent, 1234)
    assert (child.id, child.name, child.parent_id) == ("p/periodic-1234", "p/periodic-1234", "p")
    assert child.periodic is None and child.status == child.status_description == ""
    assert child.meta == {"k": "v"} and parent.periodic is not None and derived_job_id("p", 5) == "p/periodic-5"


def test_next_launch_time_is_none_for_inactive_jobs(sim):
    """next_launch_time answers the plan endpoint's launch: a time for active periodic jobs, else None."""
    sim.run(60)
    dispatcher = sim.server.periodic
    active = Job(id="a", type="batch", periodic=PeriodicConfig(enabled=True, spec="*/5 * * * *", spec_type="cron"))
    assert dispatcher.next_launch_time(active) == START + 300
    assert dispatcher.next_launch_time(active, after_unix=START + 300) == START + 600
    assert dispatcher.next_launch_time(Job(id="b", type="batch")) is None


def test_runs_are_deterministic():
    """Two simulations of the same scenario launch the same children with the same eval IDs."""
    def launches():
        s = Simulation.from_scenario(scenario())
        s.api.register_job(periodic_job(runtime="7m", ProhibitOverlap=True))
        run_through(s, HOUR)
        return s.server.periodic.launches

    assert launches() == launches()


def test_parents_launching_at_the_same_instant_both_launch(sim):
    """Two parents due at the same instant each launch once, in other namespaces too.

    Nomad: TestPeriodicDispatch_Run_SameTime, TestPeriodicDispatch_Run_SameID_Different_Namespace.
    """
    sim.api.register_job(periodic_job("a"))
    sim.api.register_job(periodic_job("b"))
    run_through(sim, 300)
    assert child_ids(sim, "a") == [f"a/periodic-{START + 300}"] and child_ids(sim, "b") == [f"b/periodic-{START + 300}"]


def test_running_children_sees_live_evals_and_allocs(sim):
    """A child with a pending eval or a running alloc is running; once complete it is not.

    Nomad: TestPeriodicDispatch_RunningChildren_NoEvals, _ActiveEvals, _ActiveAllocs.
    """
    sim.api.register_job(periodic_job(runtime="2m"))
    dispatcher, parent = sim.server.periodic, sim.state.job_by_id("default", "cron")
    assert not dispatcher.running_children(parent)
    run_through(sim, 300)
    child = dispatcher.children("default", "cron")[0]
    assert [e.status for e in sim.state.evals_by_job("default", child)] == ["pending"]
    assert dispatcher.running_children(parent)
    sim.run(330)
    assert all(e.terminal() for e in sim.state.evals_by_job("default", child))
    assert dispatcher.running_children(parent)  # the alloc still runs
    sim.run(599)
    assert not dispatcher.running_children(parent)
