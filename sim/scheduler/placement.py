"""Turning reconciler decisions into allocations on nodes, through the placement stack.

Nomad: scheduler/generic_sched.go computePlacements (with findPreferredNode, getSelectOptions,
downgradedJobForPlacement, markFailedToReschedule, swapAllocInPlan), genericAllocUpdateFn
(util.go: the in-place or destructive decision, its stack-free part in `alloc_update_precheck`),
and the bookkeeping of the plan as placements are made: every stop, in-place update and
placement is mirrored on the stack so later selects see it, as Nomad's stack reads the plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from itertools import islice
from typing import TYPE_CHECKING

from sim.scheduler.feasible.checks import candidate_rows
from sim.scheduler.feasible.rank import exhaust_resources, group_ask
from sim.scheduler.feasible.stack import GenericStack, RankedNode, SelectRun
from sim.scheduler.job_diff import tasks_updated
from sim.scheduler.node_sets import node_in_any_dc, node_in_pool
from sim.scheduler.preemption.evict import Eviction
from sim.scheduler.preemption.record import record_preemptions
from sim.scheduler.reconciler.reschedule import (
    LAST_RESCHEDULE_FAILED_TO_PLACE,
    LAST_RESCHEDULE_OK,
    new_reschedule_tracker,
)
from sim.scheduler.reconciler.results import MissingPlacements, place_parts
from sim.structs.alloc import Allocation, AllocDeploymentStatus, AllocMetric, placed_allocs
from sim.structs.consts import ALLOC_CLIENT_FAILED
from sim.structs.devices import AllocatedDevice
from sim.structs.job import Job, TaskGroup
from sim.structs.networks import AllocatedNetwork
from sim.structs.node import Node
from sim.structs.plan import DesiredUpdates, Plan

if TYPE_CHECKING:
    from sim.scheduler.env import SchedulerEnv, SchedulerState
    from sim.scheduler.reconciler.results import PlacementRequest, ReconcileResults
    from sim.structs.deployment import Deployment
    from sim.structs.evaluation import Evaluation


class PlacementContext:
    """The stack of one scheduling attempt plus the plan it fills."""

    def __init__(self, senv: SchedulerEnv, job: Job | None, batch: bool, plan: Plan, ev: Evaluation) -> None:
        self.senv = senv
        self.job = job
        self.plan = plan
        self.ev = ev
        self.stack = GenericStack(senv.state.nodes, batch, senv.rng, senv.algorithm)
        self.stack.node_allocs = senv.state.allocs_by_node
        if senv.policy is not None:
            self.stack.set_policy(senv.policy)
        # Nomad: selectNextOption reads the batch or the service switch (the generic scheduler's)
        self.preempt = job is not None and senv.preemption.enabled_for(job.type)
        if self.preempt and job is not None:
            self.stack.enable_preemption(Eviction(senv.state.allocs_by_node, job, scored=True))
        self.new_alloc_ids: set[str] = set()
        plan.new_ids = self.new_alloc_ids  # (the applier looks none of them up in the state)
        self.desired: dict[str, DesiredUpdates] | None = None  # an annotated plan's DesiredTGUpdates

    def prepare(self, live_allocs: list[Allocation]) -> None:
        """Nomad: setJob and setNodes: the candidate nodes and the job's existing allocs."""
        self.set_nodes()
        self.set_job(live_allocs)

    def set_nodes(self) -> None:
        """Nomad: setNodes: the job's candidate nodes, shuffled."""
        if self.job is None or self.job.stop:
            return
        rows, _, _ = candidate_rows(self.senv.state.nodes, self.job)
        self.stack.set_nodes(rows)  # the stack fills every metric's NodesAvailable and NodesInPool

    def set_job(self, allocs: list[Allocation]) -> None:
        """Nomad: setJob: the job and its allocs in state (after `set_nodes`; client-terminal ones count nowhere)."""
        if self.job is None or self.job.stop:
            return
        self.stack.set_job(self.job, allocs)

    def stop(self, alloc: Allocation) -> None:
        """A planned stop frees its resources for later placements in this attempt."""
        if self.job is not None and not self.job.stop and not alloc.terminal():
            self.stack.stop(alloc)

    def place_inplace(self, alloc: Allocation) -> None:
        """An in-place update now in the plan: the node holds the new version's resources."""
        row = self.senv.state.nodes.index_of.get(alloc.node_id)
        if row is not None and self.job is not None and not self.job.stop:
            self.stack.place(row, alloc)

    def class_eligibility(self) -> tuple[dict[str, bool], bool]:
        """Nomad: EvalEligibility.GetClasses and HasEscaped for this attempt's selects."""
        if self.job is None or self.job.stop:
            return {}, False
        eligibility, escaped = self.stack.class_eligibility()
        return dict(sorted(eligibility.items())), escaped

    # -- in-place vs destructive ------------------------------------------------------------

    def alloc_update_fn(self, existing: Allocation, job: Job, tg: TaskGroup) -> tuple[bool, bool, Allocation | None]:
        """Nomad: genericAllocUpdateFn: ignore, destructive, or an in-place updated copy.

        The in-place check re-runs the stack on the alloc's node with the alloc discounted; the
        copy keeps the alloc's ports and metrics. It joins the plan (and the stack) only after
        reconciling, as Nomad appends in-place updates in computeJobAllocs.
        """
        if existing.job.job_modify_index == job.job_modify_index:  # the precheck's first answer
            return True, False, None
        state = self.senv.state
        decided = alloc_update_precheck(existing, job, tg, state.node_by_id(existing.node_id))
        if decided is not None:
            return decided
        row = state.nodes.index_of[existing.node_id]
        option, _ = self.stack.select_on_node(tg, row, ignore_alloc=existing)
        if option is None:
            return False, True, None
        cpu, mem, disk = group_ask(tg)
        return False, False, replace(existing, job=job, eval_id=self.ev.id, cpu=cpu, memory_mb=mem, disk_mb=disk)

    # -- placements -------------------------------------------------------------------------

    def compute_placements(self, results: ReconcileResults, deployment: Deployment | None) -> dict[str, AllocMetric]:
        """Nomad: computePlacements: destructive updates first, then the rest, one at a time.

        Returns the failed groups' metrics (the first failure of a group, with the later ones
        coalesced into it).
        """
        job = self.job
        if job is None:  # a purged job's reconcile only stops allocs
            raise ValueError("no placements without a job")
        failed: dict[str, AllocMetric] = {}
        if self.ev.annotate_plan:
            self.desired = results.desired_tg_updates
        deployment_id = deployment.id if deployment is not None and deployment.active() else ""
        for d in results.destructive_update:
            _Placement(self, job, d.task_group, d.place_name, d.stop_alloc, deployment, deployment_id,
                       stop_desc=d.stop_description).run(failed)
        for part in place_parts(results.place):
            if type(part) is MissingPlacements:  # (not isinstance: an ABC's costs more)
                self._place_missing(job, part, failed, deployment, deployment_id)
                continue
            for p in part:
                _Placement(self, job, p.task_group, p.name, p.previous_alloc, deployment, deployment_id,
                           request=p).run(failed)
        return failed

    def _place_missing(self, job: Job, run: MissingPlacements, failed: dict[str, AllocMetric],
                       deployment: Deployment | None, deployment_id: str) -> None:
        """computePlacements' loop over a group's new names, the failed tail in bulk.

        The requests differ only in their names, so a downgrade applies to all of them alike;
        once the group has failed, each one left would only coalesce (Nomad: CoalescedFailures
        += 1 and ExhaustResources per request), which is added for all of them at once.
        """
        tg, version = run.task_group, job
        if run.downgrade_non_canary:
            found = downgraded_job(self.senv.state, job, tg, 0)
            downgraded = found[1].lookup_task_group(tg.name) if found is not None else None
            if found is not None and downgraded is not None and found[1].version >= 0:
                deployment_id, version = found
                tg = downgraded
        placement = _Placement(self, job, tg, "", None, deployment, deployment_id, version=version)
        names = iter(run.names)
        left = len(run)
        while left and tg.name not in failed:
            picks = self.stack.select_run(tg, left)
            if picks is None:  # one select the usual way (one placement object: only the name differs)
                placement.name = next(names)
                placement.run(failed)
                left -= 1
                continue
            self._place_picks(placement, picks, names)
            left -= len(picks.rows)
        if left:
            metric = failed[tg.name]
            metric.coalesced_failures += left
            exhaust_resources(metric, tg, left)

    def _place_picks(self, placement: _Placement, picks: SelectRun, names: Iterator[str]) -> None:
        """`_Placement.run` for each pick of a run of selects (a new alloc of a missing name: no
        previous alloc, nothing stopped, nothing preempted), in order: `alloc_on` each, built in
        one loop by `placed_allocs`. Each pick's ports are drawn before its alloc's ID, as `select`
        does; without ports the IDs are drawn at once (nothing else draws in between)."""
        job, group, stack = placement.job, placement.tg.name, self.stack
        cpu, mem, disk = placement.ask()
        namespace, job_id, deployment_id = job.namespace, job.id, placement.deployment_id
        ids, eval_id, nodes = self.senv.ids, self.ev.id, self.senv.state.nodes.nodes
        rows = picks.rows
        ports: list[list[tuple[str, int]]]
        if picks.group.ports:
            ports, alloc_ids = [], []
            for row in rows:
                ports.append(stack.offer_ports(picks, row))
                alloc_ids.append(ids.uuid())
        else:
            ports = [[] for _ in rows]
            alloc_ids = ids.uuids(len(rows))
        allocs = placed_allocs(alloc_ids, islice(names, len(rows)), map(nodes.__getitem__, rows), ports, picks.metrics,
                               picks.finals, namespace, eval_id, job_id, job, group, cpu, mem, disk, deployment_id)
        self.plan.append_allocs(allocs)
        self.new_alloc_ids.update(alloc_ids)
        stack.place_picks(picks, allocs, alloc_ids)


def downgraded_job(state: SchedulerState, job: Job, tg: TaskGroup, min_version: int) -> tuple[str, Job] | None:
    """Nomad: downgradedJobForPlacement: the latest promoted (or canary-free) version's job
    and deployment, else the alloc's own version when it had no update block."""
    for d in sorted(state.deployments_by_job(job.namespace, job.id), key=lambda d: -d.job_version):
        dstate = d.task_groups.get(tg.name)
        if dstate is not None and (dstate.promoted or dstate.desired_canaries == 0):
            found = state.job_by_version(job.namespace, job.id, d.job_version)
            return (d.id, found) if found is not None else None
    found = state.job_by_version(job.namespace, job.id, min_version)
    if found is not None and (found.update is None or not found.update.max_parallel):
        return "", found
    return None


class _Placement:
    """One missing alloc of `job`: find it a node, then record the alloc (or the failure) in the plan.

    The alloc runs `version` (default: `job`; a downgrade picks an older one). A destructive
    update (`stop_desc` set) stops `prev` in the same step.
    """

    def __init__(self, ctx: PlacementContext, job: Job, tg: TaskGroup, name: str, prev: Allocation | None,
                 deployment: Deployment | None, deployment_id: str, request: PlacementRequest | None = None,
                 stop_desc: str = "", version: Job | None = None) -> None:
        self.ctx, self.tg, self.name, self.prev = ctx, tg, name, prev
        self.deployment, self.deployment_id = deployment, deployment_id
        self.request, self.stop_desc = request, stop_desc
        self.replaced = prev if stop_desc else None  # the alloc a destructive update stops
        self.scheduled = job
        self.job = version if version is not None else job
        self.rescheduling = request is not None and request.reschedule
        self._ask: tuple[TaskGroup, tuple[int, int, int]] | None = None  # group_ask of the group it was for

    def run(self, failed: dict[str, AllocMetric]) -> None:
        """Nomad: one iteration of computePlacements' loop."""
        ctx = self.ctx
        plan, stack = ctx.plan, ctx.stack
        if self.request is not None and self.request.downgrade_non_canary:
            self._downgrade(self.request)
        tg = self.tg
        if tg.name in failed:
            failed[tg.name].coalesced_failures += 1
            exhaust_resources(failed[tg.name], tg)
            return
        preferred = self._preferred_rows()
        if self.replaced is not None:  # destructive: the old alloc's resources are free for its replacement
            plan.append_stopped_alloc(self.replaced, self.stop_desc)
            stack.stop(self.replaced)
        option, metric = stack.select(tg, _penalty_nodes(self.prev), preferred)
        if option is None and ctx.preempt:  # Nomad: selectNextOption runs the stack again, evicting
            stack.evict = True
            try:
                option, metric = stack.select(tg, _penalty_nodes(self.prev), preferred)
            finally:
                stack.evict = False
        if option is None:
            self._fail(metric, failed)
            return
        alloc = self._new_alloc(option, metric)
        if option.preempted_allocs:
            desired = ctx.desired.get(tg.name) if ctx.desired is not None else None
            record_preemptions(plan, stack, option, alloc, desired)
        stack.place(option.row, alloc)
        plan.append_alloc(alloc)
        ctx.new_alloc_ids.add(alloc.id)

    def _downgrade(self, request: PlacementRequest) -> None:
        found = downgraded_job(self.ctx.senv.state, self.scheduled, self.tg, request.min_job_version)
        if found is None:
            return
        deployment_id, job = found
        tg = job.lookup_task_group(self.tg.name)
        if job.version >= request.min_job_version and tg is not None:
            self.tg, self.job, self.deployment_id = tg, job, deployment_id

    def _fail(self, metric: AllocMetric, failed: dict[str, AllocMetric]) -> None:
        exhaust_resources(metric, self.tg)
        failed[self.tg.name] = metric
        if self.replaced is not None:
            _drop_stop(self.ctx.plan, self.replaced)
            self.ctx.stack.pop_stop(self.replaced)
        if self.prev is not None and self.rescheduling:
            _mark_failed_to_reschedule(self.ctx.plan, self.prev)

    def ask(self) -> tuple[int, int, int]:
        """The group's `group_ask`, computed once per TaskGroup object."""
        tg, cached = self.tg, self._ask
        if cached is None or cached[0] is not tg:
            cached = self._ask = (tg, group_ask(tg))
        return cached[1]

    def _new_alloc(self, option: RankedNode, metric: AllocMetric) -> Allocation:
        ctx, prev = self.ctx, self.prev
        alloc = new_alloc(ctx.senv.ids.uuid(), ctx.ev.id, self.job, self.tg, self.name, option, metric, self.ask())
        alloc.deployment_id = self.deployment_id
        if prev is not None:
            alloc.previous_allocation = prev.id
            if self.rescheduling:
                alloc.reschedule_tracker = new_reschedule_tracker(prev, ctx.senv.now)
                _swap_in_plan(ctx.plan, prev, LAST_RESCHEDULE_OK)
        if self.request is not None and self.request.canary and self.deployment is not None:
            alloc.deployment_status = AllocDeploymentStatus(canary=True)
        return alloc

    def _preferred_rows(self) -> list[int] | None:
        """Nomad: findPreferredNode: a sticky or migrating ephemeral disk prefers the old node,
        unless the job moved to another node pool or datacenters."""
        prev, disk, job = self.prev, self.tg.ephemeral_disk, self.scheduled
        if prev is None or disk is None or not (disk.sticky or disk.migrate):
            return None
        if prev.job.node_pool != job.node_pool or list(prev.job.datacenters) != list(job.datacenters):
            return None
        nodes = self.ctx.senv.state.nodes
        row = nodes.index_of.get(prev.node_id)
        return None if row is None or not nodes.is_ready_row(row) else [row]


def new_alloc(
    alloc_id: str, eval_id: str, job: Job, tg: TaskGroup, name: str, option: RankedNode, metric: AllocMetric,
    ask: tuple[int, int, int] | None = None,
) -> Allocation:
    """The alloc a placement creates on the chosen node: the group's resources (`ask`: the
    group's `group_ask` when the caller has it), the ports the node offered, the select's metric
    and score (Nomad: the Allocation of computePlacements)."""
    return alloc_on(alloc_id, eval_id, job, tg.name, name, option.node, list(option.ports), option.devices, metric,
                    option.final_score, group_ask(tg) if ask is None else ask, networks=option.networks)


def alloc_on(
    alloc_id: str, eval_id: str, job: Job, group: str, name: str, node: Node, ports: list[tuple[str, int]],
    devices: tuple[AllocatedDevice, ...], metric: AllocMetric, score: float, ask: tuple[int, int, int],
    deployment_id: str = "", networks: tuple[AllocatedNetwork, ...] = (),
) -> Allocation:
    """A new alloc of `job`'s `group` on `node`, with what the select offered and the group's ask."""
    cpu, mem, disk = ask
    # (the leading fields by position, in Allocation's order: keywords cost more than the rest of the call)
    return Allocation(alloc_id, job.namespace, eval_id, name, node.id, node.name, job.id, job, group, cpu, mem, disk,
                      ports, devices, networks, metrics=metric, score=score, deployment_id=deployment_id)


def _penalty_nodes(prev: Allocation | None) -> frozenset[str]:
    """Nomad: getSelectOptions: the previous node if that alloc failed, and every node in its
    reschedule history."""
    if prev is None:
        return frozenset()
    nodes = {e.prev_node_id for e in prev.reschedule_tracker}
    if prev.client_status == ALLOC_CLIENT_FAILED:
        nodes.add(prev.node_id)
    return frozenset(nodes)


def _drop_stop(plan: Plan, alloc: Allocation) -> None:
    """Nomad: Plan.PopUpdate: take back the planned stop of this alloc."""
    updates = plan.node_update.get(alloc.node_id, [])
    for i in range(len(updates) - 1, -1, -1):
        if updates[i].id == alloc.id:
            del updates[i]
            break
    if not updates:
        plan.node_update.pop(alloc.node_id, None)


def _swap_in_plan(plan: Plan, original: Allocation, note: str) -> None:
    """Nomad: swapAllocInPlan: the plan's stop (or update) of `original` carries the tracker note."""
    for table in (plan.node_update, plan.node_allocation):
        allocs = table.get(original.node_id, [])
        for i, alloc in enumerate(allocs):
            if alloc.id == original.id:
                allocs[i] = replace(alloc, last_reschedule=note)
                return


def _mark_failed_to_reschedule(plan: Plan, prev: Allocation) -> None:
    """Nomad: markFailedToReschedule: the failed alloc keeps running-desired, its tracker noting
    "no placement", so the blocked eval retries the reschedule."""
    updated = replace(prev, last_reschedule=LAST_RESCHEDULE_FAILED_TO_PLACE)
    _drop_stop(plan, prev)
    allocs = plan.node_allocation.get(prev.node_id, [])
    for i, alloc in enumerate(allocs):
        if alloc.id == prev.id:
            allocs[i] = updated
            return
    plan.append_alloc(updated)


def alloc_update_precheck(
    existing: Allocation, new_job: Job, new_tg: TaskGroup, node: Node | None
) -> tuple[bool, bool, Allocation | None] | None:
    """The stack-free part of the in-place decision; None means "try in-place on the node".

    Returns (ignore, destructive, None) when decided. The caller re-runs its stack on `node`
    with `existing` discounted (Nomad: plan.AppendStoppedAlloc(existing, ALLOC_IN_PLACE) then
    PopUpdate) and builds the in-place copy, or answers destructive when it does not fit.

    Nomad: scheduler/util.go, genericAllocUpdateFn (up to stack.Select).
    """
    if existing.job.job_modify_index == new_job.job_modify_index:
        return True, False, None
    if tasks_updated(new_job, existing.job, new_tg.name):
        return False, True, None
    if existing.terminal():
        return True, False, None
    if (
        node is None
        or not node_in_any_dc(node, new_job.datacenters)
        or not node_in_pool(node, new_job.node_pool)
    ):
        return False, True, None
    return None
