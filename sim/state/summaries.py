"""Job summaries: per task group, how many allocs are queued, starting, running and so on, and
per parent job how many children are pending, running or dead.

Nomad: nomad/state/state_store.go updateSummaryWithJob, updateSummaryWithAlloc, and setJobStatus's
children counts. Each update takes only what the write changed (a job, an eval's queued counts, an
alloc and its old client status, a child's old and new status): the store calls them inside its
job, eval and alloc writes (sim.state.store, sim.state.allocs).
"""

from __future__ import annotations

from sim.structs.alloc import Allocation
from sim.structs.consts import (
    ALLOC_CLIENT_COMPLETE,
    ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_LOST,
    ALLOC_CLIENT_PENDING,
    ALLOC_CLIENT_RUNNING,
    ALLOC_CLIENT_UNKNOWN,
    JOB_STATUS_DEAD,
    JOB_STATUS_PENDING,
    JOB_STATUS_RUNNING,
)
from sim.structs.job import Job, JobKey
from sim.structs.job_summary import JobSummary, TaskGroupSummary

_BUCKET = {
    ALLOC_CLIENT_PENDING: "starting",
    ALLOC_CLIENT_RUNNING: "running",
    ALLOC_CLIENT_COMPLETE: "complete",
    ALLOC_CLIENT_FAILED: "failed",
    ALLOC_CLIENT_LOST: "lost",
    ALLOC_CLIENT_UNKNOWN: "unknown",
}
_DECREMENTED = {ALLOC_CLIENT_PENDING, ALLOC_CLIENT_RUNNING, ALLOC_CLIENT_LOST, ALLOC_CLIENT_UNKNOWN}


class SummaryKeeper:
    """Per-job summaries, updated by every job, eval and alloc write."""

    def __init__(self) -> None:
        self._summaries: dict[JobKey, JobSummary] = {}

    def get(self, key: JobKey) -> JobSummary | None:
        """The summary of a job, or None."""
        return self._summaries.get(key)

    def delete(self, key: JobKey) -> None:
        """Forget a purged job's summary."""
        self._summaries.pop(key, None)

    def on_job(self, job: Job, index: int) -> None:
        """Nomad: updateSummaryWithJob: a new job gets a summary; new groups get entries."""
        key = job.ns_id
        summary = self._summaries.get(key)
        if summary is None or summary.create_index != job.create_index:
            summary = JobSummary(job_id=job.id, namespace=key[0], create_index=job.create_index, modify_index=index)
            self._summaries[key] = summary
        changed = False
        for tg in job.task_groups:
            if tg.name not in summary.summary:
                summary.summary[tg.name] = TaskGroupSummary()
                changed = True
        if changed:
            summary.modify_index = index

    def set_queued(self, key: JobKey, queued: dict[str, int], index: int) -> None:
        """Nomad: an eval's QueuedAllocations overwrite the summary's Queued counters."""
        summary = self._summaries.get(key)
        if summary is None:
            return
        for tg, n in queued.items():
            group = summary.summary.get(tg)
            if group is not None and group.queued != n:
                group.queued = n
                summary.modify_index = index

    def _group_of(self, alloc: Allocation) -> tuple[JobSummary, TaskGroupSummary] | None:
        """The summary and group an alloc counts in (created on first use); None when the job
        has no summary or the alloc belongs to an earlier job of the same ID."""
        summary = self._summaries.get((alloc.namespace, alloc.job_id))
        if summary is None or alloc.job.create_index != summary.create_index:
            return None
        group = summary.summary.get(alloc.task_group)
        if group is None:
            group = summary.summary[alloc.task_group] = TaskGroupSummary()
        return summary, group

    def on_new_alloc(self, alloc: Allocation, index: int) -> None:
        """A freshly placed alloc: Queued -1, Starting +1. Nomad: updateSummaryWithAlloc (new alloc)."""
        found = self._group_of(alloc)
        if found is None:
            return
        summary, group = found
        if group.queued > 0:
            group.queued -= 1
        else:
            group.queued = 0
        status = alloc.client_status
        if status == ALLOC_CLIENT_PENDING:
            group.starting += 1
        else:
            bucket = _BUCKET.get(status)
            if bucket:
                setattr(group, bucket, getattr(group, bucket) + 1)
        summary.modify_index = index

    def on_client_status(self, alloc: Allocation, old: str, index: int, count: int = 1) -> None:
        """A client status change: count the new bucket, uncount the old unless cumulative
        (`count` times: as many allocs of the alloc's job group making the same change).

        Nomad: updateSummaryWithAlloc (client status changed).
        """
        found = self._group_of(alloc)
        if found is None:
            return
        summary, group = found
        new = alloc.client_status
        if new == ALLOC_CLIENT_RUNNING:  # the common transitions first, spelled out
            group.running += count
        elif new == ALLOC_CLIENT_COMPLETE:
            group.complete += count
        else:
            new_bucket = _BUCKET.get(new)
            if new_bucket:
                setattr(group, new_bucket, getattr(group, new_bucket) + count)
        # (a counter uncounted `count` times, never below 0)
        if old == ALLOC_CLIENT_PENDING:
            group.starting = max(group.starting - count, 0)
        elif old == ALLOC_CLIENT_RUNNING:
            group.running = max(group.running - count, 0)
        elif old in _DECREMENTED:
            old_bucket = _BUCKET[old]
            setattr(group, old_bucket, max(getattr(group, old_bucket) - count, 0))
        summary.modify_index = index

    def on_client_statuses(self, allocs: list[Allocation], olds: list[str], index: int) -> None:
        """`on_client_status` of each alloc in turn (from its status in `olds`), a run of allocs
        of one job group making the same change at once."""
        i, n = 0, len(allocs)
        while i < n:
            alloc, old = allocs[i], olds[i]
            job, group, status, j = alloc.job, alloc.task_group, alloc.client_status, i + 1
            while (j < n and olds[j] == old and (other := allocs[j]).job is job and other.task_group == group
                   and other.client_status == status and other.job_id == alloc.job_id
                   and other.namespace == alloc.namespace):
                j += 1
            self.on_client_status(alloc, old, index, j - i)
            i = j

    def on_child_status(self, namespace: str, parent_id: str, old: str, new: str, index: int = 0) -> None:
        """Keep a parent's Children counts in step with a child's status (a change bumps its ModifyIndex).

        Nomad: setJobStatus (the children summary).
        """
        summary = self._summaries.get((namespace, parent_id))
        if summary is None or old == new:
            return
        summary.modify_index = index or summary.modify_index
        children = summary.children
        if old in (JOB_STATUS_PENDING, JOB_STATUS_RUNNING, JOB_STATUS_DEAD):
            setattr(children, old, max(0, getattr(children, old) - 1))
        if new in (JOB_STATUS_PENDING, JOB_STATUS_RUNNING, JOB_STATUS_DEAD):
            setattr(children, new, getattr(children, new) + 1)
