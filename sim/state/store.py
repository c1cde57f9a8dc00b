"""The state store: jobs and their versions, nodes, allocations, evaluations and deployments.

Nomad: nomad/state/state_store.go. One raft-like index is bumped per logical write and stamped on
everything the write touched; per-table indexes answer blocking queries. Job summaries, job status
and per-node usage (numpy columns in `NodeTable`) are maintained incrementally as Nomad derives
them. The scheduler reads the store directly: it runs within one instant of simulated time, so what
it reads is a consistent snapshot at `index`.

The store owns the evals, the index and the writes, which span tables; it composes the node
table (sim.state.node_table), the job table (sim.state.jobs), the allocation table
(sim.state.allocs), the deployment table (sim.state.deployments) and the job summaries
(sim.state.summaries), none of which knows the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from sim.state.allocs import AllocTable
from sim.state.deployments import DeploymentLogRow, DeploymentTable
from sim.state.jobs import JobTable
from sim.state.namespaces import Catalog
from sim.state.node_table import NodeTable
from sim.state.scaling import ScalingEvent, ScalingEventTable
from sim.state.summaries import SummaryKeeper
from sim.structs.alloc import Allocation
from sim.structs.consts import (
    DEPLOYMENT_SUCCESSFUL,
    EVAL_STATUS_BLOCKED,
    EVAL_STATUS_CANCELLED,
    EVAL_STATUS_COMPLETE,
    JOB_STATUS_DEAD,
    JOB_STATUS_PENDING,
    JOB_STATUS_RUNNING,
    JOB_TRACKED_VERSIONS,
    JOB_TYPE_SYSTEM,
)
from sim.structs.deployment import Deployment, DeploymentStatusUpdate
from sim.structs.evaluation import Evaluation
from sim.structs.job import Job, JobKey
from sim.structs.job_summary import JobSummary
from sim.structs.node import (
    MAX_RETAINED_NODE_EVENTS,
    NODE_REGISTERED,
    SUBSYSTEM_CLUSTER,
    Node,
    NodeEvent,
)
from sim.structs.scheduler_config import SchedulerConfiguration

TABLES = (
    "jobs", "job_summary", "job_version", "evals", "allocs", "deployment", "nodes", "scheduler_config",
    "scaling_event",
)


class StateStore:
    """All cluster state of one simulation, with Nomad's index semantics."""

    def __init__(self, clock: Callable[[], float], tracked_versions: int = JOB_TRACKED_VERSIONS):
        self.clock = clock
        self.index = 0
        self.table_index: dict[str, int] = dict.fromkeys(TABLES, 0)
        self.nodes = NodeTable()
        self._jobs = JobTable(tracked_versions)
        self._evals: dict[str, Evaluation] = {}
        self._evals_by_job: dict[JobKey, dict[str, Evaluation]] = defaultdict(dict)
        self._blocked_by_job: dict[JobKey, dict[str, Evaluation]] = {}  # evals stored `blocked`
        self.summaries = SummaryKeeper()
        self._allocs = AllocTable(self.nodes, self.summaries)
        self._deployments = DeploymentTable()
        self._job_alloc_writes: dict[JobKey, int] = {}  # see job_alloc_index
        self._listeners: list[Callable[[int, frozenset[str]], None]] = []
        self.last_write = ""  # the kind of the latest write (Nomad's event type: JobRegistered, PlanResult, ...)
        self._changed_evals: dict[str, Evaluation] | None = None  # see record_changes
        self.derived: dict[str, object] = {}  # readers' caches derived from this store (scheduler)
        self.scheduler_config = SchedulerConfiguration()
        self.catalog = Catalog()  # namespaces and node pools
        self.scaling_events = ScalingEventTable()

    @property
    def deployment_log(self) -> list[DeploymentLogRow]:
        """(time, id, job, version, status, description) per deployment status change, in order."""
        return self._deployments.log

    # -- writes: the index ------------------------------------------------------------------

    def subscribe(self, listener: Callable[[int, frozenset[str]], None]) -> None:
        """Call `listener(index, tables)` after every write (blocking queries, metrics)."""
        self._listeners.append(listener)

    def record_changes(self, on: bool) -> None:
        """Start (or stop) recording the allocs and evals each write changes (the event stream's)."""
        self._allocs.changed = {} if on else None
        self._changed_evals = {} if on else None

    def take_changes(self) -> tuple[list[Allocation], list[Evaluation]]:
        """The allocs and evals written since the last call (while recording), in write order."""
        allocs, evals = self._allocs.changed, self._changed_evals
        if allocs is None or evals is None:
            return [], []
        self._allocs.changed, self._changed_evals = {}, {}
        return list(allocs.values()), list(evals.values())

    def _begin(self) -> int:
        self.index += 1
        return self.index

    def _commit(self, tables: Iterable[str], kind: str) -> int:
        """End a write; `kind` is Nomad's event type of the write ("" when Nomad emits no event)."""
        self.last_write = kind
        touched = frozenset(tables)
        for t in touched:
            self.table_index[t] = self.index
        for listener in self._listeners:
            listener(self.index, touched)
        return self.index

    # -- scheduler configuration ------------------------------------------------------------

    def set_scheduler_config(self, config: SchedulerConfiguration, cas_index: int | None = None) -> tuple[bool, int]:
        """Nomad: SchedulerSetConfig (with `cas_index`: SchedulerCASConfig). Returns (updated, index).

        A check-and-set against another ModifyIndex writes nothing and answers the current index.
        """
        current = self.scheduler_config
        if cas_index is not None and cas_index != current.modify_index:
            return False, self.index
        index = self._begin()
        create = current.create_index or index
        self.scheduler_config = replace(config, create_index=create, modify_index=index)
        return True, self._commit(["scheduler_config"], "")

    # -- nodes ------------------------------------------------------------------------------

    def upsert_nodes(self, nodes: list[Node]) -> int:
        """Register nodes (a cluster's initial nodes arrive in one write). A new node gets the
        `Node registered` event. Nomad: UpsertNode (upsertNodeTxn)."""
        index = self._begin()
        known = [n for n in nodes if n.id in self.nodes.index_of]
        fresh = [n for n in nodes if n.id not in self.nodes.index_of]
        now = self.clock()
        for n in nodes:
            n.create_index = n.create_index or index
            n.modify_index = index
        registered = NodeEvent(NODE_REGISTERED, SUBSYSTEM_CLUSTER, now, create_index=index)
        for n in fresh:
            n.status_updated_at = now
            n.events = (registered,)
        if fresh:
            self.nodes.add_many(fresh)
            self.catalog.pools_of_nodes({n.node_pool for n in fresh}, index)
        for n in known:
            self.nodes.add(n)
        return self._commit(["nodes"], "NodeRegistration")

    def update_node(self, node_id: str, event: NodeEvent | None = None, **changes: object) -> int:
        """Change a node's status, eligibility or drain fields, appending `event` (Nomad:
        UpdateNodeStatus, UpdateNodeEligibility, UpdateNodeDrain: each sets StatusUpdatedAt)."""
        index = self._begin()
        node = self.nodes.nodes[self.nodes.index_of[node_id]]
        for key, value in changes.items():
            setattr(node, key, value)
        node.modify_index = index
        node.status_updated_at = self.clock()
        if event is not None:
            _append_events(node, [event], index)
        self.nodes.refresh_status(node)
        kind = "NodeDrain" if {"drain", "scheduling_eligibility"} & changes.keys() else "NodeStreamEvent"
        return self._commit(["nodes"], kind)

    def delete_nodes(self, node_ids: list[str]) -> int:
        """Deregister nodes. Nomad: DeleteNode (their allocs stay, on a node that is gone)."""
        self._begin()
        self.nodes.remove(node_ids)
        return self._commit(["nodes"], "NodeDeregistration")

    def node_by_id(self, node_id: str) -> Node | None:
        """The registered node with this ID, or None."""
        return self.nodes.node(node_id)

    # -- jobs -------------------------------------------------------------------------------

    def job_by_id(self, namespace: str, job_id: str) -> Job | None:
        """Nomad: JobByID."""
        return self._jobs.current.get((namespace, job_id))

    def jobs(self, namespace: str | None = None, prefix: str = "") -> list[Job]:
        """Jobs sorted by (namespace, ID); `namespace` None or "*" means every namespace."""
        current = self._jobs.current
        keys = sorted(k for k in current if (namespace in (None, "*") or k[0] == namespace) and k[1].startswith(prefix))
        return [current[k] for k in keys]

    def job_versions(self, namespace: str, job_id: str) -> list[Job]:
        """Tracked versions, newest first. Nomad: JobVersionsByID."""
        return list(self._jobs.versions.get((namespace, job_id), []))

    def job_by_version(self, namespace: str, job_id: str, version: int) -> Job | None:
        """Nomad: JobByIDAndVersion."""
        return self._jobs.by_version((namespace, job_id), version)

    def upsert_job(self, job: Job, keep_version: bool = False, evals: list[Evaluation] | None = None) -> int:
        """Write a job as a new version (or, with keep_version, in place), with its evals in the same
        write as Nomad's JobRegisterRequest does. Nomad: upsertJobImpl."""
        index = self._begin()
        key = job.ns_id
        existing = self._jobs.current.get(key)
        if existing is not None:
            job.create_index = existing.create_index
            job.modify_index = index
            if keep_version:
                job.version = existing.version
                job.job_modify_index = existing.job_modify_index
            else:
                job.version = existing.version + 1
                job.job_modify_index = index
        else:
            job.create_index = job.modify_index = job.job_modify_index = index
            job.version = 0
        for ev in evals or []:
            ev.job_modify_index = index
        self._write_evals(evals or [], index)
        job.status = self._job_status(job, key)
        old = self._jobs.put(job)
        if job.parent_id:
            self.summaries.on_child_status(job.namespace, job.parent_id, old.status if old else "", job.status,
                                           job.modify_index)
        self.summaries.on_job(job, index)
        return self._commit(["jobs", "job_version", "job_summary", "evals"], "JobDeregistered" if job.stop else "JobRegistered")

    def upsert_scaling_event(self, namespace: str, job_id: str, group: str, event: ScalingEvent) -> int:
        """Record a scale request of a job's group. Nomad: UpsertScalingEvent."""
        event.create_index = self._begin()
        self.scaling_events.add(namespace, job_id, group, event)
        return self._commit(["scaling_event"], "")

    def set_job_stability(self, namespace: str, job_id: str, version: int, stable: bool) -> int:
        """Nomad: UpdateJobStability (ModifyIndex bumps, Version and JobModifyIndex kept)."""
        index = self._begin()
        self._mark_stable(namespace, job_id, version, index, stable)
        return self._commit(["jobs", "job_version"], "")

    def _mark_stable(self, namespace: str, job_id: str, version: int, index: int, stable: bool = True) -> None:
        if self._jobs.set_stable((namespace, job_id), version, stable, index):
            self.table_index["jobs"] = self.table_index["job_version"] = index

    def delete_job(self, namespace: str, job_id: str) -> int:
        """Purge a job, its versions, its summary and its scaling events. Nomad: DeleteJob."""
        self._begin()
        key = (namespace, job_id)
        job = self._jobs.delete(key)
        self.summaries.delete(key)
        self.scaling_events.delete(namespace, job_id)
        if job is not None and job.parent_id:
            self.summaries.on_child_status(namespace, job.parent_id, job.status, "", self.index)
        return self._commit(["jobs", "job_version", "job_summary"], "JobDeregistered")

    def refresh_job_status(self, key: JobKey, index: int) -> None:
        """Re-derive a job's status after a write; a change bumps its ModifyIndex. Nomad: setJobStatus."""
        job = self._jobs.current.get(key)
        if job is None:
            return
        status = self._job_status(job, key)
        if status != job.status:
            self._jobs.set_status(key, job, status, index)
            if job.parent_id:
                self.summaries.on_child_status(job.namespace, job.parent_id, job.status, status, index)
            self.table_index["jobs"] = index
            if status == JOB_STATUS_DEAD:
                self._allocs.compact_job(key)

    def _refresh_jobs(self, keys: set[JobKey], index: int) -> None:
        for key in sorted(keys):
            self.refresh_job_status(key, index)

    def _job_status(self, job: Job, key: JobKey) -> str:
        """Nomad: StateStore.getJobStatus."""
        if job.type == JOB_TYPE_SYSTEM or job.is_parameterized() or job.is_periodic():
            return JOB_STATUS_DEAD if job.stop else JOB_STATUS_RUNNING
        if self._allocs.live.get(key, 0) > 0:
            return JOB_STATUS_RUNNING
        if any(d.active() for d in self.deployments_by_job(*key)):
            return JOB_STATUS_RUNNING
        evals = self.evals_by_job(*key)
        if any(not e.terminal() for e in evals):
            return JOB_STATUS_PENDING
        if evals or job.stop:
            return JOB_STATUS_DEAD
        return JOB_STATUS_PENDING

    def job_summary(self, namespace: str, job_id: str) -> JobSummary | None:
        """Nomad: JobSummaryByID."""
        return self.summaries.get((namespace, job_id))

    def live_alloc_count(self, key: JobKey) -> int:
        """How many non-terminal allocs a job has (drives job status)."""
        return self._allocs.live.get(key, 0)

    # -- evaluations ------------------------------------------------------------------------

    def upsert_evals(self, evals: list[Evaluation], cancelled: list[Evaluation] | None = None) -> int:
        """Nomad: UpsertEvals. Queued allocations flow into the job summary; a complete eval
        without failed placements cancels its job's blocked evals (appended to `cancelled`)."""
        index = self._begin()
        self._refresh_jobs(self._write_evals(evals, index, cancelled), index)
        return self._commit(["evals", "job_summary"], "EvaluationUpdated")

    def _write_evals(self, evals: list[Evaluation], index: int, cancelled: list[Evaluation] | None = None) -> set[JobKey]:
        now = self.clock()
        if self._changed_evals is not None:
            self._changed_evals.update((ev.id, ev) for ev in evals)
        keys: set[JobKey] = set()
        for ev in evals:
            key = (ev.namespace, ev.job_id)
            if ev.status == EVAL_STATUS_COMPLETE and not ev.failed_tg_allocs and key in self._blocked_by_job:
                self._cancel_blocked(ev, key, index, now, cancelled)
            _stamp(ev, self._evals.get(ev.id), index, now)
            self._evals[ev.id] = ev
            self._evals_by_job[key][ev.id] = ev
            self._track_blocked(ev, key)
            if ev.queued_allocations:
                self.summaries.set_queued(key, ev.queued_allocations, index)
            keys.add(key)
        return keys

    def _cancel_blocked(self, ev: Evaluation, key: JobKey, index: int, now: float,
                        cancelled: list[Evaluation] | None) -> None:
        """Nomad: state_store.go nestedUpsertEval: "cancel blocked evals for a job when a
        successful eval is upserted". The stored eval is replaced by a cancelled copy (the broker or the
        blocked tracker may still hold the original); the eval itself, if it was the blocked one, is
        written next."""
        for blocked in list(self._blocked_by_job[key].values()):
            if blocked.id == ev.id:
                continue
            copy = replace(blocked, status=EVAL_STATUS_CANCELLED,
                           status_description=f'evaluation "{ev.id}" successful')
            _stamp(copy, blocked, index, now)
            self._evals[copy.id] = self._evals_by_job[key][copy.id] = copy
            self._track_blocked(copy, key)
            if cancelled is not None:
                cancelled.append(copy)

    def _track_blocked(self, ev: Evaluation, key: JobKey) -> None:
        """Keep the per-job index of evals stored as `blocked` in step with `ev`'s status."""
        if ev.status == EVAL_STATUS_BLOCKED:
            self._blocked_by_job.setdefault(key, {})[ev.id] = ev
            return
        on_job = self._blocked_by_job.get(key)
        if on_job is not None and on_job.pop(ev.id, None) is not None and not on_job:
            del self._blocked_by_job[key]

    def eval_by_id(self, eval_id: str) -> Evaluation | None:
        """Nomad: EvalByID."""
        return self._evals.get(eval_id)

    def evals_by_job(self, namespace: str, job_id: str) -> list[Evaluation]:
        """Evaluations of a job, oldest first."""
        return list(self._evals_by_job.get((namespace, job_id), {}).values())

    def evals(self) -> list[Evaluation]:
        """Every evaluation, oldest first."""
        return list(self._evals.values())

    # -- deployments ------------------------------------------------------------------------

    def deployment_by_id(self, deployment_id: str) -> Deployment | None:
        """Nomad: DeploymentByID."""
        return self._deployments.by_id.get(deployment_id)

    def deployments_by_job(self, namespace: str, job_id: str) -> list[Deployment]:
        """A job's deployments, newest first."""
        return sorted(self._deployments.by_job.get((namespace, job_id), {}).values(), key=lambda d: -d.create_index)

    def latest_deployment(self, namespace: str, job_id: str) -> Deployment | None:
        """Nomad: LatestDeploymentByJobID."""
        deps = self.deployments_by_job(namespace, job_id)
        return deps[0] if deps else None

    def deployments(self) -> list[Deployment]:
        """Every deployment, oldest first."""
        return list(self._deployments.by_id.values())

    def upsert_deployment(self, deployment: Deployment) -> int:
        """Write a deployment (new or changed) on its own."""
        index = self._begin()
        self._deployments.put(deployment, index, self.clock())
        self.refresh_job_status((deployment.namespace, deployment.job_id), index)
        return self._commit(["deployment", "jobs"], "DeploymentPromotion")

    def update_deployment_status(self, deployment_id: str, status: str, description: str) -> int:
        """Nomad: UpdateDeploymentStatus."""
        index = self._begin()
        dep = self._set_deployment_status(deployment_id, status, description, index, self.clock())
        self.refresh_job_status((dep.namespace, dep.job_id), index)
        return self._commit(["deployment", "jobs"], "DeploymentStatusUpdate")

    def _set_deployment_status(self, deployment_id: str, status: str, description: str, index: int, now: float) -> Deployment:
        """A deployment's new status; a successful one marks its job version stable."""
        dep = self._deployments.set_status(deployment_id, status, description, index, now)
        if status == DEPLOYMENT_SUCCESSFUL:
            self._mark_stable(dep.namespace, dep.job_id, dep.job_version, index)
        return dep

    # -- allocations ------------------------------------------------------------------------

    def alloc_by_id(self, alloc_id: str) -> Allocation | None:
        """Nomad: AllocByID."""
        return self._allocs.get(alloc_id)

    def stored_allocs(self, allocs: list[Allocation]) -> list[Allocation]:
        """`alloc_by_id(a.id) or a` for each alloc: the stored version, or the alloc itself."""
        return self._allocs.stored(allocs)

    def holds_allocs(self, alloc_ids: Iterable[str]) -> list[bool]:
        """Whether the state holds an alloc of each ID (`alloc_by_id(i) is not None`, with nothing built)."""
        return list(map(self._allocs.by_id.__contains__, alloc_ids))

    def allocs_by_job(self, namespace: str, job_id: str) -> list[Allocation]:
        """Every alloc of a job (terminal too), in creation order."""
        return self._allocs.of_job((namespace, job_id))

    def job_alloc_count(self, namespace: str, job_id: str) -> int:
        """How many allocs a job has (terminal too)."""
        return len(self._allocs.by_job.get((namespace, job_id), ()))

    def job_allocs_after(self, namespace: str, job_id: str, n: int) -> list[Allocation]:
        """A job's allocs after its first `n`, in creation order (O(new ones))."""
        return self._allocs.of_job((namespace, job_id), n)

    def job_alloc_index(self, namespace: str, job_id: str) -> int:
        """The index of the latest write that added or changed one of the job's allocs (0: none
        yet). Lets the scheduler's readers tell that a job's allocs are as they last saw them."""
        return self._job_alloc_writes.get((namespace, job_id), 0)

    def take_alloc_writes(self) -> list[Allocation]:
        """Stored allocs written since the last call (new ones not among them), in first-write
        order; the first call starts the record and returns none."""
        return self._allocs.take_writes()

    def allocs_by_node(self, node_id: str) -> list[Allocation]:
        """Every alloc on a node (terminal too), in creation order."""
        return self._allocs.of_node(node_id)

    def allocs(self) -> list[Allocation]:
        """Every allocation, in creation order (those of dead jobs built for this read only)."""
        return self._allocs.every()

    def alloc_count(self) -> int:
        """How many allocations there are (terminal too)."""
        return len(self._allocs.by_id)

    def upsert_plan_results(self, placed: list[Allocation], stopped: list[Allocation], deployment: Deployment | None,
                            deployment_updates: list[DeploymentStatusUpdate], eval_id: str) -> int:
        """Commit an applied plan in one write. Nomad: UpsertPlanResults.

        `placed` are new or in-place updated allocs; `stopped` are copies carrying the desired
        stop (and optional client status / follow-up eval) of existing allocs.
        """
        index = self._begin()
        now = self.clock()
        keys: set[JobKey] = set()
        deployments = self._deployments
        if deployment is not None:
            deployments.put(deployment, index, now)
            keys.add((deployment.namespace, deployment.job_id))  # an active deployment: running
        for upd in deployment_updates:
            self._set_deployment_status(upd.deployment_id, upd.status, upd.status_description, index, now)
        table = self._allocs
        stored = table.get
        for stop in stopped:
            alloc = stored(stop.id)
            if alloc is None:
                continue
            table.update(alloc, index, now, {
                "desired_status": stop.desired_status, "desired_description": stop.desired_description,
                "client_status": stop.client_status, "followup_eval_id": stop.followup_eval_id,
                "last_reschedule": stop.last_reschedule, "preempted_by_allocation": stop.preempted_by_allocation})
            keys.add((alloc.namespace, alloc.job_id))
        by_id = table.by_id
        for alloc in placed:
            if alloc.id in by_id and (existing := stored(alloc.id)) is not None:
                if table.update_in_place(existing, alloc, index, now):
                    deployments.on_new_alloc(existing, now)
            else:
                table.insert(alloc, index, now)
                if alloc.deployment_id:
                    deployments.on_new_alloc(alloc, now)
            keys.add((alloc.namespace, alloc.job_id))
        self._job_alloc_writes.update(dict.fromkeys(keys, index))
        self._refresh_jobs(keys, index)
        return self._commit(["allocs", "job_summary", "deployment", "jobs"], "PlanResult")

    def update_allocs_from_client(self, updates: list[tuple[Allocation, dict[str, Any]]]) -> int:
        """Client reports of alloc status, task states and deployment health. Nomad: UpdateAllocsFromClient."""
        return self.update_alloc_groups_from_client([([alloc], changes) for alloc, changes in updates])

    def update_alloc_groups_from_client(self, groups: list[tuple[list[Allocation], dict[str, Any]]]) -> int:
        """`update_allocs_from_client` of reports given as groups of allocs with the same changes
        (not modified), in order: one write, one pass over each group."""
        index = self._begin()
        now = self.clock()
        keys: set[JobKey] = set()
        update_many, own = self._allocs.update_many, self._allocs.own
        set_health = self._deployments.set_alloc_health
        for allocs, changes in groups:
            allocs = own(allocs)
            health = changes.get("healthy")
            if health is not None:
                changes = {name: value for name, value in changes.items() if name != "healthy"}
            update_many(allocs, index, now, changes)
            if health is not None:  # (after the group's updates: neither reads what the other writes)
                for alloc in allocs:
                    set_health(alloc, health, index, now)
            namespace = job_id = None
            for alloc in allocs:
                if alloc.job_id != job_id or alloc.namespace != namespace:
                    namespace, job_id = alloc.namespace, alloc.job_id
                    keys.add((namespace, job_id))
        self._job_alloc_writes.update(dict.fromkeys(keys, index))
        self._refresh_jobs(keys, index)
        return self._commit(["allocs", "job_summary", "deployment", "jobs"], "AllocationUpdated")

    def update_alloc_desired_transition(self, allocs: list[Allocation], evals: list[Evaluation] | None = None,
                                        **transition: bool) -> int:
        """Nomad: UpdateAllocsDesiredTransitions (drainer: migrate; watcher: reschedule; alloc stop:
        migrate, with its eval in the same write)."""
        index = self._begin()
        for alloc in self._allocs.own(allocs):
            self._allocs.set_desired_transition(alloc, transition, index)
            self._job_alloc_writes[(alloc.namespace, alloc.job_id)] = index
        if not evals:
            return self._commit(["allocs"], "AllocationUpdateDesiredStatus")
        self._refresh_jobs(self._write_evals(evals, index), index)
        return self._commit(["allocs", "evals", "job_summary"], "AllocationUpdateDesiredStatus")


def _append_events(node: Node, events: list[NodeEvent], index: int) -> None:
    """Nomad: appendNodeEvents: stamp the write's index, keep the last MaxRetainedNodeEvents."""
    node.events = (*node.events, *(replace(e, create_index=index) for e in events))[-MAX_RETAINED_NODE_EVENTS:]


def _stamp(item: Evaluation, old: Evaluation | None, index: int, now: float) -> None:
    """Set create (kept from `old`, the stored version, if any) and modify index and time."""
    item.create_index = old.create_index if old else index
    item.create_time = old.create_time if old else now
    item.modify_index = index
    item.modify_time = now
