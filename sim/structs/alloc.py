"""Allocations, their task states and the scheduler's metrics of a placement.

Nomad: nomad/structs/alloc.go, structs.go (TaskState, TaskEvent, RescheduleTracker, AllocMetric).
Times are simulated seconds inside; the API layer turns them into Nomad's Unix nanoseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sim.structs.consts import (
    ALLOC_CLIENT_COMPLETE,
    ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_LOST,
    ALLOC_CLIENT_PENDING,
    ALLOC_DESIRED_RUN,
    CLIENT_TERMINAL,
    SERVER_TERMINAL,
)

if TYPE_CHECKING:
    from sim.structs.job import Job


@dataclass(slots=True)
class TaskEvent:
    """Nomad: structs.TaskEvent (only the fields the simulator produces)."""

    type: str
    time: float
    message: str = ""
    exit_code: int = 0
    restart_reason: str = ""
    fails_task: bool = False
    start_delay: float = 0.0


@dataclass(slots=True)
class TaskState:
    """Nomad: structs.TaskState."""

    state: str = "pending"
    failed: bool = False
    restarts: int = 0
    last_restart: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    events: list[TaskEvent] = field(default_factory=list)


@dataclass(slots=True)
class RescheduleEvent:
    """Nomad: structs.RescheduleEvent. `delay` in seconds."""

    reschedule_time: float
    prev_alloc_id: str
    prev_node_id: str
    delay: float


@dataclass(slots=True)
class DesiredTransition:
    """Nomad: structs.DesiredTransition: server-to-scheduler hints on an alloc."""

    migrate: bool = False
    reschedule: bool = False
    force_reschedule: bool = False


@dataclass(slots=True)
class AllocDeploymentStatus:
    """Nomad: structs.AllocDeploymentStatus. `healthy` None means not yet known."""

    healthy: bool | None = None
    timestamp: float = 0.0
    canary: bool = False
    modify_index: int = 0


@dataclass(slots=True)
class NodeScoreMeta:
    """Nomad: structs.NodeScoreMeta."""

    node_id: str
    scores: dict[str, float]
    norm_score: float


@dataclass(slots=True)
class AllocMetric:
    """Nomad: structs.AllocMetric: what the scheduler saw while placing one alloc."""

    nodes_evaluated: int = 0
    nodes_filtered: int = 0
    nodes_in_pool: int = 0
    node_pool: str = ""
    nodes_available: dict[str, int] = field(default_factory=dict)
    class_filtered: dict[str, int] = field(default_factory=dict)
    constraint_filtered: dict[str, int] = field(default_factory=dict)
    nodes_exhausted: int = 0
    class_exhausted: dict[str, int] = field(default_factory=dict)
    dimension_exhausted: dict[str, int] = field(default_factory=dict)
    quota_exhausted: list[str] = field(default_factory=list)
    resources_exhausted: dict[str, dict[str, int]] = field(default_factory=dict)
    score_meta_data: list[NodeScoreMeta] = field(default_factory=list)
    allocation_time: int = 0  # nanoseconds of scheduler time spent (simulated)
    coalesced_failures: int = 0

    def exhausted_node(self, node_class: str, dimension: str) -> None:
        """Nomad: AllocMetric.ExhaustedNode."""
        self.nodes_exhausted += 1
        if node_class:
            self.class_exhausted[node_class] = self.class_exhausted.get(node_class, 0) + 1
        if dimension:
            self.dimension_exhausted[dimension] = self.dimension_exhausted.get(dimension, 0) + 1

    def filter_node(self, node_class: str, reason: str) -> None:
        """Nomad: AllocMetric.FilterNode."""
        self.nodes_filtered += 1
        if node_class:
            self.class_filtered[node_class] = self.class_filtered.get(node_class, 0) + 1
        if reason:
            self.constraint_filtered[reason] = self.constraint_filtered.get(reason, 0) + 1


@dataclass(slots=True)
class Allocation:
    """Nomad: structs.Allocation. `job` is the job version the alloc runs."""

    id: str
    namespace: str
    eval_id: str
    name: str
    node_id: str
    node_name: str
    job_id: str
    job: Job
    task_group: str
    cpu: int = 0  # the group's total ask, as the scheduler reserved it
    memory_mb: int = 0
    disk_mb: int = 0
    ports: list[tuple[str, int]] = field(default_factory=list)  # (label, host port)
    desired_status: str = ALLOC_DESIRED_RUN
    desired_description: str = ""
    desired_transition: DesiredTransition = field(default_factory=DesiredTransition)
    client_status: str = ALLOC_CLIENT_PENDING
    client_description: str = ""
    task_states: dict[str, TaskState] = field(default_factory=dict)
    deployment_id: str = ""
    deployment_status: AllocDeploymentStatus | None = None
    previous_allocation: str = ""
    next_allocation: str = ""
    reschedule_tracker: list[RescheduleEvent] = field(default_factory=list)
    last_reschedule: str = ""  # RescheduleTracker.LastReschedule: "", "ok" or "no placement"
    followup_eval_id: str = ""
    metrics: AllocMetric | None = None
    score: float = 0.0
    create_index: int = 0
    modify_index: int = 0
    alloc_modify_index: int = 0
    create_time: float = 0.0
    modify_time: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    _name_index: int = field(default=-2, init=False, repr=False, compare=False)  # index() cache

    def server_terminal(self) -> bool:
        """Nomad: Allocation.ServerTerminalStatus."""
        return self.desired_status in SERVER_TERMINAL

    def client_terminal(self) -> bool:
        """Nomad: Allocation.ClientTerminalStatus."""
        return self.client_status in CLIENT_TERMINAL

    def terminal(self) -> bool:
        """Nomad: Allocation.TerminalStatus."""
        return self.desired_status in SERVER_TERMINAL or self.client_status in CLIENT_TERMINAL

    def index(self) -> int:
        """Nomad: Allocation.Index: the number between the brackets of the name."""
        idx = self._name_index
        if idx == -2:
            lb = self.name.rfind("[")
            idx = self._name_index = int(self.name[lb + 1 : -1]) if lb >= 0 else -1
        return idx

    def is_canary(self) -> bool:
        """Whether the deployment placed this alloc as a canary."""
        return self.deployment_status is not None and self.deployment_status.canary

    def is_healthy(self) -> bool:
        """Nomad: AllocDeploymentStatus.IsHealthy."""
        return self.deployment_status is not None and self.deployment_status.healthy is True

    def is_unhealthy(self) -> bool:
        """Nomad: AllocDeploymentStatus.IsUnhealthy."""
        return self.deployment_status is not None and self.deployment_status.healthy is False

    def ran_successfully(self) -> bool:
        """Nomad: Allocation.RanSuccessfully (batch: every task finished without failing)."""
        if self.client_status != ALLOC_CLIENT_COMPLETE:
            return False
        return all(not ts.failed for ts in self.task_states.values())

    def failed_or_lost(self) -> bool:
        """Client failed or lost."""
        return self.client_status in (ALLOC_CLIENT_FAILED, ALLOC_CLIENT_LOST)

    def finished_at(self) -> float:
        """Latest task FinishedAt, or ModifyTime (Nomad: Allocation.LastEventTime)."""
        times = [ts.finished_at for ts in self.task_states.values() if ts.finished_at is not None]
        return max(times) if times else self.modify_time
