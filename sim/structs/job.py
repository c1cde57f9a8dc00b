"""The job specification: Job, TaskGroup, Task and the blocks inside them.

Nomad: nomad/structs/structs.go. Field names are Nomad's in snake_case (the codec maps them to
PascalCase). Durations are kept in Nomad's unit, integer nanoseconds, so a job encodes back exactly
as it was given; `extra` keeps every key the codec did not know, so nothing a client sent is lost.
Specs are mutable only while they are decoded and canonicalised; once registered they are treated
as immutable and replaced, never edited, by the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Duration = int  # nanoseconds, as Nomad's time.Duration
SECOND: Duration = 1_000_000_000
MINUTE: Duration = 60 * SECOND
HOUR: Duration = 60 * MINUTE
JobKey = tuple[str, str]  # (namespace, job ID): how Nomad keys a job across the state and the server


@dataclass(slots=True)
class Constraint:
    """Nomad: structs.Constraint."""

    l_target: str = ""
    r_target: str = ""
    operand: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.l_target} {self.operand} {self.r_target}"


@dataclass(slots=True)
class Affinity:
    """Nomad: structs.Affinity."""

    l_target: str = ""
    r_target: str = ""
    operand: str = ""
    weight: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SpreadTarget:
    """Nomad: structs.SpreadTarget."""

    value: str = ""
    percent: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Spread:
    """Nomad: structs.Spread."""

    attribute: str = ""
    weight: int = 0
    spread_target: list[SpreadTarget] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Port:
    """Nomad: structs.Port. `value` 0 asks for a dynamic port."""

    label: str = ""
    value: int = 0
    to: int = 0
    host_network: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class NetworkResource:
    """Nomad: structs.NetworkResource."""

    mode: str = ""
    device: str = ""
    cidr: str = ""
    ip: str = ""
    hostname: str = ""
    mbits: int = 0
    reserved_ports: list[Port] = field(default_factory=list)
    dynamic_ports: list[Port] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Resources:
    """Nomad: structs.Resources (a task's ask). CPU in MHz, memory and disk in MB."""

    cpu: int = 0
    cores: int = 0
    memory_mb: int = 0
    memory_max_mb: int = 0
    disk_mb: int = 0
    networks: list[NetworkResource] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RestartPolicy:
    """Nomad: structs.RestartPolicy."""

    attempts: int = 0
    interval: Duration = 0
    delay: Duration = 0
    mode: str = ""
    render_templates: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ReschedulePolicy:
    """Nomad: structs.ReschedulePolicy."""

    attempts: int = 0
    interval: Duration = 0
    delay: Duration = 0
    delay_function: str = ""
    max_delay: Duration = 0
    unlimited: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class UpdateStrategy:
    """Nomad: structs.UpdateStrategy. Empty (no deployments) when max_parallel is 0."""

    stagger: Duration = 0
    max_parallel: int = 0
    health_check: str = ""
    min_healthy_time: Duration = 0
    healthy_deadline: Duration = 0
    progress_deadline: Duration = 0
    auto_revert: bool = False
    auto_promote: bool = False
    canary: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def is_empty(self) -> bool:
        """Nomad: UpdateStrategy.IsEmpty."""
        return self.max_parallel == 0


@dataclass(slots=True)
class MigrateStrategy:
    """Nomad: structs.MigrateStrategy."""

    max_parallel: int = 0
    health_check: str = ""
    min_healthy_time: Duration = 0
    healthy_deadline: Duration = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class EphemeralDisk:
    """Nomad: structs.EphemeralDisk."""

    sticky: bool = False
    size_mb: int = 0
    migrate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ServiceCheck:
    """Nomad: structs.ServiceCheck (only what the simulator's health model reads is typed)."""

    name: str = ""
    type: str = ""
    interval: Duration = 0
    timeout: Duration = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Service:
    """Nomad: structs.Service."""

    name: str = ""
    port_label: str = ""
    provider: str = ""
    tags: list[str] = field(default_factory=list)
    checks: list[ServiceCheck] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class LogConfig:
    """Nomad: structs.LogConfig."""

    max_files: int = 0
    max_file_size_mb: int = 0
    disabled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TaskLifecycle:
    """Nomad: structs.TaskLifecycleConfig."""

    hook: str = ""
    sidecar: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class DispatchPayloadConfig:
    """Nomad: structs.DispatchPayloadConfig."""

    file: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Task:
    """Nomad: structs.Task."""

    name: str = ""
    driver: str = ""
    user: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    affinities: list[Affinity] = field(default_factory=list)
    resources: Resources | None = None
    restart_policy: RestartPolicy | None = None
    meta: dict[str, str] = field(default_factory=dict)
    kill_timeout: Duration = 0
    log_config: LogConfig | None = None
    leader: bool = False
    lifecycle: TaskLifecycle | None = None
    dispatch_payload: DispatchPayloadConfig | None = None
    shutdown_delay: Duration = 0
    kill_signal: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Scaling:
    """Nomad: structs.ScalingPolicy (the group's `scaling` block: Min sets the default Count)."""

    min: int | None = None
    max: int = 0
    enabled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TaskGroup:
    """Nomad: structs.TaskGroup."""

    name: str = ""
    count: int | None = None
    update: UpdateStrategy | None = None
    migrate: MigrateStrategy | None = None
    constraints: list[Constraint] = field(default_factory=list)
    affinities: list[Affinity] = field(default_factory=list)
    spreads: list[Spread] = field(default_factory=list)
    restart_policy: RestartPolicy | None = None
    reschedule_policy: ReschedulePolicy | None = None
    ephemeral_disk: EphemeralDisk | None = None
    networks: list[NetworkResource] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    scaling: Scaling | None = None
    shutdown_delay: Duration | None = None
    stop_after_client_disconnect: Duration | None = None
    max_client_disconnect: Duration | None = None
    prevent_reschedule_on_lost: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PeriodicConfig:
    """Nomad: structs.PeriodicConfig."""

    enabled: bool = False
    spec: str = ""
    specs: list[str] = field(default_factory=list)
    spec_type: str = ""
    prohibit_overlap: bool = False
    time_zone: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ParameterizedJobConfig:
    """Nomad: structs.ParameterizedJobConfig."""

    payload: str = ""
    meta_required: list[str] = field(default_factory=list)
    meta_optional: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Job:
    """Nomad: structs.Job. The server-owned fields (status, indexes, version) live here too."""

    id: str = ""
    name: str = ""
    region: str = ""
    namespace: str = ""
    parent_id: str = ""
    type: str = ""
    priority: int = 0
    all_at_once: bool = False
    datacenters: list[str] = field(default_factory=list)
    node_pool: str = ""
    constraints: list[Constraint] = field(default_factory=list)
    affinities: list[Affinity] = field(default_factory=list)
    spreads: list[Spread] = field(default_factory=list)
    task_groups: list[TaskGroup] = field(default_factory=list)
    update: UpdateStrategy | None = None
    migrate: MigrateStrategy | None = None
    reschedule: ReschedulePolicy | None = None
    periodic: PeriodicConfig | None = None
    parameterized_job: ParameterizedJobConfig | None = None
    dispatched: bool = False
    dispatch_idempotency_token: str = ""
    payload: str = ""  # base64, as it travels in JSON
    meta: dict[str, str] = field(default_factory=dict)
    stop: bool = False
    status: str = ""
    status_description: str = ""
    stable: bool = False
    version: int = 0
    submit_time: int = 0  # Unix nanoseconds
    create_index: int = 0
    modify_index: int = 0
    job_modify_index: int = 0
    version_tag: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def lookup_task_group(self, name: str) -> TaskGroup | None:
        """Nomad: Job.LookupTaskGroup."""
        for tg in self.task_groups:
            if tg.name == name:
                return tg
        return None

    def is_periodic(self) -> bool:
        """Nomad: Job.IsPeriodic (a periodic config, enabled or not)."""
        return self.periodic is not None

    def is_periodic_active(self) -> bool:
        """Nomad: Job.IsPeriodicActive."""
        return self.periodic is not None and self.periodic.enabled and not self.stop and not self.is_parameterized()

    def is_parameterized(self) -> bool:
        """Nomad: Job.IsParameterized (a parameterized parent, not a dispatched child)."""
        return self.parameterized_job is not None and not self.dispatched

    def stopped(self) -> bool:
        """Nomad: Job.Stopped."""
        return self.stop

    @property
    def ns_id(self) -> tuple[str, str]:
        """The (namespace, ID) key jobs are stored under."""
        return (self.namespace or "default", self.id)
