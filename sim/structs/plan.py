"""Plans: what a scheduler asks the plan applier to commit. Nomad: nomad/structs/plan.go."""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.structs.alloc import Allocation
from sim.structs.consts import ALLOC_DESIRED_EVICT
from sim.structs.deployment import Deployment, DeploymentStatusUpdate
from sim.structs.job import Job


@dataclass(slots=True)
class DesiredUpdates:
    """Nomad: structs.DesiredUpdates: what the reconciler decided for one group."""

    ignore: int = 0
    place: int = 0
    migrate: int = 0
    stop: int = 0
    in_place_update: int = 0
    destructive_update: int = 0
    canary: int = 0
    preemptions: int = 0
    reschedule_now: int = 0
    reschedule_later: int = 0


@dataclass(slots=True)
class Plan:
    """Nomad: structs.Plan. Stops (NodeUpdate) and placements (NodeAllocation) keyed by node."""

    eval_id: str
    priority: int
    job: Job | None
    all_at_once: bool = False
    node_update: dict[str, list[Allocation]] = field(default_factory=dict)
    node_allocation: dict[str, list[Allocation]] = field(default_factory=dict)
    node_preemptions: dict[str, list[Allocation]] = field(default_factory=dict)
    deployment: Deployment | None = None
    deployment_updates: list[DeploymentStatusUpdate] = field(default_factory=list)
    annotations: dict[str, DesiredUpdates] | None = None
    snapshot_index: int = 0
    # IDs of the allocs the scheduler made for this plan, new to the state (the applier looks up no other)
    new_ids: set[str] | frozenset[str] = frozenset()

    def append_stopped_alloc(self, alloc: Allocation, desc: str, client_status: str = "", followup_eval_id: str = "") -> None:
        """Nomad: Plan.AppendStoppedAlloc. Records the stop; the applier writes it."""
        stop = _copy_alloc(alloc)
        stop.desired_status = "stop"
        stop.desired_description = desc
        if client_status:
            stop.client_status = client_status
        if followup_eval_id:
            stop.followup_eval_id = followup_eval_id
        self.node_update.setdefault(alloc.node_id, []).append(stop)

    def append_preempted_alloc(self, alloc: Allocation, preempting_alloc_id: str) -> None:
        """Nomad: Plan.AppendPreemptedAlloc: the alloc is evicted for `preempting_alloc_id`."""
        evicted = _copy_alloc(alloc)
        evicted.desired_status = ALLOC_DESIRED_EVICT
        evicted.desired_description = f"Preempted by alloc ID {preempting_alloc_id}"
        evicted.preempted_by_allocation = preempting_alloc_id
        self.node_preemptions.setdefault(alloc.node_id, []).append(evicted)

    def append_alloc(self, alloc: Allocation) -> None:
        """Nomad: Plan.AppendAlloc."""
        self.node_allocation.setdefault(alloc.node_id, []).append(alloc)

    def append_allocs(self, allocs: list[Allocation]) -> None:
        """`append_alloc` of each alloc, in order (a run of placements: no call per alloc)."""
        by_node = self.node_allocation
        for alloc in allocs:
            placed = by_node.get(alloc.node_id)
            if placed is None:
                by_node[alloc.node_id] = [alloc]
            else:
                placed.append(alloc)

    def pop_update(self, alloc: Allocation) -> None:
        """Nomad: Plan.PopUpdate: drop the last stop of this alloc (it is updated in place)."""
        updates = self.node_update.get(alloc.node_id, [])
        if updates and updates[-1].id == alloc.id:
            updates.pop()
            if not updates:
                del self.node_update[alloc.node_id]

    def is_no_op(self) -> bool:
        """Nomad: Plan.IsNoOp."""
        return not (self.node_update or self.node_allocation or self.node_preemptions or self.deployment
                    or self.deployment_updates)


@dataclass(slots=True)
class PlanResult:
    """Nomad: structs.PlanResult: what the applier committed, and the refresh index if partial."""

    node_update: dict[str, list[Allocation]] = field(default_factory=dict)
    node_allocation: dict[str, list[Allocation]] = field(default_factory=dict)
    node_preemptions: dict[str, list[Allocation]] = field(default_factory=dict)
    deployment: Deployment | None = None
    deployment_updates: list[DeploymentStatusUpdate] = field(default_factory=list)
    refresh_index: int = 0
    alloc_index: int = 0
    rejected_nodes: list[str] = field(default_factory=list)

    def full_commit(self, plan: Plan) -> tuple[bool, int, int]:
        """Nomad: PlanResult.FullCommit: (all placed?, expected, actual)."""
        expected = sum(len(v) for v in plan.node_allocation.values())
        actual = sum(len(v) for v in self.node_allocation.values())
        return actual == expected, expected, actual

    def made_progress(self) -> bool:
        """Whether anything was committed (the scheduler then resets its attempt counter)."""
        return bool(self.node_update or self.node_allocation or self.node_preemptions or self.deployment
                    or self.deployment_updates)


def _copy_alloc(alloc: Allocation) -> Allocation:
    from dataclasses import replace

    return replace(alloc)
