"""The generic (service and batch) scheduler end to end, through the Harness.

Cases ported from Nomad scheduler/generic_sched_test.go with Nomad's expected numbers; each
docstring names the Nomad test. Jobs, nodes and allocs are Nomad's mocks (tests/scheduler/fixtures.py).
"""

from __future__ import annotations

import pytest

from sim.scheduler.generic import adjust_queued
from sim.structs.alloc import Allocation, TaskState
from sim.structs.consts import (
    ALLOC_CLIENT_LOST,
    ALLOC_LOST,
    ALLOC_MIGRATING,
    ALLOC_NOT_NEEDED,
    ALLOC_RESCHEDULED,
    BLOCKED_EVAL_DESC,
    BLOCKED_EVAL_MAX_PLAN_DESC,
    DESC_DEPLOYMENT_NEWER_JOB,
    DESC_DEPLOYMENT_STOPPED_JOB,
)
from sim.structs.deployment import Deployment, DeploymentState
from sim.structs.job import MINUTE, SECOND
from sim.structs.plan import DesiredUpdates, PlanResult

from .fixtures import (
    World,
    group,
    live,
    mock_alloc,
    mock_batch_job,
    mock_job,
    mock_node,
    planned,
    stopped,
)

UPDATE_4 = {"MaxParallel": 4, "HealthCheck": "checks", "MinHealthyTime": 10 * SECOND, "HealthyDeadline": 10 * MINUTE}


def count(n: int):
    """A tweak setting the first group's count."""
    return lambda d: group(d).update(Count=n)


def other_command(d: dict) -> None:
    """A destructive change: the task's command."""
    group(d)["Tasks"][0]["Config"]["command"] = "/bin/other"


def running_allocs(w: World, job, nodes, n: int, **changes) -> list:
    """`n` allocs of the job named web[0..n-1], one per node, written to the state."""
    return w.add_allocs(*(mock_alloc(job, nodes[i], f"my-job.web[{i}]", **changes) for i in range(n)))


def dead_task(started: float, finished: float) -> dict[str, TaskState]:
    """Task states of a task that ran and finished."""
    return {"web": TaskState(state="dead", started_at=started, finished_at=finished)}


def fail_alloc(w: World, alloc: Allocation, finished: float) -> None:
    """The client reports the alloc failed at `finished`, its task started an hour before now."""
    w.state.update_allocs_from_client([(alloc, {"client_status": "failed",
                                                "task_states": dead_task(w.now - 3600, finished)})])


# -- registration -------------------------------------------------------------------------------


def test_register_places_every_alloc_with_unique_names_and_ports():
    """Nomad: generic_sched_test.go TestServiceSched_JobRegister."""
    w = World()
    w.nodes(10)
    job = w.add_job(mock_job())
    h = w.process(w.eval_for(job))
    assert len(h.plans) == 1
    plan = h.plans[0]
    assert plan.annotations is None
    ev = h.evals[0]
    assert ev.plan_annotations["DesiredTGUpdates"]["web"].place == 10
    assert h.create_evals == [] and ev.blocked_eval == ""
    assert len(planned(plan)) == 10
    out = w.state.allocs_by_job("default", job.id)
    assert sorted(a.name for a in out) == sorted(f"{job.id}.web[{i}]" for i in range(10))
    used = {(a.node_id, port) for a in out for _, port in a.ports}
    assert len(used) == sum(len(a.ports) for a in out)
    assert out[0].metrics.nodes_available == {"dc1": 10} and out[0].metrics.nodes_in_pool == 10
    assert ev.status == "complete" and ev.queued_allocations == {"web": 0}


def sticky_disk(d: dict) -> None:
    """A sticky, migrating ephemeral disk."""
    group(d)["EphemeralDisk"].update(Sticky=True, Migrate=True)


def test_sticky_disk_update_keeps_allocs_on_their_nodes():
    """Nomad: generic_sched_test.go TestServiceSched_JobRegister_EphemeralDisk (same node pool)."""
    w = World()
    w.nodes(10)
    job = w.add_job(mock_job(sticky_disk))
    first = {a.id: a for a in planned(w.process(w.eval_for(job)).plans[0])}
    assert len(first) == 10
    job2 = w.add_job(mock_job(lambda d: (sticky_disk(d), group(d)["Tasks"][0]["Resources"].update(CPU=510)),
                              job_id=job.id))
    h = w.process(w.eval_for(job2, "node-update"))
    assert len(h.plans) == 1
    new = planned(h.plans[0])
    assert len(new) == 10
    assert all(first[a.previous_allocation].node_id == a.node_id for a in new)


def test_sticky_disk_moves_when_the_node_pool_changes():
    """Nomad: generic_sched_test.go TestServiceSched_JobRegister_EphemeralDisk (node pool changes)."""
    w = World()
    w.nodes(5)
    (test_node,) = w.add_nodes(mock_node(node_pool="test"))
    job = w.add_job(mock_job(sticky_disk))
    first = {a.id for a in planned(w.process(w.eval_for(job)).plans[0])}
    assert len(first) == 10
    job2 = w.add_job(mock_job(lambda d: (sticky_disk(d), d.update(NodePool="test")), job_id=job.id))
    h = w.process(w.eval_for(job2, "node-update"))
    new = planned(h.plans[0])
    assert len(h.plans) == 1 and len(new) == 10
    assert all(a.previous_allocation in first and a.job.node_pool == "test" for a in new)
    assert {a.node_id for a in new} == {test_node.id}


def test_register_disk_constraint_places_what_fits_and_blocks_the_rest():
    """Nomad: generic_sched_test.go TestServiceSched_JobRegister_DiskConstraints."""
    w = World()
    w.nodes(1)
    job = w.add_job(mock_job(lambda d: group(d).update(Count=2, EphemeralDisk={"SizeMB": 88 * 1024})))
    h = w.process(w.eval_for(job))
    assert len(h.plans) == 1 and h.plans[0].annotations is None
    assert len(h.create_evals) == 1 and h.create_evals[0].triggered_by == "queued-allocs"
    assert len(planned(h.plans[0])) == 1
    assert len(w.state.allocs_by_job("default", job.id)) == 1
    assert h.evals[0].status == "complete" and h.evals[0].queued_allocations == {"web": 1}


def test_register_distinct_hosts_places_one_per_node():
    """Nomad: generic_sched_test.go TestServiceSched_JobRegister_DistinctHosts."""
    w = World()
    w.nodes(10)

    def tweak(d):
        group(d)["Count"] = 11
        d["Constraints"].append({"Operand": "distinct_hosts"})

    job = w.add_job(mock_job(tweak))
    h = w.process(w.eval_for(job))
    assert len(h.plans) == 1 and len(h.create_evals) == 1
    assert list(h.evals[0].failed_tg_allocs) == ["web"]
    out = w.state.allocs_by_job("default", job.id)
    assert len(planned(h.plans[0])) == 10 and len(out) == 10
    assert len({a.node_id for a in out}) == 10
    assert h.evals[0].status == "complete"


def test_register_distinct_property_limits_allocs_per_value():
    """Nomad: generic_sched_test.go TestServiceSched_JobRegister_DistinctProperty."""
    w = World()
    w.add_nodes(*(mock_node(meta={"rack": "rack1" if i < 5 else "rack2"}) for i in range(10)))

    def tweak(d):
        group(d)["Count"] = 8
        d["Constraints"].append({"Operand": "distinct_property", "LTarget": "${meta.rack}", "RTarget": "2"})

    job = w.add_job(mock_job(tweak))
    h = w.process(w.eval_for(job))
    assert len(h.plans) == 1 and h.plans[0].annotations is None
    assert len(h.create_evals) == 1 and list(h.evals[0].failed_tg_allocs) == ["web"]
    out = w.state.allocs_by_job("default", job.id)
    assert len(planned(h.plans[0])) == 4 and len(out) == 4
    racks = [w.state.node_by_id(a.node_id).meta["rack"] for a in out]
    assert racks.count("rack1") == 2 and racks.count("rack2") == 2


def test_register_distinct_property_on_one_group_only():
    """Nomad: generic_sched_test.go TestServiceSched_JobRegister_DistinctProperty_TaskGroup."""
    w = World()
    w.add_nodes(*(mock_node(meta={"ssd": "true"}) for _ in range(2)))

    def tweak(d):
        tg2 = {**group(d), "Name": "tg2", "Count": 2, "Constraints": list(group(d)["Constraints"])}
        group(d)["Count"] = 1
        group(d)["Constraints"] = group(d)["Constraints"] + [{"Operand": "distinct_property", "LTarget": "${meta.ssd}"}]
        d["TaskGroups"].append(tg2)

    job = w.add_job(mock_job(tweak))
    h = w.process(w.eval_for(job))
    assert len(h.plans) == 1 and h.create_evals == []
    assert len(planned(h.plans[0])) == 3
    assert len(w.state.allocs_by_job("default", job.id)) == 3


def test_register_distinct_property_scale_up_updates_and_places():
    """Nomad: generic_sched_test.go TestServiceSched_JobRegister_DistinctProperty_TaskGroup_Incr."""
    w = World()

    def tweak(d):
        group(d)["Count"] = 3
        group(d)["Constraints"] = group(d)["Constraints"] + [
            {"Operand": "distinct_property", "LTarget": "${node.unique.id}"}]

    job = w.add_job(mock_job(tweak))
    nodes = w.nodes(6)
    running_allocs(w, job, nodes, 3)
    job2 = w.add_job(mock_job(lambda d: (tweak(d), group(d).update(Count=6)), job_id=job.id))
    h = w.process(w.eval_for(job2))
    assert len(h.plans) == 1 and h.plans[0].annotations is None and h.create_evals == []
    assert len(planned(h.plans[0])) == 6  # 3 in-place updates + 3 placements
    out = w.state.allocs_by_job("default", job.id)
    assert len(out) == 6 and len({a.node_id for a in out}) == 6


def test_register_annotated_plan_counts_placements():
    """Nomad: generic_sched_test.go TestServiceSched_JobRegister_Annotate."""
    w = World()
    w.nodes(10)
    job = w.add_job(mock_job())
    h = w.process(w.eval_for(job, annotate_plan=True))
    plan = h.plans[0]
    assert len(planned(plan)) == 10 and h.evals[0].status == "complete"
    assert plan.annotations == {"web": DesiredUpdates(place=10)}


def test_register_count_zero_is_a_no_op():
    """Nomad: generic_sched_test.go TestServiceSched_JobRegister_CountZero."""
    w = World()
    w.nodes(10)
    job = w.add_job(mock_job(count(0)))
    h = w.process(w.eval_for(job))
    assert h.plans == [] and w.state.allocs_by_job("default", job.id) == []
    assert h.evals[0].status == "complete" and h.evals[0].queued_allocations == {"web": 0}


def test_register_without_nodes_blocks_with_coalesced_failures():
    """Nomad: generic_sched_test.go TestServiceSched_JobRegister_AllocFail."""
    w = World()
    job = w.add_job(mock_job())
    ev = w.eval_for(job)
    h = w.process(ev)
    assert h.plans == []
    assert len(h.create_evals) == 1
    blocked = h.create_evals[0]
    assert blocked.status == "blocked" and blocked.triggered_by == "queued-allocs"
    assert blocked.status_description == BLOCKED_EVAL_DESC and blocked.previous_eval == ev.id
    out = h.evals[0]
    assert out.blocked_eval == blocked.id and list(out.failed_tg_allocs) == ["web"]
    metric = out.failed_tg_allocs["web"]
    assert metric.coalesced_failures == 9
    assert "dc1" not in metric.nodes_available and metric.nodes_in_pool == 0
    assert out.queued_allocations == {"web": 10} and out.status == "complete"
    assert w.state.job_summary("default", job.id).summary["web"].queued == 10


def test_blocked_eval_records_class_eligibility():
    """Nomad: generic_sched_test.go TestServiceSched_JobRegister_CreateBlockedEval."""
    w = World()
    full = mock_node()
    full.reserved.cpu = full.resources.cpu
    windows = mock_node()
    windows.attributes["kernel.name"] = "windows"
    w.add_nodes(full, windows)
    job = w.add_job(mock_job())
    h = w.process(w.eval_for(job))
    assert h.plans == [] and len(h.create_evals) == 1
    created = h.create_evals[0]
    assert created.status == "blocked" and not created.escaped_computed_class
    assert created.class_eligibility == {full.computed_class: True, windows.computed_class: False}
    metric = h.evals[0].failed_tg_allocs["web"]
    assert metric.coalesced_failures == 9
    assert metric.nodes_available == {"dc1": 2} and metric.nodes_in_pool == 2
    assert h.evals[0].status == "complete"


def test_feasible_group_places_while_infeasible_group_blocks():
    """Nomad: generic_sched_test.go TestServiceSched_JobRegister_FeasibleAndInfeasibleTG."""
    w = World()
    w.add_nodes(mock_node(node_class="class_0"))

    def tweak(d):
        group(d)["Count"] = 2
        group(d)["Constraints"] = [*d["Constraints"], {"LTarget": "${node.class}", "RTarget": "class_0", "Operand": "="}]
        tg2 = {**group(d), "Name": "web2", "Constraints": [
            d["Constraints"][0], {"LTarget": "${node.class}", "RTarget": "class_1", "Operand": "="}]}
        d["TaskGroups"].append(tg2)

    job = w.add_job(mock_job(tweak))
    h = w.process(w.eval_for(job))
    assert len(h.plans) == 1 and len(planned(h.plans[0])) == 2
    assert len(w.state.allocs_by_job("default", job.id)) == 2
    out = h.evals[0]
    assert out.blocked_eval == h.create_evals[0].id
    assert list(out.failed_tg_allocs) == ["web2"] and out.failed_tg_allocs["web2"].coalesced_failures == 1
    assert out.queued_allocations == {"web": 0, "web2": 2}


@pytest.mark.parametrize(("job_type", "algorithm", "together"), [
    ("service", "binpack", 2), ("service", "spread", 1), ("batch", "binpack", 2), ("batch", "spread", 1)])
def test_scheduler_algorithm_packs_or_spreads(job_type, algorithm, together):
    """Nomad: generic_sched_test.go TestServiceSched_JobRegister_SchedulerAlgorithm (global config)."""
    w = World(algorithm=algorithm)
    w.nodes(2)
    job = w.add_job(mock_job(lambda d: (d.update(Type=job_type), group(d).update(Count=1))))
    existing = w.add_job(mock_job(count(1)))
    w.process(w.eval_for(existing))
    h = w.process(w.eval_for(job))
    assert len(h.plans) == 1
    (alloc,) = w.state.allocs_by_job("default", job.id)
    assert len(w.state.allocs_by_node(alloc.node_id)) == together


# -- blocked and max-plan evals -----------------------------------------------------------------


def test_max_plan_eval_with_nothing_to_do_completes():
    """Nomad: generic_sched_test.go TestServiceSched_EvaluateMaxPlanEval."""
    w = World()
    job = w.add_job(mock_job(count(0)))
    h = w.process(w.eval_for(job, "max-plan-attempts", status="blocked"))
    assert h.plans == [] and h.evals[0].status == "complete"


def test_plan_places_what_fits_and_queues_the_rest():
    """Nomad: generic_sched_test.go TestServiceSched_Plan_Partial_Progress."""
    w = World()
    node = mock_node()
    node.resources.cpu = 4000
    w.add_nodes(node)
    job = w.add_job(mock_job(lambda d: (group(d).update(Count=3), group(d)["Tasks"][0]["Resources"].update(CPU=3600))))
    h = w.process(w.eval_for(job))
    assert len(h.plans) == 1 and h.plans[0].annotations is None
    assert len(planned(h.plans[0])) == 1 and len(w.state.allocs_by_job("default", job.id)) == 1
    assert h.evals[0].queued_allocations == {"web": 2} and h.evals[0].status == "complete"


def test_blocked_eval_that_still_cannot_place_is_reblocked():
    """Nomad: generic_sched_test.go TestServiceSched_EvaluateBlockedEval."""
    w = World()
    job = w.add_job(mock_job())
    ev = w.eval_for(job, status="blocked")
    h = w.process(ev)
    assert h.plans == [] and h.create_evals == []
    assert [e.id for e in h.reblock_evals] == [ev.id] and h.evals == []
    assert h.reblock_evals[0].status == "blocked"


def test_blocked_eval_that_places_everything_completes():
    """Nomad: generic_sched_test.go TestServiceSched_EvaluateBlockedEval_Finished."""
    w = World()
    w.nodes(10)
    job = w.add_job(mock_job())
    h = w.process(w.eval_for(job, status="blocked"))
    assert len(h.plans) == 1 and h.plans[0].annotations is None
    assert len(h.evals) == 1 and h.evals[0].blocked_eval == "" and h.reblock_evals == []
    assert len(planned(h.plans[0])) == 10 and len(w.state.allocs_by_job("default", job.id)) == 10
    assert h.evals[0].status == "complete" and h.evals[0].queued_allocations == {"web": 0}


def test_rejected_plans_exhaust_the_attempts():
    """Nomad: generic_sched_test.go TestServiceSched_RetryLimit (plus the max-plan blocked eval
    of Process' SetStatusError path)."""
    w = World()
    w.nodes(10)
    job = w.add_job(mock_job())
    ev = w.eval_for(job)
    h = w.process(ev, reject=True)
    assert len(h.plans) == 5
    assert w.state.allocs_by_job("default", job.id) == []
    out = h.evals[0]
    assert out.status == "failed" and out.status_description == "maximum attempts reached (5)"
    blocked = h.create_evals[-1]
    assert blocked.triggered_by == "max-plan-attempts" and blocked.status_description == BLOCKED_EVAL_MAX_PLAN_DESC
    assert out.blocked_eval == blocked.id and blocked.previous_eval == ev.id


def test_retry_limit_clears_the_deployment_id():
    """Nomad: generic_sched_test.go TestServiceSched_RetryLimit_DeploymentIDCleared."""
    w = World()
    w.nodes(10)
    job = w.add_job(mock_job(lambda d: d.update(Update={"MaxParallel": 1})))
    assert job.task_groups[0].update.max_parallel == 1
    h = w.process(w.eval_for(job), reject=True)
    assert len(h.evals) == 1 and h.evals[0].status == "failed"
    assert h.evals[0].deployment_id == ""


def test_batch_jobs_retry_twice():
    """Nomad: generic_sched.go maxBatchScheduleAttempts (2) with TestServiceSched_RetryLimit's planner."""
    w = World()
    w.nodes(2)
    job = w.add_job(mock_batch_job(count(2)))
    h = w.process(w.eval_for(job), reject=True)
    assert len(h.plans) == 2 and h.evals[0].status_description == "maximum attempts reached (2)"


def test_partial_commit_refreshes_and_places_the_rest():
    """A plan the applier half rejects is retried against the refreshed state (Nomad: process()'s
    refresh path, retryMax resetting on progress)."""
    w = World()
    nodes = w.nodes(4)
    job = w.add_job(mock_job(count(4)))
    hog = w.add_job(mock_job(count(1)))
    raced: list[str] = []

    def fill_a_node(plan):
        if raced:
            return
        target = sorted(plan.node_allocation)[0]
        raced.append(target)
        node = w.state.node_by_id(target)
        big = mock_alloc(hog, node, f"{hog.id}.web[0]", cpu=node.resources.cpu - node.reserved.cpu)
        w.add_allocs(big)

    h = w.process(w.eval_for(job), before_apply=fill_a_node)
    assert len(h.plans) == 2
    first, second = h.plans
    assert len(planned(first)) + len(planned(second)) >= 4
    out = live(w.state.allocs_by_job("default", job.id))
    assert len(out) == 4 and raced[0] not in {a.node_id for a in out}
    assert h.evals[0].status == "complete" and h.evals[0].queued_allocations == {"web": 0}
    assert len(nodes) == 4


def test_unknown_trigger_fails_the_eval():
    """Nomad: generic_sched.go Process: `scheduler cannot handle '%s' evaluation reason`."""
    w = World()
    job = w.add_job(mock_job())
    h = w.process(w.eval_for(job, "scheduled"))
    assert h.plans == [] and h.evals[0].status == "failed"
    assert h.evals[0].status_description == "scheduler cannot handle 'scheduled' evaluation reason"


# -- job updates --------------------------------------------------------------------------------


def test_destructive_update_replaces_every_alloc():
    """Nomad: generic_sched_test.go TestServiceSched_JobModify."""
    w = World()
    nodes = w.nodes(10)
    job = w.add_job(mock_job())
    allocs = running_allocs(w, job, nodes, 10)
    w.add_allocs(*(mock_alloc(job, nodes[i], f"my-job.web[{i}]", desired_status="stop", client_status="failed")
                   for i in range(5)))
    job2 = w.add_job(mock_job(other_command, job_id=job.id))
    h = w.process(w.eval_for(job2))
    assert len(h.plans) == 1
    assert len(stopped(h.plans[0])) == len(allocs) and len(planned(h.plans[0])) == 10
    assert len(live(w.state.allocs_by_job("default", job.id))) == 10
    assert h.evals[0].status == "complete"


def test_scale_to_zero_stops_every_alloc():
    """Nomad: generic_sched_test.go TestServiceSched_JobModify_CountZero."""
    w = World()
    nodes = w.nodes(10)
    job = w.add_job(mock_job())
    allocs = w.add_allocs(*(mock_alloc(job, nodes[i], f"{job.id}.web[{i}]",
                                       client_status="failed" if i % 2 == 0 else "pending") for i in range(10)))
    w.add_allocs(*(mock_alloc(job, nodes[i], f"{job.id}.web[{i}]", desired_status="stop") for i in range(5)))
    job2 = w.add_job(mock_job(count(0), job_id=job.id))
    h = w.process(w.eval_for(job2))
    assert len(h.plans) == 1
    assert len(stopped(h.plans[0])) == len(allocs) and planned(h.plans[0]) == []
    assert live(w.state.allocs_by_job("default", job.id)) == []
    assert h.evals[0].status == "complete"


def test_rolling_update_is_limited_by_max_parallel():
    """Nomad: generic_sched_test.go TestServiceSched_JobModify_Rolling."""
    w = World()
    nodes = w.nodes(10)
    job = w.add_job(mock_job())
    running_allocs(w, job, nodes, 10)
    job2 = w.add_job(mock_job(lambda d: (other_command(d), group(d).update(Update=UPDATE_4)), job_id=job.id))
    h = w.process(w.eval_for(job2))
    plan = h.plans[0]
    assert len(h.plans) == 1 and len(stopped(plan)) == 4 and len(planned(plan)) == 4
    assert h.evals[0].status == "complete"
    assert plan.deployment is not None and h.evals[0].deployment_id == plan.deployment.id
    dstate = plan.deployment.task_groups["web"]
    assert dstate.desired_total == 10 and dstate.desired_canaries == 0
    assert {a.deployment_id for a in planned(plan)} == {plan.deployment.id}


def test_rolling_update_on_a_full_node_scales_and_replaces():
    """Nomad: generic_sched_test.go TestServiceSched_JobModify_Rolling_FullNode."""
    w = World()
    node = mock_node()
    node.reserved.cpu = node.reserved.memory_mb = 0
    w.add_nodes(node)
    whole = {"CPU": node.resources.cpu, "MemoryMB": node.resources.memory_mb}
    job = w.add_job(mock_job(lambda d: (group(d).update(Count=1), group(d)["Tasks"][0].update(Resources=whole))))
    w.add_allocs(mock_alloc(job, node, "my-job.web[0]"))

    def tweak(d):
        group(d).update(Count=5, Update={**UPDATE_4, "MaxParallel": 5})
        other_command(d)

    job2 = w.add_job(mock_job(tweak, job_id=job.id))
    h = w.process(w.eval_for(job2))
    plan = h.plans[0]
    assert len(h.plans) == 1 and len(stopped(plan)) == 1 and len(planned(plan)) == 5
    assert h.evals[0].status == "complete" and h.evals[0].deployment_id == plan.deployment.id
    dstate = plan.deployment.task_groups["web"]
    assert dstate.desired_total == 5 and dstate.desired_canaries == 0


def test_canary_update_places_only_canaries():
    """Nomad: generic_sched_test.go TestServiceSched_JobModify_Canaries."""
    w = World()
    nodes = w.nodes(10)
    job = w.add_job(mock_job())
    running_allocs(w, job, nodes, 10)
    update = {**UPDATE_4, "MaxParallel": 2, "Canary": 2}
    job2 = w.add_job(mock_job(lambda d: (other_command(d), group(d).update(Update=update)), job_id=job.id))
    h = w.process(w.eval_for(job2))
    plan = h.plans[0]
    assert len(h.plans) == 1 and stopped(plan) == [] and len(planned(plan)) == 2
    assert all(a.deployment_status is not None and a.deployment_status.canary for a in planned(plan))
    assert h.evals[0].status == "complete" and h.evals[0].deployment_id == plan.deployment.id
    state = w.state.deployment_by_id(plan.deployment.id).task_groups["web"]
    assert state.desired_total == 10 and state.desired_canaries == 2 and len(state.placed_canaries) == 2


def test_inplace_update_keeps_allocs_and_joins_the_new_deployment():
    """Nomad: generic_sched_test.go TestServiceSched_JobModify_InPlace."""
    w = World()
    nodes = w.nodes(10)
    job = w.add_job(mock_job())
    allocs = running_allocs(w, job, nodes, 10, deployment_id="old-deployment")
    ports = {a.id: list(a.ports) for a in allocs}
    job2 = w.add_job(mock_job(lambda d: group(d).update(Update=UPDATE_4), job_id=job.id))
    h = w.process(w.eval_for(job2))
    plan = h.plans[0]
    assert len(h.plans) == 1 and stopped(plan) == [] and len(planned(plan)) == 10
    assert all(p.job is job2 for p in planned(plan))
    out = w.state.allocs_by_job("default", job.id)
    assert len(out) == 10 and h.evals[0].status == "complete"
    assert all(a.ports == ports[a.id] for a in out)
    assert {a.deployment_id for a in out} == {plan.deployment.id}
    assert all(a.deployment_status is None for a in out)


# -- deregistration -----------------------------------------------------------------------------


def test_purged_job_stops_every_alloc():
    """Nomad: generic_sched_test.go TestServiceSched_JobDeregister_Purged."""
    w = World()
    (node,) = w.nodes(1)
    job = w.add_job(mock_job())
    w.add_allocs(*(mock_alloc(job, node, f"my-job.web[{i}]") for i in range(10)))
    w.state.delete_job("default", job.id)
    h = w.process(w.eval_for(job, "job-deregister"))
    assert len(h.plans) == 1 and len(h.plans[0].node_update[node.id]) == 10
    out = w.state.allocs_by_job("default", job.id)
    assert all(a.job is not None for a in out) and live(out) == []
    assert h.evals[0].status == "complete" and h.evals[0].queued_allocations == {}


def test_stopped_job_stops_every_alloc_and_zeroes_queued():
    """Nomad: generic_sched_test.go TestServiceSched_JobDeregister_Stopped."""
    w = World()
    (node,) = w.nodes(1)
    job = w.add_job(mock_job())
    w.add_allocs(*(mock_alloc(job, node, f"my-job.web[{i}]") for i in range(10)))
    w.add_job(mock_job(lambda d: d.update(Stop=True), job_id=job.id))
    w.state.summaries.set_queued(("default", job.id), {"web": 2}, w.state.index)
    h = w.process(w.eval_for(job, "job-deregister"))
    assert len(h.plans) == 1 and len(h.plans[0].node_update[node.id]) == 10
    assert live(w.state.allocs_by_job("default", job.id)) == []
    assert w.state.job_summary("default", job.id).summary["web"].queued == 0
    assert h.evals[0].status == "complete" and h.evals[0].queued_allocations == {"web": 0}


# -- node events --------------------------------------------------------------------------------

NODE_DOWN_CASES = [
    ("stop", "running", False, "lost"),
    ("run", "pending", True, "migrate"),
    ("run", "running", True, "migrate"),
    ("run", "lost", False, "terminal"),
    ("run", "complete", False, "terminal"),
    ("run", "failed", False, "reschedule"),
    ("evict", "running", False, "lost"),
]


@pytest.mark.parametrize(("desired", "client", "migrate", "expect"), NODE_DOWN_CASES)
def test_node_down_marks_allocs_lost_or_replaces_them(desired, client, migrate, expect):
    """Nomad: generic_sched_test.go TestServiceSched_NodeDown (committed as submitted, like
    Nomad's test harness)."""
    w = World()
    node = mock_node(status="down")
    w.add_nodes(node)
    job = w.add_job(mock_job())
    alloc = mock_alloc(job, node, "my-job.web[0]", desired_status=desired, client_status=client,
                       task_states=dead_task(w.now - 3600, w.now - 10) if client == "failed" else {})
    alloc.desired_transition.migrate = migrate
    w.add_allocs(alloc)
    h = w.process(w.eval_for(job, "node-update", node_id=node.id), apply=None)
    assert h.evals[0].status == "complete"
    if expect == "terminal":
        assert h.plans == []
        return
    plan = h.plans[0]
    out = plan.node_allocation[node.id] if expect == "reschedule" else plan.node_update[node.id]
    assert len(out) == 1
    if expect == "migrate":
        assert out[0].client_status != "lost"
    elif expect == "reschedule":
        assert out[0].client_status == "failed" and out[0].last_reschedule == "no placement"
        assert out[0].desired_status == "run"
    else:
        assert out[0].client_status == ALLOC_CLIENT_LOST and out[0].desired_description == ALLOC_LOST


def test_lost_allocs_are_replaced_on_other_nodes():
    """Nomad: generic_sched_test.go TestServiceSched_NodeDown (the lost path) with NodeDrain's
    spare nodes: a down node's running allocs are stopped as lost and replaced."""
    w = World()
    down = mock_node(status="down")
    w.add_nodes(down)
    w.nodes(3)
    job = w.add_job(mock_job(count(2)))
    allocs = w.add_allocs(*(mock_alloc(job, down, f"{job.id}.web[{i}]", client_status="running") for i in range(2)))
    h = w.process(w.eval_for(job, "node-update", node_id=down.id))
    stops = h.plans[0].node_update[down.id]
    assert {(s.client_status, s.desired_description) for s in stops} == {(ALLOC_CLIENT_LOST, ALLOC_LOST)}
    placed = planned(h.plans[0])
    assert sorted(p.previous_allocation for p in placed) == sorted(a.id for a in allocs)
    assert all(p.node_id != down.id for p in placed)
    assert h.evals[0].plan_annotations["DesiredTGUpdates"]["web"].stop == 2


def test_drain_migrates_every_alloc():
    """Nomad: generic_sched_test.go TestServiceSched_NodeDrain."""
    w = World()
    draining = mock_node(drain=True)
    w.add_nodes(draining)
    w.nodes(10)
    job = w.add_job(mock_job())
    allocs = [mock_alloc(job, draining, f"my-job.web[{i}]") for i in range(10)]
    for a in allocs:
        a.desired_transition.migrate = True
    w.add_allocs(*allocs)
    h = w.process(w.eval_for(job, "node-update", node_id=draining.id))
    plan = h.plans[0]
    assert len(h.plans) == 1 and len(plan.node_update[draining.id]) == 10
    assert {s.desired_description for s in plan.node_update[draining.id]} == {ALLOC_MIGRATING}
    assert len(planned(plan)) == 10 and len(live(w.state.allocs_by_job("default", job.id))) == 10
    assert h.evals[0].status == "complete"


def test_drain_without_room_queues_the_migrations():
    """Nomad: generic_sched_test.go TestServiceSched_NodeDrain_Queued_Allocations."""
    w = World()
    (node,) = w.nodes(1)
    job = w.add_job(mock_job(count(2)))
    allocs = [mock_alloc(job, node, f"my-job.web[{i}]") for i in range(2)]
    for a in allocs:
        a.desired_transition.migrate = True
    w.add_allocs(*allocs)
    w.state.update_node(node.id, drain=True)
    h = w.process(w.eval_for(job, "node-update", node_id=node.id))
    assert h.evals[0].queued_allocations == {"web": 2}


# -- rescheduling -------------------------------------------------------------------------------

RESCHEDULE_ONCE = {"Attempts": 1, "Interval": 15 * MINUTE, "Delay": 5 * SECOND, "MaxDelay": MINUTE,
                   "DelayFunction": "constant", "Unlimited": False}


def test_failed_alloc_is_rescheduled_once_now():
    """Nomad: generic_sched_test.go TestServiceSched_Reschedule_OnceNow."""
    w = World()
    nodes = w.nodes(10)
    job = w.add_job(mock_job(lambda d: group(d).update(Count=2, ReschedulePolicy=RESCHEDULE_ONCE)))
    ok, failed = running_allocs(w, job, nodes, 2)
    fail_alloc(w, failed, w.now - 10)
    h = w.process(w.eval_for(job, "node-update"))
    assert h.plans
    out = w.state.allocs_by_job("default", job.id)
    assert len(out) == 3
    (new,) = [a for a in out if a.id not in (ok.id, failed.id)]
    assert new.previous_allocation == failed.id and new.name == failed.name
    assert [e.prev_alloc_id for e in new.reschedule_tracker] == [failed.id]
    assert failed.next_allocation == new.id and failed.desired_description == ALLOC_RESCHEDULED
    w.state.update_allocs_from_client([(new, {"client_status": "failed"})])
    w.process(w.eval_for(job, "node-update"))
    assert len(w.state.allocs_by_job("default", job.id)) == 3


def test_failed_alloc_is_rescheduled_later_with_a_followup_eval():
    """Nomad: generic_sched_test.go TestServiceSched_Reschedule_Later."""
    w = World()
    nodes = w.nodes(10)
    policy = {**RESCHEDULE_ONCE, "Delay": 15 * SECOND}
    job = w.add_job(mock_job(lambda d: group(d).update(Count=2, ReschedulePolicy=policy)))
    _, failed = running_allocs(w, job, nodes, 2)
    fail_alloc(w, failed, w.now)
    ev = w.eval_for(job, "node-update")
    h = w.process(ev)
    assert h.plans and len(w.state.allocs_by_job("default", job.id)) == 2
    assert len(h.create_evals) == 1
    follow = h.create_evals[0]
    assert follow.status == "pending" and follow.wait_until == w.now + 15
    assert follow.triggered_by == "alloc-reschedule" and follow.previous_eval == ev.id
    assert w.state.alloc_by_id(failed.id).followup_eval_id == follow.id
    assert h.evals[0].next_eval == follow.id


def test_reschedule_penalises_the_failed_node():
    """Nomad: generic_sched_test.go TestServiceSched_JobModify_NodeReschedulePenalty."""
    w = World()
    nodes = w.nodes(10)
    job = w.add_job(mock_job(lambda d: group(d).update(Count=2, ReschedulePolicy=RESCHEDULE_ONCE)))
    ok, failed = running_allocs(w, job, nodes, 2)
    fail_alloc(w, failed, w.now - 10)
    h = w.process(w.eval_for(job, "node-update"))
    assert len(h.plans) == 1
    (new,) = [a for a in w.state.allocs_by_job("default", job.id) if a.id not in (ok.id, failed.id)]
    assert new.previous_allocation == failed.id and len(new.reschedule_tracker) == 1
    for meta in new.metrics.score_meta_data:
        if meta.node_id == failed.node_id:
            assert meta.scores["node-reschedule-penalty"] == -1.0
    job2 = w.add_job(mock_job(lambda d: (group(d).update(Count=2, ReschedulePolicy=RESCHEDULE_ONCE),
                                         other_command(d)), job_id=job.id))
    w.process(w.eval_for(job2, "node-update"))
    out = live(w.state.allocs_by_job("default", job.id))
    assert len(out) == 2
    for alloc in out:
        assert alloc.reschedule_tracker == [] and alloc.metrics is not None
        for meta in alloc.metrics.score_meta_data:
            if meta.node_id != failed.node_id:
                assert meta.scores.get("node-reschedule-penalty", 0.0) == 0.0


def test_reschedule_without_room_keeps_the_failed_alloc_and_blocks():
    """Nomad: generic_sched.go markFailedToReschedule (TestServiceSched_BlockedReschedule's first
    eval): the failed alloc is not stopped, it is annotated "no placement"."""
    w = World()
    (node,) = w.nodes(1)
    job = w.add_job(mock_job(lambda d: group(d).update(Count=1, ReschedulePolicy=RESCHEDULE_ONCE)))
    (failed,) = running_allocs(w, job, [node], 1)
    fail_alloc(w, failed, w.now - 10)
    w.state.update_node(node.id, scheduling_eligibility="ineligible")
    h = w.process(w.eval_for(job, "node-update"))
    stored = w.state.alloc_by_id(failed.id)
    assert stored.desired_status == "run" and stored.last_reschedule == "no placement"
    assert len(h.create_evals) == 1 and h.create_evals[0].status == "blocked"
    assert h.evals[0].queued_allocations == {"web": 1}


# -- batch --------------------------------------------------------------------------------------


def batch_world(client: str, **alloc_changes):
    """One node, a batch job of one, and its alloc in the given client status."""
    w = World()
    (node,) = w.nodes(1)
    job = w.add_job(mock_job(lambda d: (d.update(Type="batch"), group(d).update(Count=1))))
    alloc = mock_alloc(job, node, "my-job.web[0]", client_status=client, **alloc_changes)
    w.add_allocs(alloc)
    return w, job, alloc


def test_batch_completed_alloc_is_not_rerun():
    """Nomad: generic_sched_test.go TestBatchSched_Run_CompleteAlloc."""
    w, job, _ = batch_world("complete")
    h = w.process(w.eval_for(job))
    assert h.plans == [] and len(w.state.allocs_by_job("default", job.id)) == 1
    assert h.evals[0].status == "complete"


def test_batch_failed_alloc_is_rescheduled():
    """Nomad: generic_sched_test.go TestBatchSched_Run_FailedAlloc."""
    w = World()
    (node,) = w.nodes(1)
    job = w.add_job(mock_job(lambda d: (d.update(Type="batch"), group(d).update(Count=1))))
    alloc = w.add_allocs(mock_alloc(job, node, "my-job.web[0]"))[0]
    fail_alloc(w, alloc, w.now - 10)
    h = w.process(w.eval_for(job))
    assert len(h.plans) == 1 and len(w.state.allocs_by_job("default", job.id)) == 2
    assert h.evals[0].queued_allocations == {"web": 0} and h.evals[0].status == "complete"


def test_batch_lost_and_stopped_allocs_are_replaced_by_name():
    """Nomad: generic_sched_test.go TestBatchSched_Run_LostAlloc."""
    w = World()
    (node,) = w.nodes(1)
    job = w.add_job(mock_job(lambda d: (d.update(Type="batch", ID="my-job"), group(d).update(Count=3))))
    w.add_allocs(*(mock_alloc(job, node, f"my-job.web[{i}]", client_status="running") for i in range(2)),
                 mock_alloc(job, node, "my-job.web[1]", desired_status="stop", client_status="complete"))
    h = w.process(w.eval_for(job))
    assert len(h.plans) == 1
    names = [a.name for a in w.state.allocs_by_job("default", job.id)]
    assert {n: names.count(n) for n in names} == {"my-job.web[0]": 1, "my-job.web[1]": 2, "my-job.web[2]": 1}
    assert h.evals[0].status == "complete"


def test_batch_failed_alloc_on_a_draining_node_stays_queued():
    """Nomad: generic_sched_test.go TestBatchSched_Run_FailedAllocQueuedAllocations."""
    w = World()
    node = mock_node(drain=True)
    w.add_nodes(node)
    job = w.add_job(mock_job(lambda d: (d.update(Type="batch"), group(d).update(Count=1))))
    w.add_allocs(mock_alloc(job, node, "my-job.web[0]", client_status="failed",
                            task_states=dead_task(w.now - 3600, w.now - 10)))
    h = w.process(w.eval_for(job))
    assert h.evals[0].queued_allocations == {"web": 1}


def test_batch_successful_alloc_on_a_draining_node_is_not_rerun():
    """Nomad: generic_sched_test.go TestBatchSched_ReRun_SuccessfullyFinishedAlloc."""
    w = World()
    node = mock_node(drain=True)
    w.add_nodes(node, mock_node())
    job = w.add_job(mock_job(lambda d: (d.update(Type="batch"), group(d).update(Count=1))))
    w.add_allocs(mock_alloc(job, node, "my-job.web[0]", client_status="complete",
                            task_states={"web": TaskState(state="dead")}))
    h = w.process(w.eval_for(job))
    assert h.plans == [] and len(w.state.allocs_by_job("default", job.id)) == 1
    assert h.evals[0].status == "complete"


def test_stop_request_descriptions_are_nomads():
    """Nomad: scheduler/structs/const.go: a scale-down stop reads `alloc not needed due to job update`."""
    w = World()
    nodes = w.nodes(3)
    job = w.add_job(mock_job(count(3)))
    running_allocs(w, job, nodes, 3)
    job2 = w.add_job(mock_job(count(1), job_id=job.id))
    h = w.process(w.eval_for(job2))
    stops = stopped(h.plans[0])
    assert len(stops) == 2 and {s.desired_description for s in stops} == {ALLOC_NOT_NEEDED}
    assert sorted(s.name for s in stops) == ["my-job.web[1]", "my-job.web[2]"]


# -- deployments --------------------------------------------------------------------------------


def old_deployment(w: World, job) -> Deployment:
    """Nomad: mock.Deployment() for the job: running, for a version the job is not at."""
    d = Deployment(id=w.ids.uuid(), namespace="default", job_id=job.id, job_version=2, job_modify_index=20,
                   job_spec_modify_index=20, job_create_index=18, task_groups={"web": DeploymentState(desired_total=10)})
    w.state.upsert_deployment(d)
    return d


def test_stopping_a_job_cancels_its_deployment():
    """Nomad: generic_sched_test.go TestServiceSched_CancelDeployment_Stopped."""
    w = World()
    job = w.add_job(mock_job(lambda d: d.update(Stop=True)))
    d = old_deployment(w, job)
    h = w.process(w.eval_for(job, "job-deregister"))
    assert len(h.plans) == 1 and planned(h.plans[0]) == []
    out = w.state.latest_deployment("default", job.id)
    assert out.id == d.id and out.status == "cancelled"
    assert out.status_description == DESC_DEPLOYMENT_STOPPED_JOB
    assert h.evals[0].status == "complete"


def test_newer_job_version_cancels_the_old_deployment():
    """Nomad: generic_sched_test.go TestServiceSched_CancelDeployment_NewerJob."""
    w = World()
    job = w.add_job(mock_job())
    d = old_deployment(w, job)
    h = w.process(w.eval_for(job))
    assert len(h.plans) == 1 and planned(h.plans[0]) == []
    out = w.state.latest_deployment("default", job.id)
    assert out.id == d.id and out.status == "cancelled"
    assert out.status_description == DESC_DEPLOYMENT_NEWER_JOB
    assert h.evals[0].status == "complete"


def test_adjust_queued_counts_only_the_new_allocs_the_plan_committed():
    """Nomad: scheduler/util.go adjustQueuedAllocations: a committed new alloc leaves the queue;
    an updated existing alloc in the same result does not."""
    node, job = mock_node(), mock_job()
    new, updated = mock_alloc(job, node), mock_alloc(job, node)
    queued = {"web": 2}
    placed = adjust_queued(PlanResult(node_allocation={node.id: [new, updated]}), {new.id}, queued)
    assert placed == 1 and queued == {"web": 1}
