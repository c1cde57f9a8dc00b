"""Job versions: reverting to an older version and marking a version stable.

Nomad: nomad/job_endpoint.go Revert and Stable; state_store.go UpdateJobStability. A revert is a
register of a copy of the old version (full admission, EnforceIndex when the caller pins the prior
version), so it gets Version = current + 1, or is a no-op register when the spec is unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.errors import ValidationError
from sim.server.jobs import WriteResult
from sim.structs.codec import copy_job
from sim.structs.job import Job

if TYPE_CHECKING:
    from sim.server.server import Server


def _version(server: Server, namespace: str, job_id: str, version: int) -> Job:
    job = server.state.job_by_version(namespace, job_id, version)
    if job is None:
        raise ValidationError("JobVersion", f'job "{job_id}" in namespace "{namespace}" at version {version} not found')
    return job


def revert(server: Server, namespace: str, job_id: str, version: int,
           enforce_prior_version: int | None = None) -> WriteResult:
    """Nomad: Job.Revert.

    Raises:
        ValidationError: unknown job or version, the current version, or a prior-version mismatch.
    """
    if not job_id:
        raise ValidationError("JobID", "missing job ID for revert")
    current = server.state.job_by_id(namespace, job_id)
    if current is None:
        raise ValidationError("JobID", f'job "{job_id}" not found')
    if version == current.version:
        raise ValidationError("JobVersion", "can't revert to current version")
    old = _version(server, namespace, job_id, version)
    enforce, index = False, 0
    if enforce_prior_version is not None:
        if current.version != enforce_prior_version:
            raise ValidationError("EnforcePriorVersion",
                                  f"Current job has version {current.version}; enforcing version {enforce_prior_version}")
        enforce, index = True, current.job_modify_index
    job = copy_job(old)
    job.version_tag = None
    job.stable = False
    return server.jobs.register(job, enforce=enforce, job_modify_index=index)


def set_stability(server: Server, namespace: str, job_id: str, version: int, stable: bool) -> int:
    """Nomad: Job.Stable. Returns the index of the write (no write when the flag is already set).

    Raises:
        ValidationError: missing job ID, or an unknown job version.
    """
    if not job_id:
        raise ValidationError("JobID", "missing job ID for marking job as stable")
    job = _version(server, namespace, job_id, version)
    if job.stable == bool(stable):
        return server.state.index
    return server.state.set_job_stability(namespace, job_id, version, bool(stable))
