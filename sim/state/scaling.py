"""Scaling events: what each scale request of a job's groups did.

Nomad: structs.ScalingEvent and the state store's scaling_event table (JobScalingEvents: per
job, per group, newest first, at most JobTrackedScalingEvents = 20 kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JOB_TRACKED_SCALING_EVENTS = 20


@dataclass(slots=True)
class ScalingEvent:
    """Nomad: structs.ScalingEvent."""

    time: int  # Unix nanoseconds
    previous_count: int
    count: int | None = None
    message: str = ""
    error: bool = False
    meta: dict[str, Any] | None = None
    eval_id: str | None = None
    create_index: int = 0


@dataclass(slots=True)
class ScalingEventTable:
    """Scaling events by (namespace, job) then group, newest first."""

    by_job: dict[tuple[str, str], dict[str, list[ScalingEvent]]] = field(default_factory=dict)

    def add(self, namespace: str, job_id: str, group: str, event: ScalingEvent) -> None:
        events = self.by_job.setdefault((namespace, job_id), {}).setdefault(group, [])
        events.insert(0, event)
        del events[JOB_TRACKED_SCALING_EVENTS:]

    def of_job(self, namespace: str, job_id: str) -> dict[str, list[ScalingEvent]]:
        """A job's events by group (empty when it has none)."""
        return self.by_job.get((namespace, job_id), {})

    def delete(self, namespace: str, job_id: str) -> None:
        self.by_job.pop((namespace, job_id), None)
