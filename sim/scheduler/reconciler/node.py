"""The node reconciler of system and sysbatch jobs: per node, which allocs to place, update,
migrate, stop, ignore or mark lost.

Nomad: scheduler/reconciler/reconcile_node.go (NodeReconciler.Compute, computeForNode,
materializeSystemTaskGroups) and structs.SplitTerminalAllocs. System deployments (Nomad 1.11)
and disconnected clients are not modelled: no tuple is a canary and allocs on disconnected
nodes are left alone. Where Nomad walks Go maps (random order) this walks nodes in node-table
order and a job's groups in the job's order, so results are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sim.scheduler.reconciler.filters import ran_successfully
from sim.structs.alloc import Allocation
from sim.structs.consts import (
    ALLOC_CLIENT_UNKNOWN,
    ALLOC_DESIRED_RUN,
    JOB_TYPE_SYSBATCH,
    NODE_STATUS_DOWN,
)
from sim.structs.job import Job, TaskGroup
from sim.structs.node import Node

Terminal = dict[tuple[str, str], Allocation]  # (node ID, alloc name) -> newest terminal alloc


@dataclass(slots=True)
class AllocTuple:
    """Nomad: reconciler.AllocTuple: an alloc name, its group, and the alloc concerned.

    For a placement `alloc` is the node's previous terminal alloc of that name, or None.
    """

    name: str
    task_group: TaskGroup | None
    node_id: str
    alloc: Allocation | None = None

    @property
    def group(self) -> TaskGroup:
        """The task group: every tuple has one but the stop of an alloc whose group is gone."""
        if self.task_group is None:
            raise ValueError(f"{self.name} on {self.node_id}: the job has no such group")
        return self.task_group

    @property
    def existing(self) -> Allocation:
        """The alloc concerned: every tuple has one but a first placement on its node."""
        if self.alloc is None:
            raise ValueError(f"{self.name} on {self.node_id}: no alloc")
        return self.alloc


@dataclass(slots=True)
class NodeReconcileResult:
    """Nomad: reconciler.NodeReconcileResult (without the disconnect buckets)."""

    place: list[AllocTuple] = field(default_factory=list)
    update: list[AllocTuple] = field(default_factory=list)
    migrate: list[AllocTuple] = field(default_factory=list)
    stop: list[AllocTuple] = field(default_factory=list)
    ignore: list[AllocTuple] = field(default_factory=list)
    lost: list[AllocTuple] = field(default_factory=list)


def materialize_task_groups(job: Job | None) -> dict[str, TaskGroup]:
    """Nomad: materializeSystemTaskGroups: every alloc name the job needs on each node.

    The names use the job's Name (not its ID), as Nomad's do.
    """
    if job is None or job.stop:
        return {}
    return {f"{job.name}.{tg.name}[{i}]": tg for tg in job.task_groups for i in range(tg.count or 0)}


def split_terminal(allocs: list[Allocation]) -> tuple[list[Allocation], Terminal]:
    """Nomad: SplitTerminalAllocs: the live allocs, and the newest terminal alloc per node and name."""
    live: list[Allocation] = []
    terminal: Terminal = {}
    for alloc in allocs:
        if not alloc.terminal():
            live.append(alloc)
            continue
        key = (alloc.node_id, alloc.name)
        known = terminal.get(key)
        if known is None or known.create_index < alloc.create_index:
            terminal[key] = alloc
    return live, terminal


def diff_system_allocs(
    job: Job | None, ready: list[Node], not_ready: set[str], tainted: dict[str, Node | None],
    live: list[Allocation], terminal: Terminal, row_of: Callable[[str], int | None],
) -> NodeReconcileResult:
    """Nomad: NodeReconciler.Compute: the diff for every node with live allocs or ready to take one."""
    by_node: dict[str, list[Allocation]] = {}
    for alloc in live:
        by_node.setdefault(alloc.node_id, []).append(alloc)
    for node in ready:
        by_node.setdefault(node.id, [])
    eligible = {node.id for node in ready}
    required = materialize_task_groups(job)
    result = NodeReconcileResult()
    for node_id in sorted(by_node, key=lambda n: (row_of(n) is None, row_of(n) or 0, n)):
        _diff_node(job, node_id, eligible, not_ready, tainted, required, by_node[node_id], terminal, result)
    return result


def _diff_node(
    job: Job | None, node_id: str, eligible: set[str], not_ready: set[str], tainted: dict[str, Node | None],
    required: dict[str, TaskGroup], allocs: list[Allocation], terminal: Terminal, result: NodeReconcileResult,
) -> None:
    """Nomad: NodeReconciler.computeForNode."""
    existing: set[str] = set()
    for alloc in allocs:
        existing.add(alloc.name)
        tg = required.get(alloc.name)
        bucket = _live_bucket(job, node_id, alloc, tg, eligible, not_ready, tainted, result)
        bucket.append(AllocTuple(alloc.name, tg, node_id, alloc))
    if job is None:  # a purged job requires nothing
        return
    for name, tg in required.items():
        if name in existing:
            continue
        previous = terminal.get((node_id, name))
        if job.type == JOB_TYPE_SYSBATCH and previous is not None:
            rerun = job.job_modify_index != previous.job.job_modify_index
            (result.update if rerun else result.ignore).append(AllocTuple(name, tg, node_id, previous))
            continue
        if node_id in tainted or node_id not in eligible:
            continue
        result.place.append(AllocTuple(name, tg, node_id, previous))


def _live_bucket(
    job: Job | None, node_id: str, alloc: Allocation, tg: TaskGroup | None, eligible: set[str],
    not_ready: set[str], tainted: dict[str, Node | None], result: NodeReconcileResult,
) -> list[AllocTuple]:
    """Where one live alloc goes, by Nomad's rules in Nomad's order."""
    if tg is None or job is None:  # (a purged job requires no group)
        return result.stop
    if alloc.desired_transition.migrate:
        return result.migrate
    if alloc.client_status == ALLOC_CLIENT_UNKNOWN and alloc.desired_status == ALLOC_DESIRED_RUN:
        return result.ignore
    if node_id in tainted:
        node = tainted[node_id]
        if alloc.job.type == JOB_TYPE_SYSBATCH and ran_successfully(alloc):
            return result.ignore
        if node is None or node.status == NODE_STATUS_DOWN:
            return result.lost
        return result.ignore
    updated = job.job_modify_index != alloc.job.job_modify_index
    if node_id in not_ready:
        return result.stop if updated else result.ignore
    if node_id not in eligible:
        return result.stop
    return result.update if updated else result.ignore
