"""Task group and task validation, with Nomad's messages and nesting (used by sim.structs.validate.job).

Nomad: nomad/structs/structs.go TaskGroup.Validate, validateNetworks, validateServices,
validateScalingPolicy and Task.Validate. Checks of blocks Nomad leaves to drivers or to
Consul (artifacts, templates, vault, volumes, service checks) are not modelled.
"""

from __future__ import annotations

from sim.structs import consts as C
from sim.structs import job as J
from sim.structs.duration import format_go_duration as dur
from sim.structs.validate.blocks import (
    Entry,
    dispatch_payload_errors,
    ephemeral_disk_errors,
    extra_str,
    go_quote,
    leaf,
    lifecycle_errors,
    log_config_errors,
    migrate_errors,
    nest,
    reschedule_errors,
    resources_errors,
    restart_errors,
    update_errors,
)
from sim.structs.validate.placement import (
    affinity_errors,
    constraint_entry,
    constraint_errors,
    devices_errors,
    service_name_problem,
    spread_errors,
)

_MAX_PORT = 65535


def group_errors(job: J.Job, tg: J.TaskGroup, path: str) -> list[Entry]:
    """Nomad: structs.TaskGroup.Validate (flattened block errors, nested sub-validations)."""
    errs = _group_basics(job, tg, path)
    errs += constraint_errors(tg.constraints, f"{path}.Constraints")
    system = job.type == C.JOB_TYPE_SYSTEM
    errs += affinity_errors(tg.affinities, f"{path}.Affinities", system)
    if tg.restart_policy is not None:
        errs += restart_errors(tg.restart_policy, f"{path}.RestartPolicy")
    else:
        errs.append(leaf(f"{path}.RestartPolicy", f"Task Group {tg.name} should have a restart policy"))
    errs += spread_errors(tg.spreads, f"{path}.Spreads", system)
    errs += _policy_errors(job, tg, path)
    errs += _task_list_errors(tg, path)
    for prefix, sub in (
        ("Task group network validation failed: ", _network_errors(tg, path)),
        ("Task group service validation failed: ", _service_errors(tg, path)),
        ("Task group scaling policy validation failed: ", _scaling_errors(tg, path)),
    ):
        if sub:
            errs.append(nest(prefix, sub))
    for i, task in enumerate(tg.tasks):
        sub = task_errors(job, tg, task, f"{path}.Tasks[{i}]")
        if sub:
            errs.append(nest(f"Task {task.name} validation failed: ", sub))
    return errs


def _group_basics(job: J.Job, tg: J.TaskGroup, path: str) -> list[Entry]:
    errs = []
    if not tg.name:
        errs.append(leaf(f"{path}.Name", "Missing task group name"))
    elif "\x00" in tg.name:
        errs.append(leaf(f"{path}.Name", "Task group name contains null character"))
    if (tg.count or 0) < 0:
        errs.append(leaf(f"{path}.Count", "Task group count can't be negative"))
    if not tg.tasks:
        errs.append(leaf(f"{path}.Tasks", "Missing tasks for task group"))
    max_run = tg.extra.get("MaxRunDuration")
    if isinstance(max_run, int) and not isinstance(max_run, bool):
        if max_run <= 0:
            errs.append(leaf(f"{path}.MaxRunDuration", "MaxRunDuration must be greater than zero"))
        if job.type not in (C.JOB_TYPE_BATCH, C.JOB_TYPE_SYSBATCH):
            msg = f"Job type {go_quote(job.type)} does not allow max_run_duration"
            errs.append(leaf(f"{path}.MaxRunDuration", msg))
    return errs


def _policy_errors(job: J.Job, tg: J.TaskGroup, path: str) -> list[Entry]:
    """Reschedule, ephemeral disk, update and migrate blocks of a group."""
    errs = []
    if job.type in (C.JOB_TYPE_SYSTEM, C.JOB_TYPE_SYSBATCH):
        if tg.reschedule_policy is not None:
            msg = "System or sysbatch jobs should not have a reschedule policy"
            errs.append(leaf(f"{path}.ReschedulePolicy", msg))
    elif tg.reschedule_policy is not None:
        errs += reschedule_errors(tg.reschedule_policy, f"{path}.ReschedulePolicy")
    else:
        msg = f"Task Group {tg.name} should have a reschedule policy"
        errs.append(leaf(f"{path}.ReschedulePolicy", msg))
    if tg.ephemeral_disk is not None:
        errs += ephemeral_disk_errors(tg.ephemeral_disk, f"{path}.EphemeralDisk")
    else:
        msg = f"Task Group {tg.name} should have an ephemeral disk object"
        errs.append(leaf(f"{path}.EphemeralDisk", msg))
    if tg.update is not None:
        if job.type not in (C.JOB_TYPE_SERVICE, C.JOB_TYPE_SYSTEM):
            msg = f"Job type {go_quote(job.type)} does not allow update block"
            errs.append(leaf(f"{path}.Update", msg))
        errs += update_errors(tg.update, f"{path}.Update")
    if job.type == C.JOB_TYPE_SERVICE:
        if tg.migrate is not None:
            errs += migrate_errors(tg.migrate, f"{path}.Migrate")
    elif tg.migrate is not None:
        msg = f"Job type {go_quote(job.type)} does not allow migrate block"
        errs.append(leaf(f"{path}.Migrate", msg))
    return errs


def _task_list_errors(tg: J.TaskGroup, path: str) -> list[Entry]:
    errs: list[Entry] = []
    seen: dict[str, int] = {}
    leaders = mains = 0
    for i, task in enumerate(tg.tasks):
        field = f"{path}.Tasks[{i}].Name"
        if not task.name:
            errs.append(leaf(field, f"Task {i + 1} missing name"))
        elif task.name in seen:
            errs.append(leaf(field, f"Task {i + 1} redefines '{task.name}' from task {seen[task.name] + 1}"))
        else:
            seen[task.name] = i
        leaders += bool(task.leader)
        mains += task.lifecycle is None or not task.lifecycle.hook
    if leaders > 1:
        errs.append(leaf(f"{path}.Tasks", "Only one task may be marked as leader"))
    if tg.tasks and mains == 0:
        errs.append(leaf(f"{path}.Tasks", f"Task group {tg.name} must have at least one main task"))
    return errs


# --- networks ------------------------------------------------------------------------------


def _port_problems(port: J.Port, owner: str, labels: dict[str, str], static: dict[str, dict[int, str]],
                   net: J.NetworkResource, group_level: bool) -> list[str]:
    """One port's problems; records its label (group level only) and static value (by host network)."""
    out = []
    if port.label in labels:
        out.append(f"Port label {port.label} already in use by {labels[port.label]}")
    elif group_level:
        labels[port.label] = "taskgroup network"
    ignore = bool(port.extra.get("IgnoreCollision")) and group_level
    if port.value != 0:
        used = static.setdefault(port.host_network or "default", {})
        if port.value in used:
            if not ignore:
                out.append(f"Static port {port.value} already reserved by {used[port.value]}")
        elif port.value > _MAX_PORT:
            out.append(f"Port {port.label} ({port.value}) cannot be greater than {_MAX_PORT}")
        else:
            used[port.value] = f"taskgroup network:{port.label}" if group_level else f"{owner}:{port.label}"
    if group_level:
        if port.to < -1:
            out.append(f"Port {go_quote(port.label)} cannot be mapped to negative value {port.to}")
        elif port.to > _MAX_PORT:
            out.append(f"Port {go_quote(port.label)} cannot be mapped to a port ({port.to}) greater than {_MAX_PORT}")
        if ignore and net.mode not in ("", "host"):
            out.append(f"Port {go_quote(port.label)} collision may not be ignored on non-host network mode {go_quote(net.mode)}")
    return out


def _hostname_ok(name: str) -> bool:
    """A loose miekg/dns IsDomainName: label and name lengths, no empty inner label."""
    if name == ".":
        return True
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    return len(name) <= 255 and all(0 < len(lb.encode()) <= 63 for lb in labels)


def _network_errors(tg: J.TaskGroup, path: str) -> list[Entry]:
    """Nomad: structs.TaskGroup.validateNetworks."""
    errs: list[Entry] = []
    labels: dict[str, str] = {}  # port label -> its owner
    static: dict[str, dict[int, str]] = {}  # host network -> static port -> its owner
    for i, net in enumerate(tg.networks):
        for port in (*net.reserved_ports, *net.dynamic_ports):
            for msg in _port_problems(port, "", labels, static, net, True):
                errs.append(leaf(f"{path}.Networks[{i}]", msg))
        if net.hostname and "${" not in net.hostname and not _hostname_ok(net.hostname):
            errs.append(leaf(f"{path}.Networks[{i}].Hostname", "Hostname is not a valid DNS name"))
    for t, task in enumerate(tg.tasks):
        for i, net in enumerate(task.resources.networks if task.resources else ()):
            for port in (*net.reserved_ports, *net.dynamic_ports):
                for msg in _port_problems(port, task.name, labels, static, net, False):
                    errs.append(leaf(f"{path}.Tasks[{t}].Resources.Networks[{i}]", msg))
    return errs


# --- services / scaling --------------------------------------------------------------------


def _service_problems(s: J.Service) -> list[str]:
    """Nomad: structs.Service.Validate (name, address mode, on_update, provider)."""
    out = []
    problem = service_name_problem(s.name)
    if problem:
        out.append(problem)
    mode = extra_str(s, "AddressMode")
    if mode in ("host", "driver", "alloc", "alloc_ipv6") and extra_str(s, "Address"):
        out.append('Service address_mode must be "auto" if address is set')
    elif mode not in ("", "auto", "host", "driver", "alloc", "alloc_ipv6"):
        out.append(f'Service address_mode must be "auto", "host", or "driver"; not {go_quote(mode)}')
    on_update = extra_str(s, "OnUpdate")
    if on_update not in ("", "ignore", "require_healthy", "ignore_warnings"):
        out.append('Service on_update must be "require_healthy", "ignore_warnings", or "ignore"; '
                   f"not {go_quote(on_update)}")
    if s.provider not in ("consul", "nomad"):
        out.append(f'Service provider must be "consul", or "nomad"; not {go_quote(s.provider)}')
    return out


def _service_errors(tg: J.TaskGroup, path: str) -> list[Entry]:
    """Nomad: structs.TaskGroup.validateServices (Consul check details are not modelled)."""
    errs: list[Entry] = []
    ids: set[tuple[str, str, str]] = set()  # (service, task or "group", port label)
    dups: set[tuple[str, str, str]] = set()
    providers: set[str] = set()
    for t, task in enumerate(tg.tasks):
        for s in task.services:
            task_name = extra_str(s, "TaskName")
            if task_name and task_name != task.name:
                msg = f"Service {s.name} is invalid: may only specify task the service belongs to, got {go_quote(task_name)}"
                errs.append(leaf(f"{path}.Tasks[{t}].Services", msg))
            key = (s.name, task.name, s.port_label)
            (dups if key in ids else ids).add(key)
            providers.add(s.provider)
    for i, s in enumerate(tg.services):
        key = (s.name, "group", s.port_label)
        (dups if key in ids else ids).add(key)
        providers.add(s.provider)
        problems = _service_problems(s)
        if problems:
            sub = [leaf(f"{path}.Services[{i}]", msg) for msg in problems]
            errs.append(nest(f"Service[{i}] {s.name} validation failed: ", sub))
    if dups:
        names = sorted(f"{task}->{name}" + (f":{port}" if port else "") for name, task, port in dups)
        errs.append(leaf(f"{path}.Services", f"Services are not unique: [{' '.join(names)}]"))
    if len(providers) > 1:
        msg = "Multiple service providers used: task group services must use the same provider"
        errs.append(leaf(f"{path}.Services", msg))
    return errs


def _scaling_errors(tg: J.TaskGroup, path: str) -> list[Entry]:
    """Nomad: structs.TaskGroup.validateScalingPolicy and ScalingPolicy.Validate."""
    sc = tg.scaling
    if sc is None:
        return []
    lo = sc.min if sc.min is not None else 0
    hi = sc.max if sc.max is not None else -1
    count = tg.count or 0
    msgs = []
    if hi < 0:
        msgs.append("maximum count must be specified and non-negative")
    elif hi < lo:
        msgs.append("maximum count must not be less than minimum count")
    if lo < 0:
        msgs.append("minimum count must be specified and non-negative")
    if hi < count:
        msgs.append("task group count must not be greater than maximum count in scaling policy")
    if count < lo:
        msgs.append("task group count must not be less than minimum count in scaling policy")
    return [leaf(f"{path}.Scaling", f"Scaling policy invalid: {m}") for m in msgs]


# --- tasks ---------------------------------------------------------------------------------


def task_errors(job: J.Job, tg: J.TaskGroup, task: J.Task, path: str) -> list[Entry]:
    """Nomad: structs.Task.Validate."""
    errs = _task_basics(job, tg, task, path)
    if task.resources is None:
        errs.append(leaf(f"{path}.Resources", "Missing task resources"))
    else:
        sub = resources_errors(task.resources, f"{path}.Resources", devices_errors(task.resources, f"{path}.Resources"))
        if sub:
            errs.append(nest("", sub))
    if task.log_config is None:
        errs.append(leaf(f"{path}.LogConfig", "Missing Log Config"))
    else:
        sub = log_config_errors(task.log_config, tg.ephemeral_disk, f"{path}.LogConfig")
        if sub:
            errs.append(nest("", sub))
    errs += _task_constraint_errors(task, path)
    errs += affinity_errors(task.affinities, f"{path}.Affinities", job.type == C.JOB_TYPE_SYSTEM)
    if task.dispatch_payload is not None:
        sub = dispatch_payload_errors(task.dispatch_payload, f"{path}.DispatchPayload")
        errs += [leaf(e.leaves[0][0], f"Dispatch Payload validation failed: {e.text}") for e in sub]
    if task.lifecycle is not None:
        sub = lifecycle_errors(task.lifecycle, f"{path}.Lifecycle")
        errs += [leaf(e.leaves[0][0], f"Lifecycle validation failed: {e.text}") for e in sub]
    return errs


def _task_basics(job: J.Job, tg: J.TaskGroup, task: J.Task, path: str) -> list[Entry]:
    errs = []
    name = task.name
    if not name:
        errs.append(leaf(f"{path}.Name", "Missing task name"))
    if name == "alloc":
        errs.append(leaf(f"{path}.Name", 'Task cannot be named "alloc"'))
    if "/" in name or "\\" in name:
        errs.append(leaf(f"{path}.Name", "Task name cannot include slashes"))
    elif "\x00" in name:
        errs.append(leaf(f"{path}.Name", "Task name cannot include null characters"))
    if not task.driver:
        errs.append(leaf(f"{path}.Driver", "Missing task driver"))
    kill = task.kill_timeout or 0
    pd = (tg.update.progress_deadline or 0) if tg.update is not None else 0
    if kill < 0:
        errs.append(leaf(f"{path}.KillTimeout", "KillTimeout must be a positive value"))
    elif job.type == C.JOB_TYPE_SERVICE and tg.update is not None and 0 < pd < kill:
        msg = f"KillTimout ({dur(kill)}) longer than the group's ProgressDeadline ({dur(pd)})"
        errs.append(leaf(f"{path}.KillTimeout", msg))
    if (task.shutdown_delay or 0) < 0:
        errs.append(leaf(f"{path}.ShutdownDelay", "ShutdownDelay must be a positive value"))
    return errs


def _task_constraint_errors(task: J.Task, path: str) -> list[Entry]:
    errs = []
    for i, c in enumerate(task.constraints):
        entry = constraint_entry(c, i, f"{path}.Constraints")
        if entry is not None:
            errs.append(entry)
        if c.operand in ("distinct_hosts", "distinct_property"):
            msg = f"Constraint {i + 1} has disallowed Operand at task level: {c.operand}"
            errs.append(leaf(f"{path}.Constraints[{i}].Operand", msg))
    return errs
