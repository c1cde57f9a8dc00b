"""Scheduler workers: dequeue an eval, think, drive the scheduler, submit its plans, ack.

Nomad: nomad/worker.go. A worker charges simulated think time (a base per plan plus a cost per
placement) before each plan it submits, so workers that overlap in time conflict in the plan
applier as real ones do. A blocked eval's re-run that its job's failed-pass memo answers takes a
fast lane (sim.scheduler.generic.replay_blocked): no scheduler is built for it.

Wiring: `Worker(context, name)`: the workers of a server share one `WorkerContext`, the parts of
the server a Nomad worker reaches (broker, blocked evals, plan queue, state, eval writes).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import simpy

from sim.metrics.recorder import Recorder
from sim.scheduler.env import SchedulerEnv, SchedulerOutcome
from sim.scheduler.factory import new_scheduler
from sim.scheduler.generic import replay_blocked
from sim.server.blocked import BlockedEvals
from sim.server.broker import BrokerError, EvalBroker
from sim.server.config import ControlPlaneConfig
from sim.server.plan_apply import PlanQueue
from sim.server.timers import Pause
from sim.state.store import StateStore
from sim.structs.consts import EVAL_STATUS_COMPLETE
from sim.structs.evaluation import Evaluation
from sim.structs.ids import IdGenerator
from sim.structs.plan import Plan

if TYPE_CHECKING:
    from sim.scheduler.policies import Policy

SCHEDULER_TYPES = ["service", "batch", "system", "sysbatch"]


class WorkerRaft(Protocol):
    """The worker's eval writes beyond its own eval's: the scheduler's follow-up evals (Nomad:
    Worker.CreateEval) and, after an ack that left the broker's cancelable or the blocked
    tracker's duplicates non-empty, the evals found redundant (the leader's reapers)."""

    def create_evals(self, evals: list[Evaluation]) -> int: ...

    def reap_cancelable(self) -> None: ...


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """What the scheduler workers of one server share."""

    env: simpy.Environment
    state: StateStore
    broker: EvalBroker
    blocked: BlockedEvals
    plan_queue: PlanQueue
    raft: WorkerRaft
    recorder: Recorder
    config: ControlPlaneConfig
    rng: np.random.Generator  # the run's `scheduler` stream
    ids: IdGenerator
    policy: Policy | None = None


class Worker:
    """One scheduler worker process."""

    # Take an eval ready now without a dequeue event when no other event is due at this instant:
    # that event would be the next one processed, so nothing would run in between. (Every event
    # the worker resumes on has the worker as its only callback.)
    take_ready_now = True

    def __init__(self, context: WorkerContext, name: str, types: list[str] | None = None):
        self.context = context
        self.name = name
        self.types = types or SCHEDULER_TYPES
        self.busy = False
        self._pause = Pause(context.env)  # the think time's timeout
        context.env.process(self._run())

    def _run(self) -> Generator[simpy.Event, Any, None]:
        ctx = self.context
        broker, env, state, recorder = ctx.broker, ctx.env, ctx.state, ctx.recorder
        rng, policy, think, types, pause = ctx.rng, ctx.policy, ctx.config.think_time_base, self.types, self._pause
        events = env._queue  # type: ignore[attr-defined]  # (the environment's one queue: `take_ready_now`)
        while True:
            found = (broker.try_dequeue(types) if self.take_ready_now and (not events or events[0][0] > env._now)  # type: ignore[attr-defined]
                     else None)
            ev, token = found if found is not None else (yield broker.dequeue(types))
            self.busy = True
            recorder.eval_dequeued(ev, env._now)  # type: ignore[attr-defined]
            # a blocked eval's re-run that can place nothing: re-blocked from its job's failed-pass memo
            answer = replay_blocked(state, rng, policy, state.scheduler_config.preemption_config, ev)
            if answer is not None:
                yield pause(think)
                self._reblock(answer[0], token, answer[1])
                self.busy = False
                continue
            senv, gen = self._scheduler_pass(ev)
            try:
                plan = next(gen)
            except StopIteration as stop:  # no plan (most passes): no generator in between
                outcome: SchedulerOutcome = stop.value
            else:
                outcome = yield from self._submit_plans(ev, token, senv, gen, plan)
            if outcome.plan is None or outcome.plan.is_no_op():
                yield pause(think)
            self._finish(outcome, token)
            self.busy = False

    def _scheduler_pass(self, ev: Evaluation) -> tuple[SchedulerEnv, Generator[Plan, Any, SchedulerOutcome]]:
        """The scheduler's environment for this pass and its (unstarted) pass over `ev`."""
        ctx = self.context
        sched_config = ctx.state.scheduler_config  # Nomad: each pass reads the state's SchedulerConfig
        senv = SchedulerEnv(state=ctx.state, rng=ctx.rng, ids=ctx.ids, now=ctx.env.now,
                            algorithm=sched_config.effective_algorithm(), policy=ctx.policy,
                            preemption=sched_config.preemption_config)
        return senv, new_scheduler(ev.type, senv).process(ev)

    def _submit_plans(self, ev: Evaluation, token: str, senv: SchedulerEnv, gen: Generator[Plan, Any, SchedulerOutcome],
                      plan: Plan) -> Generator[simpy.Event, Any, SchedulerOutcome]:
        """Think, submit each plan the scheduler yields and hand it the result, until it is done."""
        ctx, cfg = self.context, self.context.config
        while True:
            yield self._pause(_think_time(cfg, plan))
            ctx.recorder.plan_submitted(ev, ctx.env.now)
            ctx.broker.pause_nack_timeout(ev.id, token)
            result = yield ctx.plan_queue.submit(plan)
            ctx.broker.resume_nack_timeout(ev.id, token)
            senv.now = ctx.env.now
            try:
                plan = gen.send(result)
            except StopIteration as stop:
                outcome: SchedulerOutcome = stop.value
                return outcome

    def _finish(self, outcome: SchedulerOutcome, token: str) -> None:
        """Write the eval and its follow-ups, re-block or ack. Nomad: Worker.UpdateEval & co."""
        ctx = self.context
        ev = outcome.eval
        if outcome.reblock:
            self._reblock(ev, token, outcome.failed_placements, outcome.create_evals)
            return
        cancelled: list[Evaluation] = []  # the job's blocked evals a successful eval cancels
        ctx.state.upsert_evals([ev], cancelled)
        for old in cancelled:
            ctx.recorder.eval_done(old, ctx.env.now)
        if outcome.create_evals:
            ctx.raft.create_evals(outcome.create_evals)
        ctx.recorder.eval_done(ev, ctx.env.now, outcome.failed_placements)
        if ev.failed_tg_allocs:
            ctx.recorder.failed_placements(ctx.env.now, ev)
        if ev.status == EVAL_STATUS_COMPLETE and not ev.failed_tg_allocs:
            # Nomad: fsm.go handleUpsertedEval. A failed eval (max plan attempts) keeps the
            # blocked eval it just created.
            ctx.blocked.untrack(ev.namespace, ev.job_id)
        self._ack(ev, token)

    def _reblock(self, ev: Evaluation, token: str, failed: int, created: list[Evaluation] | None = None) -> None:
        """Hand a blocked eval that still could not place everything back to the blocked
        tracker (under the scheduler's snapshot index, as Nomad), record its pass (a re-blocked
        eval is never complete: nothing to untrack) and ack it. Nomad: Worker.ReblockEval."""
        ctx = self.context
        if ev.queued_allocations and _queued_changed(ctx.state, ev):
            ctx.state.upsert_evals([ev])
        ctx.blocked.reblock(ev, token)
        if created:
            ctx.raft.create_evals(created)
        ctx.recorder.eval_reblocked(ev, ctx.env._now, failed)  # type: ignore[attr-defined]
        self._ack(ev, token)

    def _ack(self, ev: Evaluation, token: str) -> None:
        """Ack the delivery, then write the evals found redundant."""
        ctx = self.context
        try:
            ctx.broker.ack(ev.id, token)
        except BrokerError:  # the nack timer fired first; Nomad's worker only logs this
            pass
        if ctx.broker.cancelable or ctx.blocked.duplicates:  # (rarely: no call after nearly every ack)
            ctx.raft.reap_cancelable()


def _queued_changed(state: StateStore, ev: Evaluation) -> bool:
    """Nomad: Worker.ReblockEval: a re-blocked eval is written only when its QueuedAllocations
    differ from the job summary's Queued counters; otherwise it goes back to the tracker as is."""
    queued = ev.queued_allocations
    if not queued:  # (a blocked eval the scheduler created has none)
        return False
    summary = state.job_summary(ev.namespace, ev.job_id)
    if summary is None:
        return False
    for tg, group in summary.summary.items():
        if tg in queued and queued[tg] != group.queued:
            return True
    return False


def _think_time(cfg: ControlPlaneConfig, plan: Plan) -> float:
    placements = sum(len(v) for v in plan.node_allocation.values())
    return cfg.think_time_base + cfg.think_time_per_placement * placements
