"""Nomad's defaults for a job registered over HTTP, applied in Nomad's order.

Two layers run in Nomad: the API client/agent canonicalization (api/jobs.go Job.Canonicalize,
api/tasks.go TaskGroup and Task Canonicalize, api/resources.go, run by the agent's
ApiJobToStructJob), then the server's admission mutators (structs.Job.Canonicalize, the
default priority and the node pool hook). `canonicalize` applies both, in place. Fields the
codec leaves None ("not given") get their defaults here; explicit values, zeros included,
are kept, exactly as Nomad's pointer merges keep them.

Once merged into the groups, the job-level blocks are reduced as the agent does: the job's
update keeps only Stagger and MaxParallel (all zero when MaxParallel is 0), the job-level
migrate and reschedule blocks are dropped. The deprecated group fields the agent drops
(MaxClientDisconnect, StopAfterClientDisconnect, PreventRescheduleOnLost) are kept here
because the scheduler still honours them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from sim.structs import consts as C
from sim.structs import job as J
from sim.structs.codec import copy_struct
from sim.structs.devices import canonicalize_devices


class _UpdateDefaults(TypedDict):
    stagger: J.Duration
    max_parallel: int
    health_check: str
    min_healthy_time: J.Duration
    healthy_deadline: J.Duration
    progress_deadline: J.Duration
    auto_revert: bool
    auto_promote: bool
    canary: int


class _MigrateDefaults(TypedDict):
    max_parallel: int
    health_check: str
    min_healthy_time: J.Duration
    healthy_deadline: J.Duration


class _RestartDefaults(TypedDict):
    attempts: int
    interval: J.Duration
    delay: J.Duration
    mode: str
    render_templates: bool


class _RescheduleDefaults(TypedDict):
    attempts: int
    interval: J.Duration
    delay: J.Duration
    delay_function: str
    max_delay: J.Duration
    unlimited: bool


class _LogConfigDefaults(TypedDict):
    max_files: int
    max_file_size_mb: int


_S = J.SECOND
DEFAULT_UPDATE: _UpdateDefaults = {
    "stagger": 30 * _S, "max_parallel": 1, "health_check": C.HEALTH_CHECK_CHECKS,
    "min_healthy_time": 10 * _S, "healthy_deadline": 5 * J.MINUTE,
    "progress_deadline": 10 * J.MINUTE, "auto_revert": False, "auto_promote": False, "canary": 0,
}
DEFAULT_MIGRATE: _MigrateDefaults = {
    "max_parallel": 1, "health_check": C.HEALTH_CHECK_CHECKS, "min_healthy_time": 10 * _S,
    "healthy_deadline": 5 * J.MINUTE,
}
SERVICE_RESTART: _RestartDefaults = {
    "attempts": 2, "interval": 30 * J.MINUTE, "delay": 15 * _S,
    "mode": C.RESTART_MODE_FAIL, "render_templates": False,
}
BATCH_RESTART: _RestartDefaults = {
    "attempts": 3, "interval": 24 * J.HOUR, "delay": 15 * _S,
    "mode": C.RESTART_MODE_FAIL, "render_templates": False,
}
SERVICE_RESCHEDULE: _RescheduleDefaults = {
    "attempts": 0, "interval": 0, "delay": 30 * _S, "delay_function": "exponential",
    "max_delay": J.HOUR, "unlimited": True,
}
BATCH_RESCHEDULE: _RescheduleDefaults = {
    "attempts": 1, "interval": 24 * J.HOUR, "delay": 5 * _S, "delay_function": "constant",
    "max_delay": 0, "unlimited": False,
}
_ZERO_RESCHEDULE: _RescheduleDefaults = {
    "attempts": 0, "interval": 0, "delay": 0, "delay_function": "", "max_delay": 0,
    "unlimited": False,
}
DEFAULT_KILL_TIMEOUT = 5 * _S
DEFAULT_CPU, DEFAULT_MEMORY_MB, DEFAULT_DISK_MB = 100, 300, 300
DEFAULT_WEIGHT = 50
DEFAULT_LOG_CONFIG: _LogConfigDefaults = {"max_files": 10, "max_file_size_mb": 10}


def canonicalize(job: J.Job) -> None:
    """Apply Nomad's API-side and server-side defaults to a decoded job, in place.

    Nomad: api/jobs.go Job.Canonicalize, command/agent/job_endpoint.go ApiJobToStructJob,
    nomad/structs/structs.go Job.Canonicalize, nomad/job_endpoint_hooks.go jobCanonicalizer.
    """
    _api_job(job)
    _agent_job(job)
    _server_job(job)


def _fill(obj: Any, defaults: Mapping[str, object]) -> Any:
    """Set every None field of obj from defaults (a pointer struct's Canonicalize)."""
    for attr, value in defaults.items():
        if getattr(obj, attr) is None:
            setattr(obj, attr, value)
    return obj


def _merge(base: Any, override: Any, defaults: Mapping[str, object]) -> Any:
    """A copy of base with every field override gives (not None) taken from override."""
    merged = copy_struct(base)
    for attr in defaults:
        value = getattr(override, attr)
        if value is not None:
            setattr(merged, attr, value)
    merged.extra.update(override.extra)
    return merged


def _merge_from_job(job_block: Any, group_block: Any, defaults: Mapping[str, object]) -> Any:
    """Nomad's job-to-group inheritance: merge when both exist, else copy the job's."""
    if job_block is not None and group_block is not None:
        return _merge(job_block, group_block, defaults)
    if job_block is not None:
        return copy_struct(job_block)
    return group_block


# --- API layer -----------------------------------------------------------------------------


def _api_job(job: J.Job) -> None:
    """Nomad: api/jobs.go Job.Canonicalize and the agent's region/namespace defaults."""
    if job.name is None:
        job.name = job.id
    if job.type is None:
        job.type = C.JOB_TYPE_SERVICE
    job.region = job.region or "global"
    job.namespace = job.namespace or "default"
    if job.periodic is not None:
        _fill(job.periodic, {"enabled": True, "spec_type": "cron", "prohibit_overlap": False})
        job.periodic.time_zone = job.periodic.time_zone or "UTC"
    if job.update is not None:
        _fill(job.update, DEFAULT_UPDATE)
    elif job.type in (C.JOB_TYPE_SERVICE, C.JOB_TYPE_SYSTEM):
        job.update = J.UpdateStrategy(**DEFAULT_UPDATE)
    for tg in job.task_groups:
        _api_group(job, tg)
    _default_weights(job.spreads)
    _default_weights(job.affinities)


def _agent_job(job: J.Job) -> None:
    """Nomad: command/agent/job_endpoint.go ApiJobToStructJob, job-level blocks."""
    u = job.update
    if u is not None and (u.max_parallel or 0) > 0:
        job.update = J.UpdateStrategy(stagger=u.stagger or 0, max_parallel=u.max_parallel)
    else:
        job.update = J.UpdateStrategy()
    job.migrate = None
    job.reschedule = None


def _default_weights(items: Sequence[J.Affinity | J.Spread]) -> None:
    """Affinities and spreads without a weight get Nomad's default, 50."""
    for item in items:
        if item.weight is None:
            item.weight = DEFAULT_WEIGHT


def _update_empty(u: J.UpdateStrategy) -> bool:
    """Nomad: api/jobs.go UpdateStrategy.Empty (no field set to a non-zero value)."""
    return not any(getattr(u, attr) for attr in DEFAULT_UPDATE)


def _api_group(job: J.Job, tg: J.TaskGroup) -> None:
    """Nomad: api/tasks.go TaskGroup.Canonicalize (+ ApiScalingPolicyToStructs)."""
    if tg.count is None:
        scaling = tg.scaling
        tg.count = scaling.min if scaling is not None and scaling.min is not None else 1
    if tg.scaling is not None:
        _fill(tg.scaling, {"enabled": True, "min": tg.count, "max": -1})
    if tg.ephemeral_disk is None:
        tg.ephemeral_disk = J.EphemeralDisk(size_mb=DEFAULT_DISK_MB)
    _fill(tg.ephemeral_disk, {"size_mb": DEFAULT_DISK_MB})
    _api_group_update(job, tg)
    _api_group_reschedule(job, tg)
    _api_group_migrate(job, tg)
    defaults = SERVICE_RESTART if job.type in (C.JOB_TYPE_SERVICE, C.JOB_TYPE_SYSTEM) else BATCH_RESTART
    base = J.RestartPolicy(**defaults)
    group_rp: J.RestartPolicy = base if tg.restart_policy is None else _merge(base, tg.restart_policy, defaults)
    tg.restart_policy = group_rp
    for task in tg.tasks:
        _api_task(job, tg, task, group_rp)
    _default_weights(tg.spreads)
    _default_weights(tg.affinities)
    _default_services(tg.services, f"{job.name}-{tg.name}")


def _api_group_update(job: J.Job, tg: J.TaskGroup) -> None:
    """The group's update block: merged over the job's (kept only if it sets something)."""
    if job.update is not None and tg.update is not None:
        tg.update = _merge(job.update, tg.update, DEFAULT_UPDATE)
    elif job.update is not None and not _update_empty(job.update):
        tg.update = copy_struct(job.update)
    if tg.update is not None:
        _fill(tg.update, DEFAULT_UPDATE)


def _reschedule_defaults(job_type: str) -> _RescheduleDefaults:
    """Nomad: api/tasks.go NewDefaultReschedulePolicy."""
    return {C.JOB_TYPE_SERVICE: SERVICE_RESCHEDULE, C.JOB_TYPE_BATCH: BATCH_RESCHEDULE}.get(
        job_type, _ZERO_RESCHEDULE
    )


def _api_group_reschedule(job: J.Job, tg: J.TaskGroup) -> None:
    """The group's reschedule policy: merged over the job's, defaulted by job type."""
    defaults = _reschedule_defaults(job.type)
    tg.reschedule_policy = _merge_from_job(job.reschedule, tg.reschedule_policy, defaults)
    if tg.reschedule_policy is None and job.type not in (C.JOB_TYPE_SYSTEM, C.JOB_TYPE_SYSBATCH):
        tg.reschedule_policy = J.ReschedulePolicy(**defaults)
    if tg.reschedule_policy is not None:
        _fill(tg.reschedule_policy, defaults)


def _api_group_migrate(job: J.Job, tg: J.TaskGroup) -> None:
    """The group's migrate block: merged over the job's; service jobs always get one."""
    tg.migrate = _merge_from_job(job.migrate, tg.migrate, DEFAULT_MIGRATE)
    if tg.migrate is None and job.type == C.JOB_TYPE_SERVICE:
        tg.migrate = J.MigrateStrategy(**DEFAULT_MIGRATE)
    if tg.migrate is not None:
        _fill(tg.migrate, DEFAULT_MIGRATE)


def _api_task(job: J.Job, tg: J.TaskGroup, task: J.Task, group_rp: J.RestartPolicy) -> None:
    """Nomad: api/tasks.go Task.Canonicalize and api/resources.go Resources.Canonicalize (`group_rp`:
    the group's restart policy, already canonical)."""
    if task.resources is None:  # as decoded with CPU, Cores and MemoryMB absent, then defaulted below
        task.resources = J.Resources(cpu=DEFAULT_CPU, cores=0, memory_mb=DEFAULT_MEMORY_MB)
    res = task.resources
    if res.cores is None:
        res.cores = 0
        if res.cpu is None:
            res.cpu = DEFAULT_CPU
    if res.cpu is None:
        res.cpu = 0
    canonicalize_devices(res)
    if res.memory_mb is None:
        res.memory_mb = DEFAULT_MEMORY_MB
    if task.log_config is None:
        task.log_config = J.LogConfig(**DEFAULT_LOG_CONFIG)
    _fill(task.log_config, DEFAULT_LOG_CONFIG)
    _default_weights(task.affinities)
    _default_services(task.services, f"{job.name}-{tg.name}-{task.name}")
    if task.restart_policy is None:
        task.restart_policy = copy_struct(group_rp)
    else:
        task.restart_policy = _merge(group_rp, task.restart_policy, SERVICE_RESTART)


def _default_services(services: list[J.Service], default_name: str) -> None:
    """Nomad: api/services.go Service.Canonicalize (name and provider)."""
    for service in services:
        service.name = service.name or default_name
        service.provider = service.provider or "consul"


# --- server layer --------------------------------------------------------------------------


def _server_job(job: J.Job) -> None:
    """Nomad: structs.Job.Canonicalize, then the priority and node pool mutators."""
    job.namespace = job.namespace or "default"
    if not job.datacenters:
        job.datacenters = ["*"]
    for tg in job.task_groups:
        _server_group(job, tg)
    if job.parameterized_job is not None and not job.parameterized_job.payload:
        job.parameterized_job.payload = "optional"
    if job.priority == 0:
        job.priority = C.JOB_DEFAULT_PRIORITY
    job.node_pool = job.node_pool or "default"


def _server_group(job: J.Job, tg: J.TaskGroup) -> None:
    """Nomad: structs.TaskGroup.Canonicalize and structs.Task.Canonicalize."""
    if tg.restart_policy is None and job.type in (C.JOB_TYPE_SERVICE, C.JOB_TYPE_SYSTEM):
        tg.restart_policy = J.RestartPolicy(**SERVICE_RESTART)
    elif tg.restart_policy is None and job.type == C.JOB_TYPE_BATCH:
        tg.restart_policy = J.RestartPolicy(**BATCH_RESTART)
    if tg.reschedule_policy is None and job.type in (C.JOB_TYPE_SERVICE, C.JOB_TYPE_BATCH):
        tg.reschedule_policy = J.ReschedulePolicy(**_reschedule_defaults(job.type))
    if tg.migrate is None and job.type == C.JOB_TYPE_SERVICE:
        tg.migrate = J.MigrateStrategy(**DEFAULT_MIGRATE)
    if tg.ephemeral_disk is None:
        tg.ephemeral_disk = J.EphemeralDisk(size_mb=DEFAULT_DISK_MB)
    _default_host_networks(tg.networks)
    _interpolate_service_names(tg.services, job.name, tg.name, "group")
    for task in tg.tasks:
        _interpolate_service_names(task.services, job.name, tg.name, task.name)
        if task.resources is None:
            task.resources = J.Resources(cpu=DEFAULT_CPU, memory_mb=DEFAULT_MEMORY_MB)
        _default_host_networks(task.resources.networks)
        if task.restart_policy is None and tg.restart_policy is not None:
            task.restart_policy = copy_struct(tg.restart_policy)
        if task.kill_timeout == 0:
            task.kill_timeout = DEFAULT_KILL_TIMEOUT


_ENV_RE = re.compile(r"\$\{[a-zA-Z0-9_\-.]+\}")


def _interpolate_service_names(services: list[J.Service], job: str, group: str, task: str) -> None:
    """Nomad: structs.Service.Canonicalize (${JOB}, ${TASKGROUP}, ${TASK}, ${BASE} in names)."""
    values = {"JOB": job, "TASKGROUP": group, "TASK": task, "BASE": f"{job}-{group}-{task}"}
    for service in services:
        if "${" in service.name:
            service.name = _ENV_RE.sub(lambda m: values.get(m.group()[2:-1], m.group()), service.name)


def _default_host_networks(networks: list[J.NetworkResource]) -> None:
    """Nomad: structs.NetworkResource.Canonicalize (ports' HostNetwork "" -> "default")."""
    for net in networks:
        for port in (*net.reserved_ports, *net.dynamic_ports):
            port.host_network = port.host_network or "default"
