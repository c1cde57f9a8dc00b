"""The writes the server's subsystems share, and what they set off beyond the state store.

Nomad: nomad/fsm.go. Nomad's FSM applies each Raft entry to the state store, then tells the
leader's components: an upserted eval goes to the eval broker or the blocked evals tracker
(handleUpsertedEval), a written job to the periodic dispatcher (applyUpsertJob,
applyDeregisterJob: here any `JobWatcher`). The leader's eval reapers are eval writes too and live
here (Nomad: leader.go reapFailedEvaluations, reapCancelableEvaluations, reapDupBlockedEvaluations).

Subsystems receive the `FSM` behind the narrow protocol of the writes they make: `EvalCreator`
here, or one of their own named after Nomad's seam (the deployment watcher's
DeploymentRaftEndpoints, the drainer's RaftApplier).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from sim.metrics.recorder import Recorder
from sim.server.blocked import BlockedEvals
from sim.server.broker import EvalBroker
from sim.server.clock import Clock
from sim.state.store import StateStore
from sim.structs.consts import (
    EVAL_STATUS_BLOCKED,
    EVAL_STATUS_CANCELLED,
    EVAL_STATUS_FAILED,
    EVAL_STATUS_PENDING,
    TRIGGER_FAILED_FOLLOW_UP,
)
from sim.structs.evaluation import Evaluation
from sim.structs.ids import IdGenerator
from sim.structs.job import Job


class EvalCreator(Protocol):
    """Building evals and writing them for the scheduler: what a subsystem asking for work needs."""

    def new_eval(self, job: Job, triggered_by: str, **fields: Any) -> Evaluation: ...

    def create_evals(self, evals: list[Evaluation]) -> int: ...


class JobWatcher(Protocol):
    """Told after every job write (Nomad: the FSM's periodicDispatcher.Add / Remove)."""

    def on_job(self, job: Job, purged: bool) -> None: ...


class FSM:
    """Eval and job writes of one server, followed by their hand-off to the broker, the blocked
    tracker and the job watchers."""

    def __init__(self, state: StateStore, broker: EvalBroker, blocked: BlockedEvals, recorder: Recorder,
                 ids: IdGenerator, clock: Clock):
        self.state = state
        self.broker = broker
        self.blocked = blocked
        self.recorder = recorder
        self.ids = ids
        self.clock = clock
        self.job_watchers: list[JobWatcher] = []  # the periodic dispatcher; the simulation adds the recorder

    # -- evaluations ------------------------------------------------------------------------

    def new_eval(self, job: Job, triggered_by: str, **fields: Any) -> Evaluation:
        """An evaluation of `job` with Nomad's defaults (priority and type of the job); `fields`
        are Evaluation fields that override them or add to them."""
        values: dict[str, Any] = {"priority": job.priority, "type": job.type, "job_modify_index": job.modify_index}
        values.update(fields)
        return Evaluation(id=self.ids.uuid(), namespace=job.namespace, triggered_by=triggered_by,
                          job_id=job.id, status=EVAL_STATUS_PENDING, **values)

    def create_evals(self, evals: list[Evaluation]) -> int:
        """Write evals in one state write, then enqueue (or track as blocked). Returns the index."""
        index = self.state.upsert_evals(evals)
        for ev in evals:
            self.enqueue_created(ev)
        return index

    def enqueue_created(self, ev: Evaluation) -> None:
        """Hand an eval that is already in the state to the broker or the blocked tracker.

        Nomad: fsm.go, handleUpsertedEval.
        """
        self.recorder.eval_created(ev, self.clock.now)
        if ev.status == EVAL_STATUS_BLOCKED:
            self.blocked.block(ev)
        elif ev.status == EVAL_STATUS_PENDING:
            self.broker.enqueue(ev)

    def reap_cancelable(self) -> None:
        """After an ack: write the evals the broker or the blocked tracker found redundant as
        canceled. Nomad: leader.go, reapCancelableEvaluations and reapDupBlockedEvaluations."""
        if not self.broker.cancelable and not self.blocked.duplicates:  # (after nearly every ack)
            return
        stale = self.broker.drain_cancelable()
        for old in stale:
            old.status_description = "canceled after more recent eval was processed"
        duplicates = self.blocked.drain_duplicates()
        for old in duplicates:
            old.status_description = f'existing blocked evaluation exists for job "{old.job_id}"'
        stale += duplicates
        if not stale:
            return
        for old in stale:
            old.status = EVAL_STATUS_CANCELLED
            self.recorder.eval_done(old, self.clock.now)
        self.state.upsert_evals(stale)

    def reap_failed(self, ev: Evaluation, wait: float, description: str) -> None:
        """An eval reached the broker's delivery limit: fail it, and create a follow-up eval that
        waits `wait` seconds. Nomad: leader.go, reapFailedEvaluations."""
        job = self.state.job_by_id(ev.namespace, ev.job_id) or _stub_job(ev)
        follow = replace(self.new_eval(job, TRIGGER_FAILED_FOLLOW_UP),
                         priority=ev.priority, type=ev.type, wait=wait, previous_eval=ev.id)
        ev.status = EVAL_STATUS_FAILED
        ev.status_description = description
        ev.next_eval = follow.id
        self.state.upsert_evals([ev])
        self.recorder.eval_done(ev, self.clock.now)
        self.create_evals([follow])

    # -- jobs -------------------------------------------------------------------------------

    def write_job(self, job: Job, evals: list[Evaluation]) -> int:
        """Write a new job version with its evals in one write, tell the job watchers, then enqueue
        the evals. Returns the write's index. Nomad: fsm.go, applyUpsertJob."""
        index = self.state.upsert_job(job, evals=evals)
        self.after_job_write(job)
        for ev in evals:
            self.enqueue_created(ev)
        return index

    def after_job_write(self, job: Job, purged: bool = False) -> None:
        """Tell the job watchers (periodic dispatcher, ...) that a job changed."""
        for watcher in self.job_watchers:
            watcher.on_job(job, purged)


def _stub_job(ev: Evaluation) -> Job:
    """The job a follow-up eval is built from once its job is gone: the failed eval's fields."""
    return Job(id=ev.job_id, namespace=ev.namespace, priority=ev.priority, type=ev.type)
