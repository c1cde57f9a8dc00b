"""The deployment watcher: health, promotion, progress deadlines and auto-revert.

Nomad: nomad/deploymentwatcher/deployment_watcher.go. Event-driven rather than one goroutine per
deployment: client health reports and plan commits call in, and each active deployment with a
progress deadline has at most one pending deadline timer. Evals asking the scheduler to roll the
next batch are batched per job for `deployment_eval_batch_period` (Nomad: perJobEvalBatchPeriod).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.errors import ValidationError
from sim.structs.codec import copy_job, jobs_spec_equal
from sim.structs.consts import (
    DEPLOYMENT_FAILED,
    DEPLOYMENT_PAUSED,
    DEPLOYMENT_RUNNING,
    DESC_DEPLOYMENT_FAILED_ALLOCATIONS,
    DESC_DEPLOYMENT_FAILED_BY_USER,
    DESC_DEPLOYMENT_PAUSED,
    DESC_DEPLOYMENT_PROGRESS_DEADLINE,
    DESC_DEPLOYMENT_RUNNING,
    TRIGGER_DEPLOYMENT_WATCHER,
)
from sim.structs.deployment import Deployment

if TYPE_CHECKING:
    from sim.server.server import Server


class DeploymentWatcher:
    """Watches every active deployment of one server."""

    def __init__(self, server: Server):
        self.server = server
        self._eval_pending: set[tuple[str, str]] = set()
        self._deadline_at: dict[str, float] = {}
        server.plan_watchers.append(self)

    # -- inputs -----------------------------------------------------------------------------

    def on_plan_applied(self, plan, result, placed, stopped) -> None:
        """A plan may have created a deployment or placed allocs: (re)arm its deadline."""
        if result.deployment is not None:
            self._arm_deadline(result.deployment)
        for dep_id in sorted({a.deployment_id for a in placed if a.deployment_id}):
            dep = self.server.state.deployment_by_id(dep_id)
            if dep is not None and dep.active():
                self._arm_deadline(dep)

    def on_alloc_health(self, allocs: list) -> None:
        """Client health verdicts arrived (already written to the state)."""
        state = self.server.state
        for dep_id in sorted({a.deployment_id for a in allocs if a.deployment_id}):
            dep = state.deployment_by_id(dep_id)
            if dep is None or not dep.active():
                continue
            unhealthy = [a for a in allocs if a.deployment_id == dep_id and a.is_unhealthy()]
            if unhealthy and self._should_fail_early(dep, unhealthy):
                self._fail(dep, DESC_DEPLOYMENT_FAILED_ALLOCATIONS)
                continue
            if unhealthy:
                state.update_alloc_desired_transition(unhealthy, reschedule=True)
            if dep.status == DEPLOYMENT_RUNNING and dep.has_auto_promote() and self._canaries_healthy(dep):
                self._promote(dep)
            self._arm_deadline(dep)
            self._request_eval(dep)

    # -- API --------------------------------------------------------------------------------

    def promote(self, deployment_id: str, groups: list[str] | None = None) -> int:
        """Nomad: Deployment.Promote (all groups, or the named ones)."""
        dep = self._active(deployment_id)
        if not dep.requires_promotion():
            raise ValidationError("DeploymentID", "no canaries to promote")
        for name, group in sorted(dep.task_groups.items()):
            if groups and name not in groups or group.desired_canaries == 0:
                continue
            healthy = sum(1 for a in group.placed_canaries if _healthy(self.server.state.alloc_by_id(a)))
            if healthy < group.desired_canaries:
                raise ValidationError("DeploymentID", f'Task group "{name}" has {healthy}/{group.desired_canaries} healthy allocations')
        return self._promote(dep, groups)

    def fail(self, deployment_id: str) -> int:
        """Nomad: Deployment.Fail (manual), rolling back if the groups auto-revert."""
        return self._fail(self._active(deployment_id), DESC_DEPLOYMENT_FAILED_BY_USER)

    def pause(self, deployment_id: str, pause: bool) -> int:
        """Nomad: Deployment.Pause: pause or resume."""
        dep = self._active(deployment_id)
        status, desc = (DEPLOYMENT_PAUSED, DESC_DEPLOYMENT_PAUSED) if pause else (DEPLOYMENT_RUNNING, _running_desc(dep))
        index = self.server.state.update_deployment_status(dep.id, status, desc)
        if not pause:
            self._request_eval(dep)
        return index

    def _active(self, deployment_id: str) -> Deployment:
        dep = self.server.state.deployment_by_id(deployment_id)
        if dep is None:
            raise ValidationError("DeploymentID", f"deployment not found: {deployment_id}")
        if not dep.active():
            raise ValidationError("DeploymentID", "can't promote terminal deployment" if dep else "")
        return dep

    # -- decisions --------------------------------------------------------------------------

    def _should_fail_early(self, dep: Deployment, unhealthy: list) -> bool:
        """Nomad: shouldFailEarly: no progress deadline, or an alloc that can't be rescheduled."""
        for alloc in unhealthy:
            group = dep.task_groups.get(alloc.task_group)
            if group is None or group.progress_deadline == 0:
                return True
            tg = alloc.job.lookup_task_group(alloc.task_group)
            policy = tg.reschedule_policy if tg else None
            if policy is None or not (policy.unlimited or policy.attempts > len(alloc.reschedule_tracker)):
                return True
        return False

    def _canaries_healthy(self, dep: Deployment) -> bool:
        state = self.server.state
        for group in dep.task_groups.values():
            if group.desired_canaries == 0 or group.promoted:
                continue
            if len(group.placed_canaries) < group.desired_canaries:
                return False
            if not all(_healthy(state.alloc_by_id(a)) for a in group.placed_canaries):
                return False
        return True

    def _promote(self, dep: Deployment, groups: list[str] | None = None) -> int:
        now = self.server.env.now
        for name, group in dep.task_groups.items():
            if groups and name not in groups:
                continue
            group.promoted = True
            if group.progress_deadline > 0:
                group.require_progress_by = now + group.progress_deadline
        dep.status_description = DESC_DEPLOYMENT_RUNNING
        ev = self.server.new_eval(self._job(dep), TRIGGER_DEPLOYMENT_WATCHER, deployment_id=dep.id)
        index = self.server.state.upsert_deployment(dep)
        self.server.create_evals([ev])
        self._arm_deadline(dep)
        return index

    def _fail(self, dep: Deployment, base: str) -> int:
        """Fail the deployment; with auto-revert, re-register the latest stable version."""
        state, server = self.server.state, self.server
        job = self._job(dep)
        desc, rollback = base, None
        if any(g.auto_revert for g in dep.task_groups.values()):
            desc, rollback = self._rollback(dep, base)
        index = state.update_deployment_status(dep.id, DEPLOYMENT_FAILED, desc)
        self._deadline_at.pop(dep.id, None)
        if rollback is not None:
            server.jobs.register(rollback, admitted=True)
        else:
            server.create_evals([server.new_eval(job, TRIGGER_DEPLOYMENT_WATCHER, deployment_id=dep.id)])
        return index

    def _rollback(self, dep: Deployment, base: str):
        """Nomad: latestStableJob + the rollback descriptions."""
        state = self.server.state
        current = state.job_by_id(dep.namespace, dep.job_id)
        stable = next((v for v in state.job_versions(dep.namespace, dep.job_id)
                       if v.stable and v.version != dep.job_version), None)
        if stable is None or current is None:
            return f"{base} - no stable job version to auto revert to", None
        if jobs_spec_equal(stable, current):
            return f"{base} - not rolling back to stable job version {stable.version} as current job has same specification", None
        job = copy_job(stable)
        job.stable = False
        job.version_tag = None
        return f"{base} - rolling back to job version {stable.version}", job

    # -- progress deadline ------------------------------------------------------------------

    def _arm_deadline(self, dep: Deployment) -> None:
        """Make sure a timer fires at the earliest RequireProgressBy of an unfinished group."""
        pending = [g.require_progress_by for g in dep.task_groups.values()
                   if g.progress_deadline > 0 and g.require_progress_by > 0 and not self._group_done(dep, g)]
        if not pending:
            return
        at = min(pending)
        if self._deadline_at.get(dep.id) == at:
            return
        self._deadline_at[dep.id] = at
        self.server.env.process(self._deadline(dep.id, at))

    def _deadline(self, dep_id: str, at: float):
        env = self.server.env
        if at > env.now:
            yield env.timeout(at - env.now)
        dep = self.server.state.deployment_by_id(dep_id)
        if dep is None or not dep.active() or self._deadline_at.get(dep_id) != at:
            return
        self._deadline_at.pop(dep_id, None)
        if dep.status == DEPLOYMENT_PAUSED:
            return
        if any(self._group_failed(g) for g in dep.task_groups.values() if g.require_progress_by and g.require_progress_by <= env.now):
            self._fail(dep, DESC_DEPLOYMENT_PROGRESS_DEADLINE)
        else:
            self._arm_deadline(dep)

    def _group_done(self, dep: Deployment, group) -> bool:
        promoted_or_none = group.desired_canaries == 0 or group.promoted
        return promoted_or_none and group.healthy_allocs >= group.desired_total

    @staticmethod
    def _group_failed(group) -> bool:
        """Nomad: deploymentWatcher.shouldFail for one group."""
        if group.desired_canaries > 0 and not group.promoted:
            return group.healthy_allocs < group.desired_canaries
        return group.healthy_allocs < group.desired_total

    # -- evals ------------------------------------------------------------------------------

    def _request_eval(self, dep: Deployment) -> None:
        """Nomad: createBatchedUpdate: one deployment-watcher eval per job per batch period."""
        key = (dep.namespace, dep.job_id)
        if key in self._eval_pending:
            return
        self._eval_pending.add(key)
        self.server.env.process(self._batched_eval(key, dep.id))

    def _batched_eval(self, key: tuple[str, str], dep_id: str):
        yield self.server.env.timeout(self.server.config.deployment_eval_batch_period)
        self._eval_pending.discard(key)
        job = self.server.state.job_by_id(*key)
        if job is not None:
            self.server.create_evals([self.server.new_eval(job, TRIGGER_DEPLOYMENT_WATCHER, deployment_id=dep_id)])

    def _job(self, dep: Deployment):
        return self.server.state.job_by_id(dep.namespace, dep.job_id)


def _healthy(alloc) -> bool:
    return alloc is not None and alloc.is_healthy()


def _running_desc(dep: Deployment) -> str:
    """The description of a running deployment, by what it still waits for."""
    from sim.structs.consts import (
        DESC_DEPLOYMENT_RUNNING_AUTO_PROMOTION,
        DESC_DEPLOYMENT_RUNNING_NEEDS_PROMOTION,
    )

    if dep.requires_promotion():
        return DESC_DEPLOYMENT_RUNNING_AUTO_PROMOTION if dep.has_auto_promote() else DESC_DEPLOYMENT_RUNNING_NEEDS_PROMOTION
    return DESC_DEPLOYMENT_RUNNING
