"""Choosing a scheduler for an eval, and a harness that runs one with plans applied at once.

Nomad: scheduler/scheduler.go (the factory) and scheduler/testing.go (Harness). The harness is
what the scheduler tests and the plan endpoint's dry run use: no SimPy, no think time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.scheduler.generic import GenericScheduler, SchedulerEnv, SchedulerOutcome
from sim.structs.evaluation import Evaluation
from sim.structs.plan import Plan, PlanResult


def new_scheduler(eval_type: str, senv: SchedulerEnv):
    """The scheduler for an eval's type (service, batch, system, sysbatch)."""
    if eval_type in ("system", "sysbatch"):
        from sim.scheduler.system import SystemScheduler

        return SystemScheduler(senv, sysbatch=eval_type == "sysbatch")
    return GenericScheduler(senv, batch=eval_type == "batch")


@dataclass
class Harness:
    """Runs a scheduler against a StateStore, committing each plan immediately (or not at all)."""

    senv: SchedulerEnv
    commit: bool = True
    plans: list[Plan] = field(default_factory=list)
    outcomes: list[SchedulerOutcome] = field(default_factory=list)

    def process(self, ev: Evaluation) -> SchedulerOutcome:
        """Schedule one eval to the end; write its status and follow-ups when committing."""
        from sim.server.plan_apply import apply_plan, evaluate_plan

        gen = new_scheduler(ev.type, self.senv).process(ev)
        result: PlanResult | None = None
        try:
            plan = next(gen)
            while True:
                self.plans.append(plan)
                result = apply_plan(self.senv.state, plan)[0] if self.commit else _dry_result(self.senv.state, plan, evaluate_plan)
                plan = gen.send(result)
        except StopIteration as stop:
            outcome = stop.value
        self.outcomes.append(outcome)
        if self.commit:
            self.senv.state.upsert_evals([outcome.eval, *outcome.create_evals])
        return outcome


def _dry_result(state, plan: Plan, evaluate) -> PlanResult:
    """A dry run answers as if every node fit, so the scheduler finishes in one round."""
    return PlanResult(node_update=dict(plan.node_update), node_allocation=dict(plan.node_allocation),
                      deployment=plan.deployment, deployment_updates=list(plan.deployment_updates))
