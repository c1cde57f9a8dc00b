"""Client alloc runners (sim/client/clients.py, sim/client/runner.py): task lifecycle, restarts, kills, health and node failures.

Event sequences and restart reasons follow Nomad's client/allocrunner/taskrunner (task_runner.go,
restarts/restarts.go); health follows client/allochealth; node liveness nomad/heartbeat.go.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import simpy
from server_harness import FakeServer

from sim.client.behavior import BehaviorResolver
from sim.client.clients import Clients
from sim.client.tasks import RestartTracker, go_duration
from sim.server.plan_apply import PlanQueue
from sim.state.store import StateStore
from sim.structs.alloc import Allocation
from sim.structs.consts import NODE_STATUS_DOWN, NODE_STATUS_READY
from sim.structs.job import (
    HOUR,
    MINUTE,
    SECOND,
    Job,
    MigrateStrategy,
    ReschedulePolicy,
    RestartPolicy,
    Task,
    TaskGroup,
    UpdateStrategy,
)
from sim.structs.node import Node, NodeResources
from sim.structs.plan import Plan


def make_job(job_id: str = "web", type: str = "service", count: int = 1, tasks: tuple[str, ...] = ("web",),
             meta: dict | None = None, restart: RestartPolicy | None = None, update: UpdateStrategy | None = None,
             migrate: MigrateStrategy | None = None, reschedule: ReschedulePolicy | None = None) -> Job:
    """A one-group job with Nomad-like canonical defaults."""
    if restart is None:
        restart = (RestartPolicy(2, 30 * MINUTE, 15 * SECOND, "fail") if type == "service"
                   else RestartPolicy(3, 24 * HOUR, 15 * SECOND, "fail"))
    if reschedule is None:
        reschedule = (ReschedulePolicy(delay=30 * SECOND, delay_function="exponential", max_delay=HOUR, unlimited=True)
                      if type == "service" else ReschedulePolicy(1, 24 * HOUR, 5 * SECOND, "constant"))
    group = TaskGroup(name="g", count=count, restart_policy=restart, update=update, migrate=migrate,
                      reschedule_policy=reschedule,
                      tasks=[Task(name=t, driver="docker", config={"image": "nginx:1"}, kill_timeout=5 * SECOND) for t in tasks])
    return Job(id=job_id, name=job_id, namespace="default", type=type, priority=50, datacenters=["dc1"],
               task_groups=[group], meta=meta or {})


class Harness:
    """A real environment and state store, a fake server and the clients under test."""

    def __init__(self, nodes: int = 2, resolver: BehaviorResolver | None = None):
        self.env = simpy.Environment()
        self.state = StateStore(clock=lambda: self.env.now)
        self.nodes = [Node(id=f"node-{i}", name=f"node-{i}", drivers=["docker"],
                           resources=NodeResources(4000, 8192, 100000)) for i in range(nodes)]
        self.state.upsert_nodes(self.nodes)
        self.server = FakeServer(self.env, self.state, ids_seed=7, heartbeat_seed=3)
        self.clients = Clients(self.env, self.state, self.server, np.random.default_rng(11), resolver)
        self._n = 0

    def register(self, job: Job) -> Job:
        self.state.upsert_job(job)
        return self.state.job_by_id("default", job.id)

    def place(self, job: Job, node: int = 0, deployment_id: str = "") -> Allocation:
        """Insert one alloc of `job` and tell the clients (as the plan applier does)."""
        self._n += 1
        node_obj = self.nodes[node]
        alloc = Allocation(id=f"alloc-{self._n}", namespace="default", eval_id="eval-1",
                           name=f"{job.id}.g[{self._n - 1}]", node_id=node_obj.id, node_name=node_obj.name,
                           job_id=job.id, job=job, task_group="g", cpu=100, memory_mb=64,
                           deployment_id=deployment_id)
        self.state.upsert_plan_results([alloc], [], None, [], "eval-1")
        self.clients.on_plan_applied([alloc], [])
        return alloc

    def run(self, until: float) -> None:
        self.env.run(until=until)

    def events(self, alloc: Allocation, task: str = "web") -> list[str]:
        return [e.type for e in alloc.task_states[task].events]


@pytest.fixture
def h() -> Harness:
    """A two-node harness."""
    return Harness()


def test_batch_alloc_completes_after_runtime(h: Harness) -> None:
    """A batch task runs its runtime, exits 0 and the alloc is reported complete."""
    job = h.register(make_job("b", type="batch", meta={"sim.runtime": "90s"}))
    alloc = h.place(job)
    h.run(1)
    assert alloc.client_status == "running"
    h.run(90.1)
    assert alloc.client_status == "running"
    h.run(91)
    assert alloc.client_status == "complete"
    assert h.events(alloc) == ["Received", "Task Setup", "Started", "Terminated"]
    ts = alloc.task_states["web"]
    assert ts.state == "dead" and not ts.failed and ts.finished_at == 90.0
    assert h.server.evals == [] and h.server.blocked.unblocked  # capacity freed, no follow-up eval


def test_batch_default_runtime_is_sixty_seconds(h: Harness) -> None:
    """Without a rule or meta, a batch task runs the resolver's default 60 s."""
    alloc = h.place(h.register(make_job("b", type="batch")))
    h.run(61)
    assert alloc.client_status == "complete"
    assert alloc.task_states["web"].finished_at == 60.0


def test_service_restarts_per_policy_then_fails(h: Harness) -> None:
    """Service defaults (2 attempts / 30m / 15s / fail): runs 3 times, then Not Restarting.

    Nomad: restarts_test.go TestClient_RestartTracker_ModeFail; reasons from restarts.go.
    """
    job = h.register(make_job(meta={"sim.fail_after": "10s"}))
    alloc = h.place(job)
    h.run(200)
    ts = alloc.task_states["web"]
    assert h.events(alloc) == ["Received", "Task Setup", "Started", "Terminated", "Restarting", "Started",
                               "Terminated", "Restarting", "Started", "Terminated", "Not Restarting"]
    restarts = [e for e in ts.events if e.type == "Restarting"]
    assert all(e.restart_reason == "Restart within policy" for e in restarts)
    assert all(15.0 <= e.start_delay <= 15.0 * 1.25 for e in restarts)
    last = ts.events[-1]
    assert last.restart_reason == 'Exceeded allowed attempts 2 in interval 30m0s and mode is "fail"'
    assert last.fails_task and ts.failed and ts.restarts == 2
    assert [e.exit_code for e in ts.events if e.type == "Terminated"] == [1, 1, 1]
    assert alloc.client_status == "failed"
    assert [e.triggered_by for e in h.server.evals] == ["alloc-failure"]


def test_service_restarts_even_after_exit_zero(h: Harness) -> None:
    """A service task that exits 0 is restarted (Nomad restarts services on success)."""
    alloc = h.place(h.register(make_job(meta={"sim.runtime": "5s"})))
    h.run(8)
    assert h.events(alloc)[-2:] == ["Terminated", "Restarting"]
    assert alloc.task_states["web"].events[-2].exit_code == 0


def test_policy_with_no_attempts_fails_at_first_exit(h: Harness) -> None:
    """Attempts 0: `Policy allows no restarts` and the task fails."""
    job = h.register(make_job(meta={"sim.fail_after": "3s"}, restart=RestartPolicy(0, 30 * MINUTE, 15 * SECOND, "fail")))
    alloc = h.place(job)
    h.run(4)
    assert alloc.task_states["web"].events[-1].restart_reason == "Policy allows no restarts"
    assert alloc.client_status == "failed"


def test_batch_exit_zero_with_no_attempts_completes(h: Harness) -> None:
    """Batch with attempts 0 exiting 0 terminates successfully (no Not Restarting)."""
    job = h.register(make_job("b", type="batch", meta={"sim.runtime": "3s"}, restart=RestartPolicy(0, HOUR, SECOND, "fail")))
    alloc = h.place(job)
    h.run(4)
    assert h.events(alloc)[-1] == "Terminated" and alloc.client_status == "complete"


def test_restart_tracker_delay_mode_waits_for_window_end() -> None:
    """Mode delay: past the attempts, restart at the interval's end. Nomad: TestClient_RestartTracker_ModeDelay."""
    rng = np.random.default_rng(1)
    tracker = RestartTracker(RestartPolicy(1, MINUTE, 5 * SECOND, "delay"), "service", 0.0)
    assert tracker.on_exit(10.0, 1, rng)[0] == "restart"
    decision, delay = tracker.on_exit(20.0, 1, rng)
    assert decision == "restart" and delay == pytest.approx(40.0)
    assert tracker.reason == "Exceeded allowed attempts, applying a delay"
    decision, delay = tracker.on_exit(61.0, 1, rng)  # a new interval: the count resets
    assert decision == "restart" and 5.0 <= delay <= 6.25 and tracker.reason == "Restart within policy"


def test_go_duration_formats_like_go() -> None:
    """Durations print as Go's time.Duration.String."""
    assert [go_duration(v) for v in (0, 30 * MINUTE, HOUR, 15 * SECOND, 1_500_000, 2 * MINUTE + 3_250_000_000)] == [
        "0s", "30m0s", "1h0m0s", "15s", "1.5ms", "2m3.25s"]


def test_start_delay_delays_started(h: Harness) -> None:
    """`sim.start_delay` is the time from Received to Started; the alloc is pending meanwhile."""
    alloc = h.place(h.register(make_job(meta={"sim.start_delay": "30s"})))
    h.run(29)
    assert alloc.client_status == "pending" and h.events(alloc) == ["Received", "Task Setup"]
    h.run(31)
    assert alloc.client_status == "running"
    assert alloc.task_states["web"].started_at == 30.0


def test_clients_watching_the_plan_queue_run_what_it_commits(h: Harness) -> None:
    """Nomad: Client.watchAllocations: subscribed to the plan queue, the clients start a committed
    placement without the server calling them."""
    job = h.register(make_job("b", type="batch", meta={"sim.runtime": "30s"}))
    queue = PlanQueue(h.env, h.state, latency=0.0)
    h.clients.watch_allocations(queue)
    plan = Plan(eval_id="eval-1", priority=50, job=job)
    plan.append_alloc(Allocation(id="alloc-q", namespace="default", eval_id="eval-1", name="b.g[0]",
                                 node_id="node-0", node_name="node-0", job_id="b", job=job, task_group="g",
                                 cpu=100, memory_mb=64))
    queue.submit(plan)
    h.run(1)
    runner = h.clients.runner("alloc-q")
    assert runner is not None and runner.status == "running"
    h.run(31)
    assert h.state.alloc_by_id("alloc-q").client_status == "complete"


def test_server_stop_kills_the_alloc(h: Harness) -> None:
    """A desired stop gives Killing → Killed and client status complete."""
    alloc = h.place(h.register(make_job()))
    h.run(5)
    stop = replace(alloc)
    stop.desired_status = "stop"
    h.state.upsert_plan_results([], [stop], None, [], "eval-2")
    h.clients.on_plan_applied([], [stop])
    h.run(6)
    assert h.events(alloc)[-2:] == ["Killing", "Killed"]
    assert alloc.task_states["web"].events[-2].message == "Sent interrupt. Waiting 5s before force killing"
    assert alloc.client_status == "complete" and not alloc.task_states["web"].failed
    rows = h.server.recorder.rows["allocations"]
    assert [(r[5], r[6]) for r in rows] == [("running", "run"), ("complete", "stop")]


def test_failed_task_kills_its_siblings(h: Harness) -> None:
    """One task failing takes the others down with `Sibling Task Failed`."""
    job = make_job(tasks=("web", "side"), restart=RestartPolicy(0, HOUR, SECOND, "fail"))
    job.task_groups[0].tasks[0].meta = {"sim.fail_after": "5s"}
    alloc = h.place(h.register(job))
    h.run(6)
    assert h.events(alloc, "side")[-3:] == ["Sibling Task Failed", "Killing", "Killed"]
    assert not alloc.task_states["side"].failed and alloc.client_status == "failed"


def test_reports_are_batched_every_interval(h: Harness) -> None:
    """Client reports reach the state at the next 0.2 s flush, many allocs in one write."""
    job = h.register(make_job(count=3))
    allocs = [h.place(job, node=i % 2) for i in range(3)]
    before = h.state.index
    h.run(0.1)
    assert all(a.client_status == "pending" for a in allocs)
    h.run(0.3)
    assert all(a.client_status == "running" for a in allocs)
    assert h.state.index == before + 1


def _deploy_job(fail_health: bool = False, **meta: str) -> Job:
    update = UpdateStrategy(max_parallel=1, health_check="checks", min_healthy_time=10 * SECOND,
                            healthy_deadline=5 * MINUTE, progress_deadline=10 * MINUTE)
    if fail_health:
        meta["sim.fail_health"] = "true"
    return make_job(update=update, meta=meta)


def test_deployment_alloc_healthy_after_min_healthy_time(h: Harness) -> None:
    """Healthy at start + MinHealthyTime, forwarded to the deployment watcher."""
    alloc = h.place(h.register(_deploy_job()), deployment_id="dep-1")
    h.run(10.1)
    assert alloc.deployment_status is None
    h.run(10.3)
    assert alloc.is_healthy() and alloc.deployment_status.timestamp == pytest.approx(10.2)
    assert [r[1:] for r in h.server.deployment_watcher.reports] == [(alloc.id, True)]


def test_deployment_alloc_unhealthy_on_failure(h: Harness) -> None:
    """A task failing before MinHealthyTime makes the alloc unhealthy at once."""
    alloc = h.place(h.register(_deploy_job(**{"sim.fail_after": "4s"})), deployment_id="dep-1")
    h.run(4.3)
    assert alloc.is_unhealthy()
    h.run(30)
    assert alloc.is_unhealthy()


def test_fail_health_is_unhealthy_at_the_deadline(h: Harness) -> None:
    """`sim.fail_health`: still running, unhealthy when HealthyDeadline (5m) passes."""
    alloc = h.place(h.register(_deploy_job(fail_health=True)), deployment_id="dep-1")
    h.run(299)
    assert alloc.deployment_status is None and alloc.client_status == "running"
    h.run(301)
    assert alloc.is_unhealthy()


def test_crash_after_counts_from_healthy(h: Harness) -> None:
    """`sim.crash_after`: the task crashes that long after the alloc became healthy."""
    alloc = h.place(h.register(_deploy_job(**{"sim.crash_after": "20s"})), deployment_id="dep-1")
    h.run(29)
    assert alloc.is_healthy() and h.events(alloc)[-1] == "Started"
    h.run(31)
    assert h.events(alloc)[-2:] == ["Terminated", "Restarting"]
    assert alloc.is_healthy()  # the verdict of this deployment was already given


def test_manual_health_check_gives_no_verdict(h: Harness) -> None:
    """health_check = manual: the client never sets health."""
    job = _deploy_job()
    job.task_groups[0].update.health_check = "manual"
    alloc = h.place(h.register(job), deployment_id="dep-1")
    h.run(400)
    assert alloc.deployment_status is None


def test_non_deployment_service_alloc_uses_migrate_health(h: Harness) -> None:
    """Without a deployment the migrate strategy's MinHealthyTime sets health (for drains)."""
    job = make_job(migrate=MigrateStrategy(max_parallel=1, health_check="checks", min_healthy_time=3 * SECOND,
                                           healthy_deadline=5 * MINUTE))
    alloc = h.place(h.register(job))
    h.run(3.5)
    assert alloc.is_healthy() and h.server.deployment_watcher.reports == []


def test_in_place_update_with_new_deployment_restarts_health_clock(h: Harness) -> None:
    """An in-place update into a new deployment keeps tasks running and judges health anew."""
    job = h.register(_deploy_job())
    alloc = h.place(job, deployment_id="dep-1")
    h.run(20)
    assert alloc.is_healthy()
    updated = replace(alloc)
    updated.deployment_id, updated.deployment_status = "dep-2", None
    h.state.upsert_plan_results([updated], [], None, [], "eval-3")
    h.clients.on_plan_applied([updated], [])
    h.run(29)
    assert alloc.deployment_status is None and h.events(alloc)[-1] == "Started"
    h.run(31)
    assert alloc.is_healthy() and alloc.deployment_status.timestamp == pytest.approx(30.2)


def test_node_down_silences_runners_and_server_marks_it_down(h: Harness) -> None:
    """A failed node stops reporting; the server marks it down at last heartbeat + TTL + grace."""
    job = h.register(make_job("b", type="batch", meta={"sim.runtime": "60s"}))
    alloc = h.place(job, node=0)
    h.run(10)
    h.clients.node_down("node-0")
    down_at = h.server.heartbeats.down_at["node-0"]
    period, _ = h.server.heartbeats.rhythm("node-0")
    assert 10 + 10 <= down_at <= 10 + period + 10
    h.run(down_at + 0.01)
    assert h.state.node_by_id("node-0").status == NODE_STATUS_DOWN
    assert [(e.triggered_by, e.job_id, e.node_id) for e in h.server.evals] == [("node-update", "b", "node-0")]
    h.run(100)
    assert alloc.client_status == "running"  # never reported again


def test_node_up_reregisters_and_reruns_live_allocs(h: Harness) -> None:
    """A recovered node is ready again (node-update evals, unblock) and reruns its live allocs."""
    job = h.register(make_job())
    alloc = h.place(job, node=0)
    h.run(1)
    h.clients.node_down("node-0")
    h.run(100)
    assert h.state.node_by_id("node-0").status == NODE_STATUS_DOWN
    h.clients.node_up("node-0")
    h.run(101)
    assert h.state.node_by_id("node-0").status == NODE_STATUS_READY
    assert [e.triggered_by for e in h.server.evals] == ["node-update", "node-update"]
    assert h.server.blocked.unblocked and h.clients.runner(alloc.id) is not None


def test_node_back_before_ttl_is_never_marked_down(h: Harness) -> None:
    """A node that recovers before its heartbeat expires never goes down."""
    h.place(h.register(make_job()), node=0)
    h.run(1)
    h.clients.node_down("node-0")
    h.run(2)
    h.clients.node_up("node-0")
    h.run(200)
    assert h.state.node_by_id("node-0").status == NODE_STATUS_READY and h.server.evals == []


def test_placement_on_a_dead_node_waits_for_the_node() -> None:
    """Allocs placed on a failed-but-not-yet-down node stay pending until it returns."""
    h = Harness()
    h.clients.node_down("node-1")
    alloc = h.place(h.register(make_job()), node=1)
    h.run(5)
    assert alloc.client_status == "pending"
    h.clients.node_up("node-1")
    h.run(6)
    assert alloc.client_status == "running"


def test_clients_are_deterministic() -> None:
    """Two identical runs give the same task events (restart jitter from the seeded rng)."""
    def run_once() -> list:
        h = Harness()
        alloc = h.place(h.register(make_job(meta={"sim.fail_after": "2s"})))
        h.run(100)
        return [(e.type, e.time) for e in alloc.task_states["web"].events]
    assert run_once() == run_once()


def test_scenario_rules_drive_task_runtime() -> None:
    """A resolver rule (first match) sets a batch task's runtime; meta would still win."""
    class Rule:
        runtime = 12.0

        def match(self, job_id: str, group: str, task: str, image: str) -> bool:
            return image.startswith("nginx")

    h = Harness(resolver=BehaviorResolver([Rule()]))
    alloc = h.place(h.register(make_job("b", type="batch")))
    h.run(13)
    assert alloc.client_status == "complete" and alloc.task_states["web"].finished_at == 12.0


@pytest.mark.benchmark
def test_hundred_thousand_allocs_start_quickly() -> None:
    """100k allocs (half batch, half service in a deployment) go pending → running → reported."""
    import time

    h = Harness(nodes=1)
    nodes = [Node(id=f"n{i}", name=f"n{i}", drivers=["docker"], resources=NodeResources(10**7, 10**8, 10**9))
             for i in range(1000)]
    h.state.upsert_nodes(nodes)
    service, batch = h.register(_deploy_job()), h.register(make_job("b", type="batch", meta={"sim.runtime": "30s"}))
    allocs = [Allocation(id=f"a{i}", namespace="default", eval_id="e", name=f"x.g[{i}]", node_id=nodes[i % 1000].id,
                         node_name=nodes[i % 1000].name, job_id=(service if i % 2 else batch).id,
                         job=service if i % 2 else batch, task_group="g", cpu=1, memory_mb=1,
                         deployment_id="d1" if i % 2 else "") for i in range(100_000)]
    start = time.process_time()
    for k in range(0, len(allocs), 1000):
        h.state.upsert_plan_results(allocs[k:k + 1000], [], None, [], "e")
        h.clients.on_plan_applied(allocs[k:k + 1000], [])
    h.run(1)
    elapsed = time.process_time() - start
    assert all(a.client_status == "running" for a in allocs)
    print(f"100k allocs placed and reported running in {elapsed:.2f}s CPU")
