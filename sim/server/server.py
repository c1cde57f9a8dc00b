"""The server: one leader's control plane wired together over a SimPy environment.

Owns the pieces (eval broker, blocked evals, plan queue and applier, scheduler workers,
deployment watcher, periodic dispatcher, node liveness) and the one operation they all share:
writing new evaluations to the state and handing them to the broker or the blocked tracker.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import simpy

from sim.metrics.recorder import Recorder
from sim.server.blocked import BlockedEvals
from sim.server.broker import EvalBroker
from sim.server.config import ControlPlaneConfig
from sim.server.deployments import DeploymentWatcher
from sim.server.jobs import JobEndpoint
from sim.server.periodic import PeriodicDispatcher
from sim.server.plan_apply import PlanQueue
from sim.server.worker import Worker
from sim.state.store import StateStore
from sim.structs.alloc import Allocation
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
from sim.structs.plan import Plan, PlanResult

if TYPE_CHECKING:
    from sim.client.clients import Clients
    from sim.server.drainer import Drainer
    from sim.server.heartbeat import Heartbeats
    from sim.server.node_endpoint import NodeEndpoint


class Server:
    """The leader: state plus the control-plane processes that act on it."""

    def __init__(self, env: simpy.Environment, state: StateStore, config: ControlPlaneConfig,
                 rngs: dict[str, np.random.Generator], recorder: Recorder, start_unix: float = 0.0,
                 policy: object = None):
        self.env = env
        self.state = state
        self.config = config
        self.rngs = rngs
        self.start_unix = start_unix
        self.policy = policy
        self.ids = IdGenerator(rngs["ids"])
        self.recorder = recorder
        self.broker: EvalBroker = EvalBroker(env, config, rngs["broker"], on_failed=self._on_eval_failed)
        self.blocked: BlockedEvals = BlockedEvals(env, self.broker, config)
        self.plan_queue = PlanQueue(env, state, config.plan_apply_latency, self._on_plan_applied)
        self.jobs = JobEndpoint(self)
        # Set by the simulation once the client nodes exist (sim.simulation.Simulation._start_clients).
        self.clients: Clients | None = None
        self.node_endpoint: NodeEndpoint
        self.heartbeats: Heartbeats
        self.drainer: Drainer
        self.workers: list[Worker] = []
        self.deployment_watcher = DeploymentWatcher(self)
        self.periodic = PeriodicDispatcher(self)
        self.job_watchers: list = [self.periodic]  # objects with on_job(job, purged); the recorder joins

    def start_workers(self) -> None:
        """Start the configured number of scheduler workers."""
        self.workers = [Worker(self, f"worker-{i}") for i in range(self.config.num_schedulers)]

    # -- time -------------------------------------------------------------------------------

    def unix_nanos(self, at: float | None = None) -> int:
        """Simulated time as Unix nanoseconds (Nomad's SubmitTime, CreateTime ...)."""
        return int(round((self.start_unix + (self.env.now if at is None else at)) * 1e9))

    # -- evaluations ------------------------------------------------------------------------

    def new_eval(self, job: Job, triggered_by: str, **fields: object) -> Evaluation:
        """An evaluation of `job` with Nomad's defaults (priority and type of the job)."""
        values = {"priority": job.priority, "type": job.type, "job_modify_index": job.modify_index}
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
        """Hand an eval that is already in the state to the broker or the blocked tracker."""
        self.recorder.eval_created(ev, self.env.now)
        if ev.status == EVAL_STATUS_BLOCKED:
            self.blocked.block(ev)
        elif ev.status == EVAL_STATUS_PENDING:
            self.broker.enqueue(ev)

    def after_eval(self, ev: Evaluation) -> None:
        """After an ack: write evals the broker or the blocked tracker found redundant as canceled."""
        stale = self.broker.drain_cancelable() + self.blocked.drain_duplicates()
        if not stale:
            return
        for old in stale:
            old.status = EVAL_STATUS_CANCELLED
            old.status_description = "canceled after more recent eval was processed"
            self.recorder.eval_done(old, self.env.now)
        self.state.upsert_evals(stale)

    def _on_eval_failed(self, ev: Evaluation) -> None:
        """Nomad: leader.reapFailedEvaluations: fail it and schedule a follow-up after a random wait."""
        cfg = self.config
        wait = cfg.eval_failed_followup_baseline_delay + float(self.rngs["broker"].random()) * cfg.eval_failed_followup_delay_range
        follow = replace(self.new_eval(self.state.job_by_id(ev.namespace, ev.job_id) or _stub_job(ev), TRIGGER_FAILED_FOLLOW_UP),
                         priority=ev.priority, type=ev.type, wait=wait, previous_eval=ev.id)
        ev.status = EVAL_STATUS_FAILED
        ev.status_description = f"evaluation reached delivery limit ({cfg.eval_delivery_limit})"
        ev.next_eval = follow.id
        self.state.upsert_evals([ev])
        self.recorder.eval_done(ev, self.env.now)
        self.create_evals([follow])

    # -- jobs and hooks ---------------------------------------------------------------------

    def write_job(self, job: Job, evals: list[Evaluation]) -> int:
        """Write a new job version with its evals in one write, tell the job watchers, then enqueue
        the evals. Returns the write's index."""
        index = self.state.upsert_job(job, evals=evals)
        self.after_job_write(job)
        for ev in evals:
            self.enqueue_created(ev)
        return index

    def after_job_write(self, job: Job, purged: bool = False) -> None:
        """Tell the job watchers (periodic dispatcher, ...) that a job changed."""
        for watcher in self.job_watchers:
            watcher.on_job(job, purged)

    def _on_plan_applied(self, plan: Plan, result: PlanResult, placed: list[Allocation],
                         stopped: list[Allocation]) -> None:
        """After a plan's commit: record it, then tell the clients and the deployment watcher."""
        now = self.env.now
        ev = self.state.eval_by_id(plan.eval_id)
        fresh = [a for a in placed if a.create_index == a.modify_index]
        if ev is not None:
            self.recorder.plan_applied(ev, now, len(fresh), bool(result.rejected_nodes))
        self.recorder.placements(now, fresh)
        stored = [self.state.alloc_by_id(stop.id) for stop in stopped]
        for a in fresh + [a for a in stored if a is not None]:  # one `allocations` row per change
            self.recorder.add("allocations", now, a.id, a.job_id, a.task_group, a.node_id, a.client_status, a.desired_status)
        if self.clients is not None:
            self.clients.on_plan_applied(placed, stopped)
        self.deployment_watcher.on_plan_applied(result, placed)


def _stub_job(ev: Evaluation) -> Job:
    return Job(id=ev.job_id, namespace=ev.namespace, priority=ev.priority, type=ev.type)
