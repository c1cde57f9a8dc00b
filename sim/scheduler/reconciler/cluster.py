"""The allocation reconciler: compare a job's desired state with its allocs, per task group.

Pure logic (no clock, no I/O): the generic scheduler calls `reconcile` once per attempt, with a
`ReconcilerState` (the job, its allocs, the eval) and a `ClusterState` (tainted nodes, the
time), and turns the result into a plan. The per-group steps live in group.py, the alloc
filters in filters.py, the deployment rules in deployments.py, follow-up evals in followups.py
and name choice in names.py.

Nomad: scheduler/reconciler/reconcile_cluster.go (NewAllocReconciler, AllocReconciler.Compute,
computeGroup, handleStop). Groups are reconciled in the job's order, then groups only old allocs
still use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.scheduler.reconciler.deployments import (
    cancel_unneeded_canaries,
    cancel_unneeded_deployments,
    copy_deployment,
    create_deployment,
    final_deployment_updates,
    group_deployment_state,
    is_deployment_complete,
    requires_canaries,
    set_deployment_flags,
    under_provisioned_by,
)
from sim.scheduler.reconciler.filters import (
    AllocSet,
    classify_allocs,
    delay_by_stop_after,
    difference,
    filter_by_rescheduleable,
    filter_by_terminal,
    filter_old_terminal_allocs,
    filter_server_terminal_allocs,
    union,
)
from sim.scheduler.reconciler.followups import create_later_evals, create_reschedule_later_evals
from sim.scheduler.reconciler.group import (
    compute_canaries,
    compute_destructive_updates,
    compute_migrations,
    compute_placements,
    compute_stop,
    compute_updates,
    place_allocs,
)
from sim.scheduler.reconciler.names import AllocNameIndex
from sim.scheduler.reconciler.results import (
    AllocUpdateFn,
    PlaceList,
    ReconcileContext,
    ReconcileResults,
    StopRequest,
)
from sim.scheduler.reconciler.settled import SettledGroup
from sim.structs.alloc import Allocation
from sim.structs.consts import (
    ALLOC_CLIENT_LOST,
    ALLOC_CLIENT_UNKNOWN,
    ALLOC_LOST,
    ALLOC_NOT_NEEDED,
    TRIGGER_RETRY_FAILED_ALLOC,
)
from sim.structs.deployment import Deployment
from sim.structs.job import Job
from sim.structs.node import Node
from sim.structs.plan import DesiredUpdates


@dataclass(slots=True)
class ReconcilerState:
    """The job side of a reconcile: the job, its allocs and deployment, the eval at hand (not
    modified; not frozen: a frozen dataclass's constructor costs three times as much).

    `job` None (purged) or stopped stops every alloc; `namespace` names the job fully even when
    it was purged (evals and deployments created take the job's own namespace). `deployment` is
    the job's latest one; it is not modified. `same_version_ignored` promises that the
    reconcile's `alloc_update_fn` ignores, with no side effect, every alloc whose job has the
    job's JobModifyIndex (Nomad's genericAllocUpdateFn does). `settled`
    (settled.SettledIndex.view) summarises, per group, settled allocs left out of `existing`;
    it needs `same_version_ignored`.

    Nomad: reconciler.ReconcilerState (Job, JobID, JobIsBatch, DeploymentCurrent,
    ExistingAllocs, EvalID, EvalPriority).
    """

    job: Job | None
    job_id: str
    namespace: str
    deployment: Deployment | None
    existing: list[Allocation]
    batch: bool
    eval_id: str
    eval_priority: int
    same_version_ignored: bool = False
    settled: dict[str, SettledGroup] | None = None


@dataclass(slots=True)
class ClusterState:
    """The cluster side of a reconcile: the tainted nodes and the time (not modified).

    `tainted_nodes` maps node ID to its Node (down, draining or disconnected) or None (node
    gone). Nomad: reconciler.ClusterState (TaintedNodes, SupportsDisconnectedClients, Now).
    """

    tainted_nodes: dict[str, Node | None]
    now: float
    supports_disconnected: bool = False


def reconcile(
    state: ReconcilerState, cluster: ClusterState, alloc_update_fn: AllocUpdateFn, new_id: Callable[[], str]
) -> ReconcileResults:
    """Decide the placements, updates and stops that bring a job's allocs to its spec.

    `alloc_update_fn` decides between ignore, in-place and destructive for an alloc of an older
    job version; `new_id` names the evals and deployments created.
    Nomad: reconciler.NewAllocReconciler and AllocReconciler.Compute.
    """
    job, tainted_nodes = state.job, cluster.tainted_nodes
    if state.settled and not state.same_version_ignored:
        raise ValueError("settled allocs need same_version_ignored")
    old, current, updates = cancel_unneeded_deployments(job, copy_deployment(state.deployment))
    groups = _alloc_matrix(job, state.existing)
    if job is None or job.stopped():
        result = _handle_stop(groups, tainted_nodes, cluster.supports_disconnected)
        result.deployment_updates = updates
        return result
    # (by position, in ReconcileContext's order: keywords cost more)
    ctx = ReconcileContext(
        job, state.job_id, state.batch, state.eval_id, state.eval_priority, cluster.now, tainted_nodes,
        alloc_update_fn, new_id, cluster.supports_disconnected, state.same_version_ignored, old, current,
    )
    set_deployment_flags(ctx)
    result = ReconcileResults(deployment_updates=updates)
    complete = True
    settled = state.settled or {}
    for group, allocs in groups.items():
        group_result, group_complete = _compute_group(ctx, group, allocs, settled.get(group))
        complete = complete and group_complete
        result.merge(group_result)
    result.deployment_updates.extend(final_deployment_updates(ctx, complete, result.deployment))
    return result


def _alloc_matrix(job: Job | None, existing: list[Allocation]) -> dict[str, AllocSet]:
    """Allocs by task group: the job's groups first (even without allocs). Nomad: newAllocMatrix."""
    groups: dict[str, AllocSet] = {tg.name: {} for tg in job.task_groups} if job is not None else {}
    if len(groups) == 1:  # one group: most allocs are its own, taken in one pass
        (name,) = groups
        groups[name] = {a.id: a for a in existing if a.task_group == name}
        if len(groups[name]) == len(existing):
            return groups
        existing = [a for a in existing if a.task_group != name]
    for alloc in existing:
        groups.setdefault(alloc.task_group, {})[alloc.id] = alloc
    return groups


def _handle_stop(
    groups: dict[str, AllocSet], tainted: dict[str, Node | None], supports_disconnected: bool
) -> ReconcileResults:
    """Stop every non-terminal alloc of a stopped or purged job. Nomad: handleStop."""
    result = ReconcileResults()
    for group, allocs in groups.items():
        count, stops = stop_all(filter_by_terminal(allocs), tainted, supports_disconnected)
        result.stop.extend(stops)
        result.desired_tg_updates[group] = DesiredUpdates(stop=count)
    return result


def stop_all(
    allocs: AllocSet, tainted: dict[str, Node | None], supports_disconnected: bool
) -> tuple[int, list[StopRequest]]:
    """(the set's size, stops for all of it that still runs). Nomad: filterAndStopAll."""
    classified = classify_allocs(allocs, tainted, supports_disconnected)
    stops = [
        StopRequest(a, "", ALLOC_NOT_NEEDED)
        for a in union(classified.untainted, classified.migrate).values()
    ]
    stops += [StopRequest(a, ALLOC_CLIENT_LOST, ALLOC_LOST) for a in classified.lost.values()]
    unknown = [a for a in classified.ignore.values() if a.client_status == ALLOC_CLIENT_UNKNOWN]
    stops += [StopRequest(a, "", ALLOC_NOT_NEEDED) for a in unknown]
    return len(allocs), stops


def _compute_group(
    ctx: ReconcileContext, group: str, allocs: AllocSet, settled: SettledGroup | None = None
) -> tuple[ReconcileResults, bool]:
    """Reconcile one task group; also whether its part of the deployment is complete.

    `settled` adds the group's settled allocs where they count: ignored ones, untainted ones
    (their names, Count and computeUpdates' ignore) and the deployment's "already ran" test.
    Nomad: AllocReconciler.computeGroup (its steps are listed in docs/fidelity.md#reconciler).
    """
    s = settled if settled is not None else SettledGroup()
    result = ReconcileResults(desired_tg_updates={group: DesiredUpdates()})
    du = result.desired_tg_updates[group]
    tg = ctx.job.lookup_task_group(group)
    allocs = filter_server_terminal_allocs(allocs)
    if tg is None or not tg.count:
        du.stop, result.stop = stop_all(allocs, ctx.tainted_nodes, ctx.supports_disconnected)
        return result, True
    state, existing_state = group_deployment_state(ctx, group, tg)
    allocs, ignored = filter_old_terminal_allocs(allocs, ctx.job, ctx.batch)
    du.ignore += len(ignored) + s.old
    canaries, allocs = cancel_unneeded_canaries(ctx, allocs, result, group)
    classified = classify_allocs(allocs, ctx.tainted_nodes, ctx.supports_disconnected)
    du.ignore += len(classified.ignore) + s.ignored
    migrate, lost = classified.migrate, classified.lost
    current = ctx.deployment_current
    untainted, resched_now, resched_later = filter_by_rescheduleable(
        classified.untainted, ctx.batch, ctx.now, ctx.eval_id, current
    )
    _, migrate_now, migrate_later = filter_by_rescheduleable(
        migrate, ctx.batch, ctx.now, ctx.eval_id, current
    )
    resched_now = union(resched_now, migrate_now)
    resched_later = resched_later + migrate_later

    lost_later = delay_by_stop_after(lost, ctx.now)
    lost_later_evals, lost_evals = create_later_evals(ctx, lost_later, TRIGGER_RETRY_FAILED_ALLOC)
    if lost_evals:
        result.desired_followup_evals.setdefault(group, []).extend(lost_evals)
    if resched_later:
        create_reschedule_later_evals(ctx, resched_later, allocs, migrate, group, result)

    names = AllocNameIndex(
        ctx.job_id, group, tg.count, union(untainted, migrate, resched_now, lost).values(), s.names
    )
    canarying = state.desired_canaries != 0 and not state.promoted
    untainted = compute_stop(
        ctx, tg, names, untainted, migrate, lost, canaries, canarying, lost_later_evals, result,
        s.untainted,
    )
    inplace, destructive = compute_updates(ctx, untainted, tg, result)
    du.ignore += s.untainted
    if not existing_state:
        state.desired_total += len(destructive) + len(inplace)
    if canarying:
        untainted = difference(untainted, canaries)
    canaries_required = requires_canaries(tg, state, destructive, canaries)
    if canaries_required:
        compute_canaries(ctx, tg, state, destructive, canaries, names, result)
    canarying = state.desired_canaries != 0 and not state.promoted
    limit = under_provisioned_by(ctx, tg, untainted, destructive, migrate, canarying)

    place = PlaceList()
    if not lost_later:
        place = compute_placements(
            tg, names, untainted, migrate, resched_now, lost, canarying, s.untainted
        )
        if not existing_state:
            state.desired_total += len(place)
    ready = not ctx.deployment_paused and not ctx.deployment_failed and not canarying
    limit, placements, stops = place_allocs(
        ctx, ready, du, place, migrate, resched_now, lost, limit
    )
    result.stop.extend(stops)
    result.place.extend(placements)
    if ready:
        result.destructive_update = compute_destructive_updates(destructive, limit, du, tg)
    else:
        du.ignore += len(destructive)
    compute_migrations(migrate, canarying, tg, result)
    result.deployment = create_deployment(
        ctx, tg, existing_state, state, allocs, destructive, du.in_place_update, s.same_version > 0
    )

    if len(result.place) > tg.count:  # never more placements than the count
        result.place = result.place[: tg.count]
        du.place = tg.count
    work = (
        len(destructive)
        + len(inplace)
        + len(result.place)
        + len(migrate)
        + len(resched_now)
        + len(resched_later)
    )
    return result, is_deployment_complete(ctx, group, work, canaries_required)
