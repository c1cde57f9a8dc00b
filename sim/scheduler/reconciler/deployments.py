"""The reconciler's deployment rules: cancel, create, limit, canaries and completion.

Nomad: scheduler/reconciler/reconcile_cluster.go (cancelUnneededServiceDeployments,
initializeDeploymentState, cancelUnneededCanaries, requiresCanaries, computeUnderProvisionedBy,
createDeployment, isDeploymentComplete, setDeploymentStatusAndUpdates). Multiregion deployment
states (initializing/pending/blocked) are not modelled beyond counting as paused.
"""

from __future__ import annotations

from dataclasses import replace

from sim.scheduler.reconciler.filters import (
    AllocSet,
    classify_allocs,
    difference,
    filter_by_deployment,
    from_keys,
)
from sim.scheduler.reconciler.results import ReconcileContext, ReconcileResults, StopRequest
from sim.structs.alloc import Allocation
from sim.structs.consts import (
    ALLOC_CLIENT_LOST,
    ALLOC_LOST,
    ALLOC_MIGRATING,
    ALLOC_NOT_NEEDED,
    DEPLOYMENT_CANCELLED,
    DEPLOYMENT_FAILED,
    DEPLOYMENT_PAUSED,
    DEPLOYMENT_SUCCESSFUL,
    DESC_DEPLOYMENT_NEWER_JOB,
    DESC_DEPLOYMENT_RUNNING_AUTO_PROMOTION,
    DESC_DEPLOYMENT_RUNNING_NEEDS_PROMOTION,
    DESC_DEPLOYMENT_STOPPED_JOB,
    DESC_DEPLOYMENT_SUCCESSFUL,
)
from sim.structs.deployment import Deployment, DeploymentState, DeploymentStatusUpdate
from sim.structs.job import Job, TaskGroup

PAUSED_STATUSES = frozenset({DEPLOYMENT_PAUSED, "pending", "initializing"})


def copy_deployment(d: Deployment | None) -> Deployment | None:
    """A copy whose group states can be changed without touching the caller's deployment."""
    if d is None:
        return None
    groups = {
        k: replace(s, placed_canaries=list(s.placed_canaries)) for k, s in d.task_groups.items()
    }
    return replace(d, task_groups=groups)


def cancel_unneeded_deployments(
    job: Job | None, d: Deployment | None
) -> tuple[Deployment | None, Deployment | None, list[DeploymentStatusUpdate]]:
    """(old deployment, current deployment, cancel updates).

    A stopped (or purged) job cancels its active deployment; a deployment of another job
    version or create index is cancelled if active and becomes "old"; a successful one is old.
    Nomad: cancelUnneededServiceDeployments.
    """
    if job is None or job.stopped():
        updates = (
            [_update(d, DEPLOYMENT_CANCELLED, DESC_DEPLOYMENT_STOPPED_JOB)]
            if d and d.active()
            else []
        )
        return d, None, updates
    if d is None:
        return None, None, []
    if d.job_create_index != job.create_index or d.job_version != job.version:
        updates = (
            [_update(d, DEPLOYMENT_CANCELLED, DESC_DEPLOYMENT_NEWER_JOB)] if d.active() else []
        )
        return d, None, updates
    if d.status == DEPLOYMENT_SUCCESSFUL:
        return d, None, []
    return None, d, []


def _update(d: Deployment, status: str, description: str) -> DeploymentStatusUpdate:
    return DeploymentStatusUpdate(deployment_id=d.id, status=status, status_description=description)


def set_deployment_flags(ctx: ReconcileContext) -> None:
    """Nomad: Compute: paused (also the multiregion initial states) and failed flags."""
    d = ctx.deployment_current
    if d is not None:
        ctx.deployment_paused = d.status in PAUSED_STATUSES
        ctx.deployment_failed = d.status == DEPLOYMENT_FAILED


def group_deployment_state(
    ctx: ReconcileContext, group: str, tg: TaskGroup
) -> tuple[DeploymentState, bool]:
    """(the group's deployment state, whether the current deployment already has it).

    Nomad: initializeDeploymentState.
    """
    d = ctx.deployment_current
    if d is not None and group in d.task_groups:
        return d.task_groups[group], True
    state = DeploymentState()
    if tg.update is not None and not tg.update.is_empty():
        state.auto_revert = tg.update.auto_revert
        state.auto_promote = tg.update.auto_promote
        state.progress_deadline = tg.update.progress_deadline / 1e9
    return state, False


def cancel_unneeded_canaries(
    ctx: ReconcileContext, allocs: AllocSet, result: ReconcileResults, group: str
) -> tuple[AllocSet, AllocSet]:
    """(current canaries still usable, remaining allocs); stops the others into `result`.

    Unpromoted canaries of an old or failed deployment are stopped (and counted). Canaries of
    the current deployment on draining or lost nodes are stopped without being counted.
    Nomad: cancelUnneededCanaries.
    """
    sources = [ctx.deployment_old]
    if ctx.deployment_current is not None and ctx.deployment_current.status == DEPLOYMENT_FAILED:
        sources.append(ctx.deployment_current)
    stale = [
        cid
        for d in sources
        if d is not None
        for s in d.task_groups.values()
        if not s.promoted
        for cid in s.placed_canaries
    ]
    stop_set = from_keys(allocs, stale)
    stops = [StopRequest(a, "", ALLOC_NOT_NEEDED) for a in stop_set.values()]
    result.desired_tg_updates[group].stop += len(stop_set)
    allocs = difference(allocs, stop_set)
    canaries: AllocSet = {}
    if ctx.deployment_current is not None:
        ids = [
            cid for s in ctx.deployment_current.task_groups.values() for cid in s.placed_canaries
        ]
        classified = classify_allocs(
            from_keys(allocs, ids), ctx.tainted_nodes, ctx.supports_disconnected
        )
        stops += [StopRequest(a, "", ALLOC_MIGRATING) for a in classified.migrate.values()]
        stops += [StopRequest(a, ALLOC_CLIENT_LOST, ALLOC_LOST) for a in classified.lost.values()]
        canaries = classified.untainted
        allocs = difference(allocs, classified.migrate, classified.lost)
    result.stop = stops
    return canaries, allocs


def requires_canaries(
    tg: TaskGroup, state: DeploymentState, destructive: AllocSet, canaries: AllocSet
) -> bool:
    """Destructive changes, fewer canaries than asked for, not yet promoted. Nomad: requiresCanaries."""
    return (
        tg.update is not None
        and len(destructive) != 0
        and len(canaries) < tg.update.canary
        and not state.promoted
    )


def under_provisioned_by(
    ctx: ReconcileContext,
    tg: TaskGroup,
    untainted: AllocSet,
    destructive: AllocSet,
    migrate: AllocSet,
    canarying: bool,
) -> int:
    """How many destructive updates and migrations this eval may start (the MaxParallel limit).

    Nomad: computeUnderProvisionedBy.
    """
    count = tg.count or 0
    if tg.update is None or tg.update.is_empty() or len(destructive) + len(migrate) == 0:
        return count
    d = ctx.deployment_current
    if d is None:
        return tg.update.max_parallel
    if ctx.deployment_paused or ctx.deployment_failed or canarying:
        return 0
    limit = tg.update.max_parallel
    for alloc in filter_by_deployment(untainted, d.id).values():
        if alloc.is_unhealthy():
            return 0
        if not alloc.is_healthy():
            limit -= 1
    return max(limit, 0)


def create_deployment(
    ctx: ReconcileContext,
    tg: TaskGroup,
    existing: bool,
    state: DeploymentState,
    allocs: AllocSet,
    destructive: AllocSet,
    inplace_count: int,
    had_running: bool = False,
) -> Deployment | None:
    """Attach the group's state to the current deployment, creating one if needed.

    Returns the deployment only when this call created it. No deployment for a group without
    an update strategy or with nothing desired, nor when allocs of this job version already
    ran (in `allocs`, or `had_running` for allocs left out) and the spec did not change.
    Nomad: createDeployment.
    """
    if existing or tg.update is None or tg.update.is_empty() or state.desired_total == 0:
        return None
    updating_spec = len(destructive) != 0 or inplace_count != 0
    job = ctx.job
    had_running = had_running or any(_same_job_version(a, job) for a in allocs.values())
    if had_running and not updating_spec:
        return None
    created = None
    if ctx.deployment_current is None:
        created = new_deployment(ctx)
        ctx.deployment_current = created
    ctx.deployment_current.task_groups[tg.name] = state
    return created


def _same_job_version(alloc: Allocation, job: Job) -> bool:
    return alloc.job.version == job.version and alloc.job.create_index == job.create_index


def new_deployment(ctx: ReconcileContext) -> Deployment:
    """Nomad: structs.NewDeployment."""
    job = ctx.job
    return Deployment(
        id=ctx.new_id(),
        namespace=job.namespace,
        job_id=job.id,
        job_version=job.version,
        job_modify_index=job.modify_index,
        job_spec_modify_index=job.job_modify_index,
        job_create_index=job.create_index,
        eval_priority=ctx.eval_priority,
        create_time=ctx.now,
    )


def is_deployment_complete(
    ctx: ReconcileContext, group: str, work: int, canaries_required: bool
) -> bool:
    """Nothing left to do for the group and every desired alloc healthy (and promoted).

    `work` counts destructive, in-place, placements, migrations and reschedules (now or
    later). Nomad: isDeploymentComplete.
    """
    d = ctx.deployment_current
    if work != 0 or canaries_required or d is None:
        return False
    state = d.task_groups.get(group)
    if state is None:
        return True
    if state.healthy_allocs < max(state.desired_total, state.desired_canaries):
        return False
    return not (state.desired_canaries > 0 and not state.promoted)


def final_deployment_updates(
    ctx: ReconcileContext, complete: bool, created: Deployment | None
) -> list[DeploymentStatusUpdate]:
    """Mark the current deployment successful when complete; describe a created one.

    Nomad: setDeploymentStatusAndUpdates (single region).
    """
    updates: list[DeploymentStatusUpdate] = []
    if ctx.deployment_current is not None and complete:
        updates.append(
            _update(ctx.deployment_current, DEPLOYMENT_SUCCESSFUL, DESC_DEPLOYMENT_SUCCESSFUL)
        )
    if created is not None and created.requires_promotion():
        auto = created.has_auto_promote()
        created.status_description = (
            DESC_DEPLOYMENT_RUNNING_AUTO_PROMOTION
            if auto
            else DESC_DEPLOYMENT_RUNNING_NEEDS_PROMOTION
        )
    return updates
