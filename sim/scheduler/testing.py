"""Choosing a scheduler for an eval, and a harness that runs one with plans applied at once.

Nomad: scheduler/scheduler.go (the factory) and scheduler/tests/testing.go (Harness,
RejectPlan). The harness is what the scheduler tests and the plan endpoint's dry run use: no
SimPy, no think time. Like Nomad's it records the plans, the eval updates, the created evals and
the re-blocked evals of every eval it processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sim.scheduler.generic import GenericScheduler, SchedulerEnv, SchedulerOutcome
from sim.scheduler.system import SystemScheduler
from sim.state.store import StateStore
from sim.structs.evaluation import Evaluation
from sim.structs.plan import Plan, PlanResult


def new_scheduler(eval_type: str, senv: SchedulerEnv) -> GenericScheduler | SystemScheduler:
    """Nomad: scheduler.NewScheduler: the scheduler for an eval's type."""
    if eval_type in ("system", "sysbatch"):
        return SystemScheduler(senv, sysbatch=eval_type == "sysbatch")
    return GenericScheduler(senv, batch=eval_type == "batch")


@dataclass
class Harness:
    """Runs a scheduler against a StateStore, answering each plan at once.

    Modes: `commit` (default) with an `apply(state, plan) -> PlanResult` applies plans through
    it (the server's plan applier, partial commits included: the caller passes it in, as this
    layer may not import the server); `commit` without `apply` commits every plan as submitted,
    as Nomad's test harness does; `reject` answers every plan with a refresh and commits nothing
    (Nomad: RejectPlan); `commit=False` is a dry run that answers as if every node fit and
    writes nothing. `before_apply(plan)` runs before each plan is applied (to race another writer).
    """

    senv: SchedulerEnv
    commit: bool = True
    apply: Callable[[StateStore, Plan], PlanResult] | None = None
    reject: bool = False
    before_apply: Callable[[Plan], None] | None = None
    plans: list[Plan] = field(default_factory=list)
    outcomes: list[SchedulerOutcome] = field(default_factory=list)
    evals: list[Evaluation] = field(default_factory=list)
    create_evals: list[Evaluation] = field(default_factory=list)
    reblock_evals: list[Evaluation] = field(default_factory=list)

    def process(self, ev: Evaluation) -> SchedulerOutcome:
        """Schedule one eval to the end; write its status and the created evals when committing."""
        gen = new_scheduler(ev.type, self.senv).process(ev)
        try:
            plan = next(gen)
            while True:
                self.plans.append(plan)
                plan = gen.send(self._submit(plan))
        except StopIteration as stop:
            outcome = stop.value
        self._record(outcome)
        return outcome

    def _submit(self, plan: Plan) -> PlanResult:
        """Nomad: Planner.SubmitPlan."""
        state = self.senv.state
        if self.before_apply is not None:
            self.before_apply(plan)
        if self.reject:
            return PlanResult(refresh_index=state.index)
        if self.commit and self.apply is not None:
            return self.apply(state, plan)
        result = _accept_all(plan)
        if self.commit:
            placed = [a for allocs in plan.node_allocation.values() for a in allocs]
            stopped = [a for allocs in plan.node_update.values() for a in allocs]
            result.alloc_index = state.upsert_plan_results(placed, stopped, plan.deployment,
                                                           plan.deployment_updates, plan.eval_id)
        return result

    def _record(self, outcome: SchedulerOutcome) -> None:
        self.outcomes.append(outcome)
        self.create_evals.extend(outcome.create_evals)
        if outcome.reblock:
            self.reblock_evals.append(outcome.eval)
        else:
            self.evals.append(outcome.eval)
        if self.commit:
            written = ([] if outcome.reblock else [outcome.eval]) + list(outcome.create_evals)
            if written:
                self.senv.state.upsert_evals(written)


def _accept_all(plan: Plan) -> PlanResult:
    """A result that commits the whole plan."""
    return PlanResult(node_update=dict(plan.node_update), node_allocation=dict(plan.node_allocation),
                      deployment=plan.deployment, deployment_updates=list(plan.deployment_updates))
