"""The system and sysbatch scheduler: one alloc of each group on every eligible node.

Nomad: scheduler/scheduler_system.go and util.go diffSystemAllocs. Nodes that fail a constraint
are simply skipped; only a feasible node that lacks room is a placement failure. Updates of a
system job are applied to every node in one eval (Nomad rolls them with max_parallel; see the
README's fidelity list).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace

from sim.scheduler.generic import ACCEPTED_TRIGGERS, SchedulerEnv, SchedulerOutcome, tainted_nodes
from sim.scheduler.rank import exhaust_resources
from sim.scheduler.stack import SystemStack, candidate_rows, group_ask
from sim.scheduler.util import tasks_updated
from sim.structs.alloc import Allocation, AllocMetric
from sim.structs.consts import (
    ALLOC_CLIENT_LOST,
    ALLOC_LOST,
    ALLOC_NODE_TAINTED,
    ALLOC_NOT_NEEDED,
    ALLOC_UPDATING,
    EVAL_STATUS_COMPLETE,
    EVAL_STATUS_FAILED,
    NODE_STATUS_DOWN,
)
from sim.structs.evaluation import Evaluation
from sim.structs.plan import Plan, PlanResult

MAX_SYSTEM_ATTEMPTS = 5


class SystemScheduler:
    """Nomad: SystemScheduler (system and sysbatch)."""

    def __init__(self, senv: SchedulerEnv, sysbatch: bool):
        self.senv = senv
        self.sysbatch = sysbatch

    def process(self, ev: Evaluation) -> Generator[Plan, PlanResult, SchedulerOutcome]:
        """Diff existing allocs against eligible nodes, place and stop; retry on partial commit."""
        ev = replace(ev)
        if ev.triggered_by not in ACCEPTED_TRIGGERS:
            ev.status, ev.status_description = EVAL_STATUS_FAILED, f"scheduler cannot handle '{ev.triggered_by}' evaluation reason"
            return SchedulerOutcome(eval=ev)
        attempts, placed = 0, 0
        while True:
            attempts += 1
            plan, failed, queued = self._round(ev)
            if plan.is_no_op() and not ev.annotate_plan:
                break
            result = yield plan
            placed += sum(len(v) for v in result.node_allocation.values())
            if result.full_commit(plan)[0] or result.refresh_index == 0:
                break
            if result.made_progress():
                attempts = 0
            if attempts >= MAX_SYSTEM_ATTEMPTS:
                ev.status, ev.status_description = EVAL_STATUS_FAILED, f"maximum attempts reached ({MAX_SYSTEM_ATTEMPTS})"
                return SchedulerOutcome(eval=ev, placed=placed, plan=plan)
        ev.status, ev.status_description = EVAL_STATUS_COMPLETE, ""
        ev.failed_tg_allocs = failed
        ev.queued_allocations = queued
        return SchedulerOutcome(eval=ev, placed=placed, plan=plan,
                                failed_placements=sum(1 + m.coalesced_failures for m in failed.values()))

    def _round(self, ev: Evaluation) -> tuple[Plan, dict[str, AllocMetric], dict[str, int]]:
        state = self.senv.state
        job = state.job_by_id(ev.namespace, ev.job_id)
        plan = Plan(eval_id=ev.id, priority=ev.priority, job=job, snapshot_index=state.index)
        allocs = state.allocs_by_job(ev.namespace, ev.job_id)
        tainted = tainted_nodes(state, allocs)
        live = [a for a in allocs if not a.terminal()]
        if job is None or job.stop:
            for a in live:
                plan.append_stopped_alloc(a, ALLOC_NOT_NEEDED)
            return plan, {}, {}
        stack = SystemStack(state.nodes, self.senv.rng, self.senv.algorithm)
        stack.set_job(job, [a for a in allocs if not a.client_terminal()])
        rows, _, _ = candidate_rows(state.nodes, job)
        eligible = {state.nodes.nodes[r].id: int(r) for r in rows}
        failed: dict[str, AllocMetric] = {}
        queued = {tg.name: 0 for tg in job.task_groups}
        by_node_tg = {(a.node_id, a.task_group): a for a in allocs if not a.server_terminal()}
        for a in live:
            self._stop_if_unneeded(plan, stack, job, a, tainted, eligible)
        for tg in job.task_groups:
            for node_id, row in eligible.items():
                existing = by_node_tg.get((node_id, tg.name))
                if existing is not None and self._keep_or_update(plan, stack, job, tg, existing, row):
                    continue
                if existing is not None and existing.client_terminal() and (self.sysbatch or existing.client_status == "complete"):
                    continue
                self._place(plan, stack, job, tg, ev, node_id, row, failed, queued)
        return plan, failed, queued

    def _stop_if_unneeded(self, plan, stack, job, alloc: Allocation, tainted, eligible) -> None:
        group = job.lookup_task_group(alloc.task_group)
        if alloc.node_id in tainted:
            node = tainted[alloc.node_id]
            if node is None or node.status == NODE_STATUS_DOWN:
                plan.append_stopped_alloc(alloc, ALLOC_LOST, ALLOC_CLIENT_LOST)
            else:
                plan.append_stopped_alloc(alloc, ALLOC_NODE_TAINTED)
            stack.stop(alloc)
        elif group is None:
            plan.append_stopped_alloc(alloc, ALLOC_NOT_NEEDED)
            stack.stop(alloc)

    def _keep_or_update(self, plan, stack, job, tg, existing: Allocation, row: int) -> bool:
        """True when the existing alloc stays (unchanged or updated in place)."""
        if existing.terminal():
            return False
        if existing.job.job_modify_index == job.job_modify_index and existing.job.create_index == job.create_index:
            return True
        if not tasks_updated(job, existing.job, tg.name):
            option, _ = stack.select_on_node(tg, row, ignore_alloc=existing)
            if option is not None:
                cpu, mem, disk = group_ask(tg)
                updated = replace(existing, job=job, eval_id=plan.eval_id, cpu=cpu, memory_mb=mem, disk_mb=disk)
                stack.place(row, updated)
                plan.append_alloc(updated)
                return True
        plan.append_stopped_alloc(existing, ALLOC_UPDATING)
        stack.stop(existing)
        return False

    def _place(self, plan, stack, job, tg, ev, node_id, row, failed, queued) -> None:
        option, metric = stack.select_on_node(tg, row)
        if option is None:
            if metric.nodes_filtered:  # a constraint excludes the node: not a failure for system jobs
                return
            queued[tg.name] += 1
            if tg.name in failed:
                failed[tg.name].coalesced_failures += 1
                metric = failed[tg.name]
            else:
                failed[tg.name] = metric
            exhaust_resources(metric, tg)
            return
        cpu, mem, disk = group_ask(tg)
        alloc = Allocation(
            id=self.senv.ids.uuid(), namespace=job.namespace, eval_id=ev.id, name=f"{job.id}.{tg.name}[0]",
            node_id=node_id, node_name=option.node.name, job_id=job.id, job=job, task_group=tg.name,
            cpu=cpu, memory_mb=mem, disk_mb=disk, ports=list(option.ports), metrics=metric, score=option.final_score,
        )
        stack.place(row, alloc)
        plan.append_alloc(alloc)
