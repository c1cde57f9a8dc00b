"""Recording a placement that evicts: the plan's preemptions and the placed alloc's list.

Nomad: scheduler/generic_sched.go handlePreemptions and the same block of the system
scheduler's computePlacements (Plan.AppendPreemptedAlloc, Allocation.PreemptedAllocations and,
for an annotated plan, DesiredTGUpdates.Preemptions).
"""

from __future__ import annotations

from sim.scheduler.feasible.stack import GenericStack, RankedNode, SystemStack
from sim.structs.alloc import Allocation
from sim.structs.plan import DesiredUpdates, Plan


def record_preemptions(
    plan: Plan, stack: GenericStack | SystemStack, option: RankedNode, alloc: Allocation, desired: DesiredUpdates | None,
) -> None:
    """Evict the option's victims for `alloc` in the plan and the stack (nothing when it evicts none)."""
    victims = option.preempted_allocs
    if not victims:
        return
    for victim in victims:
        plan.append_preempted_alloc(victim, alloc.id)
        stack.preempt(victim)
        if desired is not None:
            desired.preemptions += 1
    alloc.preempted_allocations = [v.id for v in victims]
