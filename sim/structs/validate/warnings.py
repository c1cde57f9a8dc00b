"""The warnings Nomad returns with a successful register (the response's `Warnings`).

Nomad: nomad/structs/structs.go Job.Warnings, TaskGroup.Warnings, Task.Warnings,
generateServiceShutdownDelayWarnings; nomad/job_endpoint_hooks.go
memoryOversubscriptionValidate; helper/warning.go MergeMultierrorWarnings. The deprecated
group fields (MaxClientDisconnect, ...) never warn over HTTP because the agent drops them.
"""

from __future__ import annotations

from sim.structs import job as J
from sim.structs.validate.blocks import extra_str, format_multierror
from sim.structs.validate.blocks import go_quote as _q


def job_warnings(job: J.Job, *, memory_oversubscription: bool = False) -> list[str]:
    """Warnings for a valid, canonicalized job, in Nomad's order (empty when none)."""
    out = []
    for tg in job.task_groups:
        group = _group_warnings(tg)
        if group:
            out.append(f"Group {_q(tg.name)} has warnings: {format_multierror(group)}")
    for tg in job.task_groups:
        out += _shutdown_delay_warnings(tg)
    updates = [tg.update for tg in job.task_groups if tg.update is not None]
    if any(u.auto_promote for u in updates) and not all(u.canary == 0 or u.auto_promote for u in updates):
        out.append("auto_promote must be true for all groups to enable automatic promotion")
    if job.periodic is not None and job.periodic.spec:
        out.append("cron is deprecated and may be removed in a future release. Use crons instead")
    if not memory_oversubscription:
        out += _memory_max_warnings(job)
    return out


def format_warnings(warnings: list[str]) -> str:
    """The register response's `Warnings` text ("" when none)."""
    if not warnings:
        return ""
    head = "1 warning:\n" if len(warnings) == 1 else f"{len(warnings)} warnings:\n"
    return head + "".join(f"\n* {w.strip()}" for w in warnings)


def _group_warnings(tg: J.TaskGroup) -> list[str]:
    out = []
    count = tg.count or 0
    if tg.update is not None and count > 1 and (tg.update.max_parallel or 0) > count:
        out.append(
            f"Update max parallel count is greater than task group count ({tg.update.max_parallel} > {count}). "
            "A destructive change would result in the simultaneous replacement of all allocations."
        )
    if tg.networks and tg.networks[0].mbits > 0:
        out.append("mbits has been deprecated as of Nomad 0.12.0. Please remove mbits from the network block")
    for task in tg.tasks:
        task_w = _task_warnings(task)
        if task_w:
            out.append(f"Task {_q(task.name)} has warnings: {format_multierror(task_w)}")
    return out


def _task_warnings(task: J.Task) -> list[str]:
    out = []
    res = task.resources
    iops = res.extra.get("IOPS") if res is not None else None
    if isinstance(iops, int) and not isinstance(iops, bool) and iops != 0:
        out.append("IOPS has been deprecated as of Nomad 0.9.0. Please remove IOPS from resource block.")
    if res is not None and res.networks:
        out.append("task network resources have been deprecated as of Nomad 0.12.0. "
                   "Please configure networking via group network block.")
    return out


def _shutdown_delay_warnings(tg: J.TaskGroup) -> list[str]:
    """Nomad: generateTaskGroupServiceShutdownDelayWarnings."""
    out, referenced, unscoped = [], set(), False
    for s in tg.services:
        task_name, connect = extra_str(s, "TaskName"), s.extra.get("Connect")
        if task_name:
            referenced.add(task_name)
        elif isinstance(connect, dict) and connect.get("SidecarTask") is not None:
            sidecar = connect["SidecarTask"]
            if not isinstance(sidecar, dict) or sidecar.get("ShutdownDelay") is None:
                out.append(f"service {_q(s.name)} defines a sidecar task in Consul Connect definition, "
                           "but the task has no shutdown_delay set")
        else:
            unscoped = True
    any_delay = False
    for t in tg.tasks:
        delay = t.shutdown_delay or 0
        if t.name in referenced and delay == 0:
            out.append(f"group {_q(tg.name)} references task {_q(t.name)} in a service definition, "
                       "but the task has no shutdown_delay set")
        if delay > 0:
            any_delay = True
        elif t.services:
            out.append(f"task {_q(t.name)} in group {_q(tg.name)} defines services, but has no shutdown_delay set")
    if unscoped and not (tg.shutdown_delay or 0) > 0 and not any_delay:
        out.append(f"group {_q(tg.name)} defines services, but neither the group nor any of its tasks "
                   "have shutdown_delay set")
    return out


def _memory_max_warnings(job: J.Job) -> list[str]:
    return [
        f'Memory oversubscription is not enabled; Task "{tg.name}.{t.name}" memory_max value will be '
        "ignored. Update the Scheduler Configuration to allow oversubscription."
        for tg in job.task_groups
        for t in tg.tasks
        if t.resources is not None and t.resources.memory_max_mb != 0
    ]
