"""A harness that runs a scheduler with its plans answered at once.

Nomad: scheduler/tests/testing.go (Harness, RejectPlan). The harness is what the scheduler tests
and the plan endpoint's dry run use: no SimPy, no think time. Like Nomad's it records the plans,
the eval updates, the created evals and the re-blocked evals of every eval it processes. The
scheduler itself comes from sim.scheduler.factory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sim.scheduler.env import SchedulerEnv, SchedulerOutcome
from sim.scheduler.factory import new_scheduler
from sim.state.store import StateStore
from sim.structs.evaluation import Evaluation
from sim.structs.plan import Plan, PlanResult


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
            outcome: SchedulerOutcome = stop.value
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
            return self.apply(self._store(), plan)
        result = _accept_all(plan)
        if self.commit:
            placed = [a for allocs in plan.node_allocation.values() for a in allocs]
            stopped = [a for allocs in plan.node_update.values() for a in allocs]
            stopped += [a for allocs in plan.node_preemptions.values() for a in allocs]
            result.alloc_index = self._store().upsert_plan_results(placed, stopped, plan.deployment,
                                                                   plan.deployment_updates, plan.eval_id)
        return result

    def _store(self) -> StateStore:
        """The store a committing harness writes to (a read-only view cannot commit)."""
        state = self.senv.state
        if not isinstance(state, StateStore):
            raise TypeError(f"a committing Harness needs a StateStore, not {type(state).__name__}")
        return state

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
                self._store().upsert_evals(written)


def _accept_all(plan: Plan) -> PlanResult:
    """A result that commits the whole plan."""
    return PlanResult(node_update=dict(plan.node_update), node_allocation=dict(plan.node_allocation),
                      node_preemptions=dict(plan.node_preemptions), deployment=plan.deployment, deployment_updates=list(plan.deployment_updates))
