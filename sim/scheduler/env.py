"""What a scheduler gets from the world around it, and what it hands back.

Nomad: scheduler/scheduler.go. Nomad builds each scheduler with a State (a snapshot to read)
and a Planner (SubmitPlan, UpdateEval, CreateEval, ReblockEval). Here `SchedulerState` is the
State interface (the state store, or a read-only view of it for the plan endpoint) and
`SchedulerEnv` carries it with the rng stream, the id source, the simulated clock and the
configured algorithm, policy and preemption switches (the scheduler configuration of the pass). The planner side is a generator protocol: a scheduler yields
each plan and receives its PlanResult (SubmitPlan), and returns a `SchedulerOutcome`, which the
caller writes as UpdateEval / CreateEval / ReblockEval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from sim.state.node_table import NodeTable
from sim.structs.alloc import Allocation
from sim.structs.deployment import Deployment
from sim.structs.evaluation import Evaluation
from sim.structs.ids import IdGenerator
from sim.structs.job import Job
from sim.structs.node import Node
from sim.structs.plan import Plan
from sim.structs.scheduler_config import PreemptionConfig

if TYPE_CHECKING:
    from sim.scheduler.policies import Policy


class SchedulerState(Protocol):
    """What the schedulers read of the cluster state (sim.state.store.StateStore provides it).

    Nomad: scheduler.State. The reconciler's settled-alloc index also uses the store's
    incremental reads when the state has them (reconciler/settled.py, `job_allocs`).
    """

    @property
    def index(self) -> int:
        """The index of the latest write (the snapshot's index)."""
        ...

    @property
    def nodes(self) -> NodeTable:
        """Every node, as numpy columns."""
        ...

    def node_by_id(self, node_id: str) -> Node | None:
        """The node with this ID, or None."""
        ...

    def job_by_id(self, namespace: str, job_id: str) -> Job | None:
        """The job's current version, or None."""
        ...

    def job_by_version(self, namespace: str, job_id: str, version: int) -> Job | None:
        """One tracked version of the job, or None."""
        ...

    def allocs_by_job(self, namespace: str, job_id: str) -> list[Allocation]:
        """Every alloc of the job (terminal too), in creation order."""
        ...

    def allocs_by_node(self, node_id: str) -> list[Allocation]:
        """Every alloc on the node (terminal too)."""
        ...

    def deployments_by_job(self, namespace: str, job_id: str) -> list[Deployment]:
        """Every deployment of the job."""
        ...

    def latest_deployment(self, namespace: str, job_id: str) -> Deployment | None:
        """The job's most recent deployment, or None."""
        ...


@dataclass(slots=True)
class SchedulerEnv:
    """What a scheduler reads besides the eval: state, rng, ids, clock and knobs."""

    state: SchedulerState
    rng: np.random.Generator
    ids: IdGenerator
    now: float
    algorithm: str = "binpack"
    policy: Policy | None = None
    preemption: PreemptionConfig = field(default_factory=PreemptionConfig)


@dataclass(slots=True)
class SchedulerOutcome:
    """What the worker writes once the scheduler is done with an eval.

    `eval` is the updated eval (Nomad: Planner.UpdateEval), or with `reblock` the blocked eval to
    hand back to the blocked tracker (Planner.ReblockEval). `create_evals` are the evals the
    scheduler created, in creation order (Planner.CreateEval).
    """

    eval: Evaluation
    create_evals: list[Evaluation] = field(default_factory=list)
    reblock: bool = False
    placed: int = 0
    failed_placements: int = 0
    plan: Plan | None = None  # the last plan (for annotate/dry runs)
