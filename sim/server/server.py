"""The server: one leader's control plane, wired together over a SimPy environment.

Builds the pieces and hands each the few collaborators it uses: the eval broker, blocked evals,
the plan queue and applier, the FSM (the eval and job writes they share), the job and node
endpoints, the deployment watcher, the periodic dispatcher, the drainer, node liveness and the
scheduler workers. Besides the wiring it keeps three callbacks: the broker's failed evals go to the
FSM's reaper after a random wait, each applied plan is recorded in the metrics, and the jobs a
plan preempted get their follow-up evals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import simpy

from sim.metrics.recorder import Recorder
from sim.server.blocked import BlockedEvals
from sim.server.broker import EvalBroker
from sim.server.clock import Clock
from sim.server.config import ControlPlaneConfig
from sim.server.deployments import DeploymentWatcher
from sim.server.drainer import Drainer
from sim.server.fsm import FSM, JobWatcher
from sim.server.heartbeat import Heartbeats
from sim.server.jobs import JobEndpoint
from sim.server.node_endpoint import NodeEndpoint
from sim.server.periodic import PeriodicDispatcher
from sim.server.plan_apply import AppliedPlan, PlanQueue
from sim.server.worker import Worker, WorkerContext
from sim.state.store import StateStore
from sim.structs.consts import TRIGGER_PREEMPTION
from sim.structs.evaluation import Evaluation
from sim.structs.ids import IdGenerator
from sim.structs.scheduler_config import PreemptionConfig, SchedulerConfiguration

if TYPE_CHECKING:
    from sim.scheduler.policies import Policy


class Server:
    """The leader: state plus the control-plane processes that act on it."""

    def __init__(self, env: simpy.Environment, state: StateStore, config: ControlPlaneConfig,
                 rngs: dict[str, np.random.Generator], recorder: Recorder, start_unix: float = 0.0,
                 policy: Policy | None = None):
        self.env = env
        self.state = state
        self.config = config
        self.rngs = rngs
        self.policy = policy
        self.recorder = recorder
        # Nomad: the leader's initial SchedulerConfiguration, from the server's configuration (it
        # is held before the first write, so the first raft index stays the first node's)
        state.scheduler_config = SchedulerConfiguration(
            config.scheduler_algorithm, PreemptionConfig.from_switches(config.preemption))
        self.clock = Clock(env, start_unix)
        self.ids = IdGenerator(rngs["ids"])
        self.broker = EvalBroker(env, config, rngs["broker"], on_failed=self._on_eval_failed)
        self.blocked = BlockedEvals(env, self.broker, config)
        self.plan_queue = PlanQueue(env, state, config.plan_apply_latency)
        self.plan_queue.subscribe(self._record_plan)
        self.plan_queue.subscribe(self._preemption_evals)
        self.fsm = FSM(state, self.broker, self.blocked, recorder, self.ids, self.clock)
        self.job_watchers: list[JobWatcher] = self.fsm.job_watchers  # the simulation adds the recorder
        self.jobs = JobEndpoint(state, self.fsm, self.clock)
        self.deployment_watcher = DeploymentWatcher(env, state, self.fsm, self.clock,
                                                    config.deployment_eval_batch_period)
        self.periodic = PeriodicDispatcher(env, state, self.jobs, self.clock)
        self.job_watchers.append(self.periodic)
        self.drainer = Drainer(env, state, self.fsm)
        self.node_endpoint = NodeEndpoint(env, state, self.fsm, self.blocked, self.drainer, self.deployment_watcher)
        self.heartbeats = Heartbeats(env, state, config, rngs["heartbeat"], self.node_endpoint)
        self.workers: list[Worker] = []

    def establish_leadership(self) -> None:
        """Nomad: leader.go, establishLeadership: the deployment watcher starts following applied
        plans, and the configured number of scheduler workers start.

        Call it once the clients subscribed to the plan queue: after a commit, the clients act on
        it before the deployment watcher does.
        """
        self.plan_queue.subscribe(self.deployment_watcher.on_plan_applied)
        context = WorkerContext(env=self.env, state=self.state, broker=self.broker, blocked=self.blocked,
                                plan_queue=self.plan_queue, raft=self.fsm, recorder=self.recorder,
                                config=self.config, rng=self.rngs["scheduler"], ids=self.ids, policy=self.policy)
        self.workers = [Worker(context, f"worker-{i}") for i in range(self.config.num_schedulers)]

    def unix_nanos(self, at: float | None = None) -> int:
        """Simulated time (now, or `at`) as Unix nanoseconds (Nomad's SubmitTime, CreateTime ...)."""
        return self.clock.unix_nanos(at)

    # -- callbacks --------------------------------------------------------------------------

    def _on_eval_failed(self, ev: Evaluation) -> None:
        """Nomad: leader.reapFailedEvaluations: fail it and schedule a follow-up after a random wait."""
        cfg = self.config
        wait = cfg.eval_failed_followup_baseline_delay + float(self.rngs["broker"].random()) * cfg.eval_failed_followup_delay_range
        self.fsm.reap_failed(ev, wait, f"evaluation reached delivery limit ({cfg.eval_delivery_limit})")

    def _preemption_evals(self, applied: AppliedPlan) -> None:
        """Nomad: plan_apply.go applyPlan: an eval (TriggeredBy preemption) for each job whose allocs
        the plan evicted, written with the plan (here: right after it, at the same instant)."""
        jobs: dict[tuple[str, str], None] = {}
        for allocs in applied.result.node_preemptions.values():
            for a in allocs:
                jobs.setdefault((a.namespace, a.job_id))
        evals = [self.fsm.new_eval(job, TRIGGER_PREEMPTION, job_modify_index=0) for key in jobs
                 if (job := self.state.job_by_id(*key)) is not None]
        if evals:
            self.fsm.create_evals(evals)

    def _record_plan(self, applied: AppliedPlan) -> None:
        """After a plan's commit, before its other subscribers: the metrics of the commit."""
        now = self.env.now
        recorder, stored_alloc = self.recorder, self.state.alloc_by_id
        ev = self.state.eval_by_id(applied.plan.eval_id)
        fresh = applied.placed if applied.new else [a for a in applied.placed if a.create_index == a.modify_index]
        if ev is not None:
            recorder.plan_applied(ev, now, len(fresh), bool(applied.result.rejected_nodes))
        recorder.placements(now, fresh)
        if applied.result.node_preemptions:
            placed_by_id = {a.id: a for a in applied.placed}
            for evicted in [a for allocs in applied.result.node_preemptions.values() for a in allocs]:
                victim, preempting = stored_alloc(evicted.id), placed_by_id.get(evicted.preempted_by_allocation)
                if victim is not None and preempting is not None:
                    recorder.preemption(now, preempting, victim)
        changed = fresh + [a for stop in applied.stopped if (a := stored_alloc(stop.id)) is not None] if applied.stopped else fresh
        recorder.rows["allocations"].extend(  # one row per change
            [(now, a.id, a.job_id, a.task_group, a.node_id, a.client_status, a.desired_status) for a in changed])
