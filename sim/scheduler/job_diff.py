"""What changed between two versions of a job, and whether the change needs new allocs.

Nomad: scheduler/util.go, tasksUpdated and its helpers (networkUpdated, consulUpdated,
connectServiceUpdated, nonNetworkResourcesUpdated), with Job.CombinedTaskMeta. A group whose
tasks changed this way is updated destructively (stop and replace); other changes are in place.

Fields the typed structs do not model (artifacts, templates, vault, volumes, identities, devices,
Connect, ...) live in each struct's `extra` under their Nomad JSON names; they are compared there,
so a change to any of them is destructive exactly as in Nomad.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sim.structs.job import Job, NetworkResource, Resources, RestartPolicy, Service, Task, TaskGroup

# Keys of `extra` whose change forces a destructive update (Nomad JSON names).
_GROUP_EXTRA_KEYS = ("Volumes",)
_TASK_EXTRA_KEYS = (
    "Artifacts",
    "Vault",
    "Secrets",
    "Templates",
    "CSIPluginConfig",
    "VolumeMounts",
    "Identity",
    "Identities",
)
_RESOURCE_EXTRA_KEYS = ("Devices", "NUMA", "SecretsMB")
_NETWORK_EXTRA_KEYS = ("DNS", "CNI")
_CONNECT_SERVICE_KEYS = ("Cluster",)


def combined_task_meta(job: Job, group: str, task: str) -> dict[str, str]:
    """Nomad: structs.go, Job.CombinedTaskMeta: task meta over group meta over job meta."""
    tg = job.lookup_task_group(group)
    if tg is None:
        return dict(job.meta)
    meta: dict[str, str] = {}
    for t in tg.tasks:
        if t.name == task:
            meta.update(t.meta)
    for source in (tg.meta, job.meta):
        for key, value in source.items():
            meta.setdefault(key, value)
    return meta


def tasks_updated(job_a: Job, job_b: Job, task_group: str) -> bool:
    """Whether the group changed in a way that needs new allocs (a destructive update).

    Nomad: scheduler/util.go, tasksUpdated.
    """
    return bool(tasks_updated_reason(job_a, job_b, task_group))


def tasks_updated_reason(job_a: Job, job_b: Job, task_group: str) -> str:
    """The first destructive difference found, as Nomad labels it, or "" when there is none."""
    a = job_a.lookup_task_group(task_group)
    b = job_b.lookup_task_group(task_group)
    if a is None or b is None:
        return "task group" if a is not b else ""
    if len(a.tasks) != len(b.tasks):
        return "number of tasks"
    reason = _group_difference(a, b)
    if reason:
        return reason
    for at in a.tasks:
        bt = _lookup_task(b, at.name)
        if bt is None:
            return "task deleted"
        reason = _task_difference(job_a, job_b, task_group, at, bt)
        if reason:
            return reason
    return ""


def _lookup_task(tg: TaskGroup, name: str) -> Task | None:
    return next((t for t in tg.tasks if t.name == name), None)


def _group_difference(a: TaskGroup, b: TaskGroup) -> str:
    if _disk_key(a) != _disk_key(b):
        return "ephemeral disk"
    reason = network_updated(a.networks, b.networks)
    if reason:
        return reason
    reason = _consul_updated(a.extra, b.extra)
    if reason:
        return reason
    reason = _connect_services_updated(a.services, b.services)
    if reason:
        return reason
    if _extras_differ(a.extra, b.extra, _GROUP_EXTRA_KEYS):
        return "volume request"
    if _render_templates(a.restart_policy) != _render_templates(b.restart_policy):
        return "group restart render_templates"
    return ""


def _task_difference(job_a: Job, job_b: Job, group: str, at: Task, bt: Task) -> str:
    checks: tuple[tuple[str, bool], ...] = (
        ("task driver", at.driver != bt.driver),
        ("task user", at.user != bt.user),
        ("task config", at.config != bt.config),
        ("task env", at.env != bt.env),
        ("consul", bool(_consul_updated(at.extra, bt.extra))),
        ("task extra", _extras_differ(at.extra, bt.extra, _TASK_EXTRA_KEYS)),
        (
            "task meta",
            combined_task_meta(job_a, group, at.name) != combined_task_meta(job_b, group, bt.name),
        ),
    )
    for label, changed in checks:
        if changed:
            return label
    ra, rb = at.resources or Resources(), bt.resources or Resources()
    reason = network_updated(ra.networks, rb.networks) or _resources_updated(ra, rb)
    if reason:
        return reason
    if _log_disabled(at) != _log_disabled(bt):
        return "task log disabled"
    if _render_templates(at.restart_policy) != _render_templates(bt.restart_policy):
        return "task restart render_templates"
    return ""


def _resources_updated(a: Resources, b: Resources) -> str:
    """Nomad: util.go, nonNetworkResourcesUpdated."""
    pairs = (
        ("task cpu", a.cpu, b.cpu),
        ("task cores", a.cores, b.cores),
        ("task memory", a.memory_mb, b.memory_mb),
        ("task memory max", a.memory_max_mb, b.memory_max_mb),
    )
    for label, before, after in pairs:
        if before != after:
            return label
    if _extras_differ(a.extra, b.extra, _RESOURCE_EXTRA_KEYS):
        return "task devices"
    return ""


def network_updated(net_a: list[NetworkResource], net_b: list[NetworkResource]) -> str:
    """Nomad: util.go, networkUpdated. Dynamic port values are ignored, labels are not."""
    if len(net_a) != len(net_b):
        return "network lengths"
    for an, bn in zip(net_a, net_b, strict=True):
        if an.mode != bn.mode:
            return "network mode"
        if an.mbits != bn.mbits:
            return "network mbits"
        if an.hostname != bn.hostname:
            return "network hostname"
        if _extras_differ(an.extra, bn.extra, _NETWORK_EXTRA_KEYS):
            return "network dns"
        if _port_map(an) != _port_map(bn):
            return "network port map"
    return ""


def _port_map(n: NetworkResource) -> list[tuple[str, int, int, str]]:
    """Nomad: util.go, networkPortMap."""
    ports = [(p.label, p.value, p.to, p.host_network) for p in n.reserved_ports]
    ports += [(p.label, -1, p.to, p.host_network) for p in n.dynamic_ports]
    return ports


def _connect_services_updated(services_a: list[Service], services_b: list[Service]) -> str:
    """Nomad: util.go, connectServiceUpdated: only services with a Connect block matter."""
    for sa in services_a:
        if sa.extra.get("Connect") is None:
            continue
        sb = next((s for s in services_b if s.name == sa.name), None)
        if sb is None:
            continue
        if sa.extra.get("Connect") != sb.extra.get("Connect"):
            return "connect updated"
        if sa.port_label != sb.port_label:
            return "connect service port label"
        if _extras_differ(sa.extra, sb.extra, _CONNECT_SERVICE_KEYS):
            return "connect service cluster"
    return ""


def _disk_key(tg: TaskGroup) -> tuple[bool, int, bool] | None:
    d = tg.ephemeral_disk
    return None if d is None else (d.sticky, d.size_mb, d.migrate)


def _consul_updated(extra_a: dict[str, Any], extra_b: dict[str, Any]) -> str:
    """Nomad: util.go, consulUpdated: namespace always; cluster and partition when both set."""
    ca, cb = extra_a.get("Consul"), extra_b.get("Consul")
    da = ca if isinstance(ca, dict) else {}
    db = cb if isinstance(cb, dict) else {}
    if da.get("Namespace", "") != db.get("Namespace", ""):
        return "consul namespace"
    if ca is not None and cb is not None:
        for key in ("Cluster", "Partition"):
            if da.get(key, "") != db.get(key, ""):
                return f"consul {key.lower()}"
    return ""


def _render_templates(policy: RestartPolicy | None) -> bool:
    return policy is not None and policy.render_templates


def _log_disabled(task: Task) -> bool:
    return task.log_config is not None and task.log_config.disabled


def _extras_differ(a: dict[str, Any], b: dict[str, Any], keys: Iterable[str]) -> bool:
    return any(_empty_to_none(a.get(k)) != _empty_to_none(b.get(k)) for k in keys)


def _empty_to_none(value: Any) -> Any:
    return None if value in (None, [], {}, "") else value
