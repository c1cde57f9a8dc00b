"""The steps of reconciling one task group: stops, updates, canaries, placements, migrations.

Nomad: scheduler/reconciler/reconcile_cluster.go (computeStop, computeUpdates, computeCanaries,
computePlacements, placeAllocs, computeDestructiveUpdates, computeMigrations). Where Nomad walks
a Go map (random order) these walk allocs lowest name index first, so results are deterministic.
"""

from __future__ import annotations

from sim.scheduler.reconciler.filters import (
    AllocSet,
    count_client_status_known,
    difference,
    filter_out_server_terminal,
    name_order,
)
from sim.scheduler.reconciler.names import AllocNameIndex
from sim.scheduler.reconciler.results import (
    DestructiveUpdate,
    MissingPlacements,
    PlaceList,
    PlacementRequest,
    ReconcileContext,
    ReconcileResults,
    StopRequest,
)
from sim.structs.alloc import Allocation
from sim.structs.consts import (
    ALLOC_CLIENT_LOST,
    ALLOC_CLIENT_UNKNOWN,
    ALLOC_LOST,
    ALLOC_MIGRATING,
    ALLOC_NOT_NEEDED,
    ALLOC_RESCHEDULED,
    ALLOC_UPDATING,
    JOB_TYPE_BATCH,
)
from sim.structs.deployment import DeploymentState
from sim.structs.job import TaskGroup
from sim.structs.plan import DesiredUpdates


class _Stopper:
    """Collects computeStop's stops and how many more it must still make."""

    def __init__(self, remove: int) -> None:
        self.remove = remove
        self.stopped: AllocSet = {}
        self.requests: list[StopRequest] = []

    def stop(self, alloc: Allocation) -> bool:
        """Stop one alloc as not needed; True when enough were stopped."""
        self.stopped[alloc.id] = alloc
        self.requests.append(StopRequest(alloc, "", ALLOC_NOT_NEEDED))
        self.remove -= 1
        return self.remove == 0


def compute_stop(
    ctx: ReconcileContext,
    tg: TaskGroup,
    names: AllocNameIndex,
    untainted: AllocSet,
    migrate: AllocSet,
    lost: AllocSet,
    canaries: AllocSet,
    canarying: bool,
    followup_evals: dict[str, str],
    result: ReconcileResults,
    settled_untainted: int = 0,
) -> AllocSet:
    """Stop lost allocs and any beyond Count; returns the untainted allocs left running.

    Beyond Count, in order: non-canaries named like a (promoted) canary, the highest-index
    migrating allocs, the highest-index untainted allocs, then any. Stopped migrating allocs
    are removed from `migrate`. `settled_untainted` more untainted allocs (settled, not in
    `untainted`, no canaries) count towards Count; they must leave nothing beyond it.
    Nomad: computeStop.
    """
    stopper = _Stopper(0)
    stopper.stopped.update(lost)
    stopper.requests = [
        StopRequest(a, ALLOC_CLIENT_LOST, ALLOC_LOST, followup_evals.get(a.id, ""))
        for a in name_order(lost)
    ]
    working = difference(untainted, canaries) if canarying else dict(untainted)
    stopper.remove = count_client_status_known(working) + len(migrate) - (tg.count or 0)
    if settled_untainted:
        stopper.remove += settled_untainted
        if stopper.remove > 0:
            raise ValueError("settled allocs beyond Count: reconcile every alloc instead")
    if stopper.remove > 0:
        _stop_extra(ctx, tg, names, working, migrate, canaries, canarying, stopper)
    result.stop.extend(stopper.requests)
    result.desired_tg_updates[tg.name].stop += len(stopper.stopped)
    return difference(untainted, stopper.stopped)


def _stop_extra(
    ctx: ReconcileContext,
    tg: TaskGroup,
    names: AllocNameIndex,
    working: AllocSet,
    migrate: AllocSet,
    canaries: AllocSet,
    canarying: bool,
    stopper: _Stopper,
) -> None:
    working = filter_out_server_terminal(working)
    if not canarying and canaries:
        canary_names = {a.name for a in canaries.values()}
        for alloc in name_order(difference(working, canaries)):
            if alloc.name in canary_names:
                del working[alloc.id]
                if stopper.stop(alloc):
                    return
    if migrate:
        highest = AllocNameIndex(ctx.job_id, tg.name, tg.count or 0, migrate.values()).highest(
            stopper.remove
        )
        for alloc in name_order(migrate):
            if alloc.name in highest:
                del migrate[alloc.id]
                names.unset_index(alloc.index())
                if stopper.stop(alloc):
                    return
    highest = names.highest(stopper.remove)
    for alloc in name_order(working):
        if alloc.name in highest:
            del working[alloc.id]
            if stopper.stop(alloc):
                return
    for alloc in reversed(name_order(working)):  # duplicate names left some over
        if stopper.stop(alloc):
            return


def compute_updates(
    ctx: ReconcileContext, untainted: AllocSet, tg: TaskGroup, result: ReconcileResults
) -> tuple[AllocSet, AllocSet]:
    """(in-place updated copies, allocs needing a destructive update) via the update function.

    With `ctx.same_version_ignored`, allocs of the job's own JobModifyIndex are counted as
    ignored without a call (the function would answer so, with no side effect).
    Nomad: computeUpdates.
    """
    ignore = 0
    inplace: AllocSet = {}
    destructive: AllocSet = {}
    if ctx.same_version_ignored:
        modify_index = ctx.job.job_modify_index
        changed = {k: a for k, a in untainted.items() if a.job.job_modify_index != modify_index}
        ignore, untainted = len(untainted) - len(changed), changed
    for alloc in name_order(untainted):
        skip, is_destructive, updated = ctx.alloc_update_fn(alloc, ctx.job, tg)
        if skip:
            ignore += 1
        elif is_destructive:
            destructive[alloc.id] = alloc
        else:
            inplace[alloc.id] = updated if updated is not None else alloc
    result.inplace_update = list(inplace.values())
    du = result.desired_tg_updates[tg.name]
    du.ignore += ignore
    du.in_place_update += len(inplace)
    return inplace, destructive


def compute_canaries(
    ctx: ReconcileContext,
    tg: TaskGroup,
    state: DeploymentState,
    destructive: AllocSet,
    canaries: AllocSet,
    names: AllocNameIndex,
    result: ReconcileResults,
) -> None:
    """Ask for the missing canaries (none while the deployment is paused or failed).

    Nomad: computeCanaries.
    """
    update = tg.update
    if update is None:  # requires_canaries holds: the group has an update block
        raise ValueError(f"group {tg.name!r} has no update block to take canaries from")
    state.desired_canaries = update.canary
    if ctx.deployment_paused or ctx.deployment_failed:
        return
    du = result.desired_tg_updates[tg.name]
    du.canary += update.canary - len(canaries)
    for name in names.next_canaries(du.canary, canaries.values(), destructive.values()):
        result.place.append(PlacementRequest(name=name, task_group=tg, canary=True))


def compute_placements(
    tg: TaskGroup,
    names: AllocNameIndex,
    untainted: AllocSet,
    migrate: AllocSet,
    reschedule: AllocSet,
    lost: AllocSet,
    canarying: bool,
    settled_untainted: int = 0,
) -> PlaceList:
    """Replacements for failed allocs, then for lost ones up to Count, then new names to Count
    (those as one lazy MissingPlacements run). `settled_untainted` more untainted allocs count.

    Nomad: computePlacements.
    """
    place = PlaceList(_replacement(tg, a, canarying, reschedule=True) for a in name_order(reschedule))
    existing = len(untainted) + settled_untainted + len(migrate) + len(reschedule)
    for alloc in name_order(lost):
        if existing >= (tg.count or 0):
            break
        existing += 1
        place.append(_replacement(tg, alloc, canarying, lost=True))
    missing = (tg.count or 0) - existing
    if missing > 0:
        place.extend(MissingPlacements(names.next_lazy(missing), tg, canarying))
    return place


def _replacement(
    tg: TaskGroup, alloc: Allocation, canarying: bool, reschedule: bool = False, lost: bool = False
) -> PlacementRequest:
    canary = alloc.is_canary()
    return PlacementRequest(
        name=alloc.name,
        task_group=tg,
        canary=canary,
        previous_alloc=alloc,
        reschedule=reschedule,
        lost=lost,
        downgrade_non_canary=canarying and not canary,
        min_job_version=alloc.job.version,
    )


def place_allocs(
    ctx: ReconcileContext,
    ready: bool,
    du: DesiredUpdates,
    place: PlaceList,
    migrate: AllocSet,
    reschedule_now: AllocSet,
    lost: AllocSet,
    limit: int,
) -> tuple[int, PlaceList, list[StopRequest]]:
    """(remaining limit, placements made, stops of replaced failed allocs).

    A ready deployment (not paused, failed or canarying) makes every placement. Otherwise only
    lost replacements and reschedules happen, never for allocs of a failed deployment.
    Nomad: placeAllocs. Unlike Nomad, the lost replacements taken are the `lost` placements
    themselves (Nomad takes the first ones, which can repeat a reschedule placement). New names
    are never lost nor rescheduled, so only the explicit requests are looked at.
    """
    failed = [
        a
        for a in name_order(reschedule_now)
        if a.id not in migrate and a.client_status != ALLOC_CLIENT_UNKNOWN
    ]
    if ready:
        du.place += len(place)
        du.stop += len(failed)
        return (
            limit - min(len(place), limit),
            place.copy(),
            [StopRequest(a, "", ALLOC_RESCHEDULED) for a in failed],
        )
    lost_places = [p for p in place.explicit() if p.lost] if lost else []
    placements = PlaceList(lost_places[: min(len(lost), len(place))])
    du.place += len(placements)
    if not reschedule_now or not place:
        return limit, placements, []
    stops: list[StopRequest] = []
    current = ctx.deployment_current
    for p in place.explicit():
        prev = p.previous_alloc
        of_failed = (
            ctx.deployment_failed
            and prev is not None
            and current is not None
            and current.id == prev.deployment_id
        )
        if p.reschedule and not of_failed and prev is not None:
            placements.append(p)
            stops.append(StopRequest(prev, "", ALLOC_RESCHEDULED))
            du.place += 1
            du.stop += 1
    return limit, placements, stops


def compute_destructive_updates(
    destructive: AllocSet, limit: int, du: DesiredUpdates, tg: TaskGroup
) -> list[DestructiveUpdate]:
    """The lowest-index destructive updates within the limit; the rest are ignored this eval.

    Nomad: computeDestructiveUpdates.
    """
    n = min(len(destructive), limit)
    du.destructive_update += n
    du.ignore += len(destructive) - n
    return [DestructiveUpdate(a.name, tg, a, ALLOC_UPDATING) for a in name_order(destructive)[:n]]


def compute_migrations(
    migrate: AllocSet, canarying: bool, tg: TaskGroup, result: ReconcileResults
) -> None:
    """Stop every migrating alloc and place its replacement (a batch alloc stopped for a
    reschedule is replaced by the reschedule path instead). Nomad: computeMigrations.
    """
    result.desired_tg_updates[tg.name].migrate += len(migrate)
    for alloc in name_order(migrate):
        result.stop.append(StopRequest(alloc, "", ALLOC_MIGRATING))
        if alloc.job.type == JOB_TYPE_BATCH and alloc.desired_transition.reschedule:
            continue
        canary = alloc.is_canary()
        result.place.append(
            PlacementRequest(
                name=alloc.name,
                task_group=tg,
                canary=canary,
                previous_alloc=alloc,
                downgrade_non_canary=canarying and not canary,
                min_job_version=alloc.job.version,
            )
        )
