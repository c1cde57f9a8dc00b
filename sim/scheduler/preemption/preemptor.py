"""Nomad's Preemptor: which allocations on one node to evict so a task group fits.

Nomad: scheduler/preemption.go. Candidates are the node's proposed allocations of other jobs
whose priority is at least 10 below the placing job's, grouped by priority (lowest first). For
resources, each round takes the candidate closest to what is still needed (Euclidean distance
over the relative cpu, memory and disk differences, plus a penalty when its group already lost
`migrate.max_parallel` allocs to this plan) until the freed and free resources cover the ask;
then the picks are re-filtered from the largest down, keeping only as many as the ask needs.
For a network ask (the group network's static ports, or a task network's ports and MBits), the
holders of the asked ports on one device, then the closest in bandwidth (`PreemptForNetwork`).
For a device request, per matching device group of the node the preemptible allocs holding its
instances are taken lowest priority first until enough instances would be free; of those options
the one whose kept victims have the lowest sum of distinct priorities wins (`PreemptForDevice`).
The preemption score (a logistic function of the victims' net priority) ranks such nodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from typing import TypeVar

from sim.scheduler.feasible.devices import node_device_matches
from sim.scheduler.feasible.ports import port_ask
from sim.structs.alloc import Allocation
from sim.structs.devices import NodeDeviceResource, RequestedDevice
from sim.structs.networks import AllocatedNetwork, group_network

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


def _penalty(max_parallel: int, preempted: int) -> float:
    """Nomad's max_parallel penalty: 50 per alloc of the group preempted beyond max_parallel - 1."""
    if max_parallel > 0 and preempted >= max_parallel:
        return float(preempted + 1 - max_parallel) * MAX_PARALLEL_PENALTY
    return 0.0


def score_for_task_group(ask: Resources, used: Resources, max_parallel: int, preempted: int) -> float:
    """Nomad: scoreForTaskGroup: the distance plus the max_parallel penalty."""
    return basic_resource_distance(ask, used) + _penalty(max_parallel, preempted)


def network_distance(used: int, needed: int) -> float:
    """Nomad: networkResourceDistance: |needed - used| / needed in MBits (infinite when no
    MBits are asked: Go's float division by zero)."""
    if needed == 0:
        return math.inf
    return abs((needed - used) / needed)


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


def flattened_networks(alloc: Allocation) -> list[AllocatedNetwork]:
    """Nomad: ComparableResources().Flattened.Networks: the alloc's task networks (task order),
    then its group network with its static ports, merged per device (MBits and ports added)."""
    tg = alloc.job.lookup_task_group(alloc.task_group)
    nets = list(alloc.networks)
    shared = group_network(tg, port_ask(tg).reserved if tg is not None else ())
    if shared is not None:
        nets.append(shared)
    merged: dict[str, AllocatedNetwork] = {}
    for n in nets:
        m = merged.get(n.device)
        merged[n.device] = n if m is None else replace(
            m, mbits=m.mbits + n.mbits, reserved_ports=m.reserved_ports + n.reserved_ports,
            dynamic_ports=m.dynamic_ports + n.dynamic_ports)
    return list(merged.values())


def _max_parallel(alloc: Allocation) -> int:
    tg = alloc.job.lookup_task_group(alloc.task_group)
    return tg.migrate.max_parallel if tg is not None and tg.migrate is not None else 0


@dataclass(slots=True)
class _Candidate:
    alloc: Allocation
    resources: Resources
    max_parallel: int


@dataclass(slots=True, eq=False)
class _Holder:
    """A candidate on a network device, with its flattened networks (the first one's device)."""

    candidate: _Candidate
    networks: list[AllocatedNetwork]

    @property
    def mbits(self) -> int:
        return self.networks[0].mbits


def _filter_network_superset(chosen: list[_Holder], device: str, free: int, mbits: int) -> list[Allocation]:
    """Nomad: filterSuperset with the network factory: farthest in MBits first, kept until the
    device's free bandwidth plus theirs meets the ask (never, when no MBits are asked)."""
    available = free
    out: list[Allocation] = []
    for h in sorted(chosen, key=lambda h: -network_distance(h.mbits, mbits)):
        out.append(h.candidate.alloc)
        available += sum(n.mbits for n in h.networks if n.device == device)
        if available != 0 and mbits != 0 and available >= mbits:
            break
    return out


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

    def preempt_for_network(self, mbits: int, ports: Iterable[int], avail: Mapping[str, int],
                            used: Mapping[str, int]) -> list[Allocation]:
        """Nomad: PreemptForNetwork: the allocs to evict on one network device so the ask's
        reserved `ports` are free and `mbits` fit, or [] when none can. `avail` and `used`: the
        network index's bandwidth per device (AvailBandwidth, UsedBandwidth).

        Candidates are grouped by the device of their first flattened network (devices in the
        candidates' order; Nomad iterates a map); a device without the bandwidth asked is
        skipped, as is one where an asked port is held by an alloc that may not be preempted.
        The holders of the asked ports go first; then, lowest priority first and closest in
        MBits first, others until the free and freed bandwidth cover the ask. Then the picks
        farthest in MBits first, kept until they cover it (all of them when no MBits are asked)."""
        if not self.candidates:
            return []
        wanted = list(ports)
        by_device: dict[str, list[_Holder]] = {}
        protected: dict[str, set[int]] = {}
        for c in self.candidates:
            nets = flattened_networks(c.alloc)
            if not nets:
                continue
            if self.job_priority - c.alloc.job.priority < MIN_PRIORITY_DELTA:
                protected.setdefault(nets[0].device, set()).update(v for _, v in nets[0].reserved_ports)
                continue
            by_device.setdefault(nets[0].device, []).append(_Holder(c, nets))
        for device, holders in by_device.items():
            total = avail.get(device, 0)
            if total < mbits:
                continue
            free = total - used.get(device, 0)
            chosen = self._port_holders(wanted, holders, protected.get(device, set()))
            if chosen is None:
                continue
            freed = sum(h.mbits for h in chosen)
            if freed + free < mbits:
                left = [h for h in holders if all(h is not x for x in chosen)]
                for group in by_priority(self.job_priority, left, lambda h: h.candidate.alloc.job.priority):
                    group.sort(key=lambda h: self._network_score(h, mbits))
                    for h in group:
                        freed += h.mbits
                        chosen.append(h)
                        if freed + free >= mbits:
                            break
                    if freed + free >= mbits:
                        break
            if freed + free >= mbits:
                return _filter_network_superset(chosen, device, free, mbits)
        return []

    def _port_holders(self, wanted: list[int], holders: list[_Holder], protected: set[int]) -> list[_Holder] | None:
        """The holders of the asked ports on one device (each once), or None when a port is held
        by an alloc that may not be preempted."""
        if not wanted:
            return []
        by_port = {v: h for h in holders for n in h.networks for _, v in n.reserved_ports}
        chosen: list[_Holder] = []
        for port in wanted:
            h = by_port.get(port)
            if h is None:
                if port in protected:
                    return None
            elif all(h is not x for x in chosen):
                chosen.append(h)
        return chosen

    def _network_score(self, h: _Holder, mbits: int) -> float:
        """Nomad: scoreForNetwork: the MBits distance plus the max_parallel penalty."""
        c = h.candidate
        return network_distance(h.mbits, mbits) + _penalty(c.max_parallel, self._preemptions(c.alloc))

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
