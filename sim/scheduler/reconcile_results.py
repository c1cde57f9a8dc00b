"""What the reconciler decides, and the state it carries from one task group to the next.

Nomad: scheduler/reconciler/reconcile_cluster.go (ReconcileResults, ReconcilerState,
ClusterState) and allocs.go (AllocPlaceResult, allocDestructiveResult, AllocStopResult).
The public classes are re-exported by sim.scheduler.reconcile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sim.structs.alloc import Allocation
from sim.structs.deployment import Deployment, DeploymentStatusUpdate
from sim.structs.evaluation import Evaluation
from sim.structs.job import Job, TaskGroup
from sim.structs.node import Node
from sim.structs.plan import DesiredUpdates

AllocUpdateFn = Callable[[Allocation, Job, TaskGroup], tuple[bool, bool, Allocation | None]]
"""(existing, new_job, new_tg) -> (ignore, destructive, updated_alloc_for_inplace).

Nomad: reconciler.AllocUpdateType.
"""


@dataclass(slots=True)
class PlacementRequest:
    """One alloc to place. Nomad: AllocPlaceResult."""

    name: str  # "<job>.<group>[<index>]"
    task_group: TaskGroup
    canary: bool = False
    previous_alloc: Allocation | None = None
    reschedule: bool = False
    lost: bool = False
    downgrade_non_canary: bool = False
    min_job_version: int = 0


@dataclass(slots=True)
class DestructiveUpdate:
    """Stop `stop_alloc` and place its replacement, atomically. Nomad: allocDestructiveResult."""

    place_name: str
    task_group: TaskGroup
    stop_alloc: Allocation
    stop_description: str  # ALLOC_UPDATING


@dataclass(slots=True)
class StopRequest:
    """One alloc to stop. Nomad: AllocStopResult."""

    alloc: Allocation
    client_status: str  # "" or "lost"
    description: str
    followup_eval_id: str = ""


@dataclass(slots=True)
class ReconcileResults:
    """Everything the generic scheduler applies after reconciling. Nomad: ReconcileResults."""

    place: list[PlacementRequest] = field(default_factory=list)
    destructive_update: list[DestructiveUpdate] = field(default_factory=list)
    inplace_update: list[Allocation] = field(default_factory=list)  # copies with the new job set
    stop: list[StopRequest] = field(default_factory=list)
    attribute_updates: dict[str, Allocation] = field(
        default_factory=dict
    )  # id -> copy with followup_eval_id
    deployment: Deployment | None = None  # a new deployment to create
    deployment_updates: list[DeploymentStatusUpdate] = field(default_factory=list)
    desired_tg_updates: dict[str, DesiredUpdates] = field(default_factory=dict)
    desired_followup_evals: dict[str, list[Evaluation]] = field(default_factory=dict)

    def merge(self, other: ReconcileResults) -> None:
        """Add one group's results to these. Nomad: ReconcileResults.Merge."""
        if other.deployment is not None:
            self.deployment = other.deployment
        self.deployment_updates.extend(other.deployment_updates)
        self.place.extend(other.place)
        self.destructive_update.extend(other.destructive_update)
        self.inplace_update.extend(other.inplace_update)
        self.stop.extend(other.stop)
        self.attribute_updates.update(other.attribute_updates)
        self.desired_tg_updates.update(other.desired_tg_updates)
        self.desired_followup_evals.update(other.desired_followup_evals)


@dataclass(slots=True)
class ReconcileContext:
    """The reconciler's inputs plus the deployment state it updates across groups.

    Nomad: ReconcilerState and ClusterState. `deployment_current` starts as the job's live
    deployment (a private copy) and becomes the new deployment once a group creates one.
    """

    job: Job
    job_id: str
    batch: bool
    eval_id: str
    eval_priority: int
    now: float
    tainted_nodes: dict[str, Node | None]
    alloc_update_fn: AllocUpdateFn
    new_id: Callable[[], str]
    supports_disconnected: bool = False
    deployment_old: Deployment | None = None
    deployment_current: Deployment | None = None
    deployment_paused: bool = False
    deployment_failed: bool = False
