"""The deployment table of the state store: deployments by ID and job, the log of their status
changes, and the per-group counters that placements and client health verdicts move.

Nomad: nomad/state/state_store.go upsertDeploymentImpl, updateDeploymentStatusImpl and
updateDeploymentWithAlloc. The store (sim.state.store) owns one table and calls it inside its
writes; marking a successful deployment's job version stable is the store's (a job write).
"""

from __future__ import annotations

from collections import defaultdict

from sim.structs.alloc import Allocation, AllocDeploymentStatus
from sim.structs.deployment import Deployment
from sim.structs.job import JobKey

# (time, deployment ID, job ID, job version, status, description): one status change
DeploymentLogRow = tuple[float, str, str, int, str, str]


class DeploymentTable:
    """Every deployment, indexed by job, with the log of status changes (`deployment_events`)."""

    def __init__(self) -> None:
        self.by_id: dict[str, Deployment] = {}
        self.by_job: dict[JobKey, dict[str, Deployment]] = defaultdict(dict)
        self.log: list[DeploymentLogRow] = []

    def put(self, deployment: Deployment, index: int, now: float) -> None:
        """Store a new or changed deployment (create index and time kept from the stored one)."""
        old = self.by_id.get(deployment.id)
        deployment.create_index = old.create_index if old else index
        deployment.create_time = old.create_time if old else now
        deployment.modify_index = index
        deployment.modify_time = now
        self.by_id[deployment.id] = deployment
        self.by_job[(deployment.namespace, deployment.job_id)][deployment.id] = deployment
        self._log(deployment, now)

    def set_status(self, deployment_id: str, status: str, description: str, index: int, now: float) -> Deployment:
        """Nomad: updateDeploymentStatusImpl. Returns the changed deployment."""
        dep = self.by_id[deployment_id]
        dep.status = status
        dep.status_description = description
        dep.modify_index = index
        dep.modify_time = now
        self._log(dep, now)
        return dep

    def _log(self, dep: Deployment, now: float) -> None:
        last = self.log[-1] if self.log else None
        row = (now, dep.id, dep.job_id, dep.job_version, dep.status, dep.status_description)
        if last is None or last[1:] != row[1:]:
            self.log.append(row)

    def on_new_alloc(self, alloc: Allocation, now: float) -> None:
        """Count a placement in the alloc's deployment. Nomad: updateDeploymentWithAlloc (placement)."""
        dep = self.by_id.get(alloc.deployment_id)
        state = dep.task_groups.get(alloc.task_group) if dep else None
        if state is None:
            return
        state.placed_allocs += 1
        if alloc.is_canary():
            state.placed_canaries.append(alloc.id)
        if state.progress_deadline > 0 and state.require_progress_by == 0:
            state.require_progress_by = now + state.progress_deadline

    def set_alloc_health(self, alloc: Allocation, healthy: bool, index: int, now: float) -> None:
        """Record a client's health verdict on the alloc and count it in the deployment.
        Nomad: updateDeploymentWithAlloc (health change)."""
        status = alloc.deployment_status
        if status is None:
            status = alloc.deployment_status = AllocDeploymentStatus()
        previous = status.healthy
        status.healthy = healthy
        status.timestamp = now
        status.modify_index = index
        dep = self.by_id.get(alloc.deployment_id)
        if dep is None or previous == healthy:
            return
        state = dep.task_groups.get(alloc.task_group)
        if state is None:
            return
        if previous is not None:
            if previous:
                state.healthy_allocs -= 1
            else:
                state.unhealthy_allocs -= 1
        if healthy:
            state.healthy_allocs += 1
            if state.progress_deadline > 0:
                state.require_progress_by = max(state.require_progress_by, now + state.progress_deadline)
        else:
            state.unhealthy_allocs += 1
        dep.modify_index = index
        dep.modify_time = now
