"""The generic scheduler for service and batch jobs.

Nomad: scheduler/generic_sched.go. `GenericScheduler.process` is a generator: it yields each plan
it wants committed and receives the applier's PlanResult (`result = yield plan`), retrying with
fresh state after a partial commit. Its return value is the `SchedulerOutcome`: the eval as it
should be written, and the follow-up evals (blocked, delayed reschedules) to create.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field, replace

import numpy as np

from sim.scheduler.placement import PlacementContext
from sim.scheduler.reconcile import ReconcileResults, reconcile
from sim.state import StateStore
from sim.structs.alloc import AllocMetric
from sim.structs.consts import (
    ALLOC_CLIENT_LOST,
    ALLOC_LOST,
    BLOCKED_EVAL_DESC,
    BLOCKED_EVAL_MAX_PLAN_DESC,
    EVAL_STATUS_BLOCKED,
    EVAL_STATUS_COMPLETE,
    EVAL_STATUS_FAILED,
    JOB_TYPE_BATCH,
    NODE_STATUS_DISCONNECTED,
    NODE_STATUS_DOWN,
    TRIGGER_MAX_PLANS,
    TRIGGER_QUEUED_ALLOCS,
)
from sim.structs.evaluation import Evaluation
from sim.structs.ids import IdGenerator
from sim.structs.node import Node
from sim.structs.plan import Plan, PlanResult

MAX_SERVICE_ATTEMPTS = 5
MAX_BATCH_ATTEMPTS = 2
ACCEPTED_TRIGGERS = frozenset({
    "job-register", "job-deregister", "periodic-job", "node-drain", "node-update", "alloc-stop",
    "rolling-update", "deployment-watcher", "failed-follow-up", "max-plan-attempts", "alloc-failure",
    "queued-allocs", "preemption", "job-scaling", "max-disconnect-timeout", "reconnect", "alloc-reschedule",
})


@dataclass(slots=True)
class SchedulerOutcome:
    """What the worker writes once the scheduler is done with an eval."""

    eval: Evaluation
    create_evals: list[Evaluation] = field(default_factory=list)
    reblock: bool = False
    placed: int = 0
    failed_placements: int = 0
    plan: Plan | None = None  # the last plan (for annotate/dry runs)


@dataclass(slots=True)
class SchedulerEnv:
    """What a scheduler reads besides the eval: state, rng, ids, clock and knobs."""

    state: StateStore
    rng: np.random.Generator
    ids: IdGenerator
    now: float
    algorithm: str = "binpack"
    policy: object = None


def tainted_nodes(state: StateStore, allocs: list) -> dict[str, Node | None]:
    """Nomad: taintedNodes: nodes of these allocs that are gone, down, draining or disconnected."""
    out: dict[str, Node | None] = {}
    for alloc in allocs:
        if alloc.node_id in out:
            continue
        node = state.node_by_id(alloc.node_id)
        if node is None or node.status in (NODE_STATUS_DOWN, NODE_STATUS_DISCONNECTED) or node.drain:
            out[alloc.node_id] = node
    return out


class GenericScheduler:
    """Nomad: GenericScheduler (service and batch)."""

    def __init__(self, senv: SchedulerEnv, batch: bool):
        self.senv = senv
        self.batch = batch

    def process(self, ev: Evaluation) -> Generator[Plan, PlanResult, SchedulerOutcome]:
        """Nomad: GenericScheduler.Process: reconcile, place, submit; retry on partial commit."""
        was_blocked = ev.status == EVAL_STATUS_BLOCKED
        ev = replace(ev)
        if ev.triggered_by not in ACCEPTED_TRIGGERS:
            return self._finish(ev, EVAL_STATUS_FAILED, f"scheduler cannot handle '{ev.triggered_by}' evaluation reason")
        limit = MAX_BATCH_ATTEMPTS if self.batch else MAX_SERVICE_ATTEMPTS
        attempts, placed, queued_total = 0, 0, None
        while True:
            attempts += 1
            round_ = _Round(self.senv, ev, self.batch)
            round_.compute()
            if queued_total is None:
                queued_total = dict(round_.queued)
            plan = round_.plan
            if plan.is_no_op() and not ev.annotate_plan:
                break
            result = yield plan
            placed += _count_new(result)
            full, _, _ = result.full_commit(plan)
            if full or result.refresh_index == 0:
                break
            if result.made_progress():
                attempts = 0
            if attempts >= limit:
                return self._max_attempts(ev, round_, limit, placed)
        return self._complete(ev, round_, queued_total, placed, was_blocked)

    def _complete(self, ev: Evaluation, round_: _Round, queued_total: dict[str, int], placed: int,
                  was_blocked: bool) -> SchedulerOutcome:
        ev.status = EVAL_STATUS_COMPLETE
        ev.status_description = ""
        ev.failed_tg_allocs = round_.failed_tg_allocs
        ev.queued_allocations = {tg: max(0, n) for tg, n in _queued_after(queued_total, round_).items()}
        ev.deployment_id = round_.deployment_id
        if ev.annotate_plan:
            ev.plan_annotations = {"DesiredTGUpdates": round_.results.desired_tg_updates if round_.results else {}}
        outcome = SchedulerOutcome(eval=ev, plan=round_.plan, placed=placed)
        outcome.create_evals.extend(round_.followup_evals)
        failed = sum(1 + m.coalesced_failures for m in round_.failed_tg_allocs.values())
        outcome.failed_placements = failed
        if round_.failed_tg_allocs:
            if was_blocked:
                ev.status = EVAL_STATUS_BLOCKED
                ev.class_eligibility, ev.escaped_computed_class = round_.ctx.class_eligibility()
                outcome.reblock = True
            else:
                blocked = self._blocked_eval(ev, round_, TRIGGER_QUEUED_ALLOCS, BLOCKED_EVAL_DESC)
                ev.blocked_eval = blocked.id
                outcome.create_evals.append(blocked)
        return outcome

    def _blocked_eval(self, ev: Evaluation, round_: _Round, trigger: str, desc: str) -> Evaluation:
        """Nomad: Evaluation.CreateBlockedEval."""
        eligibility, escaped = round_.ctx.class_eligibility()
        return Evaluation(
            id=self.senv.ids.uuid(), namespace=ev.namespace, priority=ev.priority, type=ev.type,
            triggered_by=trigger, job_id=ev.job_id, job_modify_index=ev.job_modify_index,
            status=EVAL_STATUS_BLOCKED, status_description=desc, previous_eval=ev.id,
            failed_tg_allocs=dict(round_.failed_tg_allocs), class_eligibility=eligibility,
            escaped_computed_class=escaped, snapshot_index=self.senv.state.index,
            queued_allocations=dict(ev.queued_allocations),
        )

    def _max_attempts(self, ev: Evaluation, round_: _Round, limit: int, placed: int) -> SchedulerOutcome:
        """Nomad: SetStatusError on max attempts: eval failed plus a max-plan-attempts blocked eval."""
        ev.status = EVAL_STATUS_FAILED
        ev.status_description = f"maximum attempts reached ({limit})"
        blocked = self._blocked_eval(ev, round_, TRIGGER_MAX_PLANS, BLOCKED_EVAL_MAX_PLAN_DESC)
        ev.blocked_eval = blocked.id
        return SchedulerOutcome(eval=ev, create_evals=[blocked], placed=placed, plan=round_.plan)

    def _finish(self, ev: Evaluation, status: str, desc: str) -> SchedulerOutcome:
        ev.status = status
        ev.status_description = desc
        return SchedulerOutcome(eval=ev)


def _count_new(result: PlanResult) -> int:
    return sum(1 for allocs in result.node_allocation.values() for a in allocs if a.create_index == a.modify_index)


def _queued_after(queued_total: dict[str, int], round_: _Round) -> dict[str, int]:
    """Nomad: adjustQueuedAllocations: queued = still unplaced after the last round."""
    out = dict.fromkeys(queued_total, 0)
    for tg, metric in round_.failed_tg_allocs.items():
        out[tg] = 1 + metric.coalesced_failures
    return out


class _Round:
    """One attempt: reconcile against current state and build the plan."""

    def __init__(self, senv: SchedulerEnv, ev: Evaluation, batch: bool):
        self.senv = senv
        self.ev = ev
        self.batch = batch
        state = senv.state
        self.job = state.job_by_id(ev.namespace, ev.job_id)
        self.plan = Plan(eval_id=ev.id, priority=ev.priority, job=self.job,
                         all_at_once=bool(self.job and self.job.all_at_once), snapshot_index=state.index)
        self.failed_tg_allocs: dict[str, AllocMetric] = {}
        self.followup_evals: list[Evaluation] = []
        self.queued: dict[str, int] = {}
        self.results: ReconcileResults | None = None
        self.deployment_id = ""
        self.ctx = PlacementContext(senv, self.job, batch, self.plan, ev)

    def compute(self) -> None:
        """Nomad: computeJobAllocs."""
        state, ev, job = self.senv.state, self.ev, self.job
        allocs = state.allocs_by_job(ev.namespace, ev.job_id)
        tainted = tainted_nodes(state, allocs)
        self._mark_lost(allocs, tainted)
        deployment = None if self.batch else state.latest_deployment(ev.namespace, ev.job_id)
        self.ctx.prepare([a for a in allocs if not a.client_terminal()])
        results = reconcile(job, ev.job_id, ev.namespace, deployment, allocs, tainted, self.batch, ev.id,
                            ev.priority, self.senv.now, self.ctx.alloc_update_fn, self.senv.ids.uuid)
        self.results = results
        self.plan.deployment = results.deployment
        self.plan.deployment_updates = list(results.deployment_updates)
        self.deployment_id = _active_deployment_id(results, deployment, job)
        if ev.annotate_plan:
            self.plan.annotations = results.desired_tg_updates
        for _tg, evals in sorted(results.desired_followup_evals.items()):
            self.followup_evals.extend(evals)
        for stop in results.stop:
            self.plan.append_stopped_alloc(stop.alloc, stop.description, stop.client_status, stop.followup_eval_id)
            self.ctx.stop(stop.alloc)
        for alloc in results.inplace_update:
            self.plan.append_alloc(alloc)
        for alloc in results.attribute_updates.values():
            self.plan.append_alloc(alloc)
        for tg, upd in results.desired_tg_updates.items():
            self.queued[tg] = upd.place + upd.destructive_update
        if job is None or job.stop:
            self.queued = dict.fromkeys(self.queued, 0)
            return
        self.ctx.deployment_id = self.deployment_id
        self.failed_tg_allocs = self.ctx.compute_placements(results)

    def _mark_lost(self, allocs: list, tainted: dict[str, Node | None]) -> None:
        """Nomad: updateNonTerminalAllocsToLost: stopped allocs on down nodes become lost."""
        for alloc in allocs:
            node = tainted.get(alloc.node_id, "absent")
            if node == "absent" or (node is not None and node.status != NODE_STATUS_DOWN):
                continue
            if alloc.server_terminal() and alloc.client_status in ("pending", "running"):
                self.plan.append_stopped_alloc(alloc, ALLOC_LOST, ALLOC_CLIENT_LOST)


def _active_deployment_id(results: ReconcileResults, deployment, job) -> str:
    """The deployment new allocs join: a new one, or the current active one of this job version."""
    if results.deployment is not None:
        return results.deployment.id
    if deployment is None or job is None or not deployment.active():
        return ""
    if deployment.job_version != job.version or deployment.job_create_index != job.create_index:
        return ""
    if any(u.deployment_id == deployment.id for u in results.deployment_updates):
        return ""
    return deployment.id


def is_batch(job_type: str) -> bool:
    """Batch-like jobs never use deployments and keep completed allocs."""
    return job_type == JOB_TYPE_BATCH
