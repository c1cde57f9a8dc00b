"""The plan queue and the serial plan applier.

Nomad: nomad/plan_queue.go, nomad/plan_apply.go. Workers schedule against what the state was when
they dequeued; the applier re-checks every node a plan places on against the latest state, commits
what still fits (a partial commit answers with a refresh index so the worker retries), and
publishes each commit as an `AppliedPlan` to its subscribers, in the order they subscribed (the
server's metrics, the clients, the deployment watcher).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Generator
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np
import simpy

from sim.state.store import StateStore
from sim.structs.alloc import Allocation
from sim.structs.consts import (
    ALLOC_CLIENT_LOST,
    ALLOC_CLIENT_UNKNOWN,
    NODE_ELIGIBLE,
    NODE_STATUS_DISCONNECTED,
    NODE_STATUS_DOWN,
    NODE_STATUS_READY,
)
from sim.structs.plan import Plan, PlanResult


def evaluate_node_plan(state: StateStore, plan: Plan, node_id: str) -> tuple[bool, str]:
    """Nomad: evaluateNodePlan: does this node still take what the plan puts on it?"""
    placing = plan.node_allocation.get(node_id)
    if not placing:
        return True, ""
    node = state.node_by_id(node_id)
    if node is None:
        return False, "node does not exist"
    if node.status in (NODE_STATUS_DOWN, NODE_STATUS_DISCONNECTED):
        # Nomad: isValidForDownNode: only updates marking allocs lost or unknown land there.
        valid = all(a.client_status in (ALLOC_CLIENT_LOST, ALLOC_CLIENT_UNKNOWN) for a in placing)
        return valid, "" if valid else "node is down"
    if node.status != NODE_STATUS_READY:
        return False, "node is not ready for placements"
    stored = state.alloc_by_id
    existing = []
    updates_only = True  # every placement is an alloc already on this node (an in-place update)
    has_ports = has_devices = False
    for alloc in placing:
        current = stored(alloc.id)
        existing.append(current)
        if current is None or current.node_id != node_id:
            updates_only = False
        if alloc.ports:
            has_ports = True
        if alloc.devices:
            has_devices = True
    if updates_only:
        return True, ""
    if node.scheduling_eligibility != NODE_ELIGIBLE:
        return False, "node is not eligible"
    table = state.nodes
    row = table.index_of[node_id]
    (cap_cpu, cap_mem, cap_disk), (used_cpu, used_mem, used_disk) = table.cap[row].tolist(), table.used[row].tolist()
    cpu, mem, disk = cap_cpu - used_cpu, cap_mem - used_mem, cap_disk - used_disk
    # ports matter only when a placement asks: the node's set (not copied) less `freed` plus `added`
    freed: set[int] = set()
    freed_devices: set[str] = set()
    stopping = plan.node_update.get(node_id)
    preempted = plan.node_preemptions.get(node_id)
    if preempted:  # Nomad: evaluateNodePlan removes the plan's preemptions with its stops
        stopping = (stopping or []) + preempted
    for current in [stored(a.id) for a in stopping] + existing if stopping else existing:
        if current is not None and not current.terminal():
            cpu, mem, disk = cpu + current.cpu, mem + current.memory_mb, disk + current.disk_mb
            if has_ports and current.ports:
                freed.update([p for _, p in current.ports])
            if has_devices and current.devices:
                freed_devices.update(i for d in current.devices for i in d.device_ids)

    if has_ports:
        base = table.used_ports[row]
        added: set[int] = set()
        for alloc in placing:
            for _, port in alloc.ports:
                if port in added or (port in base and port not in freed):
                    return False, "network: port collision"
                added.add(port)
    for alloc in placing:
        cpu, mem, disk = cpu - alloc.cpu, mem - alloc.memory_mb, disk - alloc.disk_mb
    if cpu < 0:
        return False, "cpu"
    if mem < 0:
        return False, "memory"
    if disk < 0:
        return False, "disk"
    if has_devices and _double_books(table.used_devices[row], freed_devices, placing):
        return False, "device oversubscribed"
    return True, ""


def _double_books(held: set[str], freed: set[str], placing: list[Allocation]) -> bool:
    """Nomad: AllocsFit's DeviceAccounter collision: an instance held by a live alloc the plan
    keeps, or given to two of the plan's allocs."""
    added: set[str] = set()
    for alloc in placing:
        for d in alloc.devices:
            for i in d.device_ids:
                if i in added or (i in held and i not in freed):
                    return True
                added.add(i)
    return False


def fit_new_allocs(state: StateStore, plan: Plan) -> dict[str, bool]:
    """`evaluate_node_plan`'s verdict on each node where the plan only adds new allocs (nothing
    stopped or preempted there, no ports or devices asked) and that is ready, decided together
    with array ops: each node's free capacity less its new allocs' asks, one alloc at a time in
    plan order, as the per-node check subtracts them. The other nodes are left out. (A plan of
    up to `_FEW` allocs is decided in Python floats: the same operations, without numpy's per-call cost.)"""
    table, placing_of, update, preempted = state.nodes, plan.node_allocation, plan.node_update, plan.node_preemptions
    nodes = list(placing_of.keys() - update.keys() - preempted.keys() if update or preempted else placing_of)
    if not nodes:
        return {}
    groups = [placing_of[node_id] for node_id in nodes]
    allocs = list(chain.from_iterable(groups))
    # a placement that asks ports or devices, or updates an alloc in state, leaves its node to the
    # per-node check (the state is not asked about the allocs the scheduler made: `plan.new_ids`)
    new = plan.new_ids.issuperset(map(_ID, allocs)) if plan.new_ids else False
    other = [False] * len(allocs) if new else state.holds_allocs(map(_ID, allocs))
    if any(map(_PORTS, allocs)) or any(map(_DEVICES, allocs)):
        other = [known or bool(a.ports or a.devices) for known, a in zip(other, allocs, strict=True)]
    if len(allocs) <= _FEW:
        return _fit_each(state, nodes, groups, other)
    index_of = table.index_of
    rows = np.array([index_of.get(node_id, -1) for node_id in nodes], dtype=np.intp)
    sizes = np.fromiter(map(len, groups), dtype=np.intp, count=len(groups))
    owner = np.repeat(np.arange(len(nodes)), sizes)
    ok = (rows >= 0) & (np.bincount(owner, weights=np.array(other, dtype=bool), minlength=len(nodes)) == 0)
    ok[ok] = table.ready[rows[ok]]  # ready: registered, status ready, eligible (and not draining)
    asks = np.fromiter(chain.from_iterable(map(_ASK, allocs)), dtype=np.float64, count=3 * len(allocs)).reshape(-1, 3)
    free = table.cap[rows] - table.used[rows]
    np.subtract.at(free, owner, asks)  # unbuffered, in plan order: each node's allocs one at a time
    fits: list[bool] = np.all(free >= 0, axis=1).tolist()
    return {node_id: fit for node_id, fit, known in zip(nodes, fits, ok.tolist(), strict=True) if known}


_FEW = 64


def _fit_each(state: StateStore, nodes: list[str], groups: list[list[Allocation]], other: list[bool]) -> dict[str, bool]:
    """`fit_new_allocs` a node at a time in Python floats (float64, as the arrays: the same results)."""
    table = state.nodes
    index_of, ready, cap, used = table.index_of, table.ready, table.cap, table.used
    out: dict[str, bool] = {}
    end = 0
    for node_id, allocs in zip(nodes, groups, strict=True):
        start, end = end, end + len(allocs)
        row = index_of.get(node_id)
        if row is None or any(other[start:end]) or not ready[row]:
            continue
        (cpu, mem, disk), (used_cpu, used_mem, used_disk) = cap[row].tolist(), used[row].tolist()
        cpu, mem, disk = cpu - used_cpu, mem - used_mem, disk - used_disk
        for alloc in allocs:
            cpu, mem, disk = cpu - alloc.cpu, mem - alloc.memory_mb, disk - alloc.disk_mb
        out[node_id] = cpu >= 0 and mem >= 0 and disk >= 0
    return out


_ASK = attrgetter("cpu", "memory_mb", "disk_mb")
_ID, _CREATED = attrgetter("id"), attrgetter("create_index")
_PORTS, _DEVICES = attrgetter("ports"), attrgetter("devices")


def evaluate_plan(state: StateStore, plan: Plan) -> PlanResult:
    """Nomad: evaluatePlanPlacements: keep the nodes that fit; partial commit otherwise."""
    result = PlanResult(deployment=plan.deployment, deployment_updates=list(plan.deployment_updates))
    partial = False
    node_ids = sorted(plan.node_update.keys() | plan.node_allocation.keys() if plan.node_update else plan.node_allocation)
    decided = fit_new_allocs(state, plan)
    if len(decided) == len(node_ids) and all(decided.values()):  # the usual plan: new allocs, and they all fit
        result.node_allocation = {node_id: plan.node_allocation[node_id] for node_id in node_ids}
        return result
    for node_id in node_ids:
        fits = decided.get(node_id)
        if fits is None:
            fits, _reason = evaluate_node_plan(state, plan, node_id)
        if not fits:
            partial = True
            result.rejected_nodes.append(node_id)
            if plan.all_at_once:
                return PlanResult(refresh_index=state.index, rejected_nodes=result.rejected_nodes)
            continue
        if node_id in plan.node_update:
            result.node_update[node_id] = plan.node_update[node_id]
        if node_id in plan.node_allocation:
            result.node_allocation[node_id] = plan.node_allocation[node_id]
        if node_id in plan.node_preemptions:  # Nomad: applyPlan keeps those not terminal by now
            live = [a for a in plan.node_preemptions[node_id] if _live(state, a)]
            result.node_preemptions[node_id] = live
    if partial:
        result.refresh_index = state.index
    return result


def _live(state: StateStore, alloc: Allocation) -> bool:
    stored = state.alloc_by_id(alloc.id)
    return stored is not None and not stored.terminal()


def apply_plan(state: StateStore, plan: Plan) -> tuple[PlanResult, list[Allocation], list[Allocation]]:
    """Evaluate and commit a plan in one state write. Returns (result, placed, stopped); the
    stopped allocs include the evicted ones (desired status evict)."""
    result = evaluate_plan(state, plan)
    placed = list(chain.from_iterable(result.node_allocation.values()))
    stopped = list(chain.from_iterable(result.node_update.values()))
    stopped += chain.from_iterable(result.node_preemptions.values())
    if placed or stopped or result.deployment or result.deployment_updates:
        result.alloc_index = state.upsert_plan_results(placed, stopped, result.deployment,
                                                       result.deployment_updates, plan.eval_id)
    return result, placed, stopped


@dataclass(frozen=True, slots=True)
class AppliedPlan:
    """One committed plan: the plan, the applier's answer, and the allocs placed and stopped;
    `new`: every placed alloc is a new one this commit stored (each is the stored object, with an
    ID the state never held before), none an in-place update."""

    plan: Plan
    result: PlanResult
    placed: list[Allocation]
    stopped: list[Allocation]
    new: bool = False


PlanSubscriber = Callable[[AppliedPlan], None]


class PlanQueue:
    """Nomad: PlanQueue + planApply: plans by priority then FIFO, applied one at a time."""

    def __init__(self, env: simpy.Environment, state: StateStore, latency: float):
        self.env = env
        self.state = state
        self.latency = latency
        self._subscribers: list[PlanSubscriber] = []
        self._heap: list[tuple[int, int, Plan, simpy.Event]] = []
        self._seq = itertools.count()
        self._wakeup: simpy.Event | None = None
        self.applied = 0
        env.process(self._run())

    def submit(self, plan: Plan) -> simpy.Event:
        """Queue a plan; the event fires with its PlanResult once applied."""
        done = self.env.event()
        heapq.heappush(self._heap, (-plan.priority, next(self._seq), plan, done))
        if self._wakeup is not None and not self._wakeup.triggered:
            self._wakeup.succeed()
        return done

    def subscribe(self, subscriber: PlanSubscriber) -> None:
        """Call `subscriber` with every plan committed from now on, after the earlier subscribers."""
        self._subscribers.append(subscriber)

    def depth(self) -> int:
        """Plans waiting to be applied."""
        return len(self._heap)

    def _run(self) -> Generator[simpy.Event, Any, None]:
        while True:
            if not self._heap:
                self._wakeup = self.env.event()
                yield self._wakeup
                continue
            _, _, plan, done = heapq.heappop(self._heap)
            if self.latency > 0:
                yield self.env.timeout(self.latency)
            result, placed, stopped = apply_plan(self.state, plan)
            self.applied += 1
            # (only `AllocTable.insert` sets a create index: to this commit's, on the object it stores)
            new = all(map(result.alloc_index.__eq__, map(_CREATED, placed)))
            applied = AppliedPlan(plan, result, placed, stopped, new)
            for subscriber in self._subscribers:
                subscriber(applied)
            done.succeed(result)
