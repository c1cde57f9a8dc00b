"""Deployments of a job version. Nomad: nomad/structs/deployment.go."""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.structs.consts import DEPLOYMENT_ACTIVE, DEPLOYMENT_RUNNING, DESC_DEPLOYMENT_RUNNING


@dataclass(slots=True)
class DeploymentState:
    """Nomad: structs.DeploymentState: one task group's progress. Times in simulated seconds."""

    auto_revert: bool = False
    auto_promote: bool = False
    progress_deadline: float = 0.0
    require_progress_by: float = 0.0
    promoted: bool = False
    placed_canaries: list[str] = field(default_factory=list)
    desired_canaries: int = 0
    desired_total: int = 0
    placed_allocs: int = 0
    healthy_allocs: int = 0
    unhealthy_allocs: int = 0


@dataclass(slots=True)
class Deployment:
    """Nomad: structs.Deployment."""

    id: str
    namespace: str
    job_id: str
    job_version: int
    job_modify_index: int
    job_spec_modify_index: int
    job_create_index: int
    task_groups: dict[str, DeploymentState] = field(default_factory=dict)
    status: str = DEPLOYMENT_RUNNING
    status_description: str = DESC_DEPLOYMENT_RUNNING
    eval_priority: int = 0
    create_index: int = 0
    modify_index: int = 0
    create_time: float = 0.0
    modify_time: float = 0.0

    def active(self) -> bool:
        """Nomad: Deployment.Active."""
        return self.status in DEPLOYMENT_ACTIVE

    def requires_promotion(self) -> bool:
        """Nomad: Deployment.RequiresPromotion: some group has unpromoted canaries."""
        return any(s.desired_canaries > 0 and not s.promoted for s in self.task_groups.values())

    def has_auto_promote(self) -> bool:
        """Nomad: Deployment.HasAutoPromote: every canary group auto-promotes."""
        groups = [s for s in self.task_groups.values() if s.desired_canaries > 0]
        return bool(groups) and all(s.auto_promote for s in groups)


@dataclass(slots=True)
class DeploymentStatusUpdate:
    """Nomad: structs.DeploymentStatusUpdate."""

    deployment_id: str
    status: str
    status_description: str
