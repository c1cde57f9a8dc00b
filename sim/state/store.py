"""The state store: jobs and their versions, nodes, allocations, evaluations and deployments.

Nomad: nomad/state/state_store.go. One raft-like index is bumped per logical write and stamped on
everything the write touched; per-table indexes answer blocking queries. Job summaries, job status
and per-node usage (numpy columns in `NodeTable`) are maintained incrementally as Nomad derives
them. The scheduler reads the store directly: it runs within one instant of simulated time, so what
it reads is a consistent snapshot at `index`. The allocation table's reads and writes are in
sim/state_allocs.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import fields, replace

from sim.state.allocs import AllocTable, JobKey
from sim.state.node_table import NodeTable
from sim.state.summaries import SummaryKeeper, job_status
from sim.structs.alloc import Allocation, AllocDeploymentStatus
from sim.structs.consts import DEPLOYMENT_SUCCESSFUL, JOB_TRACKED_VERSIONS
from sim.structs.deployment import Deployment
from sim.structs.evaluation import Evaluation
from sim.structs.job import Job
from sim.structs.job_summary import JobSummary
from sim.structs.node import Node

TABLES = ("jobs", "job_summary", "job_version", "evals", "allocs", "deployment", "nodes")


class StateStore(AllocTable):
    """All cluster state of one simulation, with Nomad's index semantics."""

    def __init__(self, clock: Callable[[], float], tracked_versions: int = JOB_TRACKED_VERSIONS):
        self.clock = clock
        self.tracked_versions = tracked_versions
        self.index = 0
        self.table_index: dict[str, int] = dict.fromkeys(TABLES, 0)
        self.nodes = NodeTable()
        self._jobs: dict[JobKey, Job] = {}
        self._versions: dict[JobKey, list[Job]] = {}
        self._evals: dict[str, Evaluation] = {}
        self._evals_by_job: dict[JobKey, dict[str, Evaluation]] = defaultdict(dict)
        self._allocs: dict[str, Allocation] = {}
        self._allocs_by_job: dict[JobKey, dict[str, Allocation]] = defaultdict(dict)
        self._allocs_by_node: dict[str, dict[str, Allocation]] = defaultdict(dict)
        self._deployments: dict[str, Deployment] = {}
        self._deployments_by_job: dict[JobKey, dict[str, Deployment]] = defaultdict(dict)
        self._live_allocs: dict[JobKey, int] = defaultdict(int)
        self.summaries = SummaryKeeper()
        self._listeners: list[Callable[[int, frozenset[str]], None]] = []
        self.deployment_log: list[tuple] = []  # (time, id, job, version, status, description) per change
        self.derived: dict[str, object] = {}  # readers' caches derived from this store (scheduler)
        self._terminal_writes: dict[str, Allocation] | None = None  # see take_client_terminal_writes

    # -- writes: the index ------------------------------------------------------------------

    def subscribe(self, listener: Callable[[int, frozenset[str]], None]) -> None:
        """Call `listener(index, tables)` after every write (blocking queries, metrics)."""
        self._listeners.append(listener)

    def _begin(self) -> int:
        self.index += 1
        return self.index

    def _commit(self, tables: Iterable[str]) -> int:
        touched = frozenset(tables)
        for t in touched:
            self.table_index[t] = self.index
        for listener in self._listeners:
            listener(self.index, touched)
        return self.index

    # -- nodes ------------------------------------------------------------------------------

    def upsert_nodes(self, nodes: list[Node]) -> int:
        """Register nodes (a cluster's initial nodes arrive in one write)."""
        index = self._begin()
        known = [n for n in nodes if n.id in self.nodes.index_of]
        fresh = [n for n in nodes if n.id not in self.nodes.index_of]
        for n in nodes:
            n.create_index = n.create_index or index
            n.modify_index = index
        if fresh:
            self.nodes.add_many(fresh)
        for n in known:
            self.nodes.add(n)
        return self._commit(["nodes"])

    def update_node(self, node_id: str, **changes: object) -> int:
        """Change a node's status, eligibility or drain flag (Nomad: UpdateNodeStatus & co.)."""
        index = self._begin()
        node = self.node_by_id(node_id)
        for key, value in changes.items():
            setattr(node, key, value)
        node.modify_index = index
        node.status_updated_at = int(self.clock())
        self.nodes.refresh_status(node)
        return self._commit(["nodes"])

    def node_by_id(self, node_id: str) -> Node | None:
        """The node with this ID, or None."""
        row = self.nodes.index_of.get(node_id)
        return None if row is None else self.nodes.nodes[row]

    # -- jobs -------------------------------------------------------------------------------

    def job_by_id(self, namespace: str, job_id: str) -> Job | None:
        """Nomad: JobByID."""
        return self._jobs.get((namespace, job_id))

    def jobs(self, namespace: str | None = None, prefix: str = "") -> list[Job]:
        """Jobs sorted by (namespace, ID); `namespace` None or "*" means every namespace."""
        keys = sorted(k for k in self._jobs if (namespace in (None, "*") or k[0] == namespace) and k[1].startswith(prefix))
        return [self._jobs[k] for k in keys]

    def job_versions(self, namespace: str, job_id: str) -> list[Job]:
        """Tracked versions, newest first. Nomad: JobVersionsByID."""
        return list(self._versions.get((namespace, job_id), []))

    def job_by_version(self, namespace: str, job_id: str, version: int) -> Job | None:
        """Nomad: JobByIDAndVersion."""
        return next((j for j in self._versions.get((namespace, job_id), []) if j.version == version), None)

    def upsert_job(self, job: Job, keep_version: bool = False, evals: list[Evaluation] | None = None) -> int:
        """Write a job as a new version (or, with keep_version, in place), with its evals in the same
        write as Nomad's JobRegisterRequest does. Nomad: upsertJobImpl."""
        index = self._begin()
        key = job.ns_id
        existing = self._jobs.get(key)
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
        job.status = job_status(job, self, key)
        self._store_job(job)
        self.summaries.on_job(job, index)
        return self._commit(["jobs", "job_version", "job_summary", "evals"])

    def _store_job(self, job: Job) -> None:
        key = job.ns_id
        old = self._jobs.get(key)
        self._jobs[key] = job
        versions = self._versions.setdefault(key, [])
        versions[:] = [v for v in versions if v.version != job.version]
        versions.insert(0, job)
        versions.sort(key=lambda j: -j.version)
        if len(versions) > self.tracked_versions:
            stable = next((v for v in versions if v.stable), None)
            drop = versions[-1] if versions[-1] is not stable else versions[-2]
            versions.remove(drop)
        if job.parent_id:
            self.summaries.on_child_status(job.namespace, job.parent_id, old.status if old else "", job.status,
                                           job.modify_index)

    def set_job_stability(self, namespace: str, job_id: str, version: int, stable: bool) -> int:
        """Nomad: UpdateJobStability (ModifyIndex bumps, Version and JobModifyIndex kept)."""
        index = self._begin()
        self._mark_stable(namespace, job_id, version, index, stable)
        return self._commit(["jobs", "job_version"])

    def _mark_stable(self, namespace: str, job_id: str, version: int, index: int, stable: bool = True) -> None:
        target = self.job_by_version(namespace, job_id, version)
        if target is None or target.stable == stable:
            return
        updated = _copy_job(target, stable=stable, modify_index=index)
        versions = self._versions[(namespace, job_id)]
        versions[versions.index(target)] = updated
        current = self._jobs.get((namespace, job_id))
        if current is not None and current.version == version:
            self._jobs[(namespace, job_id)] = updated
        self.table_index["jobs"] = self.table_index["job_version"] = index

    def delete_job(self, namespace: str, job_id: str) -> int:
        """Purge a job, its versions and its summary. Nomad: DeleteJob."""
        self._begin()
        key = (namespace, job_id)
        job = self._jobs.pop(key, None)
        self._versions.pop(key, None)
        self.summaries.delete(key)
        if job is not None and job.parent_id:
            self.summaries.on_child_status(namespace, job.parent_id, job.status, "", self.index)
        return self._commit(["jobs", "job_version", "job_summary"])

    def refresh_job_status(self, key: JobKey, index: int) -> None:
        """Re-derive a job's status after a write; a change bumps its ModifyIndex. Nomad: setJobStatus."""
        job = self._jobs.get(key)
        if job is None:
            return
        status = job_status(job, self, key)
        if status != job.status:
            updated = _copy_job(job, status=status, modify_index=index)
            self._jobs[key] = updated
            versions = self._versions[key]
            versions[:] = [updated if v.version == job.version else v for v in versions]
            if job.parent_id:
                self.summaries.on_child_status(job.namespace, job.parent_id, job.status, status, index)
            self.table_index["jobs"] = index

    def _refresh_jobs(self, keys: set[JobKey], index: int) -> None:
        for key in sorted(keys):
            self.refresh_job_status(key, index)

    def job_summary(self, namespace: str, job_id: str) -> JobSummary | None:
        """Nomad: JobSummaryByID."""
        return self.summaries.get((namespace, job_id))

    def live_alloc_count(self, key: JobKey) -> int:
        """How many non-terminal allocs a job has (drives job status)."""
        return self._live_allocs.get(key, 0)

    # -- evaluations ------------------------------------------------------------------------

    def upsert_evals(self, evals: list[Evaluation]) -> int:
        """Nomad: UpsertEvals. Queued allocations flow into the job summary."""
        index = self._begin()
        self._refresh_jobs(self._write_evals(evals, index), index)
        return self._commit(["evals", "job_summary"])

    def _write_evals(self, evals: list[Evaluation], index: int) -> set[JobKey]:
        now = self.clock()
        keys = set()
        for ev in evals:
            _stamp(ev, self._evals.get(ev.id), index, now)
            self._evals[ev.id] = ev
            key = (ev.namespace, ev.job_id)
            self._evals_by_job[key][ev.id] = ev
            if ev.queued_allocations:
                self.summaries.set_queued(key, ev.queued_allocations, index)
            keys.add(key)
        return keys

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
        return self._deployments.get(deployment_id)

    def deployments_by_job(self, namespace: str, job_id: str) -> list[Deployment]:
        """A job's deployments, newest first."""
        return sorted(self._deployments_by_job.get((namespace, job_id), {}).values(), key=lambda d: -d.create_index)

    def latest_deployment(self, namespace: str, job_id: str) -> Deployment | None:
        """Nomad: LatestDeploymentByJobID."""
        deps = self.deployments_by_job(namespace, job_id)
        return deps[0] if deps else None

    def deployments(self) -> list[Deployment]:
        """Every deployment, oldest first."""
        return list(self._deployments.values())

    def upsert_deployment(self, deployment: Deployment) -> int:
        """Write a deployment (new or changed) on its own."""
        index = self._begin()
        self._put_deployment(deployment, index, self.clock())
        self.refresh_job_status((deployment.namespace, deployment.job_id), index)
        return self._commit(["deployment", "jobs"])

    def update_deployment_status(self, deployment_id: str, status: str, description: str) -> int:
        """Nomad: UpdateDeploymentStatus."""
        index = self._begin()
        dep = self._set_deployment_status(deployment_id, status, description, index, self.clock())
        self.refresh_job_status((dep.namespace, dep.job_id), index)
        return self._commit(["deployment", "jobs"])

    def _put_deployment(self, deployment: Deployment, index: int, now: float) -> None:
        _stamp(deployment, self._deployments.get(deployment.id), index, now)
        self._deployments[deployment.id] = deployment
        self._deployments_by_job[(deployment.namespace, deployment.job_id)][deployment.id] = deployment
        self._log_deployment(deployment, now)

    def _log_deployment(self, dep: Deployment, now: float) -> None:
        last = self.deployment_log[-1] if self.deployment_log else None
        row = (now, dep.id, dep.job_id, dep.job_version, dep.status, dep.status_description)
        if last is None or last[1:] != row[1:]:
            self.deployment_log.append(row)

    def _set_deployment_status(self, deployment_id: str, status: str, description: str, index: int, now: float) -> Deployment:
        dep = self._deployments[deployment_id]
        dep.status = status
        dep.status_description = description
        dep.modify_index = index
        dep.modify_time = now
        self._log_deployment(dep, now)
        if status == DEPLOYMENT_SUCCESSFUL:
            self._mark_stable(dep.namespace, dep.job_id, dep.job_version, index)
        return dep

    def _deployment_on_new_alloc(self, alloc: Allocation, now: float) -> None:
        """Nomad: updateDeploymentWithAlloc for a placement."""
        dep = self._deployments.get(alloc.deployment_id)
        state = dep.task_groups.get(alloc.task_group) if dep else None
        if state is None:
            return
        state.placed_allocs += 1
        if alloc.is_canary():
            state.placed_canaries.append(alloc.id)
        if state.progress_deadline > 0 and state.require_progress_by == 0:
            state.require_progress_by = now + state.progress_deadline

    def _set_alloc_health(self, alloc: Allocation, healthy: bool, index: int, now: float) -> None:
        """Record a client's health verdict and count it in the deployment."""
        status = alloc.deployment_status
        if status is None:
            status = alloc.deployment_status = AllocDeploymentStatus()
        previous = status.healthy
        status.healthy = healthy
        status.timestamp = now
        status.modify_index = index
        dep = self._deployments.get(alloc.deployment_id)
        state = dep.task_groups.get(alloc.task_group) if dep else None
        if state is None or previous == healthy:
            return
        if previous is not None:
            if previous:
                state.healthy_allocs -= 1
            else:
                state.unhealthy_allocs -= 1
        if healthy:
            state.healthy_allocs += 1
            if state.progress_deadline > 0:
                state.require_progress_by = max(state.require_progress_by, now + state.progress_deadline)
        else:
            state.unhealthy_allocs += 1
        dep.modify_index = index
        dep.modify_time = now


_JOB_FIELDS = tuple(f.name for f in fields(Job))
_JOB_PLAIN = all(f.init for f in fields(Job))  # every field set by __init__: a field copy is `replace`


def _copy_job(job: Job, **changes: object) -> Job:
    """`dataclasses.replace(job, **changes)`, copying the fields directly (twice as fast)."""
    if type(job) is not Job or not _JOB_PLAIN:
        return replace(job, **changes)
    new = object.__new__(Job)
    for name in _JOB_FIELDS:
        setattr(new, name, getattr(job, name))
    for name, value in changes.items():
        setattr(new, name, value)
    return new


def _stamp(item: Evaluation | Deployment, old: Evaluation | Deployment | None, index: int, now: float) -> None:
    """Set create (kept from `old`, the stored version, if any) and modify index and time."""
    item.create_index = old.create_index if old else index
    item.create_time = old.create_time if old else now
    item.modify_index = index
    item.modify_time = now
