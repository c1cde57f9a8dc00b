"""Nomad's Preemptor: which allocations on one node to evict so a task group fits.

Nomad: scheduler/preemption.go. Candidates are the node's proposed allocations of other jobs
whose priority is at least 10 below the placing job's, grouped by priority (lowest first). For
resources, each round takes the candidate closest to what is still needed (Euclidean distance
over the relative cpu, memory and disk differences, plus a penalty when its group already lost
`migrate.max_parallel` allocs to this plan) until the freed and free resources cover the ask;
then the picks are re-filtered from the largest down, keeping only as many as the ask needs.
For ports, the holders of the reserved ports asked for are evicted (bandwidth is not modelled).
For a device request, per matching device group of the node the preemptible allocs holding its
instances are taken lowest priority first until enough instances would be free; of those options
the one whose kept victims have the lowest sum of distinct priorities wins (`PreemptForDevice`).
The preemption score (a logistic function of the victims' net priority) ranks such nodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TypeVar

from sim.scheduler.feasible.devices import node_device_matches
from sim.scheduler.feasible.ports import port_ask
from sim.structs.alloc import Allocation
from sim.structs.devices import NodeDeviceResource, RequestedDevice

MIN_PRIORITY_DELTA = 10  # preemptible: job priority at least this much below the placing job's
MAX_PARALLEL_PENALTY = 50.0
PREEMPTION_SCORE_RATE = 0.0048
PREEMPTION_SCORE_ORIGIN = 2048.0

Resources = tuple[float, float, float]  # (cpu MHz, memory MB, disk MB)
T = TypeVar("T")


def resources_of(alloc: Allocation) -> Resources:
    """Nomad: Allocation.ComparableResources (cpu shares, memory, shared disk)."""
    return float(alloc.cpu), float(alloc.memory_mb), float(alloc.disk_mb)


def _plus(a: Resources, b: Resources, sign: float = 1.0) -> Resources:
    return a[0] + sign * b[0], a[1] + sign * b[1], a[2] + sign * b[2]


def superset(available: Resources, ask: Resources) -> bool:
    """Nomad: ComparableResources.Superset over cpu, memory and disk."""
    return available[0] >= ask[0] and available[1] >= ask[1] and available[2] >= ask[2]


def basic_resource_distance(ask: Resources, used: Resources) -> float:
    """Nomad: basicResourceDistance: the distance of `used` from `ask`, relative per dimension."""
    coords = [(a - u) / a if a > 0 else 0.0 for a, u in ((ask[1], used[1]), (ask[0], used[0]), (ask[2], used[2]))]
    return math.sqrt(sum(c * c for c in coords))


def score_for_task_group(ask: Resources, used: Resources, max_parallel: int, preempted: int) -> float:
    """Nomad: scoreForTaskGroup: the distance plus the max_parallel penalty."""
    penalty = 0.0
    if max_parallel > 0 and preempted >= max_parallel:
        penalty = float(preempted + 1 - max_parallel) * MAX_PARALLEL_PENALTY
    return basic_resource_distance(ask, used) + penalty


def net_priority(allocs: list[Allocation]) -> float:
    """Nomad: netPriority: the highest victim priority plus the sum of priorities over it."""
    highest = float(max(a.job.priority for a in allocs))
    return highest + sum(a.job.priority for a in allocs) / highest


def preemption_score(priority: float) -> float:
    """Nomad: preemptionScore: 1 / (1 + e^(0.0048 (netPriority - 2048))), 0.5 at 2048."""
    return 1.0 / (1.0 + math.exp(PREEMPTION_SCORE_RATE * (priority - PREEMPTION_SCORE_ORIGIN)))


def by_priority(job_priority: int, items: Iterable[T], priority: Callable[[T], int]) -> list[list[T]]:
    """Nomad: filterAndGroupPreemptibleAllocs: those at least MIN_PRIORITY_DELTA below
    `job_priority`, grouped by priority, lowest first (in their order within a group)."""
    groups: dict[int, list[T]] = {}
    for item in items:
        p = priority(item)
        if job_priority - p >= MIN_PRIORITY_DELTA:
            groups.setdefault(p, []).append(item)
    return [groups[p] for p in sorted(groups)]


def reserved_ports(alloc: Allocation) -> set[int]:
    """The static ports of the alloc's group network (Nomad: the alloc's ReservedPorts)."""
    tg = alloc.job.lookup_task_group(alloc.task_group)
    return {value for _, value in port_ask(tg).reserved} if tg is not None else set()


def _has_network(alloc: Allocation) -> bool:
    tg = alloc.job.lookup_task_group(alloc.task_group)
    return tg is not None and bool(tg.networks)


def _max_parallel(alloc: Allocation) -> int:
    tg = alloc.job.lookup_task_group(alloc.task_group)
    return tg.migrate.max_parallel if tg is not None and tg.migrate is not None else 0


@dataclass(slots=True)
class _Candidate:
    alloc: Allocation
    resources: Resources
    max_parallel: int


class Preemptor:
    """Nomad: Preemptor, for one node and one placing job."""

    def __init__(self, job_priority: int, namespace: str, job_id: str, node_remaining: Resources,
                 current_preemptions: Iterable[Allocation] = ()) -> None:
        self.job_priority = job_priority
        self.job_key = (namespace, job_id)
        self.node_remaining = node_remaining  # Nomad: the node's resources less its reserved ones
        self.preempted: dict[tuple[str, str, str], int] = {}  # SetPreemptions: per (ns, job, group)
        for a in current_preemptions:
            key = (a.namespace, a.job_id, a.task_group)
            self.preempted[key] = self.preempted.get(key, 0) + 1
        self.candidates: list[_Candidate] = []

    def set_candidates(self, allocs: Iterable[Allocation]) -> None:
        """Nomad: SetCandidates: the node's allocs, less the placing job's own."""
        self.candidates = [
            _Candidate(a, resources_of(a), _max_parallel(a))
            for a in allocs if (a.namespace, a.job_id) != self.job_key
        ]

    def _preemptions(self, alloc: Allocation) -> int:
        return self.preempted.get((alloc.namespace, alloc.job_id, alloc.task_group), 0)

    def _by_priority(self, candidates: list[_Candidate]) -> list[list[_Candidate]]:
        """Nomad: filterAndGroupPreemptibleAllocs: the preemptible ones, grouped, lowest priority first."""
        return by_priority(self.job_priority, candidates, lambda c: c.alloc.job.priority)

    def preempt_for_task_group(self, ask: Resources) -> list[Allocation]:
        """Nomad: PreemptForTaskGroup: the allocs to evict so `ask` fits, or [] when impossible.

        Like Nomad, the node's remaining resources are its capacity less the candidates (the
        placing job's own allocs are not subtracted).
        """
        remaining = self.node_remaining
        for c in self.candidates:
            remaining = _plus(remaining, c.resources, -1.0)
        available, needed = remaining, ask
        best: list[_Candidate] = []
        met = False
        for group in self._by_priority(self.candidates):
            while group and not met:
                closest, best_distance = -1, math.inf
                for i, c in enumerate(group):
                    d = score_for_task_group(needed, c.resources, c.max_parallel, self._preemptions(c.alloc))
                    if d < best_distance:
                        closest, best_distance = i, d
                chosen = group[closest]
                available = _plus(available, chosen.resources)
                met = superset(available, ask)
                best.append(chosen)
                group[closest] = group[-1]  # Nomad removes by swapping in the last one
                group.pop()
                needed = _plus(needed, chosen.resources, -1.0)
            if met:
                break
        if not met:
            return []
        return self._filter_superset(best, remaining, ask)

    def _filter_superset(self, best: list[_Candidate], remaining: Resources, ask: Resources) -> list[Allocation]:
        """Nomad: filterSuperset: the picks farthest from the ask first, until the ask is met."""
        ordered = sorted(best, key=lambda c: -basic_resource_distance(ask, c.resources))
        available = remaining
        out: list[Allocation] = []
        for c in ordered:
            out.append(c.alloc)
            available = _plus(available, c.resources)
            if superset(available, ask):
                break
        return out

    def preempt_for_network(self, ports: Iterable[int]) -> list[Allocation]:
        """Nomad: PreemptForNetwork with no bandwidth asked: the preemptible holders of the
        reserved ports asked for; [] when a port is held by an alloc that may not be preempted,
        or nothing needs evicting."""
        wanted = list(ports)
        if not wanted:
            return []
        holders: dict[int, Allocation] = {}
        protected: set[int] = set()
        any_preemptible = False
        for c in self.candidates:
            if not _has_network(c.alloc):
                continue
            held = reserved_ports(c.alloc)
            if self.job_priority - c.alloc.job.priority < MIN_PRIORITY_DELTA:
                protected.update(held)
                continue
            any_preemptible = True
            for port in held:
                holders[port] = c.alloc
        if not any_preemptible:
            return []
        out: list[Allocation] = []
        for port in wanted:
            alloc = holders.get(port)
            if alloc is not None:
                if all(a.id != alloc.id for a in out):
                    out.append(alloc)
            elif port in protected:
                return []
        return out

    def preempt_for_device(self, ask: RequestedDevice, devices: Sequence[NodeDeviceResource],
                           used: AbstractSet[str]) -> list[Allocation]:
        """Nomad: PreemptForDevice: the allocs to evict so `ask` gets enough instances of one
        matching device group, or [] when no group can free enough. `used`: the instances the
        node's device allocator holds (the node's allocs and this group's earlier offers).

        Per device group (node order; Nomad iterates a map), the candidates holding its
        instances, an alloc once with all its instances there, are taken lowest priority first
        until held plus free instances cover the ask; then `select_best_allocs`."""
        by_id = {d.id_tuple(): d for d in devices}
        holders: dict[tuple[str, str, str], dict[str, tuple[Allocation, int]]] = {}
        for c in self.candidates:
            for held in c.alloc.devices:
                key = (held.vendor, held.type, held.name)
                device = by_id.get(key)
                if device is None or not node_device_matches(device, ask):
                    continue
                on_device = holders.setdefault(key, {})
                alloc, count = on_device.get(c.alloc.id, (c.alloc, 0))
                on_device[c.alloc.id] = (alloc, count + len(held.device_ids))
        options: list[list[tuple[Allocation, int]]] = []
        for device in devices:
            holding = holders.get(device.id_tuple())
            if not holding:
                continue
            free = sum(1 for i in device.instance_ids if i not in used)
            freed, chosen = 0, []
            groups = by_priority(self.job_priority, holding.values(), lambda h: h[0].job.priority)
            for holder in (h for group in groups for h in group):
                freed += holder[1]
                chosen.append(holder)
                if freed + free >= ask.count:
                    options.append(chosen)
                    break
        return select_best_allocs(options, ask.count)


def select_best_allocs(options: list[list[tuple[Allocation, int]]], needed: int) -> list[Allocation]:
    """Nomad: selectBestAllocs: each option's allocs by instances held, most first (a stable
    sort; Nomad's is not), kept until they hold `needed`; the option whose kept allocs have the
    lowest sum of distinct priorities wins (the first of equals)."""
    best: list[Allocation] = []
    best_priority = math.inf
    for option in options:
        kept: list[Allocation] = []
        priorities: set[int] = set()
        held = 0
        for alloc, count in sorted(option, key=lambda h: -h[1]):
            if held >= needed:
                break
            held += count
            kept.append(alloc)
            priorities.add(alloc.job.priority)
        if sum(priorities) < best_priority:
            best_priority, best = sum(priorities), kept
    return best
