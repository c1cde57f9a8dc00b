"""Client-side allocation health, as deployments and node drains see it.

Nomad: client/allocrunner/health_hook.go and client/allochealth/tracker.go. Only service allocs
are watched. An alloc of a deployment uses its group's update strategy (no verdict when the
strategy is empty or `health_check = "manual"`); any other service alloc uses the group's migrate
strategy (Nomad's defaults when it has none), which is what the drainer counts. Simplified to the
task-state model: healthy once every task has run for `min_healthy_time` (service checks are taken
to pass at once), unhealthy when a task fails or restarts first, or when `healthy_deadline` passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.structs.consts import HEALTH_CHECK_MANUAL, JOB_TYPE_SERVICE
from sim.structs.job import MINUTE, SECOND, Job, TaskGroup

NS = 1e9
_DEFAULT_MIGRATE = (10 * SECOND, 5 * MINUTE)  # Nomad: structs.DefaultMigrateStrategy


@dataclass(frozen=True, slots=True)
class HealthParams:
    """What an alloc's health is judged by, in seconds. Nomad: health_hook.go getHealthParams."""

    min_healthy_time: float
    healthy_deadline: float
    is_deploy: bool


def group_health_params(job: Job | None, tg: TaskGroup | None, is_deploy: bool) -> HealthParams | None:
    """Health parameters of a group's allocs, inside a deployment or not (None: no verdict)."""
    if job is None or tg is None or job.type != JOB_TYPE_SERVICE:
        return None
    if is_deploy:
        update = tg.update
        if update is None or update.is_empty() or update.health_check == HEALTH_CHECK_MANUAL:
            return None
        return HealthParams(update.min_healthy_time / NS, update.healthy_deadline / NS, True)
    migrate = tg.migrate
    mht, deadline = (migrate.min_healthy_time, migrate.healthy_deadline) if migrate else _DEFAULT_MIGRATE
    return HealthParams(mht / NS, deadline / NS, False)


# What the runner must arm next: nothing, a verdict now, a check timer or the deadline timer.
NONE, HEALTHY_NOW, CHECK, DEADLINE = "none", "healthy-now", "check", "deadline"


class HealthWatch:
    """One health clock of an alloc (a new one starts with each new deployment of the alloc)."""

    __slots__ = ("params", "deadline", "fail_health", "verdict", "deadline_armed")

    def __init__(self, params: HealthParams, now: float, fail_health: bool):
        self.params = params
        self.deadline = now + params.healthy_deadline
        self.fail_health = fail_health
        self.verdict: bool | None = None
        self.deadline_armed = False

    def begin(self, now: float, max_start_delay: float) -> float | None:
        """The deadline time to arm now, or None when the normal path always decides first.

        Without failures the verdict comes from the check timer (healthy) or from a task failure
        (unhealthy); the deadline only matters when health is never reached, or reached too late.
        """
        if self.fail_health or now + max_start_delay + self.params.min_healthy_time > self.deadline:
            self.deadline_armed = True
            return self.deadline
        return None

    def on_all_running(self, now: float) -> tuple[str, float]:
        """Every task is running since `now`: (what to arm, when)."""
        if self.verdict is not None or self.fail_health:
            return NONE, now
        at = now + self.params.min_healthy_time
        if at > self.deadline:
            if self.deadline_armed:
                return NONE, now
            self.deadline_armed = True
            return DEADLINE, self.deadline
        if self.params.min_healthy_time <= 0:
            return HEALTHY_NOW, now
        return CHECK, at
