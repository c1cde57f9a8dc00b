"""Builders for the end-to-end scheduler tests: Nomad's mock nodes, jobs and allocs, and a world
(a state store, ids and a clock) to run evals in through the Harness.

Nomad: nomad/mock (Node, Job, BatchJob, SystemJob, Alloc) and scheduler/tests/testing.go. Jobs
are written in Nomad's JSON form and go through decode_job + canonicalize like a registered job;
the mock job's update block has MaxParallel 0, so, like Nomad's mock.Job, it has no deployments
unless a test gives it an update block.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from sim.scheduler.env import SchedulerEnv
from sim.scheduler.feasible.rank import group_ask
from sim.scheduler.testing import Harness
from sim.server.plan_apply import apply_plan
from sim.state.store import StateStore
from sim.structs.alloc import Allocation
from sim.structs.canonicalize import canonicalize
from sim.structs.codec import decode_job
from sim.structs.evaluation import Evaluation
from sim.structs.ids import IdGenerator
from sim.structs.job import MINUTE, SECOND, Job
from sim.structs.node import Node, NodeResources
from sim.structs.plan import Plan, PlanResult
from sim.structs.scheduler_config import PreemptionConfig

_serial = itertools.count(1)
SEMVER_CONSUL = {"LTarget": "${attr.consul.version}", "RTarget": ">= 1.8.0", "Operand": "semver"}


def mock_node(**changes: Any) -> Node:
    """Nomad's mock.Node: 14000 MHz (4 x 3500), 8192 MB, 100 GB disk; reserved 100 MHz, 256 MB,
    4 GB and port 22; linux/x86 with the exec and mock drivers; class linux-medium-pci."""
    n = next(_serial)
    node = Node(
        id=f"{n:08x}-0000-4000-8000-{n:012x}", name="foobar", datacenter="dc1", node_class="linux-medium-pci",
        node_pool="default",
        attributes={"kernel.name": "linux", "arch": "x86", "nomad.version": "0.5.0", "driver.exec": "1",
                    "driver.mock_driver": "1", "consul.version": "1.11.4"},
        meta={"pci-dss": "true", "database": "mysql", "version": "5.6"},
        drivers=["exec", "mock_driver"],
        resources=NodeResources(cpu=14000, memory_mb=8192, disk_mb=100 * 1024),
        reserved=NodeResources(cpu=100, memory_mb=256, disk_mb=4 * 1024, reserved_ports="22"),
    )
    for key, value in changes.items():
        setattr(node, key, value)
    return node


def service_job_json(job_id: str | None = None) -> dict[str, Any]:
    """Nomad's mock.Job in JSON form: group "web" of 10, one exec task of 500 MHz / 256 MB,
    150 MB of disk, two dynamic ports, a constant reschedule policy of 2 attempts in 10m."""
    return {
        "ID": job_id or f"mock-service-{next(_serial)}", "Name": "my-job", "Namespace": "default",
        "NodePool": "default", "Type": "service", "Priority": 50, "Datacenters": ["dc1"],
        "Constraints": [{"LTarget": "${attr.kernel.name}", "RTarget": "linux", "Operand": "="}],
        "Update": {"MaxParallel": 0},
        "TaskGroups": [{
            "Name": "web", "Count": 10, "Constraints": [dict(SEMVER_CONSUL)],
            "EphemeralDisk": {"SizeMB": 150},
            "RestartPolicy": {"Attempts": 3, "Interval": 10 * MINUTE, "Delay": MINUTE, "Mode": "delay"},
            "ReschedulePolicy": {"Attempts": 2, "Interval": 10 * MINUTE, "Delay": 5 * SECOND,
                                 "DelayFunction": "constant", "MaxDelay": 0, "Unlimited": False},
            "Networks": [{"Mode": "host", "DynamicPorts": [{"Label": "http"}, {"Label": "admin"}]}],
            "Tasks": [{
                "Name": "web", "Driver": "exec", "Config": {"command": "/bin/date"}, "Env": {"FOO": "bar"},
                "Constraints": [dict(SEMVER_CONSUL)], "Resources": {"CPU": 500, "MemoryMB": 256},
                "Meta": {"foo": "bar"},
            }],
            "Meta": {"elb_check_type": "http", "elb_check_interval": "30s", "elb_check_min": "3"},
        }],
        "Meta": {"owner": "armon"},
    }


def batch_job_json(job_id: str | None = None) -> dict[str, Any]:
    """Nomad's mock.BatchJob: group "web" of 10, a mock_driver task of 100 MHz / 100 MB."""
    return {
        "ID": job_id or f"mock-batch-{next(_serial)}", "Name": "batch-job", "Namespace": "default",
        "NodePool": "default", "Type": "batch", "Priority": 50, "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "web", "Count": 10, "EphemeralDisk": {"SizeMB": 150},
            "RestartPolicy": {"Attempts": 3, "Interval": 10 * MINUTE, "Delay": MINUTE, "Mode": "delay"},
            "ReschedulePolicy": {"Attempts": 2, "Interval": 10 * MINUTE, "Delay": 5 * SECOND,
                                 "DelayFunction": "constant", "MaxDelay": 0, "Unlimited": False},
            "Tasks": [{"Name": "web", "Driver": "mock_driver", "Config": {"run_for": "500ms"},
                       "Env": {"FOO": "bar"}, "Resources": {"CPU": 100, "MemoryMB": 100},
                       "Meta": {"foo": "bar"}}],
        }],
    }


def system_job_json(job_id: str | None = None, job_type: str = "system") -> dict[str, Any]:
    """Nomad's mock.SystemJob: group "web" of 1, an exec task of 500 MHz / 256 MB with one
    dynamic port, priority 100; no rolling limit (MaxParallel 0) unless a test sets one."""
    return {
        "ID": job_id or f"mock-{job_type}-{next(_serial)}", "Name": "my-job", "Namespace": "default",
        "NodePool": "default", "Type": job_type, "Priority": 100, "Datacenters": ["dc1"],
        "Constraints": [{"LTarget": "${attr.kernel.name}", "RTarget": "linux", "Operand": "="}],
        "Update": {"MaxParallel": 0},
        "TaskGroups": [{
            "Name": "web", "Count": 1, "EphemeralDisk": {"SizeMB": 300},
            "RestartPolicy": {"Attempts": 3, "Interval": 10 * MINUTE, "Delay": MINUTE, "Mode": "delay"},
            "Tasks": [{"Name": "web", "Driver": "exec", "Config": {"command": "/bin/date"},
                       "Resources": {"CPU": 500, "MemoryMB": 256,
                                     "Networks": [{"MBits": 50, "DynamicPorts": [{"Label": "http"}]}]}}],
        }],
        "Meta": {"owner": "armon"},
    }


def job_from(data: dict[str, Any], tweak: Callable[[dict[str, Any]], None] | None = None) -> Job:
    """A job as registration makes it: Nomad JSON, an optional edit, decode_job, canonicalize."""
    data = copy.deepcopy(data)
    if tweak is not None:
        tweak(data)
    job = decode_job(data)
    canonicalize(job)
    return job


def mock_job(tweak: Callable[[dict[str, Any]], None] | None = None, job_id: str | None = None) -> Job:
    """Nomad: mock.Job()."""
    return job_from(service_job_json(job_id), tweak)


def mock_batch_job(tweak: Callable[[dict[str, Any]], None] | None = None, job_id: str | None = None) -> Job:
    """Nomad: mock.BatchJob()."""
    return job_from(batch_job_json(job_id), tweak)


def mock_system_job(tweak: Callable[[dict[str, Any]], None] | None = None, job_id: str | None = None,
                    job_type: str = "system") -> Job:
    """Nomad: mock.SystemJob() (or the same job as a sysbatch job)."""
    return job_from(system_job_json(job_id, job_type), tweak)


def group(data: dict[str, Any], i: int = 0) -> dict[str, Any]:
    """The i-th task group of a job's JSON (for tweaks)."""
    return data["TaskGroups"][i]


def mock_alloc(job: Job, node: Node, name: str | None = None, group_name: str = "web", **changes: Any) -> Allocation:
    """Nomad: mock.Alloc() for `job` on `node` (desired run, client pending) holding the group's ask."""
    tg = job.lookup_task_group(group_name)
    cpu, mem, disk = group_ask(tg)
    alloc = Allocation(
        id=f"a{next(_serial):07x}-0000-4000-8000-000000000000", namespace=job.namespace, eval_id="setup",
        name=name or f"{job.id}.{group_name}[0]", node_id=node.id, node_name=node.name, job_id=job.id, job=job,
        task_group=group_name, cpu=cpu, memory_mb=mem, disk_mb=disk,
    )
    for key, value in changes.items():
        setattr(alloc, key, value)
    return alloc


class World:
    """One state store at simulated time `now`, with seeded ids: Nomad's test Harness setup."""

    def __init__(self, seed: int = 7, now: float = 1000.0, algorithm: str = "binpack"):
        self.now = now
        self.algorithm = algorithm
        self.state = StateStore(clock=lambda: self.now)
        self.rng = np.random.default_rng(seed)
        self.ids = IdGenerator(self.rng)

    def preemption(self, **switches: bool) -> None:
        """Nomad: State.SchedulerSetConfig with these PreemptionConfig switches (system, sysbatch,
        batch, service; the others off)."""
        config = PreemptionConfig.from_switches({"system": False, **switches})
        self.state.set_scheduler_config(replace(self.state.scheduler_config, preemption_config=config))

    def add_nodes(self, *nodes: Node) -> list[Node]:
        """Nomad: State.UpsertNode."""
        self.state.upsert_nodes(list(nodes))
        return list(nodes)

    def nodes(self, n: int, **changes: Any) -> list[Node]:
        """Register `n` mock nodes (Nomad: createNodes)."""
        return self.add_nodes(*(mock_node(**changes) for _ in range(n)))

    def add_job(self, job: Job) -> Job:
        """Nomad: State.UpsertJob (a new version when the job exists)."""
        self.state.upsert_job(job)
        return job

    def add_allocs(self, *allocs: Allocation) -> list[Allocation]:
        """Nomad: State.UpsertAllocs."""
        self.state.upsert_plan_results(list(allocs), [], None, [], "")
        return list(allocs)

    def eval_for(self, job: Job, trigger: str = "job-register", **changes: Any) -> Evaluation:
        """A pending eval of the job, written to the state (Nomad: State.UpsertEvals)."""
        ev = Evaluation(id=self.ids.uuid(), namespace=job.namespace, priority=job.priority, type=job.type,
                        triggered_by=trigger, job_id=job.id, status="pending")
        for key, value in changes.items():
            setattr(ev, key, value)
        self.state.upsert_evals([ev])
        return ev

    def harness(self, **options: Any) -> Harness:
        """Nomad: NewHarnessWithState over this world's state; plans go through the server's
        plan applier unless `apply=None` (commit every plan as submitted, as Nomad's harness)."""
        senv = SchedulerEnv(state=self.state, rng=self.rng, ids=self.ids, now=self.now, algorithm=self.algorithm,
                            preemption=self.state.scheduler_config.preemption_config)
        options.setdefault("apply", applied)
        return Harness(senv, **options)

    def process(self, ev: Evaluation, **options: Any) -> Harness:
        """Process one eval with a fresh harness; the harness holds what happened."""
        h = self.harness(**options)
        h.process(ev)
        return h


def applied(state: StateStore, plan: Plan) -> PlanResult:
    """The server's plan applier: re-check each node, commit what fits (Nomad: planApply)."""
    return apply_plan(state, plan)[0]


def planned(plan) -> list[Allocation]:
    """Every alloc a plan places or updates."""
    return [a for allocs in plan.node_allocation.values() for a in allocs]


def stopped(plan) -> list[Allocation]:
    """Every alloc a plan stops."""
    return [a for allocs in plan.node_update.values() for a in allocs]


def live(allocs: list[Allocation]) -> list[Allocation]:
    """Nomad: structs.FilterTerminalAllocs (the non-terminal ones)."""
    return [a for a in allocs if not a.terminal()]
