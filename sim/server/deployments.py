"""The deployment watcher: health, promotion, progress deadlines and auto-revert.

Nomad: nomad/deploymentwatcher/deployment_watcher.go. Nomad runs one goroutine per active
deployment that blocks on its allocs and on a deadline timer. Here the same decisions are
event-driven: client health reports (`on_alloc_health`, from the node endpoint) and plan commits
(`on_plan_applied`, subscribed to the plan applier) call in, and each active deployment has at
most one live deadline timer, re-armed only when its progress cutoff moves (Nomad:
`currentDeadline`). Evals that ask the scheduler for the next batch are batched per deployment
for `batch_period` (Nomad: perJobEvalBatchPeriod), and carry the allocs the watcher allows to be
replaced (Nomad: outstandingAllowReplacements).

Each failure path ends in `_fail`: status `failed` with Nomad's description, plus, when the
failing groups auto-revert, the latest stable job version re-registered as a new version.

Wiring: `DeploymentWatcher(env, state, raft, clock, batch_period)`: deployments and allocs are
written to the state, evals and rollback jobs through `raft` (the server's FSM).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import simpy

from sim.errors import ValidationError
from sim.scheduler.reconciler.reschedule import reschedule_eligible
from sim.server.clock import Clock
from sim.server.deployment_rules import (
    AllocVerdict,
    done_groups,
    group_should_fail,
    latest_eval_index,
    multierror,
    progress_cutoff,
    promotion_errors,
    rollback_description,
)
from sim.server.fsm import EvalCreator
from sim.state.store import StateStore
from sim.structs.codec import copy_job
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
from sim.structs.deployment import Deployment, DeploymentState

if TYPE_CHECKING:
    from sim.server.plan_apply import AppliedPlan
    from sim.structs.alloc import Allocation
    from sim.structs.evaluation import Evaluation
    from sim.structs.job import Job


class DeploymentRaftEndpoints(EvalCreator, Protocol):
    """The watcher's evals and rollback jobs. Nomad: deployments_watcher.go, DeploymentRaftEndpoints."""

    def write_job(self, job: Job, evals: list[Evaluation]) -> int: ...


@dataclass(slots=True)
class _Watch:
    """What the watcher remembers of one active deployment (Nomad: a deploymentWatcher)."""

    cutoff: float = 0.0  # the progress deadline the timer is armed for (0: none yet)
    timer: int = 0  # generation of the live deadline timer; older timers are stale
    deadline_hit: bool = False  # never reset: later failures read as progress-deadline ones
    batch_pending: bool = False
    replacements: tuple[str, ...] = ()


class DeploymentWatcher:
    """Watches every active deployment of one server."""

    def __init__(self, env: simpy.Environment, state: StateStore, raft: DeploymentRaftEndpoints, clock: Clock,
                 batch_period: float):
        self.env = env
        self.state = state
        self.raft = raft
        self.clock = clock
        self.batch_period = batch_period  # Nomad: perJobEvalBatchPeriod
        self._watches: dict[str, _Watch] = {}
        self.reverted_versions: dict[str, int] = {}  # failed deployment -> stable version re-registered

    # -- inputs -----------------------------------------------------------------------------

    def on_plan_applied(self, applied: AppliedPlan) -> None:
        """A plan may have created, finished or placed into deployments: follow their deadlines."""
        result = applied.result
        ids = {a.deployment_id for a in applied.placed if a.deployment_id}
        ids.update(u.deployment_id for u in result.deployment_updates)
        if result.deployment is not None:
            ids.add(result.deployment.id)
        for dep_id in sorted(ids):
            self._deployment_changed(dep_id)

    def on_alloc_health(self, allocs: list[Allocation]) -> None:
        """Client health verdicts arrived (already written to the state).

        Nomad: deploymentWatcher.watch, the alloc-update branch: fail, auto-promote, or ask the
        scheduler to go on (and allow unhealthy allocs to be replaced).
        """
        for dep_id in sorted({a.deployment_id for a in allocs if a.deployment_id}):
            dep = self.state.deployment_by_id(dep_id)
            if dep is None or not dep.active():
                continue
            verdict = self._handle_alloc_update(dep)
            if verdict.fail:
                self._fail_watched(dep, verdict.rollback)
                continue
            self._auto_promote(dep)
            if verdict.create_eval or verdict.allow_replacements:
                self._batched_update(dep, verdict.allow_replacements)
            self._deployment_changed(dep.id)

    # -- API --------------------------------------------------------------------------------

    def promote(self, deployment_id: str, groups: list[str] | None = None) -> int:
        """Nomad: Deployment.Promote (all groups, or the named ones); returns the write's index.

        Raises:
            ValidationError: unknown or terminal deployment, or too few healthy canaries.
        """
        dep = self._active(deployment_id, "promote")
        errors = promotion_errors(dep, self._deployment_allocs(dep), groups)
        if errors:
            raise ValidationError("DeploymentID", multierror(errors))
        return self._promote(dep, groups)

    def fail(self, deployment_id: str) -> int:
        """Nomad: Deployment.Fail (manual), rolling back if any group auto-reverts."""
        dep = self._active(deployment_id, "fail")
        rollback = any(g.auto_revert for g in dep.task_groups.values())
        return self._fail(dep, DESC_DEPLOYMENT_FAILED_BY_USER, rollback)

    def pause(self, deployment_id: str, pause: bool) -> int:
        """Nomad: Deployment.Pause: pause, or resume with an eval; either restarts the deadlines."""
        dep = self._active(deployment_id, "pause" if pause else "resume")
        status, desc = (DEPLOYMENT_PAUSED, DESC_DEPLOYMENT_PAUSED) if pause else (DEPLOYMENT_RUNNING, DESC_DEPLOYMENT_RUNNING)
        now = self.env.now
        for group in dep.task_groups.values():  # Nomad: updateDeploymentStatusImpl
            if group.progress_deadline > 0:
                group.require_progress_by = now + group.progress_deadline
        index = self.state.update_deployment_status(dep.id, status, desc)
        if not pause:
            index = self._create(self._eval(dep), index)
        self._deployment_changed(dep.id)
        return index

    def set_alloc_health(self, deployment_id: str, healthy: list[str], unhealthy: list[str]) -> int:
        """Nomad: Deployment.SetAllocHealth (health_check = "manual"): record the verdicts; any
        unhealthy one fails the deployment (rolling back if its group auto-reverts).

        Raises:
            ValidationError: no IDs, an unknown or terminal deployment, or an alloc not in it.
        """
        if not healthy and not unhealthy:
            raise ValidationError("AllocationIDs", "must specify at least one healthy/unhealthy allocation ID")
        dep = self._active(deployment_id, "set health of allocations for a")
        state = self.state
        updates: list[tuple[Allocation, dict[str, Any]]] = []
        groups: set[str] = set()  # of the unhealthy allocs
        for alloc_id, verdict in [(i, True) for i in healthy] + [(i, False) for i in unhealthy]:
            alloc = state.alloc_by_id(alloc_id)
            if alloc is None:
                raise ValidationError("AllocationIDs", f'unknown alloc "{alloc_id}"')
            if alloc.deployment_id != dep.id:
                raise ValidationError("AllocationIDs", f'alloc "{alloc_id}" is not part of deployment "{dep.id}"')
            updates.append((alloc, {"healthy": verdict}))
            if not verdict:
                groups.add(alloc.task_group)
        index = state.update_allocs_from_client(updates)
        if unhealthy:
            rollback = any(g.auto_revert for name, g in dep.task_groups.items() if name in groups)
            return self._fail(dep, DESC_DEPLOYMENT_FAILED_ALLOCATIONS, rollback, no_target_suffix=False)
        index = self._create(self._eval(dep), index)
        self._auto_promote(dep)
        self._deployment_changed(dep.id)
        return index

    def _active(self, deployment_id: str, op: str) -> Deployment:
        dep = self.state.deployment_by_id(deployment_id)
        if dep is None:
            raise ValidationError("DeploymentID", "deployment not found")
        if not dep.active():
            raise ValidationError("DeploymentID", f"can't {op} terminal deployment")
        return dep

    # -- decisions --------------------------------------------------------------------------

    def _handle_alloc_update(self, dep: Deployment) -> AllocVerdict:
        """Nomad: handleAllocUpdate, over every alloc of the deployment."""
        verdict = AllocVerdict()
        latest_eval = latest_eval_index(self.state.evals_by_job(dep.namespace, dep.job_id))
        replacements = []
        for alloc in self._deployment_allocs(dep):
            group = dep.task_groups.get(alloc.task_group)
            if group is None:
                continue
            fail = self._should_fail_early(dep, alloc, group)
            if alloc.is_unhealthy() and not fail and not alloc.desired_transition.reschedule:
                replacements.append(alloc.id)
                continue
            status = alloc.deployment_status
            if alloc.is_healthy() and status is not None and status.modify_index > latest_eval:
                verdict.create_eval = True
            if fail:
                verdict.fail = True
                verdict.rollback = verdict.rollback or group.auto_revert
        verdict.allow_replacements = tuple(replacements)
        return verdict

    def _should_fail_early(self, dep: Deployment, alloc: Allocation, group: DeploymentState) -> bool:
        """Nomad: shouldFailEarly: unhealthy with no progress deadline, or out of reschedules."""
        if not alloc.is_unhealthy():
            return False
        if group.progress_deadline == 0:
            return True
        job = self._job(dep) or alloc.job
        tg = job.lookup_task_group(alloc.task_group) or alloc.job.lookup_task_group(alloc.task_group)
        policy = tg.reschedule_policy if tg is not None else None
        return not reschedule_eligible(alloc.reschedule_tracker, policy, self.env.now)

    def _auto_promote(self, dep: Deployment) -> None:
        """Nomad: autoPromoteDeployment: every canary group auto-promotes and all its canaries are healthy."""
        if not any(g.placed_canaries for g in dep.task_groups.values()) or not dep.requires_promotion():
            return
        state = self.state
        for group in dep.task_groups.values():
            if group.desired_canaries < 1:
                continue
            if not group.auto_promote or len(group.placed_canaries) < group.desired_canaries:
                return
            healthy = sum(1 for a in group.placed_canaries if _healthy(state.alloc_by_id(a)))
            if healthy != group.desired_canaries:
                return
        if not promotion_errors(dep, self._deployment_allocs(dep), None):
            self._promote(dep, None)

    def _promote(self, dep: Deployment, groups: list[str] | None) -> int:
        """Nomad: UpdateDeploymentPromotion: promote, restart progress deadlines, eval."""
        now = self.env.now
        for name, group in dep.task_groups.items():
            if groups and name not in groups:
                continue
            if group.progress_deadline > 0 and group.require_progress_by > 0:
                group.require_progress_by = now + group.progress_deadline
            group.promoted = True
        if not dep.requires_promotion() and dep.status == DEPLOYMENT_RUNNING:
            dep.status_description = DESC_DEPLOYMENT_RUNNING
        index = self._create(self._eval(dep), self.state.upsert_deployment(dep))
        self._deployment_changed(dep.id)
        return index

    # -- failure and rollback ---------------------------------------------------------------

    def _fail_watched(self, dep: Deployment, rollback: bool) -> int:
        """The watch loop's failure: unhealthy allocs, or the progress deadline once it was hit."""
        watch = self._watches.get(dep.id)
        hit = watch is not None and watch.deadline_hit
        return self._fail(dep, DESC_DEPLOYMENT_PROGRESS_DEADLINE if hit else DESC_DEPLOYMENT_FAILED_ALLOCATIONS, rollback)

    def _fail(self, dep: Deployment, base: str, rollback: bool, no_target_suffix: bool = True) -> int:
        """Mark the deployment failed (with an eval); with `rollback`, re-register the latest
        stable version. Nomad: upsertDeploymentStatusUpdate with the rollback job (setAllocHealth
        alone leaves the description bare when there is no stable version)."""
        job, desc = None, base
        stable = self._latest_stable(dep) if rollback else None
        if rollback and (stable is not None or no_target_suffix):
            job, desc = self._rollback_job(dep, base, stable)
        index = self.state.update_deployment_status(dep.id, DEPLOYMENT_FAILED, desc)
        self._forget(dep.id)
        evals = self._eval(dep)
        if job is None or stable is None:  # (a rollback job is a copy of `stable`)
            return self._create(evals, index)
        self.reverted_versions[dep.id] = stable.version  # Nomad: RevertedJobVersion
        job.submit_time = self.clock.unix_nanos()
        return self.raft.write_job(job, evals)

    def _latest_stable(self, dep: Deployment) -> Job | None:
        """Nomad: latestStableJob: the newest tracked version marked stable."""
        return next((v for v in self.state.job_versions(dep.namespace, dep.job_id) if v.stable), None)

    def _rollback_job(self, dep: Deployment, base: str, stable: Job | None) -> tuple[Job | None, str]:
        """Nomad: handleRollbackValidity: the job to re-register (if any) and the description."""
        desc, revert = rollback_description(base, self._job(dep), stable)
        if not revert or stable is None:  # (no revert without a stable version)
            return None, desc
        job = copy_job(stable)
        job.stable = False  # Nomad keeps the flag; a rollback is stable once its own deployment succeeds
        job.version_tag = None
        return job, desc

    # -- progress deadline ------------------------------------------------------------------

    def _deployment_changed(self, dep_id: str) -> None:
        """Nomad: the deploymentUpdateCh branch: re-arm the timer when the cutoff moved."""
        dep = self.state.deployment_by_id(dep_id)
        if dep is None or not dep.active():
            self._forget(dep_id)
            return
        watch = self._watches.setdefault(dep_id, _Watch())
        cutoff = progress_cutoff(dep, done_groups(dep, self._deployment_allocs(dep)))
        if cutoff == watch.cutoff:
            return
        watch.cutoff = cutoff
        watch.timer += 1
        if cutoff > 0:
            delay = max(0.0, cutoff - self.env.now)
            timer = self.env.timeout(delay)
            timer.callbacks.append(partial(self._deadline, dep_id, watch.timer))

    def _deadline(self, dep_id: str, generation: int, _event: simpy.Event) -> None:
        """Nomad: the deadline branch: fail unless paused or every group made enough progress."""
        watch = self._watches.get(dep_id)
        dep = self.state.deployment_by_id(dep_id)
        if watch is None or watch.timer != generation or dep is None or not dep.active():
            return
        watch.deadline_hit = True
        fail, rollback = self._should_fail(dep)
        if fail:
            self._fail(dep, DESC_DEPLOYMENT_PROGRESS_DEADLINE, rollback)

    def _should_fail(self, dep: Deployment) -> tuple[bool, bool]:
        """Nomad: shouldFail: (some group failed, a failed group auto-reverts)."""
        if dep.status == DEPLOYMENT_PAUSED:
            return False, False
        job = self._job(dep)
        fail = False
        for name, group in sorted(dep.task_groups.items()):
            if not group_should_fail(group):
                continue
            fail = True
            tg = job.lookup_task_group(name) if job is not None else None
            if tg is not None and tg.update is not None and tg.update.auto_revert:
                return True, True
        return fail, False

    def _forget(self, dep_id: str) -> None:
        """The deployment is terminal: stop its timer and drop its pending batch."""
        self._watches.pop(dep_id, None)

    # -- evals ------------------------------------------------------------------------------

    def _batched_update(self, dep: Deployment, replacements: tuple[str, ...]) -> None:
        """Nomad: createBatchedUpdate: one eval per batch period, with the allowed replacements."""
        watch = self._watches.setdefault(dep.id, _Watch())
        watch.replacements += tuple(r for r in replacements if r not in watch.replacements)
        if watch.batch_pending:
            return
        watch.batch_pending = True
        timer = self.env.timeout(self.batch_period)
        timer.callbacks.append(lambda _e: self._flush_batch(dep.id, watch))

    def _flush_batch(self, dep_id: str, watch: _Watch) -> None:
        if self._watches.get(dep_id) is not watch:
            return  # the deployment finished meanwhile (Nomad: the watcher's context is done)
        replacements, watch.replacements, watch.batch_pending = watch.replacements, (), False
        state = self.state
        dep = state.deployment_by_id(dep_id)
        allocs = [a for a in (state.alloc_by_id(i) for i in replacements) if a is not None]
        if allocs:
            state.update_alloc_desired_transition(allocs, reschedule=True)
        if dep is not None:
            self._create(self._eval(dep), 0)

    def _eval(self, dep: Deployment) -> list[Evaluation]:
        """Nomad: deploymentWatcher.getEval (none once the job is purged)."""
        job = self._job(dep)
        if job is None:
            return []
        return [self.raft.new_eval(job, TRIGGER_DEPLOYMENT_WATCHER, deployment_id=dep.id,
                                   priority=dep.eval_priority or job.priority)]

    def _create(self, evals: list[Evaluation], index: int) -> int:
        """Write and enqueue the evals; the index of the last write."""
        return self.raft.create_evals(evals) if evals else index

    # -- lookups ----------------------------------------------------------------------------

    def _job(self, dep: Deployment) -> Job | None:
        """The job the deployment belongs to (Nomad: the watcher's job): current, else its version."""
        state = self.state
        job = state.job_by_id(dep.namespace, dep.job_id)
        return job if job is not None else state.job_by_version(dep.namespace, dep.job_id, dep.job_version)

    def _deployment_allocs(self, dep: Deployment) -> list[Allocation]:
        """Nomad: AllocsByDeployment."""
        return [a for a in self.state.allocs_by_job(dep.namespace, dep.job_id) if a.deployment_id == dep.id]


def _healthy(alloc: Allocation | None) -> bool:
    return alloc is not None and alloc.is_healthy()

