"""Turning reconciler decisions into allocations on nodes, through the placement stack.

Nomad: scheduler/generic_sched.go computePlacements, genericAllocUpdateFn (util.go), and the
bookkeeping of the plan as placements are made (so later placements see earlier ones).
"""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from typing import TYPE_CHECKING

from sim.scheduler.rank import exhaust_resources
from sim.scheduler.reschedule import new_reschedule_tracker
from sim.scheduler.stack import GenericStack, candidate_rows, group_ask
from sim.structs.alloc import Allocation, AllocDeploymentStatus, AllocMetric
from sim.structs.job import Job, TaskGroup
from sim.structs.plan import Plan

if TYPE_CHECKING:
    from sim.scheduler.generic import SchedulerEnv
    from sim.scheduler.reconcile import ReconcileResults
    from sim.structs.evaluation import Evaluation


class PlacementContext:
    """The stack of one scheduling round plus the plan it fills."""

    def __init__(self, senv: SchedulerEnv, job: Job | None, batch: bool, plan: Plan, ev: Evaluation):
        self.senv = senv
        self.job = job
        self.plan = plan
        self.ev = ev
        self.deployment_id = ""
        self.stack = GenericStack(senv.state.nodes, batch, senv.rng, senv.algorithm)
        if senv.policy is not None and hasattr(self.stack, "set_policy"):
            self.stack.set_policy(senv.policy)
        self._eligibility: dict[str, bool] = {}
        self._escaped = False
        self._nodes_available: dict[str, int] = {}
        self._nodes_in_pool = 0

    def prepare(self, live_allocs: list[Allocation]) -> None:
        """Set the candidate nodes and the job's existing allocs on the stack."""
        if self.job is None or self.job.stop:
            return
        rows, available, in_pool = candidate_rows(self.senv.state.nodes, self.job)
        self._nodes_available, self._nodes_in_pool = available, in_pool
        self.stack.set_nodes(rows)
        self.stack.set_job(self.job, live_allocs)

    def stop(self, alloc: Allocation) -> None:
        """A planned stop frees its resources for later placements in this round."""
        if self.job is not None and not self.job.stop and not alloc.terminal():
            self.stack.stop(alloc)

    # -- in-place vs destructive ------------------------------------------------------------

    def alloc_update_fn(self, existing: Allocation, job: Job, tg: TaskGroup) -> tuple[bool, bool, Allocation | None]:
        """Nomad: genericAllocUpdateFn: ignore, destructive, or an in-place updated copy."""
        from sim.scheduler.util import tasks_updated

        if existing.job.job_modify_index == job.job_modify_index and existing.job.create_index == job.create_index:
            return True, False, None
        if tasks_updated(job, existing.job, tg.name):
            return False, True, None
        if existing.terminal():
            return True, False, None
        state = self.senv.state
        node = state.node_by_id(existing.node_id)
        if node is None or not _dc_matches(node.datacenter, job.datacenters):
            return False, True, None
        if job.node_pool not in ("", "all") and node.node_pool != job.node_pool:
            return False, True, None
        row = state.nodes.index_of[node.id]
        option, _ = self.stack.select_on_node(tg, row, ignore_alloc=existing)
        if option is None:
            return False, True, None
        cpu, mem, disk = group_ask(tg)
        updated = replace(existing, job=job, eval_id=self.ev.id, cpu=cpu, memory_mb=mem, disk_mb=disk,
                          deployment_id=self.deployment_id or existing.deployment_id)
        if self.deployment_id and self.deployment_id != existing.deployment_id:
            updated.deployment_status = None
        self.stack.place(row, updated)
        return False, False, updated

    # -- placements -------------------------------------------------------------------------

    def compute_placements(self, results: ReconcileResults) -> dict[str, AllocMetric]:
        """Nomad: computePlacements: destructive updates first, then the rest, one at a time."""
        failed: dict[str, AllocMetric] = {}
        for d in results.destructive_update:
            self._place_one(d.task_group, d.place_name, failed, stop=(d.stop_alloc, d.stop_description))
        for p in results.place:
            self._place_one(p.task_group, p.name, failed, request=p)
        return failed

    def _place_one(self, tg: TaskGroup, name: str, failed: dict[str, AllocMetric], request=None, stop=None) -> None:
        if tg.name in failed:
            failed[tg.name].coalesced_failures += 1
            exhaust_resources(failed[tg.name], tg)
            return
        prev = request.previous_alloc if request is not None else stop[0]
        if stop is not None:
            self.stack.stop(stop[0])  # the replaced alloc's resources are free for its replacement
        penalty = _penalty_nodes(prev) if request is not None and request.reschedule else frozenset()
        preferred = self._preferred_rows(tg, prev)
        option, metric = self.stack.select(tg, penalty, preferred)
        metric.nodes_available = dict(self._nodes_available)
        metric.nodes_in_pool = self._nodes_in_pool
        metric.node_pool = self.job.node_pool
        if option is None:
            if stop is not None:
                self.stack.pop_stop(stop[0])
            exhaust_resources(metric, tg)
            failed[tg.name] = metric
            self._note_ineligible(tg)
            return
        alloc = self._new_alloc(tg, name, option, metric, request, prev)
        self.stack.place(option.row, alloc)
        self.plan.append_alloc(alloc)
        if stop is not None:
            self.plan.append_stopped_alloc(stop[0], stop[1])

    def _new_alloc(self, tg: TaskGroup, name: str, option, metric: AllocMetric, request, prev) -> Allocation:
        cpu, mem, disk = group_ask(tg)
        alloc = Allocation(
            id=self.senv.ids.uuid(), namespace=self.job.namespace, eval_id=self.ev.id, name=name,
            node_id=option.node.id, node_name=option.node.name, job_id=self.job.id, job=self.job,
            task_group=tg.name, cpu=cpu, memory_mb=mem, disk_mb=disk, ports=list(option.ports),
            metrics=metric, score=option.final_score, deployment_id=self.deployment_id,
        )
        if request is not None and request.canary and self.deployment_id:
            alloc.deployment_status = AllocDeploymentStatus(canary=True)
        if prev is not None:
            alloc.previous_allocation = prev.id
            if request is not None and request.reschedule:
                alloc.reschedule_tracker = new_reschedule_tracker(prev, self.senv.now)
        return alloc

    def _preferred_rows(self, tg: TaskGroup, prev: Allocation | None) -> list[int] | None:
        """Nomad: findPreferredNode: sticky or migrating ephemeral disk prefers the old node."""
        disk = tg.ephemeral_disk
        if prev is None or disk is None or not (disk.sticky or disk.migrate):
            return None
        row = self.senv.state.nodes.index_of.get(prev.node_id)
        return None if row is None or not self.senv.state.nodes.is_ready_row(row) else [row]

    def _note_ineligible(self, tg: TaskGroup) -> None:
        elig, escaped = self.stack.class_eligibility(tg) if hasattr(self.stack, "class_eligibility") else ({}, True)
        self._eligibility.update(elig)
        self._escaped = self._escaped or escaped

    def class_eligibility(self) -> tuple[dict[str, bool], bool]:
        """Per computed class: could any node of it pass the job's constraints? And escaped?"""
        return dict(sorted(self._eligibility.items())), self._escaped


def _dc_matches(datacenter: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(datacenter, p) for p in (patterns or ["*"]))


def _penalty_nodes(prev: Allocation | None) -> frozenset[str]:
    """Nomad: getSelectOptions: the previous node and every node in the reschedule history."""
    if prev is None:
        return frozenset()
    return frozenset([prev.node_id, *(e.prev_node_id for e in prev.reschedule_tracker)])
