"""The system and sysbatch schedulers: one alloc of each group on every eligible node.

Nomad: scheduler/scheduler_system.go, scheduler_sysbatch.go and util.go (inplaceUpdate,
evictAndPlace, desiredUpdates, mergeNodeFiltered). Each placement is tried on its own node;
a node that fails a constraint is skipped (not a failure unless every node of a group was
filtered and the group has no alloc anywhere), while a feasible node without room is a failure
that creates a blocked eval for that node.

Updates honour max_parallel. System deployments (Nomad 1.11) are not modelled; instead, as
Nomad up to 1.10 did, a system eval that hit the max_parallel limit creates a `rolling-update`
eval that waits the job's update stagger before the next batch. With preemption enabled (system
jobs by default) a full node may evict lower-priority allocs (sim.scheduler.preemption).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace

from sim.scheduler.env import SchedulerEnv, SchedulerOutcome
from sim.scheduler.feasible.checks import candidate_rows
from sim.scheduler.feasible.rank import exhaust_resources, group_ask
from sim.scheduler.feasible.stack import RankedNode, SystemStack
from sim.scheduler.generic import (
    adjust_queued,
    blocked_eval,
    count_failures,
    mark_lost_stopped_allocs,
    progress_made,
)
from sim.scheduler.job_diff import tasks_updated
from sim.scheduler.node_sets import node_in_any_dc, node_in_pool, tainted_nodes
from sim.scheduler.placement import new_alloc
from sim.scheduler.preemption.evict import Eviction
from sim.scheduler.preemption.record import record_preemptions
from sim.scheduler.reconciler.node import (
    AllocTuple,
    NodeReconcileResult,
    diff_system_allocs,
    split_terminal,
)
from sim.state.node_table import NodeTable
from sim.structs.alloc import Allocation, AllocMetric
from sim.structs.consts import (
    ALLOC_CLIENT_LOST,
    ALLOC_LOST,
    ALLOC_NODE_TAINTED,
    ALLOC_NOT_NEEDED,
    ALLOC_UPDATING,
    BLOCKED_EVAL_DESC,
    EVAL_STATUS_COMPLETE,
    EVAL_STATUS_FAILED,
    EVAL_STATUS_PENDING,
    TRIGGER_ROLLING_UPDATE,
)
from sim.structs.evaluation import Evaluation
from sim.structs.job import Job
from sim.structs.node import Node
from sim.structs.plan import DesiredUpdates, Plan, PlanResult

MAX_SYSTEM_ATTEMPTS = 5
MAX_SYSBATCH_ATTEMPTS = 2
SYSTEM_TRIGGERS = frozenset({
    "job-register", "node-update", "failed-follow-up", "job-deregister", "rolling-update", "preemption",
    "deployment-watcher", "node-drain", "alloc-stop", "queued-allocs", "job-scaling", "reconnect",
})
SYSBATCH_TRIGGERS = SYSTEM_TRIGGERS | {"periodic-job"}


class SystemScheduler:
    """Nomad: SystemScheduler and SysBatchScheduler."""

    eval: Evaluation  # the eval being processed (a copy), set by `process`

    def __init__(self, senv: SchedulerEnv, sysbatch: bool) -> None:
        self.senv = senv
        self.sysbatch = sysbatch
        self.created: list[Evaluation] = []
        self.next_eval: Evaluation | None = None
        self.plan_result: PlanResult | None = None
        self.last_plan: Plan | None = None
        self.snapshot_index = 0
        self.placed = 0

    def process(self, ev: Evaluation) -> Generator[Plan, PlanResult, SchedulerOutcome]:
        """Nomad: SystemScheduler.Process: retry process() up to the attempt limit, set the status."""
        self.eval = ev.copy()
        self.snapshot_index = self.senv.state.index
        if ev.triggered_by not in (SYSBATCH_TRIGGERS if self.sysbatch else SYSTEM_TRIGGERS):
            desc = f"scheduler cannot handle '{ev.triggered_by}' evaluation reason"
            return self._outcome(EVAL_STATUS_FAILED, desc, None)
        limit = MAX_SYSBATCH_ATTEMPTS if self.sysbatch else MAX_SYSTEM_ATTEMPTS
        attempts = 0
        while True:  # at least one attempt: the limits are positive
            round_ = _SystemRound(self)
            if (yield from self._attempt(round_)):
                break
            attempts = 0 if progress_made(self.plan_result) else attempts + 1
            if attempts >= limit:
                return self._outcome(EVAL_STATUS_FAILED, f"maximum attempts reached ({limit})", round_)
        return self._outcome(EVAL_STATUS_COMPLETE, "", round_)

    def _attempt(self, round_: _SystemRound) -> Generator[Plan, PlanResult, bool]:
        """Nomad: SystemScheduler.process."""
        round_.compute()
        plan = round_.plan
        if plan.is_no_op() and not self.eval.annotate_plan:
            return True
        if round_.limit_reached and self.next_eval is None and not self.sysbatch:
            self.next_eval = self._rolling_eval(round_.running_job())
            self.created.append(self.next_eval)
        if self.eval.annotate_plan:
            plan.annotations = round_.desired
        result = yield plan
        self.plan_result, self.last_plan = result, plan
        self.placed += adjust_queued(result, round_.new_alloc_ids, round_.queued)
        if result.refresh_index:
            self.snapshot_index = result.refresh_index
            return False
        return result.full_commit(plan)[0]

    def _rolling_eval(self, job: Job) -> Evaluation:
        """Nomad (up to 1.10): Evaluation.NextRollingEval(job.Update.Stagger)."""
        ev = self.eval
        stagger = job.update.stagger if job.update is not None and job.update.stagger else 0
        return Evaluation(
            id=self.senv.ids.uuid(), namespace=ev.namespace, priority=ev.priority, type=ev.type,
            triggered_by=TRIGGER_ROLLING_UPDATE, job_id=ev.job_id, job_modify_index=ev.job_modify_index,
            status=EVAL_STATUS_PENDING, wait=stagger / 1e9, previous_eval=ev.id, snapshot_index=self.snapshot_index,
        )

    def add_blocked(self, round_: _SystemRound, node_id: str) -> None:
        """Nomad: SystemScheduler.addBlocked: a blocked eval for this job on this node."""
        eligibility, escaped = round_.stack.class_eligibility()
        blocked = blocked_eval(self.senv.ids, self.eval, {} if escaped else eligibility, escaped,
                               round_.failed_tg_allocs, self.snapshot_index)
        blocked.status_description = BLOCKED_EVAL_DESC
        blocked.node_id = node_id
        self.created.append(blocked)

    def _outcome(self, status: str, desc: str, round_: _SystemRound | None) -> SchedulerOutcome:
        """Nomad: setStatus (Nomad up to 1.10 also linked the rolling eval as NextEval)."""
        new = self.eval.copy()
        new.status, new.status_description = status, desc
        new.deployment_id = ""
        new.failed_tg_allocs = dict(round_.failed_tg_allocs) if round_ is not None else {}
        if round_ is not None:
            new.queued_allocations = dict(round_.queued)
        new.plan_annotations = {"DesiredTGUpdates": round_.desired} if round_ is not None else None
        if self.next_eval is not None:
            new.next_eval = self.next_eval.id
        new.snapshot_index = self.snapshot_index
        failed = count_failures(round_.failed_tg_allocs) if round_ is not None else 0
        return SchedulerOutcome(eval=new, create_evals=list(self.created), placed=self.placed,
                                failed_placements=failed, plan=self.last_plan or (round_.plan if round_ else None))


class _SystemRound:
    """One attempt of the system scheduler against the state as it is now."""

    def __init__(self, sched: SystemScheduler) -> None:
        self.sched = sched
        self.senv = sched.senv
        ev = sched.eval
        state = self.senv.state
        self.job = state.job_by_id(ev.namespace, ev.job_id)
        self.stopped = self.job is None or self.job.stop
        self.plan = Plan(eval_id=ev.id, priority=ev.priority, job=self.job,
                         all_at_once=bool(self.job and self.job.all_at_once), snapshot_index=state.index)
        self.stack = SystemStack(state.nodes, self.senv.rng, self.senv.algorithm)
        self.stack.node_allocs = state.allocs_by_node
        if self.job is not None and self.senv.preemption.enabled_for(self.job.type):
            self.stack.enable_preemption(Eviction(state.allocs_by_node, self.job, scored=False))
        self.queued: dict[str, int] = {}
        self.failed_tg_allocs: dict[str, AllocMetric] = {}
        self.desired: dict[str, DesiredUpdates] = {}
        self.candidates: dict[str, int] = {}
        self.limit_reached = False
        self.new_alloc_ids: set[str] = set()
        self.nodes: list[Node] = []
        self.not_ready: set[str] = set()
        self.by_dc: dict[str, int] = {}

    def compute(self) -> None:
        """Nomad: computeJobAllocs of the system (and sysbatch) scheduler."""
        state, ev, job, plan = self.senv.state, self.sched.eval, self.job, self.plan
        allocs = state.allocs_by_job(ev.namespace, ev.job_id)
        if job is not None and not job.stop:
            self.nodes, self.not_ready, self.by_dc = ready_nodes(state.nodes, job)
            self.stack.set_job(job, [a for a in allocs if not a.client_terminal()])
        tainted = tainted_nodes(allocs, state.node_by_id)
        mark_lost_stopped_allocs(plan, allocs, tainted)
        live, terminal = split_terminal(allocs)
        diff = diff_system_allocs(job, self.nodes, self.not_ready, tainted, live, terminal, state.nodes.index_of.get)
        self._stops(diff)
        destructive, inplace = self._inplace_updates(diff.update)
        diff.update = destructive
        self.desired = desired_updates(diff, inplace, destructive)
        for t in [*diff.place, *inplace, *diff.ignore, *diff.update]:
            self.candidates[t.group.name] = self.candidates.get(t.group.name, 0) + 1
        self.limit_reached = self._evict_and_place(diff)
        if self.sysbatch and not diff.place:
            if job is not None and not job.stop:
                self.queued = {tg.name: 0 for tg in job.task_groups}
            return
        if not self.sysbatch and job is not None and not job.stop:
            self.queued = {tg.name: 0 for tg in job.task_groups}
        for t in diff.place:
            self.queued[t.group.name] = self.queued.get(t.group.name, 0) + 1
        existing = {t.group.name for t in [*inplace, *diff.ignore]}
        self._placements(diff.place, existing)
        if not self.sysbatch:
            for name, count in self.candidates.items():
                self.desired[name].place = count

    @property
    def sysbatch(self) -> bool:
        """Whether the eval is a sysbatch job's."""
        return self.sched.sysbatch

    def running_job(self) -> Job:
        """The job being placed: only a job that is neither purged nor stopped has placements
        and updates (Nomad: materializeSystemTaskGroups gives nothing else)."""
        if self.job is None or self.job.stop:
            raise RuntimeError("a stopped or purged system job places nothing")
        return self.job

    def _stops(self, diff: NodeReconcileResult) -> None:
        for t in diff.stop:
            self._stop(t.existing, ALLOC_NOT_NEEDED)
        for t in diff.migrate:
            self._stop(t.existing, ALLOC_NODE_TAINTED)
        for t in diff.lost:
            self._stop(t.existing, ALLOC_LOST, ALLOC_CLIENT_LOST)

    def _stop(self, alloc: Allocation, desc: str, client_status: str = "") -> None:
        self.plan.append_stopped_alloc(alloc, desc, client_status)
        if not self.stopped and not alloc.terminal():
            self.stack.stop(alloc)

    def _inplace_updates(self, updates: list[AllocTuple]) -> tuple[list[AllocTuple], list[AllocTuple]]:
        """Nomad: inplaceUpdate: (destructive, in-place); in-place copies join the plan at once."""
        destructive: list[AllocTuple] = []
        inplace: list[AllocTuple] = []
        for t in updates:
            if self._try_inplace(t):
                inplace.append(t)
            else:
                destructive.append(t)
        return destructive, inplace

    def _try_inplace(self, t: AllocTuple) -> bool:
        job, alloc, tg = self.running_job(), t.existing, t.group
        if tasks_updated(job, alloc.job, tg.name):
            return False
        if alloc.terminal():
            return True  # a finished sysbatch alloc: nothing to update, nothing in the plan
        nodes = self.senv.state.nodes
        row = nodes.index_of.get(alloc.node_id)
        node = nodes.nodes[row] if row is not None else None
        if row is None or node is None or not node_in_any_dc(node, job.datacenters) or not node_in_pool(node, job.node_pool):
            return False
        option, metric = self.stack.select_on_node(tg, row, ignore_alloc=alloc)
        if option is None:
            return False
        cpu, mem, disk = group_ask(tg)
        updated = replace(alloc, job=job, eval_id=self.sched.eval.id, cpu=cpu, memory_mb=mem, disk_mb=disk,
                          metrics=metric, deployment_id="", deployment_status=None)
        self.plan.append_alloc(updated)
        self.stack.place(row, updated)
        return True

    def _evict_and_place(self, diff: NodeReconcileResult) -> bool:
        """Nomad: evictAndPlace: destructive updates up to max_parallel per group become a stop
        plus a placement; True when the limit left some for a later eval."""
        limits: dict[str, int] = {}
        job = self.job
        if job is not None and not job.stop:
            job_limit = job.update.max_parallel if job.update is not None and job.update.max_parallel > 0 else len(diff.update)
            for tg in job.task_groups:
                limits[tg.name] = tg.update.max_parallel if tg.update is not None and tg.update.max_parallel > 0 else job_limit
        limited = False
        for t in diff.update:
            alloc = t.existing
            group = alloc.task_group
            if limits.get(group, 0) > 0:
                self.plan.append_stopped_alloc(alloc, ALLOC_UPDATING)
                if not alloc.terminal():
                    self.stack.stop(alloc)
                diff.place.append(t)
                limits[group] -= 1
            else:
                limited = True
        return limited

    def _placements(self, place: list[AllocTuple], existing: set[str]) -> None:
        """Nomad: SystemScheduler.computePlacements: each placement on its own node."""
        nodes = self.senv.state.nodes
        ready = {n.id for n in self.nodes}
        filtered: dict[str, AllocMetric] = {}
        for t in place:
            if t.node_id not in ready:
                continue
            row = nodes.index_of[t.node_id]
            option, metric = self.stack.select_on_node(t.group, row)
            if option is None:
                self._no_fit(t, metric, filtered, existing)
                continue
            metric.nodes_available, metric.nodes_in_pool = self.by_dc, len(self.nodes)  # shared, never changed
            self._place(t, option, metric)

    def _no_fit(self, t: AllocTuple, metric: AllocMetric, filtered: dict[str, AllocMetric], existing: set[str]) -> None:
        name = t.group.name
        self.candidates[name] = self.candidates.get(name, 0) - 1
        if metric.nodes_filtered > 0:  # a constraint excludes the node: not a placement failure
            self.queued[name] = self.queued.get(name, 0) - 1
            filtered[name] = merge_node_filtered(filtered.get(name), metric)
            if self.queued[name] <= 0 and name not in existing:
                self.failed_tg_allocs[name] = filtered[name]
            if self.sysbatch:
                self.desired[name].place -= 1
            return
        if name in self.failed_tg_allocs:
            self.failed_tg_allocs[name].coalesced_failures += 1
            exhaust_resources(self.failed_tg_allocs[name], t.group)
            return
        metric.nodes_available, metric.nodes_in_pool = self.by_dc, len(self.nodes)  # shared, never changed
        metric.node_pool = self.running_job().node_pool
        exhaust_resources(metric, t.group)
        self.failed_tg_allocs[name] = metric
        self.sched.add_blocked(self, t.node_id)

    def _place(self, t: AllocTuple, option: RankedNode, metric: AllocMetric) -> None:
        alloc = new_alloc(self.senv.ids.uuid(), self.sched.eval.id, self.running_job(), t.group, t.name, option, metric)
        if t.alloc is not None:
            alloc.previous_allocation = t.alloc.id
        if option.preempted_allocs:
            annotate = self.sched.eval.annotate_plan
            record_preemptions(self.plan, self.stack, option, alloc, self.desired.get(t.group.name) if annotate else None)
        self.stack.place(option.row, alloc)
        self.plan.append_alloc(alloc)
        self.new_alloc_ids.add(alloc.id)


def ready_nodes(table: NodeTable, job: Job) -> tuple[list[Node], set[str], dict[str, int]]:
    """Nomad: readyNodesInDCsAndPool: ready nodes in the job's DCs and pool, the pool's nodes
    that are not ready (any DC), and the ready count per DC."""
    rows, by_dc, _ = candidate_rows(table, job)
    not_ready = {n.id for n in table.live() if (job.node_pool == "" or node_in_pool(n, job.node_pool)) and not n.ready()}
    return [table.nodes[int(r)] for r in rows], not_ready, by_dc


def desired_updates(diff: NodeReconcileResult, inplace: list[AllocTuple], destructive: list[AllocTuple]) -> dict[str, DesiredUpdates]:
    """Nomad: desiredUpdates: the DesiredTGUpdates of a system diff."""
    out: dict[str, DesiredUpdates] = {}
    for t in diff.stop:
        out.setdefault(t.existing.task_group, DesiredUpdates()).stop += 1
    for tuples, attr in ((diff.place, "place"), (diff.ignore, "ignore"), (diff.migrate, "migrate"),
                         (inplace, "in_place_update"), (destructive, "destructive_update")):
        for t in tuples:
            du = out.setdefault(t.group.name, DesiredUpdates())
            setattr(du, attr, getattr(du, attr) + 1)
    return out


def merge_node_filtered(acc: AllocMetric | None, curr: AllocMetric) -> AllocMetric:
    """Nomad: mergeNodeFiltered: the filter counts of every filtered node of a group."""
    if acc is None:
        return replace(curr, class_filtered=dict(curr.class_filtered), constraint_filtered=dict(curr.constraint_filtered))
    acc.nodes_evaluated += curr.nodes_evaluated
    acc.nodes_filtered += curr.nodes_filtered
    for k, v in curr.class_filtered.items():
        acc.class_filtered[k] = acc.class_filtered.get(k, 0) + v
    for k, v in curr.constraint_filtered.items():
        acc.constraint_filtered[k] = acc.constraint_filtered.get(k, 0) + v
    acc.allocation_time += curr.allocation_time
    return acc
