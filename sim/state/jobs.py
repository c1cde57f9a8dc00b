"""The job table of the state store: each job's current version and its tracked versions.

Nomad: nomad/state/state_store.go upsertJobVersion (keeping JobTrackedVersions versions, never
dropping the latest stable one), UpdateJobStability and setJobStatus's copy of the job. Stored jobs
are never changed in place: a new status or stability is a copy with a new ModifyIndex. The store
(sim.state.store) owns one table and decides the indexes, statuses and summaries around it.
"""

from __future__ import annotations

from dataclasses import fields, replace

from sim.structs.job import Job, JobKey


class JobTable:
    """Current jobs by (namespace, ID) and their tracked versions, newest first."""

    def __init__(self, tracked_versions: int) -> None:
        self.tracked_versions = tracked_versions
        self.current: dict[JobKey, Job] = {}
        self.versions: dict[JobKey, list[Job]] = {}

    def by_version(self, key: JobKey, version: int) -> Job | None:
        """A tracked version of a job, or None."""
        return next((j for j in self.versions.get(key, []) if j.version == version), None)

    def put(self, job: Job) -> Job | None:
        """Store `job` as its job's current version and track it, dropping the oldest version
        beyond `tracked_versions` (but never the latest stable one). Returns the job it replaces."""
        key = job.ns_id
        old = self.current.get(key)
        self.current[key] = job
        versions = self.versions.setdefault(key, [])
        versions[:] = [v for v in versions if v.version != job.version]
        versions.insert(0, job)
        versions.sort(key=lambda j: -j.version)
        if len(versions) > self.tracked_versions:
            stable = next((v for v in versions if v.stable), None)
            drop = versions[-1] if versions[-1] is not stable else versions[-2]
            versions.remove(drop)
        return old

    def set_stable(self, key: JobKey, version: int, stable: bool, index: int) -> bool:
        """Mark a tracked version (stable or not), also as the current job when it is that version.
        Returns whether anything changed."""
        target = self.by_version(key, version)
        if target is None or target.stable == stable:
            return False
        updated = _copy_job(target, stable=stable, modify_index=index)
        versions = self.versions[key]
        versions[versions.index(target)] = updated
        current = self.current.get(key)
        if current is not None and current.version == version:
            self.current[key] = updated
        return True

    def set_status(self, key: JobKey, job: Job, status: str, index: int) -> None:
        """Replace the current `job` (and its tracked version) by a copy with a new status."""
        updated = _copy_job(job, status=status, modify_index=index)
        self.current[key] = updated
        versions = self.versions[key]
        versions[:] = [updated if v.version == job.version else v for v in versions]

    def delete(self, key: JobKey) -> Job | None:
        """Forget a job and its versions; returns the current job, if any."""
        self.versions.pop(key, None)
        return self.current.pop(key, None)


_JOB_FIELDS = tuple(f.name for f in fields(Job))
_JOB_PLAIN = all(f.init for f in fields(Job))  # every field set by __init__: a field copy is `replace`


def _copy_job(job: Job, *, modify_index: int, status: str | None = None, stable: bool | None = None) -> Job:
    """`dataclasses.replace(job, ...)` with a new ModifyIndex and, when given, status and stability,
    copying the fields directly (twice as fast)."""
    status = job.status if status is None else status
    stable = job.stable if stable is None else stable
    if type(job) is not Job or not _JOB_PLAIN:
        return replace(job, modify_index=modify_index, status=status, stable=stable)
    new = object.__new__(Job)
    for name in _JOB_FIELDS:
        setattr(new, name, getattr(job, name))
    new.modify_index = modify_index
    new.status = status
    new.stable = stable
    return new
