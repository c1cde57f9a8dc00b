"""Choosing the scheduler for an eval.

Nomad: scheduler/scheduler.go, NewScheduler and BuiltinSchedulers: service and batch evals go
to the generic scheduler, system and sysbatch evals to the system scheduler.
"""

from __future__ import annotations

from sim.scheduler.env import SchedulerEnv
from sim.scheduler.generic import GenericScheduler
from sim.scheduler.system import SystemScheduler


def new_scheduler(eval_type: str, senv: SchedulerEnv) -> GenericScheduler | SystemScheduler:
    """Nomad: scheduler.NewScheduler: the scheduler for an eval's type."""
    if eval_type in ("system", "sysbatch"):
        return SystemScheduler(senv, sysbatch=eval_type == "sysbatch")
    return GenericScheduler(senv, batch=eval_type == "batch")
