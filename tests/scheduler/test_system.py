"""The system and sysbatch schedulers end to end, through the Harness.

Cases ported from Nomad scheduler/scheduler_system_test.go and scheduler_sysbatch_test.go with
Nomad's expected numbers; each docstring names the Nomad test. Where this simulator differs
(no system deployments: Nomad 1.10's rolling evals instead) the docstring says so.
"""

from __future__ import annotations

from sim.structs.alloc import TaskState
from sim.structs.consts import (
    ALLOC_CLIENT_LOST,
    ALLOC_LOST,
    ALLOC_NODE_TAINTED,
    ALLOC_UPDATING,
    BLOCKED_EVAL_DESC,
)
from sim.structs.job import SECOND
from sim.structs.plan import DesiredUpdates

from .fixtures import (
    World,
    group,
    live,
    mock_alloc,
    mock_job,
    mock_node,
    mock_system_job,
    planned,
    stopped,
)


def other_command(d: dict) -> None:
    """A destructive change: the task's command."""
    group(d)["Tasks"][0]["Config"]["command"] = "/bin/other"


def system_allocs(w: World, job, nodes, **changes) -> list:
    """One running alloc of the job on each node, named like Nomad's (my-job.web[0])."""
    return w.add_allocs(*(mock_alloc(job, n, "my-job.web[0]", client_status="running", **changes) for n in nodes))


def test_register_places_one_alloc_per_node():
    """Nomad: scheduler_system_test.go TestSystemSched_JobRegister."""
    w = World()
    w.nodes(10)
    job = w.add_job(mock_system_job())
    h = w.process(w.eval_for(job))
    assert len(h.plans) == 1 and h.plans[0].annotations is None
    assert h.evals[0].plan_annotations["DesiredTGUpdates"]["web"].place == 10
    assert len(planned(h.plans[0])) == 10
    out = w.state.allocs_by_job("default", job.id)
    assert len(out) == 10 and {a.name for a in out} == {"my-job.web[0]"}
    assert len({a.node_id for a in out}) == 10
    assert out[0].metrics.nodes_available == {"dc1": 10} and out[0].metrics.nodes_in_pool == 10
    assert h.evals[0].queued_allocations == {"web": 0} and h.evals[0].status == "complete"


def test_failed_alloc_is_replaced_on_its_node():
    """Nomad: scheduler_system_test.go TestSystemSched_JobRegister_StickyAllocs."""
    w = World()
    w.nodes(10)
    job = w.add_job(mock_system_job(lambda d: group(d)["EphemeralDisk"].update(Sticky=True)))
    h = w.process(w.eval_for(job))
    assert len(planned(h.plans[0])) == 10
    failed = planned(h.plans[0])[4]
    w.state.update_allocs_from_client([(failed, {"client_status": "failed"})])
    h1 = w.process(w.eval_for(job, "node-update"))
    (new,) = planned(h1.plans[0])
    assert new.node_id == failed.node_id and new.previous_allocation == failed.id


def test_second_job_that_does_not_fit_is_not_placed():
    """Nomad: scheduler_system_test.go TestSystemSched_JobRegister_EphemeralDiskConstraint."""
    w = World()
    w.nodes(1)

    def big_disk(d):
        group(d)["EphemeralDisk"] = {"SizeMB": 60 * 1024}

    job = w.add_job(mock_system_job(big_disk))
    job1 = w.add_job(mock_system_job(big_disk))
    w.process(w.eval_for(job))
    assert len(w.state.allocs_by_job("default", job.id)) == 1
    h1 = w.process(w.eval_for(job1))
    assert w.state.allocs_by_job("default", job1.id) == []
    assert h1.evals[0].failed_tg_allocs["web"].dimension_exhausted == {"disk": 1}


def test_exhausted_node_is_a_failure_with_a_blocked_eval():
    """Nomad: scheduler_system_test.go TestSystemSched_ExhaustResources with system preemption
    turned off: the system alloc fails on the full node, queues, and blocks on that node."""
    w = World()
    w.preemption(system=False)
    (node,) = w.nodes(1)
    svc = w.add_job(mock_job(lambda d: (group(d).update(Count=1),
                                        group(d)["Tasks"][0]["Resources"].update(CPU=13500))))
    w.process(w.eval_for(svc))
    job = w.add_job(mock_system_job())
    ev = w.eval_for(job)
    h = w.process(ev)
    assert h.plans == []
    out = h.evals[0]
    assert out.status == "complete" and out.queued_allocations == {"web": 1}
    metric = out.failed_tg_allocs["web"]
    assert metric.nodes_exhausted == 1 and metric.dimension_exhausted == {"cpu": 1}
    assert metric.nodes_available == {"dc1": 1} and metric.nodes_in_pool == 1
    (blocked,) = h.create_evals
    assert blocked.status == "blocked" and blocked.node_id == node.id
    assert blocked.status_description == BLOCKED_EVAL_DESC and blocked.previous_eval == ev.id
    assert out.blocked_eval == ""


def test_annotated_register_counts_feasible_nodes_only():
    """Nomad: scheduler_system_test.go TestSystemSched_JobRegister_Annotate."""
    w = World()
    w.add_nodes(*(mock_node(node_class="foo" if i < 9 else "bar") for i in range(10)))
    job = w.add_job(mock_system_job(lambda d: d["Constraints"].append(
        {"LTarget": "${node.class}", "RTarget": "foo", "Operand": "=="})))
    h = w.process(w.eval_for(job, annotate_plan=True))
    plan = h.plans[0]
    assert len(h.plans) == 1 and len(planned(plan)) == 9
    out = w.state.allocs_by_job("default", job.id)
    assert len(out) == 9
    assert out[0].metrics.nodes_available == {"dc1": 10} and out[0].metrics.nodes_in_pool == 10
    assert h.evals[0].status == "complete"
    assert plan.annotations == {"web": DesiredUpdates(place=9)}


def test_new_node_gets_an_alloc():
    """Nomad: scheduler_system_test.go TestSystemSched_JobRegister_AddNode."""
    w = World()
    nodes = w.nodes(10)
    job = w.add_job(mock_system_job())
    system_allocs(w, job, nodes)
    (node,) = w.add_nodes(mock_node())
    h = w.process(w.eval_for(job, "node-update"))
    plan = h.plans[0]
    assert len(h.plans) == 1 and stopped(plan) == []
    assert len(planned(plan)) == 1 and list(plan.node_allocation) == [node.id]
    assert len(live(w.state.allocs_by_job("default", job.id))) == 11
    assert h.evals[0].status == "complete"
    # Nomad counts every candidate node (10 ignored + 1 placed) as Place in the eval's annotations
    du = h.evals[0].plan_annotations["DesiredTGUpdates"]["web"]
    assert du.place == 11 and du.ignore == 10


def test_register_without_nodes_is_a_no_op():
    """Nomad: scheduler_system_test.go TestSystemSched_JobRegister_AllocFail."""
    w = World()
    job = w.add_job(mock_system_job())
    h = w.process(w.eval_for(job))
    assert h.plans == [] and h.evals[0].status == "complete"


def test_destructive_update_replaces_every_alloc():
    """Nomad: scheduler_system_test.go TestSystemSched_JobModify."""
    w = World()
    nodes = w.nodes(10)
    job = w.add_job(mock_system_job())
    allocs = system_allocs(w, job, nodes)
    w.add_allocs(*(mock_alloc(job, nodes[i], "my-job.web[0]", desired_status="stop") for i in range(5)))
    job2 = w.add_job(mock_system_job(other_command, job_id=job.id))
    h = w.process(w.eval_for(job2))
    plan = h.plans[0]
    assert len(h.plans) == 1
    assert len(stopped(plan)) == len(allocs) and {s.desired_description for s in stopped(plan)} == {ALLOC_UPDATING}
    assert len(planned(plan)) == 10 and len(live(w.state.allocs_by_job("default", job.id))) == 10
    assert h.create_evals == [] and h.evals[0].status == "complete"


def test_rolling_update_is_limited_by_max_parallel():
    """Nomad: scheduler_system_test.go TestSystemSched_JobModify_Rolling; the follow-up is Nomad
    1.10's rolling-update eval (NextRollingEval with the job's stagger)."""
    w = World()
    nodes = w.nodes(10)
    job = w.add_job(mock_system_job())
    system_allocs(w, job, nodes)
    rolling = {"Stagger": 30 * SECOND, "MaxParallel": 5}
    job2 = w.add_job(mock_system_job(lambda d: (other_command(d), d.update(Update=rolling)), job_id=job.id))
    ev = w.eval_for(job2)
    h = w.process(ev)
    plan = h.plans[0]
    assert len(h.plans) == 1 and len(stopped(plan)) == 5 and len(planned(plan)) == 5
    assert h.evals[0].status == "complete"
    (follow,) = h.create_evals
    assert follow.triggered_by == "rolling-update" and follow.wait == 30.0 and follow.previous_eval == ev.id
    assert h.evals[0].next_eval == follow.id
    h2 = w.process(w.state.eval_by_id(follow.id))
    assert len(stopped(h2.plans[0])) == 5 and h2.create_evals == []
    assert all(a.job is job2 for a in live(w.state.allocs_by_job("default", job.id)))


def test_inplace_update_keeps_every_alloc():
    """Nomad: scheduler_system_test.go TestSystemSched_JobModify_InPlace."""
    w = World()
    nodes = w.nodes(10)
    job = w.add_job(mock_system_job())
    allocs = system_allocs(w, job, nodes)
    ports = {a.id: list(a.ports) for a in allocs}
    job2 = w.add_job(mock_system_job(job_id=job.id))  # same spec, new JobModifyIndex
    h = w.process(w.eval_for(job2))
    plan = h.plans[0]
    assert len(h.plans) == 1 and stopped(plan) == [] and len(planned(plan)) == 10
    assert all(p.job is job2 for p in planned(plan))
    out = w.state.allocs_by_job("default", job.id)
    assert len(out) == 10 and all(a.ports == ports[a.id] for a in out)
    assert h.evals[0].status == "complete"
    assert h.evals[0].plan_annotations["DesiredTGUpdates"]["web"].in_place_update == 10


def test_removing_a_datacenter_stops_its_alloc():
    """Nomad: scheduler_system_test.go TestSystemSched_JobModify_RemoveDC."""
    w = World()
    node1, node2 = w.add_nodes(mock_node(datacenter="dc1"), mock_node(datacenter="dc2"))
    job = w.add_job(mock_system_job(lambda d: d.update(Datacenters=["dc1", "dc2"])))
    system_allocs(w, job, [node1, node2])
    job2 = w.add_job(mock_system_job(lambda d: d.update(Datacenters=["dc1"]), job_id=job.id))
    h = w.process(w.eval_for(job2))
    plan = h.plans[0]
    assert len(h.plans) == 1 and [s.node_id for s in stopped(plan)] == [node2.id]
    assert [p.node_id for p in planned(plan)] == [node1.id] and planned(plan)[0].job is job2
    assert len(w.state.allocs_by_job("default", job.id)) == 2
    assert h.evals[0].status == "complete"


def test_purged_job_stops_every_alloc():
    """Nomad: scheduler_system_test.go TestSystemSched_JobDeregister_Purged."""
    w = World()
    nodes = w.nodes(10)
    job = w.add_job(mock_system_job())
    system_allocs(w, job, nodes)
    w.state.delete_job("default", job.id)
    h = w.process(w.eval_for(job, "job-deregister"))
    assert len(h.plans) == 1 and all(len(h.plans[0].node_update[n.id]) == 1 for n in nodes)
    assert live(w.state.allocs_by_job("default", job.id)) == []
    assert h.evals[0].status == "complete"


def test_stopped_job_stops_every_alloc():
    """Nomad: scheduler_system_test.go TestSystemSched_JobDeregister_Stopped."""
    w = World()
    nodes = w.nodes(10)
    job = w.add_job(mock_system_job())
    system_allocs(w, job, nodes)
    w.add_job(mock_system_job(lambda d: d.update(Stop=True), job_id=job.id))
    h = w.process(w.eval_for(job, "job-deregister"))
    assert len(h.plans) == 1 and all(len(h.plans[0].node_update[n.id]) == 1 for n in nodes)
    assert live(w.state.allocs_by_job("default", job.id)) == []
    assert h.evals[0].status == "complete" and h.evals[0].queued_allocations == {}


def test_migrating_alloc_on_a_down_node_is_stopped():
    """Nomad: scheduler_system_test.go TestSystemSched_NodeDown."""
    w = World()
    node = mock_node(status="down")
    w.add_nodes(node)
    job = w.add_job(mock_system_job())
    (alloc,) = system_allocs(w, job, [node])
    w.state.update_alloc_desired_transition([alloc], migrate=True)
    h = w.process(w.eval_for(job, "node-update", node_id=node.id))
    (stop,) = h.plans[0].node_update[node.id]
    assert len(stopped(h.plans[0])) == 1
    assert stop.desired_status == "stop" and stop.desired_description == ALLOC_NODE_TAINTED
    assert h.evals[0].status == "complete"


def test_alloc_on_a_down_draining_node_is_lost():
    """Nomad: scheduler_system_test.go TestSystemSched_NodeDrain_Down."""
    w = World()
    node = mock_node(status="down", drain=True)
    w.add_nodes(node)
    job = w.add_job(mock_system_job())
    (alloc,) = system_allocs(w, job, [node])
    h = w.process(w.eval_for(job, "node-update", node_id=node.id))
    (stop,) = h.plans[0].node_update[node.id]
    assert stop.id == alloc.id and stop.client_status == ALLOC_CLIENT_LOST and stop.desired_description == ALLOC_LOST
    assert h.evals[0].status == "complete"


def test_drained_alloc_is_stopped():
    """Nomad: scheduler_system_test.go TestSystemSched_NodeDrain."""
    w = World()
    node = mock_node(drain=True)
    w.add_nodes(node)
    job = w.add_job(mock_system_job())
    (alloc,) = system_allocs(w, job, [node])
    w.state.update_alloc_desired_transition([alloc], migrate=True)
    h = w.process(w.eval_for(job, "node-update", node_id=node.id))
    assert len(h.plans[0].node_update[node.id]) == 1 and len(stopped(h.plans[0])) == 1
    assert stopped(h.plans[0])[0].desired_status == "stop" and planned(h.plans[0]) == []
    assert h.evals[0].status == "complete"


def test_node_update_with_nothing_to_do_records_zero_queued():
    """Nomad: scheduler_system_test.go TestSystemSched_NodeUpdate."""
    w = World()
    (node,) = w.nodes(1)
    job = w.add_job(mock_system_job())
    system_allocs(w, job, [node])
    h = w.process(w.eval_for(job, "node-update", node_id=node.id))
    assert h.plans == [] and h.evals[0].queued_allocations == {"web": 0}
    assert h.evals[0].status == "complete"


def test_rejected_plans_exhaust_the_attempts():
    """Nomad: scheduler_system_test.go TestSystemSched_RetryLimit."""
    w = World()
    w.nodes(10)
    job = w.add_job(mock_system_job())
    h = w.process(w.eval_for(job), reject=True)
    assert len(h.plans) == 5 and w.state.allocs_by_job("default", job.id) == []
    assert h.evals[0].status == "failed" and h.evals[0].status_description == "maximum attempts reached (5)"
    assert h.create_evals == []


def test_filtered_node_is_not_queued():
    """Nomad: scheduler_system_test.go TestSystemSched_Queued_With_Constraints."""
    w = World()
    node = mock_node()
    node.attributes["kernel.name"] = "darwin"
    w.add_nodes(node)
    job = w.add_job(mock_system_job())
    h = w.process(w.eval_for(job, "node-update", node_id=node.id))
    assert h.evals[0].queued_allocations == {"web": 0}


def test_all_nodes_filtered_reports_the_constraint():
    """Nomad: scheduler_system_test.go TestSystemSched_JobConstraint_AllFiltered."""
    w = World()
    w.nodes(2)
    constraint = {"LTarget": "${node.unique.name}", "RTarget": "something-else", "Operand": "=="}
    job = w.add_job(mock_system_job(lambda d: d.update(Priority=50, Constraints=[constraint])))
    h = w.process(w.eval_for(job))
    assert len(h.evals) == 1 and list(h.evals[0].failed_tg_allocs) == ["web"]
    metric = h.evals[0].failed_tg_allocs["web"]
    assert metric.constraint_filtered == {"${node.unique.name} == something-else": 2}
    assert metric.nodes_filtered == 2 and h.create_evals == []


def test_ineligible_node_keeps_its_alloc_until_the_job_changes():
    """Nomad: scheduler_system_test.go TestSystemSched_ExistingAllocNoNodes."""
    w = World()
    (node,) = w.nodes(1)
    job = w.add_job(mock_system_job())
    h = w.process(w.eval_for(job))
    assert h.evals[0].status == "complete" and h.evals[0].queued_allocations == {"web": 0}
    assert len(h.plans) == 1
    w.state.update_node(node.id, scheduling_eligibility="ineligible")
    h2 = w.process(w.eval_for(job, "node-update", node_id=node.id))
    assert h2.evals[0].status == "complete" and h2.plans == []
    job2 = w.add_job(mock_system_job(lambda d: d["Meta"].update(version="2"), job_id=job.id))
    h3 = w.process(w.eval_for(job2, annotate_plan=True))
    assert h3.evals[0].status == "complete" and h3.evals[0].failed_tg_allocs == {}
    assert h3.evals[0].queued_allocations == {"web": 0}
    assert [s.desired_description for s in stopped(h3.plans[0])] == ["alloc not needed due to job update"]


def test_constraint_errors_are_not_placement_failures():
    """Nomad: scheduler_system_test.go TestSystemSched_ConstraintErrors."""
    w = World()
    nodes = [mock_node(meta={"tag": tag}) for tag in ("aaaaaa", "foo", "foo", "foo")]
    nodes[-1].scheduling_eligibility = "ineligible"
    w.add_nodes(*nodes)
    job = w.add_job(mock_system_job(lambda d: d["Constraints"].append(
        {"LTarget": "${meta.tag}", "RTarget": "foo", "Operand": "="})))
    h = w.process(w.eval_for(job))
    assert h.evals[0].status == "complete" and h.evals[0].queued_allocations == {"web": 0}
    assert len(h.plans) == 1 and h.plans[0].annotations is None
    assert len(h.plans[0].node_allocation) == 2
    out = w.state.allocs_by_job("default", job.id)
    assert len(out) == 2 and w.state.job_by_id("default", job.id).status == "running"
    assert h.evals[0].failed_tg_allocs == {}


def test_job_update_chains_replacements_and_places_on_new_nodes():
    """Nomad: scheduler_system_test.go TestSystemSched_ChainedAlloc."""
    w = World()
    w.nodes(10)
    job = w.add_job(mock_system_job())
    h = w.process(w.eval_for(job))
    first = sorted(a.id for a in planned(h.plans[0]))
    job1 = w.add_job(mock_system_job(lambda d: group(d)["Tasks"][0].update(Env={"foo": "bar"}), job_id=job.id))
    w.nodes(2)
    h1 = w.process(w.eval_for(job1))
    plan = h1.plans[0]
    previous = sorted(a.previous_allocation for a in planned(plan) if a.previous_allocation)
    fresh = [a for a in planned(plan) if not a.previous_allocation]
    assert previous == first and len(fresh) == 2


def test_drained_node_alloc_is_stopped_not_replaced():
    """Nomad: scheduler_system_test.go TestSystemSched_PlanWithDrainedNode."""
    w = World()
    green, blue = mock_node(node_class="green", drain=True), mock_node(node_class="blue")
    w.add_nodes(green, blue)

    def two_groups(d):
        group(d)["Constraints"] = [{"LTarget": "${node.class}", "RTarget": "green", "Operand": "=="}]
        web2 = {**group(d), "Name": "web2", "Constraints": [
            {"LTarget": "${node.class}", "RTarget": "blue", "Operand": "=="}]}
        d["TaskGroups"].append(web2)

    job = w.add_job(mock_system_job(two_groups))
    alloc = mock_alloc(job, green, "my-job.web[0]", client_status="running")
    alloc.desired_transition.migrate = True
    w.add_allocs(alloc, mock_alloc(job, blue, "my-job.web2[0]", group_name="web2", client_status="running"))
    h = w.process(w.eval_for(job, "node-update", node_id=green.id))
    plan = h.plans[0]
    assert len(h.plans) == 1 and len(plan.node_update[green.id]) == 1
    assert plan.node_allocation == {} and plan.node_update[green.id][0].desired_status == "stop"
    assert h.evals[0].status == "complete"


def test_queued_is_zero_for_groups_filtered_elsewhere():
    """Nomad: scheduler_system_test.go TestSystemSched_QueuedAllocsMultTG."""
    w = World()
    w.add_nodes(mock_node(node_class="green"), mock_node(node_class="blue"))

    def two_groups(d):
        group(d)["Constraints"] = [{"LTarget": "${node.class}", "RTarget": "green", "Operand": "=="}]
        d["TaskGroups"].append({**group(d), "Name": "web2", "Constraints": [
            {"LTarget": "${node.class}", "RTarget": "blue", "Operand": "=="}]})

    job = w.add_job(mock_system_job(two_groups))
    h = w.process(w.eval_for(job, "node-update"))
    assert len(h.plans) == 1 and len(planned(h.plans[0])) == 2
    assert h.evals[0].queued_allocations == {"web": 0, "web2": 0}
    assert h.evals[0].failed_tg_allocs == {} and h.evals[0].status == "complete"


def test_unknown_trigger_fails_the_eval():
    """Nomad: scheduler_system_test.go TestSystemSched_canHandle (alloc-failure is not handled)."""
    w = World()
    job = w.add_job(mock_system_job())
    h = w.process(w.eval_for(job, "alloc-failure"))
    assert h.evals[0].status == "failed"
    assert h.evals[0].status_description == "scheduler cannot handle 'alloc-failure' evaluation reason"


# -- sysbatch -----------------------------------------------------------------------------------


def finished(ok: bool) -> dict[str, TaskState]:
    """Task states of a sysbatch task that ran to the end."""
    return {"web": TaskState(state="dead", failed=not ok, finished_at=1.0)}


def test_sysbatch_register_places_one_per_node():
    """Nomad: scheduler_sysbatch_test.go TestSysBatch_JobRegister."""
    w = World()
    w.nodes(10)
    job = w.add_job(mock_system_job(job_type="sysbatch"))
    h = w.process(w.eval_for(job))
    assert len(planned(h.plans[0])) == 10 and h.evals[0].queued_allocations == {"web": 0}
    assert h.evals[0].plan_annotations["DesiredTGUpdates"]["web"].place == 10


def test_sysbatch_finished_alloc_is_not_rerun_on_new_eval():
    """Nomad: scheduler_sysbatch_test.go TestSysBatch_JobRegister_AddNode_Dead: complete allocs
    stay done; only the new node gets one."""
    w = World()
    nodes = w.nodes(3)
    job = w.add_job(mock_system_job(job_type="sysbatch"))
    w.add_allocs(*(mock_alloc(job, n, "my-job.web[0]", client_status="complete", task_states=finished(True))
                   for n in nodes))
    (node,) = w.add_nodes(mock_node())
    h = w.process(w.eval_for(job, "node-update"))
    assert [p.node_id for p in planned(h.plans[0])] == [node.id] and stopped(h.plans[0]) == []
    du = h.evals[0].plan_annotations["DesiredTGUpdates"]["web"]
    assert du.place == 1 and du.ignore == 3


def test_sysbatch_job_change_reruns_finished_allocs():
    """Nomad: scheduler_sysbatch_test.go TestSysBatch_JobModify (a destructive change re-runs)."""
    w = World()
    nodes = w.nodes(4)
    job = w.add_job(mock_system_job(job_type="sysbatch"))
    w.add_allocs(*(mock_alloc(job, n, "my-job.web[0]", client_status="complete", task_states=finished(True))
                   for n in nodes))
    job2 = w.add_job(mock_system_job(other_command, job_id=job.id, job_type="sysbatch"))
    h = w.process(w.eval_for(job2))
    assert len(planned(h.plans[0])) == 4 and len(stopped(h.plans[0])) == 4
    assert h.evals[0].queued_allocations == {"web": 0}


def test_sysbatch_filtered_nodes_lower_the_placements():
    """Nomad: scheduler_sysbatch_test.go TestSysBatch_Queued_With_Constraints_PartialMatch."""
    w = World()
    darwin = mock_node()
    darwin.attributes["kernel.name"] = "darwin"
    w.add_nodes(darwin, mock_node())
    job = w.add_job(mock_system_job(job_type="sysbatch"))
    h = w.process(w.eval_for(job, "node-update"))
    assert len(planned(h.plans[0])) == 1 and h.evals[0].queued_allocations == {"web": 0}
    assert h.evals[0].plan_annotations["DesiredTGUpdates"]["web"].place == 1
    assert h.evals[0].failed_tg_allocs == {}


def test_sysbatch_rejected_plans_retry_twice():
    """Nomad: scheduler_sysbatch.go maxSysBatchScheduleAttempts (TestSysBatch_RetryLimit)."""
    w = World()
    w.nodes(3)
    job = w.add_job(mock_system_job(job_type="sysbatch"))
    h = w.process(w.eval_for(job), reject=True)
    assert len(h.plans) == 2 and h.evals[0].status_description == "maximum attempts reached (2)"
