"""Nomad's JSON shapes of the runtime objects: allocations, evaluations, deployments, summaries,
nodes and job list stubs.

Nomad: nomad/structs (Allocation, AllocListStub, Evaluation, Deployment, JobSummary, Node,
NodeListStub, JobListStub). Simulated seconds become Unix nanoseconds through a `nanos` function
(the server's `unix_nanos`), durations become nanoseconds and Go `time.Time` values RFC 3339
strings. Where a sample response of the API docs shows an object, an empty one is answered
rather than null, so every documented key keeps its JSON type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sim.api.encode_devices import encode_node_devices, encode_task_devices
from sim.api.encode_networks import encode_node_networks, encode_task_networks
from sim.server.job_plan import desired_updates_json
from sim.structs.alloc import Allocation, AllocMetric, TaskEvent, TaskState
from sim.structs.deployment import Deployment, DeploymentState
from sim.structs.evaluation import Evaluation
from sim.structs.job import Job
from sim.structs.job_summary import JobSummary
from sim.structs.node import Node, NodeEvent
from sim.structs.plan import DesiredUpdates

Nanos = Callable[[float], int]
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time
_NS = 1_000_000_000


def rfc3339(unix_nanos: int) -> str:
    """Unix nanoseconds as Go marshals a time.Time (RFC 3339, trailing zeros trimmed)."""
    secs, frac = divmod(int(unix_nanos), _NS)
    text = dt.datetime.fromtimestamp(secs, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (("." + f"{frac:09d}".rstrip("0")) if frac else "") + "Z"


def sim_time(nanos: Nanos, t: float | None) -> str:
    """A simulated time (None or 0 = unset) as an RFC 3339 string."""
    return ZERO_TIME if not t else rfc3339(nanos(t))


def duration(seconds: float) -> int:
    """Simulated seconds as a Go duration (nanoseconds)."""
    return int(round(seconds * _NS))


# -- jobs ----------------------------------------------------------------------------------------

_JOB_STRINGS = ("ConsulToken", "ConsulNamespace", "VaultToken", "VaultNamespace", "NomadTokenID")


def nomad_job(encoded: dict[str, Any]) -> dict[str, Any]:
    """A codec-encoded job with Go's zero values where a client sent nulls for non-pointer fields.

    Nomad answers "" for its token/namespace strings, null for an empty payload and 0 for IOPS,
    whatever the submitted JSON held; the codec keeps what was sent for keys it does not model.
    """
    for key in _JOB_STRINGS:
        if encoded.get(key) is None:
            encoded[key] = ""
    if not encoded.get("Payload"):
        encoded["Payload"] = None
    for group in encoded.get("TaskGroups") or []:
        _check_defaults(group)
        for task in group.get("Tasks") or []:
            _check_defaults(task)
            task.setdefault("CSIPluginConfig", None)
            resources = task.get("Resources")
            if isinstance(resources, dict) and resources.get("IOPS") is None:
                resources["IOPS"] = 0
    return encoded


def _check_defaults(owner: dict[str, Any]) -> None:
    """Go's zero TLSSkipVerify on the service checks of a group or task."""
    for service in owner.get("Services") or []:
        for check in service.get("Checks") or []:
            check.setdefault("TLSSkipVerify", False)


# -- job summaries and list stubs ----------------------------------------------------------------


def encode_summary(summary: JobSummary) -> dict[str, Any]:
    """Nomad: structs.JobSummary."""
    groups = {
        name: {"Queued": g.queued, "Complete": g.complete, "Failed": g.failed, "Running": g.running,
               "Starting": g.starting, "Lost": g.lost, "Unknown": g.unknown}
        for name, g in sorted(summary.summary.items())
    }
    c = summary.children
    return {"JobID": summary.job_id, "Namespace": summary.namespace, "Summary": groups,
            "Children": {"Pending": c.pending, "Running": c.running, "Dead": c.dead},
            "CreateIndex": summary.create_index, "ModifyIndex": summary.modify_index}


def encode_job_stub(job: Job, summary: JobSummary | None, meta: bool = False) -> dict[str, Any]:
    """Nomad: structs.Job.Stub (JobListStub); `Meta` only when asked for."""
    stub = {
        "ID": job.id, "ParentID": job.parent_id, "Name": job.name, "Namespace": job.namespace or "default",
        "Datacenters": list(job.datacenters), "NodePool": job.node_pool or "default", "Multiregion": None,
        "Type": job.type, "Priority": job.priority, "Periodic": job.is_periodic(),
        "ParameterizedJob": job.is_parameterized(), "Stop": job.stop, "Status": job.status,
        "StatusDescription": job.status_description,
        "JobSummary": encode_summary(summary) if summary is not None else None,
        "CreateIndex": job.create_index, "ModifyIndex": job.modify_index,
        "JobModifyIndex": job.job_modify_index, "SubmitTime": job.submit_time,
    }
    if meta:
        stub["Meta"] = dict(job.meta) or None
    return stub


# -- evaluations and scheduler metrics -----------------------------------------------------------


def encode_metric(m: AllocMetric) -> dict[str, Any]:
    """Nomad: structs.AllocMetric. Reads the metric without changing it: the maps it never used
    stay absent and packed scores stay packed (NodeScoreMeta rows are built here, for the JSON)."""
    quota, resources = m.peek("quota_exhausted"), m.peek("resources_exhausted")
    return {
        "NodesEvaluated": m.nodes_evaluated, "NodesFiltered": m.nodes_filtered, "NodesInPool": m.nodes_in_pool,
        "NodePool": m.node_pool, "NodesAvailable": _counts(m, "nodes_available"),
        "ClassFiltered": _counts(m, "class_filtered"), "ConstraintFiltered": _counts(m, "constraint_filtered"),
        "NodesExhausted": m.nodes_exhausted, "ClassExhausted": _counts(m, "class_exhausted"),
        "DimensionExhausted": _counts(m, "dimension_exhausted"),
        "QuotaExhausted": list(quota) if quota else None,
        "ResourcesExhausted": {t: _legacy_resources(r.get("cpu", 0), r.get("memory_mb", 0), 0)
                               for t, r in resources.items()} if resources else None,
        "Scores": None,
        "ScoreMetaData": [{"NodeID": s.node_id, "Scores": dict(s.scores), "NormScore": s.norm_score}
                          for s in m.top_scores()] or None,
        "AllocationTime": m.allocation_time, "CoalescedFailures": m.coalesced_failures,
    }


def _counts(m: AllocMetric, name: str) -> dict[str, int]:
    """A copy of one of the metric's count maps ({} for one never used)."""
    counts = m.peek(name)
    return dict(counts) if counts else {}


def encode_desired_updates(du: DesiredUpdates | dict[str, int]) -> dict[str, int]:
    """Nomad: structs.DesiredUpdates (an eval may already hold the JSON form)."""
    return dict(du) if isinstance(du, dict) else desired_updates_json(du)


def encode_plan_annotations(annotations: Any, preempted: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """Nomad: structs.PlanAnnotations from a {group: DesiredUpdates} map (or an eval's dict form),
    with the stubs of the allocs the plan would preempt (None when it preempts none)."""
    if annotations is None:
        return None
    if isinstance(annotations, dict) and "DesiredTGUpdates" in annotations:
        annotations = annotations["DesiredTGUpdates"]
    updates = {tg: encode_desired_updates(du) for tg, du in sorted(annotations.items())}
    return {"DesiredTGUpdates": updates, "PreemptedAllocs": preempted or None}


def encode_eval(ev: Evaluation, nanos: Nanos) -> dict[str, Any]:
    """Nomad: structs.Evaluation."""
    return {
        "ID": ev.id, "Namespace": ev.namespace, "Priority": ev.priority, "Type": ev.type,
        "TriggeredBy": ev.triggered_by, "JobID": ev.job_id, "JobModifyIndex": ev.job_modify_index,
        "NodeID": ev.node_id, "NodeModifyIndex": ev.node_modify_index, "DeploymentID": ev.deployment_id,
        "Status": ev.status, "StatusDescription": ev.status_description, "Wait": duration(ev.wait),
        "WaitUntil": sim_time(nanos, ev.wait_until), "NextEval": ev.next_eval, "PreviousEval": ev.previous_eval,
        "BlockedEval": ev.blocked_eval, "RelatedEvals": None,
        "FailedTGAllocs": {tg: encode_metric(m) for tg, m in sorted(ev.failed_tg_allocs.items())} or None,
        "ClassEligibility": dict(ev.class_eligibility) or None,
        "QuotaLimitReached": "", "EscapedComputedClass": ev.escaped_computed_class,
        "AnnotatePlan": ev.annotate_plan, "PlanAnnotations": encode_plan_annotations(ev.plan_annotations),
        "QueuedAllocations": dict(ev.queued_allocations), "LeaderACL": "",
        "SnapshotIndex": ev.snapshot_index, "CreateIndex": ev.create_index, "ModifyIndex": ev.modify_index,
        "CreateTime": nanos(ev.create_time) if ev.create_index else 0,
        "ModifyTime": nanos(ev.modify_time) if ev.modify_index else 0,
    }


# -- deployments ---------------------------------------------------------------------------------


def _deployment_state(s: DeploymentState, nanos: Nanos) -> dict[str, Any]:
    """Nomad: structs.DeploymentState."""
    return {
        "AutoRevert": s.auto_revert, "AutoPromote": s.auto_promote,
        "ProgressDeadline": duration(s.progress_deadline),
        "RequireProgressBy": sim_time(nanos, s.require_progress_by), "Promoted": s.promoted,
        "PlacedCanaries": list(s.placed_canaries) or None, "DesiredCanaries": s.desired_canaries,
        "DesiredTotal": s.desired_total, "PlacedAllocs": s.placed_allocs, "HealthyAllocs": s.healthy_allocs,
        "UnhealthyAllocs": s.unhealthy_allocs,
    }


def encode_deployment(d: Deployment, nanos: Nanos) -> dict[str, Any]:
    """Nomad: structs.Deployment."""
    return {
        "ID": d.id, "Namespace": d.namespace, "JobID": d.job_id, "JobVersion": d.job_version,
        "JobModifyIndex": d.job_modify_index, "JobSpecModifyIndex": d.job_spec_modify_index,
        "JobCreateIndex": d.job_create_index, "IsMultiregion": False,
        "TaskGroups": {tg: _deployment_state(s, nanos) for tg, s in sorted(d.task_groups.items())},
        "Status": d.status, "StatusDescription": d.status_description, "EvalPriority": d.eval_priority,
        "CreateIndex": d.create_index, "ModifyIndex": d.modify_index,
        "CreateTime": nanos(d.create_time), "ModifyTime": nanos(d.modify_time),
    }


# -- allocations ---------------------------------------------------------------------------------


def encode_task_event(e: TaskEvent, nanos: Nanos) -> dict[str, Any]:
    """Nomad: structs.TaskEvent (every field the API docs show)."""
    return {
        "Type": e.type, "Time": nanos(e.time), "FailsTask": e.fails_task, "RestartReason": e.restart_reason,
        "SetupError": "", "DriverError": "", "ExitCode": e.exit_code, "Signal": 0, "Message": e.message,
        "KillTimeout": 0, "KillError": "", "KillReason": "", "StartDelay": duration(e.start_delay),
        "DownloadError": "", "ValidationError": "", "DiskLimit": 0, "FailedSibling": "", "VaultError": "",
        "TaskSignalReason": "", "TaskSignal": "", "DriverMessage": "", "GenericSource": "",
        "DisplayMessage": e.message or e.restart_reason, "Details": {},
    }


def encode_task_state(ts: TaskState, nanos: Nanos) -> dict[str, Any]:
    """Nomad: structs.TaskState."""
    return {
        "State": ts.state, "Failed": ts.failed, "Restarts": ts.restarts,
        "LastRestart": sim_time(nanos, ts.last_restart), "StartedAt": sim_time(nanos, ts.started_at),
        "FinishedAt": sim_time(nanos, ts.finished_at),
        "Events": [encode_task_event(e, nanos) for e in ts.events], "TaskHandle": None,
    }


def _alloc_common(a: Allocation, nanos: Nanos) -> dict[str, Any]:
    """The fields a full allocation and its list stub share."""
    ds = a.deployment_status
    tracker = [{"PrevAllocID": r.prev_alloc_id, "PrevNodeID": r.prev_node_id,
                "RescheduleTime": nanos(r.reschedule_time), "Delay": duration(r.delay)}
               for r in a.reschedule_tracker]
    return {
        "ID": a.id, "EvalID": a.eval_id, "Name": a.name, "Namespace": a.namespace, "NodeID": a.node_id,
        "NodeName": a.node_name, "JobID": a.job_id, "TaskGroup": a.task_group,
        "DesiredStatus": a.desired_status, "DesiredDescription": a.desired_description,
        "DesiredTransition": {"Migrate": a.desired_transition.migrate, "Reschedule": a.desired_transition.reschedule,
                              "ForceReschedule": a.desired_transition.force_reschedule},
        "ClientStatus": a.client_status, "ClientDescription": a.client_description,
        "TaskStates": {name: encode_task_state(ts, nanos) for name, ts in sorted(a.task_states.items())},
        "DeploymentStatus": None if ds is None else {
            "Healthy": ds.healthy, "Timestamp": sim_time(nanos, ds.timestamp), "Canary": ds.canary,
            "ModifyIndex": ds.modify_index},
        "FollowupEvalID": a.followup_eval_id, "PreviousAllocation": a.previous_allocation,
        "NextAllocation": a.next_allocation,
        "RescheduleTracker": {"Events": tracker, "LastReschedule": a.last_reschedule},
        "PreemptedAllocations": list(a.preempted_allocations) if a.preempted_allocations else None,
        "PreemptedByAllocation": a.preempted_by_allocation,
        "CreateIndex": a.create_index, "ModifyIndex": a.modify_index,
        "CreateTime": nanos(a.create_time), "ModifyTime": nanos(a.modify_time),
    }


def encode_alloc_stub(a: Allocation, nanos: Nanos) -> dict[str, Any]:
    """Nomad: structs.AllocListStub."""
    stub = _alloc_common(a, nanos)
    stub.update({"JobType": a.job.type, "JobVersion": a.job.version, "AllocatedResources": None})
    return stub


def _legacy_resources(cpu: int, memory_mb: int, disk_mb: int) -> dict[str, Any]:
    """Nomad: the deprecated structs.Resources shape."""
    return {"CPU": cpu, "Cores": 0, "MemoryMB": memory_mb, "MemoryMaxMB": 0, "DiskMB": disk_mb, "IOPS": 0,
            "Networks": None, "Devices": None}


def _allocated_resources(a: Allocation) -> dict[str, Any]:
    """Nomad: structs.AllocatedResources, per task from the job version the alloc runs."""
    tg = a.job.lookup_task_group(a.task_group)
    tasks = {}
    for task in tg.tasks if tg is not None else []:
        res = task.resources
        tasks[task.name] = {
            "Cpu": {"CpuShares": res.cpu if res else 0, "ReservedCores": None},
            "Memory": {"MemoryMB": res.memory_mb if res else 0, "MemoryMaxMB": res.memory_max_mb if res else 0},
            "Networks": encode_task_networks(a, task.name) if a.networks else None,
            "Devices": encode_task_devices(a, task.name) if a.devices else None,
        }
    ports = [{"Label": label, "Value": value, "To": 0, "HostIP": ""} for label, value in a.ports]
    return {"Tasks": tasks, "TaskLifecycles": None,
            "Shared": {"DiskMB": a.disk_mb, "Networks": None, "Ports": ports or None}}


allocated_resources = _allocated_resources  # (also ?resources=true on alloc lists)


def encode_alloc(a: Allocation, nanos: Nanos, encode_job: Callable[[Job], dict]) -> dict[str, Any]:
    """Nomad: structs.Allocation (the full object of GET /v1/allocation/:id)."""
    out = _alloc_common(a, nanos)
    out.update({
        "Job": encode_job(a.job), "Resources": _legacy_resources(a.cpu, a.memory_mb, a.disk_mb),
        "AllocatedResources": _allocated_resources(a), "SharedResources": None, "TaskResources": None,
        "Metrics": encode_metric(a.metrics) if a.metrics is not None else None,
        "DeploymentID": a.deployment_id, "AllocModifyIndex": a.alloc_modify_index, "Services": None,
    })
    return out


# -- nodes ---------------------------------------------------------------------------------------


def _drivers(node: Node) -> dict[str, Any]:
    """Nomad: structs.DriverInfo per driver: all detected and healthy (no update time)."""
    return {d: {"Attributes": None, "Detected": True, "Healthy": True, "HealthDescription": "Healthy",
                "UpdateTime": ZERO_TIME} for d in sorted(node.drivers)}


def _node_resources(node: Node) -> dict[str, Any]:
    """Nomad: structs.NodeResources (CPU, memory, disk and the dynamic port range)."""
    r = node.resources
    return {"Cpu": {"CpuShares": r.cpu, "TotalCpuCores": 0, "ReservableCpuCores": None},
            "Memory": {"MemoryMB": r.memory_mb}, "Disk": {"DiskMB": r.disk_mb},
            "Networks": encode_node_networks(node), "Devices": encode_node_devices(node), "MinDynamicPort": node.min_dynamic_port, "MaxDynamicPort": node.max_dynamic_port}


def _reserved_resources(node: Node) -> dict[str, Any]:
    """Nomad: structs.NodeReservedResources."""
    r = node.reserved
    return {"Cpu": {"CpuShares": r.cpu}, "Memory": {"MemoryMB": r.memory_mb}, "Disk": {"DiskMB": r.disk_mb},
            "Networks": {"ReservedHostPorts": r.reserved_ports}}


def encode_node_stub(node: Node, nanos: Nanos, resources: bool = False) -> dict[str, Any]:
    """Nomad: structs.NodeListStub; resources only with `?resources=true`."""
    return {
        "Address": "127.0.0.1", "ID": node.id, "Attributes": None, "Datacenter": node.datacenter,
        "Name": node.name, "NodeClass": node.node_class, "NodePool": node.node_pool,
        "Version": node.attributes.get("nomad.version", ""), "Drain": node.drain,
        "SchedulingEligibility": node.scheduling_eligibility, "Status": node.status,
        "StatusDescription": node.status_description, "Drivers": _drivers(node), "HostVolumes": None,
        "NodeResources": _node_resources(node) if resources else None,
        "ReservedResources": _reserved_resources(node) if resources else None,
        "LastDrain": _last_drain(node, nanos), "CreateIndex": node.create_index, "ModifyIndex": node.modify_index,
    }


def encode_node(node: Node, nanos: Nanos) -> dict[str, Any]:
    """Nomad: structs.Node (what GET /v1/node/:id answers; no secrets)."""
    return {
        "ID": node.id, "SecretID": "", "Datacenter": node.datacenter, "Name": node.name,
        "HTTPAddr": "127.0.0.1:4646", "TLSEnabled": False, "Attributes": dict(sorted(node.attributes.items())),
        "NodeResources": _node_resources(node), "ReservedResources": _reserved_resources(node),
        "Resources": _legacy_resources(node.resources.cpu, node.resources.memory_mb, node.resources.disk_mb),
        "Reserved": _legacy_resources(node.reserved.cpu, node.reserved.memory_mb, node.reserved.disk_mb),
        "Links": {}, "Meta": dict(sorted(node.meta.items())), "NodeClass": node.node_class,
        "NodePool": node.node_pool, "ComputedClass": node.computed_class, "Drain": node.drain,
        "DrainStrategy": _drain_strategy(node, nanos), "SchedulingEligibility": node.scheduling_eligibility,
        "Status": node.status, "StatusDescription": node.status_description,
        "StatusUpdatedAt": nanos(node.status_updated_at) // _NS,
        "Events": [_node_event(e, nanos) for e in node.events] or None, "Drivers": _drivers(node),
        "HostVolumes": None, "HostNetworks": None, "CSIControllerPlugins": None, "CSINodePlugins": None,
        "LastDrain": _last_drain(node, nanos), "CreateIndex": node.create_index, "ModifyIndex": node.modify_index,
    }


def _drain_strategy(node: Node, nanos: Nanos) -> dict[str, Any] | None:
    """Nomad: structs.DrainStrategy (DrainSpec embedded); ForceDeadline is zero without a positive deadline."""
    d = node.drain_strategy
    if d is None:
        return None
    force = ZERO_TIME if d.force_deadline is None else rfc3339(nanos(d.force_deadline))
    return {"Deadline": duration(d.deadline), "IgnoreSystemJobs": d.ignore_system_jobs,
            "ForceDeadline": force, "StartedAt": rfc3339(nanos(d.started_at))}


def _last_drain(node: Node, nanos: Nanos) -> dict[str, Any] | None:
    """Nomad: structs.DrainMetadata; its times are whole Unix seconds (time.Unix(updatedAt, 0))."""
    m = node.last_drain
    if m is None:
        return None
    return {"StartedAt": rfc3339(nanos(m.started_at) // _NS * _NS), "UpdatedAt": rfc3339(nanos(m.updated_at) // _NS * _NS),
            "Status": m.status, "AccessorID": m.accessor_id, "Meta": dict(m.meta) or None}


def _node_event(event: NodeEvent, nanos: Nanos) -> dict[str, Any]:
    """Nomad: structs.NodeEvent."""
    return {"Message": event.message, "Subsystem": event.subsystem, "Details": dict(event.details or {}) or None,
            "Timestamp": rfc3339(nanos(event.timestamp)), "CreateIndex": event.create_index}
