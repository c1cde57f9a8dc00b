"""The BinPack stage with eviction on: nodes that are full for a group become options when
Nomad's preemptor finds allocations to evict there.

Nomad: scheduler/rank.go, BinPackIterator.Next with `evict` set, and PreemptionScoringIterator.
The chunk first goes through the ordinary stages (stack_group.evaluate_chunk); only the nodes
exhausted by ports or AllocsFit are looked at again, one by one, so a select that needs no
eviction costs one extra check per chunk. A node whose ports cannot be freed is passed over
without an exhaustion metric, as Nomad's evict path does; a node whose resources cannot be freed
is exhausted as before. An option that evicts is scored on the node's usage with the victims
still counted (as Nomad's AllocsFit utilisation is), plus, in the generic stack, the preemption
score of its victims' net priority.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

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
from sim.structs.job import Job

if TYPE_CHECKING:
    from sim.scheduler.feasible.proposed import ProposedState

NodeAllocs = Callable[[str], list[Allocation]]  # the state's allocs on a node (Nomad: AllocsByNode)


@dataclass(slots=True)
class Eviction:
    """What the evict path needs beyond the stack: the state's allocs per node, the placing job,
    whether options get the preemption score, and the plan's preemptions so far."""

    node_allocs: NodeAllocs
    job: Job
    scored: bool
    preempted: list[Allocation] = field(default_factory=list)


def proposed_allocs(proposed: ProposedState, node_allocs: NodeAllocs, node_id: str) -> list[Allocation]:
    """Nomad: EvalContext.ProposedAllocs: the node's live allocs less the plan's stops and
    preemptions, plus the plan's placements (an in-place update replaces its alloc)."""
    out: dict[str, Allocation] = {}
    for a in node_allocs(node_id):
        if not a.terminal() and not proposed.is_stopped(a):
            out[a.id] = a
    for a in proposed.placed:
        if a.node_id == node_id and not proposed.is_stopped(a):
            out[a.id] = a
    return list(out.values())


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
    victims: dict[int, tuple[list[Allocation], int]] = {}  # chunk position -> (victims, how many for ports)
    for j in exhausted.tolist():
        found = _preempt_on_node(stack, g, int(rows[j]), reasons.labels[reason[j]], eviction)
        if isinstance(found, tuple):
            status[j], reason[j] = RANKED, -1
            victims[j] = found
        elif found == "ports":
            status[j] = UNCOUNTED
        else:
            reason[j] = reasons.code(found)
    ranked = np.flatnonzero(status == RANKED)
    ranked_rows = rows[ranked]
    used_after = stack.proposed.used[ranked_rows]
    used_after += g.ask
    column = np.zeros(len(ranked)) if eviction.scored else None
    preempted: dict[int, tuple[list[Allocation], int]] = {}
    for k, j in enumerate(ranked.tolist()):
        found_victims = victims.get(j)
        if found_victims is None:
            continue
        preempted[k] = found_victims
        allocs, for_ports = found_victims
        for a in allocs[:for_ports]:  # port victims leave the node before AllocsFit is computed
            used_after[k] -= resources_of(a)
        if column is not None:
            column[k] = preemption_score(net_priority(allocs))
    cap = stack.table.cap[ranked_rows]
    scores, lowest_after = stack.score_chunk(g, ranked_rows, used_after, cap, lowest, penalty, preemption=column)
    out = ChunkResult(rows, status, reason, ranked, scores, lowest_after)
    out.preempted = preempted
    return out


def _preempt_on_node(
    stack: ScoringStack, g: GroupInputs, row: int, failure: str, eviction: Eviction,
) -> tuple[list[Allocation], int] | str:
    """The victims on one node (all, and how many of them free ports), or why there are none:
    "ports" (passed over) or the exhausted dimension."""
    proposed, table = stack.proposed, stack.table
    job = eviction.job
    node = table.nodes[row]
    current = proposed_allocs(proposed, eviction.node_allocs, node.id)
    cap = table.cap[row]
    preemptor = Preemptor(job.priority, job.namespace, job.id, (float(cap[0]), float(cap[1]), float(cap[2])),
                          eviction.preempted)
    used = proposed.used[row].copy()
    port_victims: list[Allocation] = []
    if failure.startswith("network:"):
        preemptor.set_candidates(current)
        port_victims = preemptor.preempt_for_network(v for _, v in g.ports.reserved)
        if not port_victims:
            return "ports"
        gone = {a.id for a in port_victims}
        current = [a for a in current if a.id not in gone]
        freed = {p for a in port_victims for _, p in a.ports}
        left = {p for p in proposed.ports.used(row) if p not in freed}
        if check_ports(left, node.min_dynamic_port, node.max_dynamic_port, g.ports) is not None:
            return "ports"
        for a in port_victims:
            used -= resources_of(a)
    after = used + g.ask
    over = np.flatnonzero(after > cap)
    if len(over) == 0:
        return port_victims, len(port_victims)
    preemptor.set_candidates(current)
    ask = (float(g.ask[0]), float(g.ask[1]), float(g.ask[2]))
    fit_victims = preemptor.preempt_for_task_group(ask)
    if not fit_victims:
        return DIMENSIONS[int(over[0])]
    return port_victims + fit_victims, len(port_victims)
