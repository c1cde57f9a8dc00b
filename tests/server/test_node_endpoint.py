"""The node endpoint (sim/server/node_endpoint.py): client updates, node evals, status, drain.

Cases follow Nomad's nomad/node_endpoint_test.go (TestClientEndpoint_UpdateAlloc,
TestClientEndpoint_CreateNodeEvals, TestClientEndpoint_UpdateStatus, ..._UpdateEligibility,
..._UpdateDrain); each docstring names the Nomad test it ports.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import simpy
from server_harness import FakeServer

from sim.errors import ValidationError
from sim.state.store import StateStore
from sim.structs.alloc import Allocation, AllocDeploymentStatus, RescheduleEvent
from sim.structs.job import HOUR, SECOND, Job, MigrateStrategy, ReschedulePolicy, Task, TaskGroup
from sim.structs.node import Node, NodeResources


def service_job(job_id: str = "web", count: int = 3, type: str = "service", max_parallel: int = 1,
                datacenters: tuple[str, ...] = ("dc1",), reschedule: ReschedulePolicy | None = None) -> Job:
    """A one-group job with a migrate block (service) and a reschedule policy."""
    if reschedule is None and type in ("service", "batch"):
        reschedule = ReschedulePolicy(attempts=1, interval=24 * HOUR, delay=5 * SECOND, delay_function="constant")
    migrate = MigrateStrategy(max_parallel=max_parallel) if type == "service" else None
    group = TaskGroup(name="g", count=count, migrate=migrate, reschedule_policy=reschedule,
                      tasks=[Task(name="t", driver="docker")])
    return Job(id=job_id, name=job_id, namespace="default", type=type, priority=50,
               datacenters=list(datacenters), task_groups=[group])


class ClusterHarness:
    """A state store with nodes, a fake server and helpers to place allocs directly."""

    def __init__(self, nodes: int = 3):
        self.env = simpy.Environment()
        self.state = StateStore(clock=lambda: self.env.now)
        self.nodes = [Node(id=f"node-{i}", name=f"node-{i}", datacenter="dc1", drivers=["docker"],
                           resources=NodeResources(8000, 16384, 100000)) for i in range(nodes)]
        self.state.upsert_nodes(self.nodes)
        self.server = FakeServer(self.env, self.state, ids_seed=5, heartbeat_seed=6)
        self.endpoint = self.server.node_endpoint
        self._n = 0

    def register(self, job: Job) -> Job:
        self.state.upsert_job(job)
        return self.state.job_by_id("default", job.id)

    def place(self, job: Job, node: int, healthy: bool | None = None, **fields) -> Allocation:
        self._n += 1
        node_obj = self.nodes[node]
        alloc = Allocation(id=f"a{self._n:03d}", namespace="default", eval_id="e", name=f"{job.id}.g[{self._n}]",
                           node_id=node_obj.id, node_name=node_obj.name, job_id=job.id, job=job,
                           task_group="g", cpu=100, memory_mb=64, **{"client_status": "running", **fields})
        if healthy is not None:
            alloc.deployment_status = AllocDeploymentStatus(healthy=healthy)
        self.state.upsert_plan_results([alloc], [], None, [], "e")
        return alloc

    def stop(self, alloc: Allocation, client_status: str = "") -> None:
        """The scheduler stops an alloc (desired stop), as a plan would."""
        copy = replace(alloc)
        copy.desired_status = "stop"
        copy.client_status = client_status
        self.state.upsert_plan_results([], [copy], None, [], "e")

    def triggers(self) -> list[tuple[str, str]]:
        return [(e.triggered_by, e.job_id) for e in self.server.evals]


@pytest.fixture
def ch() -> ClusterHarness:
    """A three-node cluster harness."""
    return ClusterHarness()


def test_failed_allocs_create_one_alloc_failure_eval_per_job(ch: ClusterHarness) -> None:
    """Reschedule-eligible failures give one batched `alloc-failure` eval per job.

    Nomad: TestClientEndpoint_UpdateAlloc (eval created for a failed alloc) and batchUpdate's
    per-job dedup.
    """
    job = ch.register(service_job())
    a, b = ch.place(job, 0), ch.place(job, 1)
    ch.endpoint.update_allocs([(a, {"client_status": "failed"}), (b, {"client_status": "failed"})])
    assert ch.triggers() == [("alloc-failure", "web")]
    assert a.client_status == b.client_status == "failed"


def test_no_eval_when_attempts_are_used_up(ch: ClusterHarness) -> None:
    """A failed alloc past its reschedule attempts gets no eval. Nomad: Allocation.RescheduleEligible."""
    job = ch.register(service_job())
    alloc = ch.place(job, 0, reschedule_tracker=[RescheduleEvent(0.0, "prev", "node-1", 5.0)])
    ch.endpoint.update_allocs([(alloc, {"client_status": "failed"})])
    assert ch.server.evals == []


def test_no_eval_when_a_follow_up_exists(ch: ClusterHarness) -> None:
    """A failed alloc that already has a follow-up eval gets no new one."""
    alloc = ch.place(ch.register(service_job()), 0, followup_eval_id="later")
    ch.endpoint.update_allocs([(alloc, {"client_status": "failed"})])
    assert ch.server.evals == []


def test_purged_job_gets_a_deregister_eval(ch: ClusterHarness) -> None:
    """A terminal report for an alloc whose job is gone creates a `job-deregister` eval."""
    alloc = ch.place(ch.register(service_job()), 0)
    ch.state.delete_job("default", "web")
    ch.endpoint.update_allocs([(alloc, {"client_status": "complete"})])
    assert ch.triggers() == [("job-deregister", "web")]


def test_terminal_reports_unblock_the_node_class(ch: ClusterHarness) -> None:
    """Complete/failed reports unblock evals for the node's class at the write's index.

    Nomad: fsm.applyAllocClientUpdate (UnblockClassAndQuota, UnblockNode).
    """
    job = ch.register(service_job())
    running, done = ch.place(job, 0), ch.place(job, 0)
    index = ch.endpoint.update_allocs([(done, {"client_status": "complete"}), (running, {"client_status": "running"})])
    assert ch.server.blocked.unblocked == [(ch.nodes[0].computed_class, index)]
    assert ch.server.blocked.unblocked_nodes == ["node-0"]


def test_running_reports_neither_unblock_nor_eval(ch: ClusterHarness) -> None:
    """A non-terminal report only writes the state."""
    alloc = ch.place(ch.register(service_job()), 0, client_status="pending")
    before = ch.state.index
    ch.endpoint.update_allocs([(alloc, {"client_status": "running"})])
    assert ch.state.index == before + 1 and ch.server.blocked.unblocked == [] and ch.server.evals == []


def test_health_reports_reach_the_deployment_watcher(ch: ClusterHarness) -> None:
    """Only allocs of a deployment that carry a verdict are forwarded."""
    job = ch.register(service_job())
    dep, plain = ch.place(job, 0, deployment_id="d1"), ch.place(job, 1)
    ch.endpoint.update_allocs([(dep, {"healthy": True}), (plain, {"healthy": True})])
    assert [r[1] for r in ch.server.deployment_watcher.reports] == [dep.id]
    assert dep.is_healthy()


def test_create_node_evals_one_per_job_plus_system_jobs(ch: ClusterHarness) -> None:
    """One `node-update` eval per job on the node and per system job of the node's DC/pool.

    Nomad: TestClientEndpoint_CreateNodeEvals.
    """
    web, api = ch.register(service_job("web")), ch.register(service_job("api"))
    ch.register(service_job("sys", type="system", reschedule=None))
    ch.register(service_job("sys-other-dc", type="system", datacenters=("dc2",), reschedule=None))
    ch.place(web, 0)
    ch.place(web, 0)
    ch.place(api, 0)
    ch.place(api, 1)
    evals = ch.endpoint.create_node_evals("node-0", 42)
    assert sorted(e.job_id for e in evals) == ["api", "sys", "web"]
    assert all(e.triggered_by == "node-update" and e.node_id == "node-0" and e.node_modify_index == 42 for e in evals)
    assert all(ch.state.eval_by_id(e.id) is not None for e in evals)


def test_long_terminal_allocs_do_not_pull_their_job_in(ch: ClusterHarness) -> None:
    """Terminal allocs older than the GC threshold count as collected."""
    alloc = ch.place(ch.register(service_job()), 0)
    ch.endpoint.update_allocs([(alloc, {"client_status": "complete"})])
    ch.env.run(until=4000)
    ch.server.evals.clear()
    assert ch.endpoint.create_node_evals("node-0") == []


def test_node_down_creates_node_update_evals(ch: ClusterHarness) -> None:
    """ready → down writes the status and evaluates every job on the node.

    Nomad: TestClientEndpoint_UpdateStatus_GetEvals.
    """
    ch.place(ch.register(service_job()), 0)
    evals = ch.endpoint.set_node_status("node-0", "down")
    assert ch.state.node_by_id("node-0").status == "down"
    assert [(e.triggered_by, e.job_id, e.node_modify_index) for e in evals] == [
        ("node-update", "web", ch.state.node_by_id("node-0").modify_index)]
    assert ch.server.blocked.unblocked == []


def test_node_ready_again_evaluates_and_unblocks(ch: ClusterHarness) -> None:
    """down → ready creates evals and unblocks the node's class. Nomad: fsm.applyStatusUpdate."""
    ch.place(ch.register(service_job()), 0)
    ch.endpoint.set_node_status("node-0", "down")
    evals = ch.endpoint.set_node_status("node-0", "ready")
    assert len(evals) == 1 and ch.server.blocked.unblocked[0][0] == ch.nodes[0].computed_class


def test_same_status_is_a_no_op(ch: ClusterHarness) -> None:
    """Re-sending the current status writes nothing."""
    before = ch.state.index
    assert ch.endpoint.set_node_status("node-0", "ready") == [] and ch.state.index == before


def test_invalid_status_and_unknown_node_are_rejected(ch: ClusterHarness) -> None:
    """Nomad's messages: `invalid status for node`, `node not found`."""
    with pytest.raises(ValidationError, match="invalid status for node"):
        ch.endpoint.set_node_status("node-0", "sleepy")
    with pytest.raises(ValidationError, match="node not found"):
        ch.endpoint.set_node_status("nope", "down")


def test_eligibility_changes(ch: ClusterHarness) -> None:
    """ineligible: no evals; eligible again: unblock and evals. Nomad: TestClientEndpoint_UpdateEligibility."""
    ch.place(ch.register(service_job()), 0)
    assert ch.endpoint.set_eligibility("node-0", False) == []
    assert ch.state.node_by_id("node-0").scheduling_eligibility == "ineligible"
    evals = ch.endpoint.set_eligibility("node-0", True)
    assert [e.job_id for e in evals] == ["web"] and len(ch.server.blocked.unblocked) == 1


def test_cannot_mark_a_draining_node_eligible(ch: ClusterHarness) -> None:
    """Nomad: `can not set node's scheduling eligibility to eligible while it is draining`."""
    ch.endpoint.set_drain("node-0", True, None)
    with pytest.raises(ValidationError, match="while it is draining"):
        ch.endpoint.set_eligibility("node-0", True)


def test_drain_marks_ineligible_and_cancel_can_mark_eligible(ch: ClusterHarness) -> None:
    """Drain sets the flag and ineligibility; cancelling with mark_eligible restores it.

    Nomad: TestClientEndpoint_UpdateDrain.
    """
    ch.place(ch.register(service_job()), 0)
    ch.endpoint.set_drain("node-0", True, 3600)
    node = ch.state.node_by_id("node-0")
    assert node.drain and node.scheduling_eligibility == "ineligible"
    assert ch.server.drainer.deadline_of("node-0") == 3600
    evals = ch.endpoint.set_drain("node-0", False, mark_eligible=True)
    assert not node.drain and node.scheduling_eligibility == "eligible" and [e.job_id for e in evals] == ["web"]
    assert ch.server.drainer.deadline_of("node-0") is None
