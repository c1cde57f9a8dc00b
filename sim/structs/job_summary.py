"""Job summaries: per-group alloc counters and children counts. Nomad: structs.JobSummary."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class TaskGroupSummary:
    """Nomad: structs.TaskGroupSummary."""

    queued: int = 0
    complete: int = 0
    failed: int = 0
    running: int = 0
    starting: int = 0
    lost: int = 0
    unknown: int = 0


@dataclass(slots=True)
class JobChildrenSummary:
    """Nomad: structs.JobChildrenSummary."""

    pending: int = 0
    running: int = 0
    dead: int = 0


@dataclass(slots=True)
class JobSummary:
    """Nomad: structs.JobSummary."""

    job_id: str
    namespace: str
    summary: dict[str, TaskGroupSummary] = field(default_factory=dict)
    children: JobChildrenSummary = field(default_factory=JobChildrenSummary)
    create_index: int = 0
    modify_index: int = 0
