"""Builders for the reconciler tests, after Nomad's nomad/mock Job(), Alloc() and Node().

Times are simulated seconds; NOW is far from 0 so an alloc without task states (fail time =
modify time 0) looks long failed, as Nomad's zero ModifyTime (1970) does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import replace

from sim.scheduler.reconciler.cluster import ClusterState, ReconcilerState, reconcile
from sim.scheduler.reconciler.names import alloc_name
from sim.scheduler.reconciler.results import AllocUpdateFn, ReconcileResults
from sim.structs.alloc import Allocation, AllocDeploymentStatus, RescheduleEvent, TaskState
from sim.structs.deployment import Deployment, DeploymentState
from sim.structs.job import (
    MINUTE,
    SECOND,
    Constraint,
    EphemeralDisk,
    Job,
    MigrateStrategy,
    NetworkResource,
    Port,
    ReschedulePolicy,
    Resources,
    RestartPolicy,
    Service,
    Task,
    TaskGroup,
    UpdateStrategy,
)
from sim.structs.node import Node
from sim.structs.plan import DesiredUpdates

NOW = 1_000_000.0
HOUR = 3600.0


class Ids:
    """UUID-shaped IDs from a counter (one per test, so no shared state)."""

    def __init__(self, prefix: str = "0") -> None:
        self._counter = itertools.count(1)
        self._prefix = prefix

    def __call__(self) -> str:
        return f"{self._prefix * 8}-0000-4000-8000-{next(self._counter):012d}"


def canary_update() -> UpdateStrategy:
    """Nomad reconcile_cluster_test.go canaryUpdate."""
    return UpdateStrategy(
        canary=2,
        max_parallel=2,
        health_check="checks",
        min_healthy_time=10 * SECOND,
        healthy_deadline=10 * MINUTE,
        stagger=31 * SECOND,
    )


def no_canary_update() -> UpdateStrategy:
    """Nomad reconcile_cluster_test.go noCanaryUpdate."""
    return UpdateStrategy(
        max_parallel=4,
        health_check="checks",
        min_healthy_time=10 * SECOND,
        healthy_deadline=10 * MINUTE,
        stagger=31 * SECOND,
    )


def mock_group(name: str = "web", count: int = 10) -> TaskGroup:
    """The group of Nomad's mock.Job()."""
    task = Task(
        name="web",
        driver="exec",
        config={"command": "/bin/date"},
        env={"FOO": "bar"},
        services=[
            Service(name="${TASK}-frontend", port_label="http"),
            Service(name="${TASK}-admin", port_label="admin"),
        ],
        resources=Resources(cpu=500, memory_mb=256),
        meta={"foo": "bar"},
    )
    return TaskGroup(
        name=name,
        count=count,
        constraints=[Constraint("${attr.consul.version}", ">= 1.8.0", "semver")],
        ephemeral_disk=EphemeralDisk(size_mb=150),
        restart_policy=RestartPolicy(attempts=3, interval=10 * MINUTE, delay=MINUTE, mode="delay"),
        reschedule_policy=ReschedulePolicy(
            attempts=2, interval=10 * MINUTE, delay=5 * SECOND, delay_function="constant"
        ),
        migrate=MigrateStrategy(
            max_parallel=1,
            health_check="checks",
            min_healthy_time=10 * SECOND,
            healthy_deadline=5 * MINUTE,
        ),
        networks=[
            NetworkResource(mode="host", dynamic_ports=[Port(label="http"), Port(label="admin")])
        ],
        tasks=[task],
        meta={"elb_check_type": "http", "elb_check_interval": "30s", "elb_check_min": "3"},
    )


def mock_job(job_type: str = "service") -> Job:
    """Nomad's mock.Job(): service, count 10, group "web", task "web" cpu 500 mem 256."""
    return Job(
        id=f"mock-{job_type}",
        name="my-job",
        region="global",
        namespace="default",
        node_pool="default",
        type=job_type,
        priority=50,
        datacenters=["dc1"],
        constraints=[Constraint("${attr.kernel.name}", "linux", "=")],
        task_groups=[mock_group()],
        meta={"owner": "armon"},
        status="pending",
        version=0,
        create_index=42,
        modify_index=99,
        job_modify_index=99,
    )


def copy_job(job: Job, **changes) -> Job:
    """A copy with its own groups (so group edits do not leak into the original)."""
    groups = [replace(tg) for tg in job.task_groups]
    return replace(job, task_groups=groups, **changes)


def add_group(job: Job, name: str) -> TaskGroup:
    """Append a copy of the first group under a new name (Nomad tests: tg.Copy())."""
    tg = replace(job.task_groups[0], name=name)
    job.task_groups.append(tg)
    return tg


def mock_alloc(ids: Ids, job: Job, index: int, group: str = "web", **changes) -> Allocation:
    """Nomad's mock.Alloc() on its own node: desired run, client pending."""
    alloc = Allocation(
        id=ids(),
        namespace="default",
        eval_id=ids(),
        name=alloc_name(job.id, group, index),
        node_id=ids(),
        node_name="node",
        job_id=job.id,
        job=job,
        task_group=group,
        cpu=500,
        memory_mb=256,
        disk_mb=150,
    )
    for key, value in changes.items():
        setattr(alloc, key, value)
    return alloc


def mock_allocs(
    ids: Ids, job: Job, indexes: Iterable[int], group: str = "web", **changes
) -> list[Allocation]:
    """One mock alloc per index."""
    return [mock_alloc(ids, job, i, group, **changes) for i in indexes]


def failed_at(finished: float) -> dict[str, TaskState]:
    """Task states of a task that failed at `finished`."""
    return {
        "web": TaskState(
            state="dead", failed=True, started_at=finished - HOUR, finished_at=finished
        )
    }


def tracker(*times: float) -> list[RescheduleEvent]:
    """Reschedule events at the given times."""
    return [
        RescheduleEvent(reschedule_time=t, prev_alloc_id="prev", prev_node_id="node", delay=0.0)
        for t in times
    ]


def healthy(canary: bool = False) -> AllocDeploymentStatus:
    """A healthy deployment status."""
    return AllocDeploymentStatus(healthy=True, canary=canary)


def mock_node(
    ids: Ids, node_id: str | None = None, status: str = "ready", drain: bool = False
) -> Node:
    """Nomad's mock.Node() / mock.DrainNode()."""
    return Node(id=node_id or ids(), name="node", status=status, drain=drain)


def new_deployment(
    ids: Ids, job: Job, status: str = "running", **groups: DeploymentState
) -> Deployment:
    """Nomad's structs.NewDeployment for `job`, with the given group states."""
    return Deployment(
        id=ids(),
        namespace=job.namespace,
        job_id=job.id,
        job_version=job.version,
        job_modify_index=job.modify_index,
        job_spec_modify_index=job.job_modify_index,
        job_create_index=job.create_index,
        status=status,
        task_groups=dict(groups),
        eval_priority=50,
    )


def update_ignore(
    existing: Allocation, job: Job, tg: TaskGroup
) -> tuple[bool, bool, Allocation | None]:
    """Nomad test allocUpdateFnIgnore."""
    return True, False, None


def update_destructive(
    existing: Allocation, job: Job, tg: TaskGroup
) -> tuple[bool, bool, Allocation | None]:
    """Nomad test allocUpdateFnDestructive."""
    return False, True, None


def update_inplace(
    existing: Allocation, job: Job, tg: TaskGroup
) -> tuple[bool, bool, Allocation | None]:
    """Nomad test allocUpdateFnInplace: a copy running the new job."""
    return False, False, replace(existing, job=job)


def update_mock(handled: dict[str, AllocUpdateFn], unhandled: AllocUpdateFn) -> AllocUpdateFn:
    """Nomad test allocUpdateFnMock: per-alloc update functions."""

    def fn(existing: Allocation, job: Job, tg: TaskGroup) -> tuple[bool, bool, Allocation | None]:
        return handled.get(existing.id, unhandled)(existing, job, tg)

    return fn


def run(
    job: Job | None,
    allocs: list[Allocation],
    *,
    update: AllocUpdateFn = update_ignore,
    deployment: Deployment | None = None,
    tainted: dict[str, Node | None] | None = None,
    batch: bool = False,
    eval_id: str = "eval-1",
    now: float = NOW,
    job_id: str | None = None,
    ids: Callable[[], str] | None = None,
) -> ReconcileResults:
    """Call the reconciler the way Nomad's tests build an AllocReconciler."""
    state = ReconcilerState(
        job=job,
        job_id=job_id or (job.id if job is not None else "foo"),
        namespace="default",
        deployment=deployment,
        existing=allocs,
        batch=batch,
        eval_id=eval_id,
        eval_priority=50,
    )
    return reconcile(state, ClusterState(tainted or {}, now), update, ids or Ids("f"))


def indexes(names: Iterable[str]) -> list[int]:
    """Sorted name indexes (Nomad tests: assertNamesHaveIndexes)."""
    return sorted(int(n[n.rfind("[") + 1 : -1]) for n in names)


def place_indexes(r: ReconcileResults) -> list[int]:
    """Indexes of the placements."""
    return indexes(p.name for p in r.place)


def stop_indexes(r: ReconcileResults) -> list[int]:
    """Indexes of the stopped allocs."""
    return indexes(s.alloc.name for s in r.stop)


def destructive_indexes(r: ReconcileResults) -> list[int]:
    """Indexes of the destructive updates."""
    return indexes(d.place_name for d in r.destructive_update)


def counts(r: ReconcileResults) -> dict[str, int]:
    """The result sizes Nomad's assertResults checks."""
    return {
        "place": len(r.place),
        "destructive": len(r.destructive_update),
        "inplace": len(r.inplace_update),
        "stop": len(r.stop),
        "attribute": len(r.attribute_updates),
    }


def expect(
    place: int = 0, destructive: int = 0, inplace: int = 0, stop: int = 0, attribute: int = 0
) -> dict[str, int]:
    """The expected result sizes (zeros by default, as in Nomad's resultExpectation)."""
    return {
        "place": place,
        "destructive": destructive,
        "inplace": inplace,
        "stop": stop,
        "attribute": attribute,
    }


def du(**counts_: int) -> DesiredUpdates:
    """A DesiredUpdates with the given counts."""
    return DesiredUpdates(**counts_)
