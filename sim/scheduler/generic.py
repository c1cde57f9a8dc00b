"""The generic scheduler for service and batch jobs.

Nomad: scheduler/generic_sched.go. `GenericScheduler.process` is a generator: it yields each plan
it wants committed and receives the applier's PlanResult (`result = yield plan`), retrying with
fresh state after a partial commit (Nomad: retryMax around process()). Its return value is the
`SchedulerOutcome` (sim.scheduler.env): the eval as the worker should write it, and the evals the
scheduler created (blocked evals, delayed reschedules), as Nomad's Planner.UpdateEval /
CreateEval / ReblockEval. The helpers both schedulers share (blocked evals, lost allocs, queued
counts) live here too; the system scheduler imports them.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import numpy as np

from sim.scheduler.env import SchedulerEnv, SchedulerOutcome, SchedulerState
from sim.scheduler.failed_pass import FailedPasses, Replay, failed_pass_plan
from sim.scheduler.node_sets import tainted_nodes
from sim.scheduler.placement import PlacementContext
from sim.scheduler.reconciler.cluster import ClusterState, ReconcilerState, reconcile
from sim.scheduler.reconciler.results import (
    DestructiveUpdate,
    MissingPlacements,
    PlaceList,
    PlacementRequest,
    ReconcileResults,
    place_parts,
)
from sim.scheduler.reconciler.settled import job_allocs
from sim.structs.alloc import Allocation, AllocMetric
from sim.structs.consts import (
    ALLOC_CLIENT_LOST,
    ALLOC_CLIENT_PENDING,
    ALLOC_CLIENT_RUNNING,
    ALLOC_LOST,
    BLOCKED_EVAL_DESC,
    BLOCKED_EVAL_MAX_PLAN_DESC,
    EVAL_STATUS_BLOCKED,
    EVAL_STATUS_COMPLETE,
    EVAL_STATUS_FAILED,
    JOB_TYPE_BATCH,
    JOB_TYPE_SYSBATCH,
    JOB_TYPE_SYSTEM,
    NODE_STATUS_DOWN,
    TRIGGER_MAX_PLANS,
    TRIGGER_QUEUED_ALLOCS,
)
from sim.structs.deployment import Deployment
from sim.structs.evaluation import Evaluation
from sim.structs.ids import IdGenerator
from sim.structs.job import Job, TaskGroup
from sim.structs.node import Node
from sim.structs.plan import DesiredUpdates, Plan, PlanResult
from sim.structs.scheduler_config import PreemptionConfig

if TYPE_CHECKING:
    from sim.scheduler.policies import Policy

_SYSTEM_TYPES = (JOB_TYPE_SYSTEM, JOB_TYPE_SYSBATCH)  # evals for the system scheduler (factory.py)
MAX_SERVICE_ATTEMPTS = 5
MAX_BATCH_ATTEMPTS = 2
ACCEPTED_TRIGGERS = frozenset({
    "job-register", "job-deregister", "node-drain", "node-update", "alloc-stop", "alloc-reschedule",
    "rolling-update", "queued-allocs", "periodic-job", "max-plan-attempts", "deployment-watcher",
    "alloc-failure", "failed-follow-up", "preemption", "job-scaling", "max-disconnect-timeout", "reconnect",
})


def progress_made(result: PlanResult | None) -> bool:
    """Nomad: progressMade: the applier committed something (the retry counter resets)."""
    return result is not None and result.made_progress()


def mark_lost_stopped_allocs(plan: Plan, allocs: list[Allocation], tainted: dict[str, Node | None]) -> None:
    """Nomad: updateNonTerminalAllocsToLost: stopped but still running allocs on down (or gone)
    nodes become client-lost."""
    for alloc in allocs:
        if alloc.node_id not in tainted:
            continue
        node = tainted[alloc.node_id]
        if node is not None and node.status != NODE_STATUS_DOWN:
            continue
        if alloc.server_terminal() and alloc.client_status in (ALLOC_CLIENT_RUNNING, ALLOC_CLIENT_PENDING):
            plan.append_stopped_alloc(alloc, ALLOC_LOST, ALLOC_CLIENT_LOST)


def blocked_eval(ids: IdGenerator, ev: Evaluation, eligibility: dict[str, bool], escaped: bool,
                 failed: dict[str, AllocMetric], snapshot_index: int) -> Evaluation:
    """Nomad: Evaluation.CreateBlockedEval (the caller sets the description, or the trigger)."""
    return Evaluation(
        id=ids.uuid(), namespace=ev.namespace, priority=ev.priority, type=ev.type,
        triggered_by=TRIGGER_QUEUED_ALLOCS, job_id=ev.job_id, job_modify_index=ev.job_modify_index,
        status=EVAL_STATUS_BLOCKED, previous_eval=ev.id, failed_tg_allocs=failed,
        class_eligibility=dict(eligibility), escaped_computed_class=escaped, snapshot_index=snapshot_index,
    )


def adjust_queued(result: PlanResult, new_alloc_ids: set[str], queued: dict[str, int]) -> int:
    """Nomad: scheduler/util.go, adjustQueuedAllocations: each new alloc the plan committed is no
    longer queued. Returns how many there were."""
    placed = [a for allocs in result.node_allocation.values() for a in allocs if a.id in new_alloc_ids]
    for alloc in placed:
        if alloc.task_group in queued:
            queued[alloc.task_group] -= 1
    return len(placed)


def count_queued(place: PlaceList | list[PlacementRequest], destructive: list[DestructiveUpdate],
                 queued: dict[str, int]) -> None:
    """Nomad: computeJobAllocs' QueuedAllocations: one per placement and destructive update,
    per group (a run of missing names counts in one step)."""
    parts: list[list[PlacementRequest] | MissingPlacements | list[DestructiveUpdate]] = [
        *place_parts(place), destructive,
    ]
    for part in parts:
        if type(part) is MissingPlacements:  # (not isinstance: an ABC's costs more)
            name = part.task_group.name
            queued[name] = queued.get(name, 0) + len(part)
            continue
        for request in part:
            name = request.task_group.name
            queued[name] = queued.get(name, 0) + 1


def count_failures(failed: dict[str, AllocMetric]) -> int:
    """Placements that found no node: one per metric plus its coalesced failures."""
    return sum(1 + m.coalesced_failures for m in failed.values())


def replay_blocked(state: SchedulerState, rng: np.random.Generator, policy: Policy | None,
                   preemption: PreemptionConfig, ev: Evaluation) -> tuple[Evaluation, int] | None:
    """`GenericScheduler.process` of a blocked eval whose first attempt its job's failed-pass
    memo answers (`_replayed`): the eval to re-block and its failed placements; None when the
    scheduler must run (or another scheduler: system evals). The same draws and eval, without
    building the scheduler, its environment, its outcome or its empty plan."""
    if (ev.status != EVAL_STATUS_BLOCKED or ev.annotate_plan or ev.type in _SYSTEM_TYPES
            or ev.triggered_by not in ACCEPTED_TRIGGERS):
        return None
    memo = FailedPasses.of_state(state)
    found = None if memo is None else memo.match(state, rng, policy, preemption, ev, ev.type == JOB_TYPE_BATCH)
    if found is None:
        return None
    answer = found[1]
    new = ev.copy()
    # (the memo's class eligibility, shared: no eval's is written in place)
    new.class_eligibility, new.escaped_computed_class = answer.eligibility, answer.escaped
    new.snapshot_index = state.index
    return new, answer.failed


class GenericScheduler:
    """Nomad: GenericScheduler (service and batch)."""

    eval: Evaluation  # the eval being processed (a copy), set by `process`

    def __init__(self, senv: SchedulerEnv, batch: bool) -> None:
        self.senv = senv
        self.batch = batch
        self.blocked: Evaluation | None = None
        self.created: list[Evaluation] = []
        self.deployment: Deployment | None = None
        self.plan_result: PlanResult | None = None
        self.last_plan: Plan | None = None
        self.snapshot_index = 0
        self.placed = 0

    def process(self, ev: Evaluation) -> Generator[Plan, PlanResult, SchedulerOutcome]:
        """Nomad: GenericScheduler.Process: retry process() up to the attempt limit, then set
        the eval's status (or re-block a blocked eval that still could not place everything)."""
        self.eval = ev.copy()
        self.snapshot_index = self.senv.state.index
        if ev.triggered_by not in ACCEPTED_TRIGGERS:
            desc = f"scheduler cannot handle '{ev.triggered_by}' evaluation reason"
            return self._outcome(self._set_status(None, EVAL_STATUS_FAILED, desc), None)
        # a blocked eval's re-run that can place nothing: answered by its job's failed-pass memo
        # (a dry run's planned job is not the state's: it neither reads nor leaves a memo)
        memo = None if ev.annotate_plan else FailedPasses.of(self.senv)
        settle = memo if memo is not None and ev.status == EVAL_STATUS_BLOCKED else None
        if settle is not None:
            replay = settle.replay(self.senv, self.eval, self.batch)
            if replay is not None:
                return self._replayed(replay)
        limit = MAX_BATCH_ATTEMPTS if self.batch else MAX_SERVICE_ATTEMPTS
        attempts = 0
        while True:  # at least one attempt: the limits are positive
            if settle is not None and self.last_plan is not None:  # a retry: the memo may answer it too
                replay = settle.replay(self.senv, self.eval, self.batch, retry=True)
                if replay is not None:
                    return self._replayed(replay)
            round_ = _Round(self.senv, self.eval, self.batch, settle)
            self.deployment = round_.deployment
            if (yield from self._attempt(round_)):
                break
            attempts = 0 if progress_made(self.plan_result) else attempts + 1
            if attempts >= limit:
                if memo is not None:
                    memo.forget((ev.namespace, ev.job_id))
                self._create_blocked_eval(round_, plan_failure=True)
                desc = f"maximum attempts reached ({limit})"
                return self._outcome(self._set_status(round_, EVAL_STATUS_FAILED, desc), round_)
        if memo is not None and round_.replay is None:
            self._remember(memo, round_)
        if self.eval.status == EVAL_STATUS_BLOCKED and (round_.failed_tg_allocs or round_.replay is not None):
            return self._reblock(round_)
        return self._outcome(self._set_status(round_, EVAL_STATUS_COMPLETE, ""), round_)

    def _remember(self, memo: FailedPasses, round_: _Round) -> None:
        """Keep what a pass that placed nothing learnt, for its eval's re-runs (failed_pass.py)."""
        if self.last_plan is not None or not round_.failed_tg_allocs or not round_.plan.is_no_op():
            memo.forget((self.eval.namespace, self.eval.job_id))
            return
        memo.learn(self.senv, round_.job, round_.deployment, round_.results, round_.allocs, round_.tainted,
                   self.batch)

    def _replayed(self, replay: Replay) -> SchedulerOutcome:
        """`_reblock` of an attempt the failed-pass memo answered without reconciling (on the
        scheduler's own copy of the eval: nothing else reads it), after any earlier attempt's
        rejected plan."""
        new = self.eval
        new.class_eligibility, new.escaped_computed_class = replay.eligibility, replay.escaped
        new.snapshot_index = self.snapshot_index
        return SchedulerOutcome(eval=new, create_evals=list(self.created), reblock=True, placed=self.placed,
                                failed_placements=replay.failed,
                                plan=self.last_plan or failed_pass_plan(new, replay.job, self.snapshot_index))

    def _attempt(self, round_: _Round) -> Generator[Plan, PlanResult, bool]:
        """Nomad: GenericScheduler.process: one reconcile, blocked eval, plan submission."""
        ev = self.eval
        round_.compute()
        self.deployment = round_.deployment
        now = self.senv.now
        if (ev.status != EVAL_STATUS_BLOCKED and round_.failed_tg_allocs and self.blocked is None
                and (not round_.followup_evals or ev.wait_until == 0 or now > ev.wait_until)):
            self._create_blocked_eval(round_, plan_failure=False)
        plan = round_.plan
        if plan.is_no_op() and not ev.annotate_plan:
            return True
        if round_.followup_evals and ev.wait_until == 0:
            for follow in round_.followup_evals:
                follow.previous_eval = ev.id
                follow.snapshot_index = self.snapshot_index
                ev.next_eval = follow.id
                self.created.append(follow)
        if ev.annotate_plan:
            plan.annotations = round_.desired_tg_updates()
        result = yield plan
        self.plan_result, self.last_plan = result, plan
        self.placed += adjust_queued(result, round_.ctx.new_alloc_ids, round_.queued)
        if result.refresh_index:
            self.snapshot_index = result.refresh_index
            self.deployment = None  # Nomad drops it; the next attempt reloads it from state
            return False
        return result.full_commit(plan)[0]

    def _create_blocked_eval(self, round_: _Round, plan_failure: bool) -> None:
        """Nomad: GenericScheduler.createBlockedEval."""
        eligibility, escaped = round_.ctx.class_eligibility()
        blocked = blocked_eval(self.senv.ids, self.eval, {} if escaped else eligibility, escaped,
                               round_.failed_tg_allocs, self.snapshot_index)
        if plan_failure:
            blocked.triggered_by = TRIGGER_MAX_PLANS
            blocked.status_description = BLOCKED_EVAL_MAX_PLAN_DESC
        else:
            blocked.status_description = BLOCKED_EVAL_DESC
        self.blocked = blocked
        self.created.append(blocked)

    def _set_status(self, round_: _Round | None, status: str, desc: str) -> Evaluation:
        """Nomad: setStatus: a copy of the eval with its outcome."""
        new = self.eval.copy()
        new.status, new.status_description = status, desc
        new.deployment_id = self.deployment.id if self.deployment is not None else ""
        new.failed_tg_allocs = dict(round_.failed_tg_allocs) if round_ is not None else {}
        if self.blocked is not None:
            new.blocked_eval = self.blocked.id
        if round_ is not None:
            new.queued_allocations = dict(round_.queued)
            new.plan_annotations = round_.plan_annotations()
        else:
            new.plan_annotations = None
        new.snapshot_index = self.snapshot_index
        return new

    def _reblock(self, round_: _Round) -> SchedulerOutcome:
        """Nomad: Planner.ReblockEval with the eval's fresh class eligibility."""
        new = self.eval.copy()
        new.class_eligibility, new.escaped_computed_class = round_.class_eligibility()
        new.snapshot_index = self.snapshot_index
        outcome = self._outcome(new, round_)
        outcome.reblock = True
        return outcome

    def _outcome(self, ev: Evaluation, round_: _Round | None) -> SchedulerOutcome:
        """The outcome of the run: the eval to write, the evals created, the last plan."""
        failed = round_.failed_placements() if round_ is not None else 0
        return SchedulerOutcome(eval=ev, create_evals=list(self.created), placed=self.placed,
                                failed_placements=failed, plan=self.last_plan or (round_.plan if round_ else None))


class _Round:
    """One attempt: the job, deployment and allocs as the state holds them now, and the plan."""

    def __init__(self, senv: SchedulerEnv, ev: Evaluation, batch: bool, settle: FailedPasses | None = None) -> None:
        self.senv, self.ev, self.batch, self.settle = senv, ev, batch, settle
        state = senv.state
        self.job = state.job_by_id(ev.namespace, ev.job_id)
        self.plan = Plan(eval_id=ev.id, priority=ev.priority, job=self.job,
                         all_at_once=bool(self.job and self.job.all_at_once), snapshot_index=state.index)
        self.deployment = None if batch else state.latest_deployment(ev.namespace, ev.job_id)
        self.failed_tg_allocs: dict[str, AllocMetric] = {}
        self.followup_evals: list[Evaluation] = []
        self.queued: dict[str, int] = {}
        self.results: ReconcileResults | None = None
        self.allocs: list[Allocation] = []  # the allocs reconciled (settled ones summarised)
        self.tainted = False  # whether some of them are on tainted nodes
        self.replay: Replay | None = None  # the failed-pass memo's answer (`settle` set): nothing placed
        self._unsettled: list[Allocation] = []  # the allocs the stack starts from (the non-terminal ones)
        self._job_set = False
        self.ctx = PlacementContext(senv, self.job, batch, self.plan, ev)

    def compute(self) -> None:
        """Nomad: computeJobAllocs: reconcile, then stops, updates and placements into the plan.

        Settled allocs (client-terminal) and a batch job's plain live ones on untainted nodes
        (reconciler/settled.py) may be left out of `allocs`: the tainted nodes and lost-stopped
        marks only look at the others, the stack at every non-terminal one. The stack gets the
        job when something first needs it (Nomad sets it before reconciling): a blocked eval
        whose reconcile only asks for allocs no node fits is answered by `settle` first.
        """
        state, ev, job, plan = self.senv.state, self.ev, self.job, self.plan
        allocs, settled, self._unsettled = job_allocs(state, job, ev.namespace, ev.job_id, self.batch,
                                                      self.deployment)
        tainted = tainted_nodes(allocs, state.node_by_id)
        self.allocs, self.tainted = allocs, bool(tainted)
        mark_lost_stopped_allocs(plan, allocs, tainted)
        self.ctx.set_nodes()
        results = reconcile(
            ReconcilerState(job, ev.job_id, ev.namespace, self.deployment, allocs, self.batch, ev.id, ev.priority,
                            same_version_ignored=True, settled=settled),
            ClusterState(tainted, self.senv.now), self._alloc_update, self.senv.ids.uuid,
        )
        self.results = results
        if self.settle is not None:
            self.replay = self.settle.settle(self.senv, job, self.deployment, results, allocs, self.tainted, self.batch)
            if self.replay is not None:
                count_queued(results.place, results.destructive_update, self.queued)
                return
        self._set_job()
        plan.deployment = results.deployment
        plan.deployment_updates = list(results.deployment_updates)
        for evals in results.desired_followup_evals.values():
            self.followup_evals.extend(evals)
        if results.deployment is not None:
            self.deployment = results.deployment
        for stop in results.stop:
            plan.append_stopped_alloc(stop.alloc, stop.description, stop.client_status, stop.followup_eval_id)
            self.ctx.stop(stop.alloc)
        self._inplace_updates(results.inplace_update)
        for alloc in results.attribute_updates.values():
            plan.append_alloc(alloc)
        if not results.place and not results.destructive_update:
            if job is not None:
                self.queued = {tg.name: 0 for tg in job.task_groups}
            return
        count_queued(results.place, results.destructive_update, self.queued)
        self.failed_tg_allocs = self.ctx.compute_placements(results, self.deployment)

    def _set_job(self) -> None:
        if not self._job_set:
            self._job_set = True
            self.ctx.set_job(self._unsettled)  # (the stack leaves out the client-terminal ones)

    def _alloc_update(self, existing: Allocation, job: Job, tg: TaskGroup) -> tuple[bool, bool, Allocation | None]:
        """The placement context's alloc_update_fn, the stack given the job first unless the
        alloc runs the job's JobModifyIndex (answered without the stack)."""
        if existing.job.job_modify_index != job.job_modify_index:
            self._set_job()
        return self.ctx.alloc_update_fn(existing, job, tg)

    def class_eligibility(self) -> tuple[dict[str, bool], bool]:
        """Nomad: EvalEligibility.GetClasses and HasEscaped of this attempt's selects."""
        if self.replay is not None:
            return self.replay.eligibility, self.replay.escaped
        return self.ctx.class_eligibility()

    def failed_placements(self) -> int:
        """Placements that found no node."""
        if self.replay is not None:
            return self.replay.failed
        return count_failures(self.failed_tg_allocs)

    def _inplace_updates(self, updates: list[Allocation]) -> None:
        """In-place updates join the eval's deployment (health reset when it changes)."""
        deployment_id = self.deployment.id if self.deployment is not None else ""
        for alloc in updates:
            if alloc.deployment_id != deployment_id:
                alloc.deployment_id = deployment_id
                alloc.deployment_status = None
            self.plan.append_alloc(alloc)
            self.ctx.place_inplace(alloc)

    def desired_tg_updates(self) -> dict[str, DesiredUpdates] | None:
        """The reconciler's DesiredTGUpdates (the plan's annotations)."""
        return self.results.desired_tg_updates if self.results is not None else None

    def plan_annotations(self) -> dict[str, dict[str, DesiredUpdates]] | None:
        """Nomad: PlanAnnotations as the eval records it."""
        updates = self.desired_tg_updates()
        return None if updates is None else {"DesiredTGUpdates": updates}
