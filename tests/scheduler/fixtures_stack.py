"""Builders for the placement-stack tests: nodes, jobs and allocs after nomad/mock Node() and Job()
(a 4000 MHz node, a job without the semver constraints), a node table and a stack over them.

Nomad: scheduler/feasible/stack_test.go and nomad/mock. Unlike fixtures.py these build structs
directly (no codec) for the stage-level tests: test_stack, test_feasible, test_rank, test_ports,
test_spread and test_scan_cache.
"""

from __future__ import annotations

import itertools

import numpy as np

from sim.scheduler.feasible.rank import group_ask
from sim.scheduler.feasible.stack import GenericStack, SystemStack
from sim.state.node_table import NodeTable
from sim.structs.alloc import Allocation
from sim.structs.job import (
    Constraint,
    EphemeralDisk,
    Job,
    NetworkResource,
    Port,
    Resources,
    Task,
    TaskGroup,
)
from sim.structs.node import Node, NodeResources

_ids = itertools.count(1)


def mock_node(**changes) -> Node:
    """Nomad's mock.Node (CPU 4000 MHz here), with field overrides."""
    n = next(_ids)
    node = Node(
        id=f"00000000-0000-0000-0000-{n:012d}",
        name=f"node-{n}",
        datacenter="dc1",
        node_class="linux-medium-pci",
        node_pool="default",
        attributes={"kernel.name": "linux", "arch": "x86", "nomad.version": "0.5.0",
                    "driver.exec": "1", "driver.mock_driver": "1"},
        meta={"pci-dss": "true", "database": "mysql", "version": "5.6"},
        drivers=["exec", "mock_driver"],
        resources=NodeResources(cpu=4000, memory_mb=8192, disk_mb=100 * 1024),
        reserved=NodeResources(cpu=100, memory_mb=256, disk_mb=4 * 1024, reserved_ports="22"),
    )
    for key, value in changes.items():
        setattr(node, key, value)
    return node


def mock_job(**changes) -> Job:
    """Nomad's mock.Job without its semver constraints: one group "web" of 10, an exec task of
    500 MHz / 256 MB, 150 MB of disk and two dynamic ports."""
    n = next(_ids)
    tg = TaskGroup(
        name="web",
        count=10,
        ephemeral_disk=EphemeralDisk(size_mb=150),
        networks=[NetworkResource(mode="host", dynamic_ports=[Port(label="http"), Port(label="admin")])],
        tasks=[Task(name="web", driver="exec", resources=Resources(cpu=500, memory_mb=256))],
    )
    job = Job(
        id=f"mock-service-{n}", name="my-job", namespace="default", type="service", priority=50,
        datacenters=["dc1"], node_pool="default",
        constraints=[Constraint(l_target="${attr.kernel.name}", r_target="linux", operand="=")],
        task_groups=[tg],
    )
    for key, value in changes.items():
        setattr(job, key, value)
    return job


def mock_alloc(job: Job, node: Node, group: str = "web", **changes) -> Allocation:
    """An alloc of `job` on `node` holding the group's ask."""
    tg = job.lookup_task_group(group)
    cpu, mem, disk = group_ask(tg) if tg is not None else (0, 0, 0)
    alloc = Allocation(
        id=f"alloc-{next(_ids)}", namespace=job.namespace, eval_id="eval", name=f"{job.id}.{group}[0]",
        node_id=node.id, node_name=node.name, job_id=job.id, job=job, task_group=group,
        cpu=cpu, memory_mb=mem, disk_mb=disk,
    )
    for key, value in changes.items():
        setattr(alloc, key, value)
    return alloc


def table_of(nodes: list[Node]) -> NodeTable:
    """A node table holding the nodes in order (row i = nodes[i])."""
    table = NodeTable()
    for node in nodes:
        table.add(node)
    return table


def generic_stack(nodes: list[Node], job: Job, allocs: list[Allocation] = (), batch: bool = False,
                  seed: int = 0, shuffle: bool = False, algorithm: str = "binpack") -> GenericStack:
    """A generic stack over the nodes; without `shuffle` they are visited in the given order,
    like Nomad's tests that use a StaticIterator."""
    table = table_of(nodes)
    stack = GenericStack(table, batch, np.random.default_rng(seed), algorithm)
    stack.set_job(job, list(allocs))
    stack.set_nodes(np.arange(len(nodes)))
    if not shuffle:
        stack.order = np.arange(len(nodes))
    return stack


def place(stack: GenericStack | SystemStack, job: Job, option, group: str = "web") -> Allocation:
    """Record a chosen option as a planned alloc."""
    alloc = mock_alloc(job, option.node, group, ports=option.ports)
    stack.place(option.row, alloc)
    return alloc
