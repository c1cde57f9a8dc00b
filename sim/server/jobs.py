"""The job endpoint's domain logic: register, deregister and evaluate.

Nomad: nomad/job_endpoint.go (Register/doRegister, Deregister, Evaluate). Everything is checked
before the state is written, so a rejected request changes nothing. Errors are raised as
ValidationError (a 500 over HTTP, as Nomad's RPC errors are) with Nomad's messages.

Wiring: `JobEndpoint(state, raft, clock)`: jobs are read from `state` and written, with their
evals, through `raft` (JobWriter, the server's FSM), which tells the broker and the job watchers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from sim.errors import ValidationError
from sim.server.clock import Clock
from sim.server.fsm import EvalCreator
from sim.state.store import StateStore
from sim.structs.canonicalize import canonicalize
from sim.structs.codec import jobs_spec_equal
from sim.structs.consts import (
    JOB_DEFAULT_MAX_PRIORITY,
    JOB_MIN_PRIORITY,
    TRIGGER_JOB_DEREGISTER,
    TRIGGER_JOB_REGISTER,
)
from sim.structs.evaluation import Evaluation
from sim.structs.job import Job
from sim.structs.validate.job import validate_job, validate_job_update


class JobWriter(EvalCreator, Protocol):
    """The job endpoint's writes beyond the state store's: job versions and evals, handed on to
    the job watchers and the broker. Nomad: Job.Register's raftApply and the FSM's applyUpsertJob."""

    def enqueue_created(self, ev: Evaluation) -> None: ...

    def write_job(self, job: Job, evals: list[Evaluation]) -> int: ...

    def after_job_write(self, job: Job, purged: bool = False) -> None: ...


@dataclass(slots=True)
class WriteResult:
    """What a job write answers: Nomad's JobRegisterResponse / JobDeregisterResponse fields."""

    eval_id: str = ""
    eval_create_index: int = 0
    job_modify_index: int = 0
    index: int = 0
    warnings: str = ""


def enforce_index(existing: Job | None, index: int) -> None:
    """Nomad: structs.Job EnforceIndex check-and-set against JobModifyIndex."""
    prefix = f"Enforcing job modify index {index}"
    if existing is not None and index == 0:
        raise ValidationError("JobModifyIndex", f"{prefix}: job already exists")
    if existing is not None and index != existing.job_modify_index:
        raise ValidationError("JobModifyIndex", f"{prefix}: job exists with conflicting job modify index: {existing.job_modify_index}")
    if existing is None and index != 0:
        raise ValidationError("JobModifyIndex", f"{prefix}: job does not exist")


class JobEndpoint:
    """Register, deregister and evaluate jobs against one server."""

    def __init__(self, state: StateStore, raft: JobWriter, clock: Clock):
        self.state = state
        self.raft = raft
        self.clock = clock

    def admit(self, job: Job) -> Job:
        """Nomad: admission hooks: canonicalize, then validate (every error at once)."""
        canonicalize(job)
        validate_job(job, first=self.state.catalog.job_errors(job.id, job.namespace, job.node_pool))
        if not JOB_MIN_PRIORITY <= job.priority <= JOB_DEFAULT_MAX_PRIORITY:
            raise ValidationError("Priority", f"job priority must be between [{JOB_MIN_PRIORITY}, {JOB_DEFAULT_MAX_PRIORITY}]")
        return job

    def register(self, job: Job, enforce: bool = False, job_modify_index: int = 0, eval_priority: int = 0,
                 admitted: bool = False, triggered_by: str = TRIGGER_JOB_REGISTER) -> WriteResult:
        """Nomad: Job.Register. A spec that did not change writes no new version but still gets an eval.

        `triggered_by` names the eval's trigger (the periodic dispatcher's children use periodic-job).
        """
        state, raft = self.state, self.raft
        if not admitted:
            self.admit(job)
        existing = state.job_by_id(job.namespace, job.id)
        if enforce:
            enforce_index(existing, job_modify_index)
        if existing is not None:
            validate_job_update(existing, job)
        if eval_priority and not JOB_MIN_PRIORITY <= eval_priority <= JOB_DEFAULT_MAX_PRIORITY:
            raise ValidationError("EvalPriority", f"eval priority must be between [{JOB_MIN_PRIORITY}, {JOB_DEFAULT_MAX_PRIORITY}]")
        wants_eval = not job.is_periodic() and not job.is_parameterized()
        ev = raft.new_eval(job, triggered_by, priority=eval_priority or job.priority) if wants_eval else None
        if existing is not None and jobs_spec_equal(existing, job):
            if ev is None:
                return WriteResult(job_modify_index=existing.job_modify_index, index=existing.modify_index)
            ev.job_modify_index = existing.job_modify_index
            index = raft.create_evals([ev])
            return WriteResult(ev.id, index, existing.modify_index, index)
        job.submit_time = self.clock.unix_nanos()
        job.stable = False
        index = raft.write_job(job, [ev] if ev else [])
        if ev is not None:
            return WriteResult(ev.id, index, index, index)
        return WriteResult(job_modify_index=index, index=index)

    def deregister(self, namespace: str, job_id: str, purge: bool = False, eval_priority: int = 0) -> WriteResult:
        """Nomad: Job.Deregister: stop (a new version with Stop=true) or purge, plus an eval."""
        state, raft = self.state, self.raft
        existing = state.job_by_id(namespace, job_id)
        if existing is None:
            return WriteResult()
        wants_eval = not existing.is_periodic() and not existing.is_parameterized()
        ev = None
        if wants_eval:
            ev = raft.new_eval(existing, TRIGGER_JOB_DEREGISTER, priority=eval_priority or existing.priority)
            ev.type = "service"  # Nomad's deregister evals are always of type service
        if purge:
            index = state.delete_job(namespace, job_id)
            if ev is not None:
                ev.job_modify_index = index
                index = raft.create_evals([ev])
        else:
            stopped = replace(existing, stop=True, submit_time=self.clock.unix_nanos(), stable=False)
            index = state.upsert_job(stopped, evals=[ev] if ev else None)
            if ev is not None:
                raft.enqueue_created(ev)
        raft.after_job_write(state.job_by_id(namespace, job_id) or existing, purged=purge)
        return WriteResult(ev.id if ev else "", index if ev else 0, index, index)

    def evaluate(self, namespace: str, job_id: str, force_reschedule: bool = False) -> WriteResult:
        """Nomad: Job.Evaluate: a fresh job-register eval for an existing job."""
        state, raft = self.state, self.raft
        job = state.job_by_id(namespace, job_id)
        if job is None:
            raise ValidationError("JobID", "job not found")
        if job.is_periodic():
            raise ValidationError("JobID", "can't evaluate periodic job")
        if job.is_parameterized():
            raise ValidationError("JobID", "can't evaluate parameterized job")
        if force_reschedule:
            self._force_reschedule(job)
        ev = raft.new_eval(job, TRIGGER_JOB_REGISTER)
        ev.job_modify_index = job.modify_index
        index = raft.create_evals([ev])
        return WriteResult(ev.id, index, job.modify_index, index)

    def _force_reschedule(self, job: Job) -> None:
        """Mark failed, not yet replaced allocs of groups with a reschedule policy for rescheduling."""
        allocs = [
            a for a in self.state.allocs_by_job(job.namespace, job.id)
            if a.client_status == "failed" and not a.next_allocation and not a.server_terminal()
            and (tg := job.lookup_task_group(a.task_group)) is not None and tg.reschedule_policy is not None
            and (tg.reschedule_policy.attempts > 0 or tg.reschedule_policy.unlimited)
        ]
        if allocs:
            self.state.update_alloc_desired_transition(allocs, force_reschedule=True)
