"""The BinPack stage with eviction on: nodes that are full for a group become options when
Nomad's preemptor finds allocations to evict there.

Nomad: scheduler/rank.go, BinPackIterator.Next with `evict` set, and PreemptionScoringIterator.
The chunk first goes through the ordinary stages (stack_group.evaluate_chunk); only the nodes
exhausted by ports, task networks, devices or AllocsFit are looked at again, one by one, in
Nomad's order: the group network's static ports and each task network (PreemptForNetwork), each
device request (PreemptForDevice), then AllocsFit (PreemptForTaskGroup), each step's victims
leaving the node before the next step. So a select that needs no eviction costs one extra check
per chunk. A node whose networks or devices cannot be freed is passed over without an exhaustion
metric, as Nomad's evict path does; a node whose resources cannot be freed is exhausted as
before. An option that evicts is scored on the node's usage with the AllocsFit victims still
counted (as Nomad's AllocsFit utilisation is; the network and device victims are gone by then),
plus, in the generic stack, the preemption score of its victims' net priority.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from sim.scheduler.feasible.bandwidth import (
    NetworkIndex,
    NodeAllocs,
    offer_task_networks,
    proposed_allocs,
)
from sim.scheduler.feasible.devices import assign_device
from sim.scheduler.feasible.ports import check_ports
from sim.scheduler.feasible.rank import DIMENSIONS
from sim.scheduler.feasible.select import EXHAUSTED, RANKED, UNCOUNTED, ChunkResult, ReasonCodes
from sim.scheduler.feasible.stack_group import GroupInputs, ScoringStack, evaluate_chunk
from sim.scheduler.preemption.preemptor import (
    Preemptor,
    net_priority,
    preemption_score,
    resources_of,
)
from sim.structs.alloc import Allocation
from sim.structs.devices import NodeDeviceResource
from sim.structs.job import Job
from sim.structs.networks import AllocatedNetwork, TaskNetworkAsk
from sim.structs.node import Node

if TYPE_CHECKING:
    from sim.scheduler.feasible.proposed import ProposedState


@dataclass(slots=True)
class Eviction:
    """What the evict path needs beyond the stack: the state's allocs per node, the placing job,
    whether options get the preemption score, and the plan's preemptions so far."""

    node_allocs: NodeAllocs
    job: Job
    scored: bool
    preempted: list[Allocation] = field(default_factory=list)


@dataclass(slots=True)
class _Found:
    """The victims on one node: those that leave before AllocsFit (port, task network, then
    device victims) come first; `device_score`: the device affinity score of the node's offer."""

    victims: list[Allocation]
    before_fit: int
    device_score: float | None


def evaluate_evict(
    stack: ScoringStack, g: GroupInputs, rows: np.ndarray, lowest: float, penalty: np.ndarray,
    reasons: ReasonCodes, eviction: Eviction,
) -> ChunkResult:
    """`evaluate_chunk` with eviction: the exhausted nodes where the preemptor frees enough rank too."""
    result = evaluate_chunk(stack, g, rows, lowest, penalty, reasons)
    exhausted = np.flatnonzero(result.status == EXHAUSTED)
    if len(exhausted) == 0:
        return result
    status, reason = result.status.copy(), result.reason.copy()
    found: dict[int, _Found] = {}  # chunk position -> its victims
    for j in exhausted.tolist():
        outcome = _preempt_on_node(stack, g, int(rows[j]), eviction)
        if isinstance(outcome, _Found):
            status[j], reason[j] = RANKED, -1
            found[j] = outcome
        elif outcome == PASSED_OVER:
            status[j] = UNCOUNTED
        else:
            reason[j] = reasons.code(outcome)
    ranked = np.flatnonzero(status == RANKED)
    ranked_rows = rows[ranked]
    used_after = stack.proposed.used[ranked_rows]
    used_after += g.ask
    column = np.zeros(len(ranked)) if eviction.scored else None
    devices = _device_scores(result, ranked)
    preempted: dict[int, tuple[list[Allocation], int]] = {}
    for k, j in enumerate(ranked.tolist()):
        option = found.get(j)
        if option is None:
            continue
        preempted[k] = (option.victims, option.before_fit)
        for a in option.victims[:option.before_fit]:  # these leave the node before AllocsFit
            used_after[k] -= resources_of(a)
        if column is not None:
            column[k] = preemption_score(net_priority(option.victims))
        if devices is not None:
            devices[k] = option.device_score or 0.0
    cap = stack.table.cap[ranked_rows]
    scores, lowest_after = stack.score_chunk(g, ranked_rows, used_after, cap, lowest, penalty, devices, column)
    out = ChunkResult(rows, status, reason, ranked, scores, lowest_after)
    out.preempted = preempted
    return out


PASSED_OVER = "passed over"  # Nomad's evict path: `continue OUTER` without an exhaustion metric


def _device_scores(result: ChunkResult, ranked: np.ndarray) -> np.ndarray | None:
    """The device affinity column for the new ranked positions: the first pass's scores where it
    ranked the node already (None when the group's requests have no affinities)."""
    first = result.scores.devices
    if first is None:
        return None
    out = np.zeros(len(ranked))
    out[np.isin(ranked, result.ranked)] = first[np.isin(result.ranked, ranked)]
    return out


def _preempt_on_node(stack: ScoringStack, g: GroupInputs, row: int, eviction: Eviction) -> _Found | str:
    """The victims on one node, or why there are none: PASSED_OVER or the exhausted dimension.

    Nomad: BinPackIterator.Next with evict set, for one node."""
    proposed, table = stack.proposed, stack.table
    job = eviction.job
    node = table.nodes[row]
    current = proposed_allocs(proposed, eviction.node_allocs, node.id)
    cap = table.cap[row]
    preemptor = Preemptor(job.priority, job.namespace, job.id, (float(cap[0]), float(cap[1]), float(cap[2])),
                          eviction.preempted)
    used = proposed.used[row].copy()
    victims: list[Allocation] = []
    if g.ports and check_ports(proposed.ports.used(row), node.min_dynamic_port, node.max_dynamic_port, g.ports):
        index = NetworkIndex(node, current)
        preemptor.set_candidates(current)
        mbits = g.tg.networks[0].mbits
        victims = preemptor.preempt_for_network(mbits, (v for _, v in g.ports.reserved), index.avail,
                                                index.used_bandwidth)
        if not victims:
            return PASSED_OVER
        current = _without(current, victims)
        freed = {p for a in victims for _, p in a.ports}
        left = {p for p in proposed.ports.used(row) if p not in freed}
        if check_ports(left, node.min_dynamic_port, node.max_dynamic_port, g.ports) is not None:
            return PASSED_OVER
    if g.task_networks and node.resources.networks:
        left_allocs = _offer_task_networks(preemptor, node, g, current, victims)
        if left_allocs is None:
            return PASSED_OVER
        current = left_allocs
    device_score = None
    if g.devices:
        offered = _offer_devices(preemptor, node.resources.devices, proposed.held_devices(row), g, current, victims)
        if offered is None:
            return PASSED_OVER
        current, device_score = offered
    for a in victims:
        used -= resources_of(a)
    before_fit = len(victims)
    over = np.flatnonzero(used + g.ask > cap)
    if len(over) == 0:
        return _Found(victims, before_fit, device_score)
    preemptor.set_candidates(current)
    ask = (float(g.ask[0]), float(g.ask[1]), float(g.ask[2]))
    fit_victims = preemptor.preempt_for_task_group(ask)
    if not fit_victims:
        return DIMENSIONS[int(over[0])]
    return _Found(victims + fit_victims, before_fit, device_score)


def _offer_devices(
    preemptor: Preemptor, devices: Sequence[NodeDeviceResource], held: AbstractSet[str], g: GroupInputs,
    current: list[Allocation], victims: list[Allocation],
) -> tuple[list[Allocation], float | None] | None:
    """Nomad: BinPackIterator's device loop with evict set: each request offered by the node's
    allocator (`held`, which still counts the port victims, plus this group's earlier offers);
    one it cannot meet evicts PreemptForDevice's victims (appended to `victims`) and is offered
    again by an allocator without any victim so far. None when a request cannot be met;
    else the allocs left on the node and the device affinity score."""
    taken: set[str] = set()
    total_weight = matched = 0.0
    for _, req in g.devices:
        found = assign_device(devices, held, taken, req)
        if isinstance(found, str):
            preemptor.set_candidates(current)
            evicted = preemptor.preempt_for_device(req, devices, held | taken)
            if not evicted:
                return None
            victims.extend(evicted)
            current = _without(current, evicted)
            found = assign_device(devices, held - _instances(victims), taken, req)
            if isinstance(found, str):
                return None
        offer, weights = found
        taken.update(offer.device_ids)
        if req.affinities:
            total_weight += sum(abs(float(a.weight)) for a in req.affinities)
            matched += weights
    return current, (matched / total_weight if total_weight else None)


def _offer_task_networks(
    preemptor: Preemptor, node: Node, g: GroupInputs, current: list[Allocation], victims: list[Allocation],
) -> list[Allocation] | None:
    """Nomad: BinPackIterator's task networks with evict set: each task's ask offered by the
    network index; one it cannot meet evicts PreemptForNetwork's victims (appended to
    `victims`) and is offered again by an index without them (which keeps this group's earlier
    offers, where Nomad's fresh index forgets them). None when an ask cannot be met; else the
    allocs left on the node."""
    index = NetworkIndex(node, current)
    offers: list[AllocatedNetwork] = []
    for ask in g.task_networks:
        offer = index.assign(ask)
        if isinstance(offer, str):
            preemptor.set_candidates(current)
            evicted = preemptor.preempt_for_network(ask.mbits, (v for _, v in ask.reserved_ports), index.avail,
                                                    index.used_bandwidth)
            if not evicted:
                return None
            victims.extend(evicted)
            current = _without(current, evicted)
            index = NetworkIndex(node, current)
            for earlier in offers:
                index.add(earlier)
            offer = index.assign(ask)
            if isinstance(offer, str):
                return None
        index.add(offer)
        offers.append(offer)
    return current


def task_network_offer(
    proposed: ProposedState, node_allocs: NodeAllocs | None, node: Node, asks: Sequence[TaskNetworkAsk],
    victims: tuple[list[Allocation], int] | None, rng: np.random.Generator,
) -> tuple[AllocatedNetwork, ...]:
    """The final task networks' offer on a ranked node, without the victims that left before
    AllocsFit (Nomad: the offer BinPack made), dynamic ports drawn from `rng`."""
    allocs = proposed_allocs(proposed, node_allocs, node.id)
    if victims is not None and victims[1]:
        allocs = _without(allocs, victims[0][:victims[1]])
    offer = offer_task_networks(node, allocs, asks, rng)
    if isinstance(offer, str):
        raise RuntimeError(f"node {node.id} ranked without a task network offer: {offer}")
    return offer


def _instances(allocs: list[Allocation]) -> set[str]:
    return {i for a in allocs for d in a.devices for i in d.device_ids}


def _without(allocs: list[Allocation], gone: list[Allocation]) -> list[Allocation]:
    """Nomad: structs.RemoveAllocs."""
    ids = {a.id for a in gone}
    return [a for a in allocs if a.id not in ids]


def freed_for_offer(g: GroupInputs, victims: tuple[list[Allocation], int]) -> tuple[set[int], set[str]]:
    """What the final offer on an evicting node may reuse: the port victims' ports (Nomad offers
    the ports again after PreemptForNetwork) and, when a device request evicted, the device
    instances of every victim before AllocsFit (Nomad's retried device offer)."""
    before_fit = victims[0][:victims[1]]
    wanted = {v for _, v in g.ports.reserved}
    port_victims = [a for a in before_fit if wanted and any(p in wanted for _, p in a.ports)]
    ports = {p for a in port_victims for _, p in a.ports}
    devices = _instances(before_fit) if len(port_victims) < len(before_fit) else set()
    return ports, devices
