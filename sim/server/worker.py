"""Scheduler workers: dequeue an eval, think, drive the scheduler, submit its plans, ack.

Nomad: nomad/worker.go. A worker charges simulated think time (a base per plan plus a cost per
placement) before each plan it submits, so workers that overlap in time conflict in the plan
applier as real ones do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.scheduler.generic import SchedulerEnv, SchedulerOutcome
from sim.scheduler.testing import new_scheduler
from sim.server.broker import BrokerError
from sim.structs.consts import EVAL_STATUS_COMPLETE
from sim.structs.plan import Plan

if TYPE_CHECKING:
    from sim.server.server import Server

SCHEDULER_TYPES = ["service", "batch", "system", "sysbatch"]


class Worker:
    """One scheduler worker process."""

    def __init__(self, server: Server, name: str, types: list[str] | None = None):
        self.server = server
        self.name = name
        self.types = types or SCHEDULER_TYPES
        self.busy = False
        server.env.process(self._run())

    def _run(self):
        server = self.server
        broker = server.broker
        while True:
            ev, token = yield broker.dequeue(self.types)
            self.busy = True
            server.recorder.eval_dequeued(ev, server.env.now)
            outcome = yield from self._process(ev, token)
            self._finish(outcome, token)
            self.busy = False

    def _process(self, ev, token):
        server, cfg = self.server, self.server.config
        senv = SchedulerEnv(state=server.state, rng=server.rngs["scheduler"], ids=server.ids, now=server.env.now,
                            algorithm=cfg.scheduler_algorithm, policy=server.policy)
        gen = new_scheduler(ev.type, senv).process(ev)
        try:
            plan = next(gen)
            while True:
                yield server.env.timeout(_think_time(cfg, plan))
                server.recorder.plan_submitted(ev, server.env.now)
                server.broker.pause_nack_timeout(ev.id, token)
                result = yield server.plan_queue.submit(plan)
                server.broker.resume_nack_timeout(ev.id, token)
                senv.now = server.env.now
                plan = gen.send(result)
        except StopIteration as stop:
            outcome: SchedulerOutcome = stop.value
        else:  # pragma: no cover - the loop only ends through StopIteration
            raise AssertionError("scheduler did not finish")
        if outcome.plan is None or outcome.plan.is_no_op():
            yield server.env.timeout(cfg.think_time_base)
        return outcome

    def _finish(self, outcome: SchedulerOutcome, token: str) -> None:
        """Write the eval and its follow-ups, re-block or ack. Nomad: Worker.UpdateEval & co."""
        server = self.server
        ev = outcome.eval
        if outcome.reblock:
            if _queued_changed(server.state, ev):
                server.state.upsert_evals([ev])
            server.blocked.reblock(ev, token)  # under the scheduler's snapshot index, as Nomad
        else:
            server.state.upsert_evals([ev])
        if outcome.create_evals:
            server.create_evals(outcome.create_evals)
        server.recorder.eval_done(ev, server.env.now, outcome.failed_placements)
        if ev.failed_tg_allocs:
            server.recorder.failed_placements(server.env.now, ev)
        if ev.status == EVAL_STATUS_COMPLETE and not ev.failed_tg_allocs:
            # Nomad: fsm.go handleUpsertedEval. A failed eval (max plan attempts) keeps the
            # blocked eval it just created.
            server.blocked.untrack(ev.namespace, ev.job_id)
        try:
            server.broker.ack(ev.id, token)
        except BrokerError:  # the nack timer fired first; Nomad's worker only logs this
            pass
        server.after_eval(ev)


def _queued_changed(state, ev) -> bool:
    """Nomad: Worker.ReblockEval: a re-blocked eval is written only when its QueuedAllocations
    differ from the job summary's Queued counters; otherwise it goes back to the tracker as is."""
    summary = state.job_summary(ev.namespace, ev.job_id)
    if summary is None:
        return False
    return any(tg in ev.queued_allocations and ev.queued_allocations[tg] != group.queued
               for tg, group in summary.summary.items())


def _think_time(cfg, plan: Plan) -> float:
    placements = sum(len(v) for v in plan.node_allocation.values())
    return cfg.think_time_base + cfg.think_time_per_placement * placements
