"""Scaling a job's group and reading its scale status.

Nomad: command/agent/job_endpoint.go (jobScaleAction, jobScaleStatus) over nomad/job_endpoint.go
(Job.Scale, Job.ScaleStatus) and structs.JobScaleRequest.Validate. A scale with a Count writes
a new job version (no admission checks, as Nomad's raft apply), then a job-scaling eval, then the
scaling event; without a Count only the event is recorded. Three writes, three indexes, as Nomad.
"""

from __future__ import annotations

import copy
from typing import Any

from sim.api.cluster import ClusterApi
from sim.api.requests import body, field, json_kind, lookup
from sim.errors import ApiError
from sim.state.scaling import ScalingEvent
from sim.structs.consts import JOB_TYPE_SYSTEM, TRIGGER_JOB_SCALING


def _encode_event(e: ScalingEvent) -> dict[str, Any]:
    """Nomad: structs.ScalingEvent."""
    return {"Time": e.time, "Count": e.count, "PreviousCount": e.previous_count, "Message": e.message,
            "Error": e.error, "Meta": e.meta, "EvalID": e.eval_id, "CreateIndex": e.create_index}


class ScaleApi(ClusterApi):
    """GET and PUT/POST /v1/job/:id/scale."""

    def job_scale_status(self, job_id: str, namespace: str = "default") -> dict[str, Any]:
        """GET /v1/job/:id/scale: Nomad's JobScaleStatus (desired, placed, running, healthy per group)."""
        namespace = namespace or "default"
        job = self.state.job_by_id(namespace, job_id)
        if job is None:
            self.last_index = self.state.table_index["jobs"]
            raise ApiError(404, "job not found")
        events = self.state.scaling_events.of_job(namespace, job_id)
        groups: dict[str, dict[str, Any]] = {tg.name: {"Desired": tg.count, "Placed": 0, "Running": 0, "Healthy": 0, "Unhealthy": 0,
                            "Events": [_encode_event(e) for e in events.get(tg.name, [])] or None}
                  for tg in job.task_groups}
        index = max([job.modify_index, *(e.create_index for es in events.values() for e in es)])
        for alloc in self.state.allocs_by_job(namespace, job_id):
            status = alloc.deployment_status
            group = groups.get(alloc.task_group)
            if (status is not None and status.canary) or alloc.terminal() or group is None:
                continue
            group["Placed"] += 1
            group["Running"] += alloc.client_status == "running"
            if status is not None and status.healthy is not None:
                group["Healthy" if status.healthy else "Unhealthy"] += 1
            index = max(index, alloc.modify_index)
        self.last_index = index
        return {"JobID": job.id, "Namespace": job.namespace, "JobCreateIndex": job.create_index,
                "JobModifyIndex": job.modify_index, "JobStopped": job.stop, "TaskGroups": groups}

    def scale_job(self, job_id: str, payload: Any, namespace: str = "default") -> dict[str, Any]:
        """PUT/POST /v1/job/:id/scale {Count, Target: {Job, Group}, Message, Error, Meta, PolicyOverride}."""
        struct = "ScalingRequest"
        data = body(payload, struct)
        target = field(data, "Target", dict, struct, None, "map[string]string") or {}
        count = field(data, "Count", int, struct, None, "int64")
        message = field(data, "Message", str, struct, "")
        error = field(data, "Error", bool, struct, False)
        meta = lookup(data, "Meta")
        if meta is not None and not isinstance(meta, dict):
            raise ApiError(400, f"json: cannot unmarshal {json_kind(meta)} into Go struct field {struct}.Meta "
                                "of type map[string]interface {}")
        field(data, "PolicyOverride", bool, struct, False)  # type-checked; Sentinel policies are not simulated
        namespace = namespace or "default"
        if target.get("Job") and target["Job"] != job_id:
            raise ApiError(400, "job ID in payload did not match URL")
        if target.get("Namespace") and target["Namespace"] != namespace:
            raise ApiError(400, "namespace in payload did not match header")
        group_name = target.get("Group", "")
        if not group_name:
            raise ApiError(400, "missing task group name for scaling action")
        if count is not None and count < 0:
            raise ApiError(400, "scaling action count can't be negative")
        if count is not None and error:
            raise ApiError(400, "scaling action should not contain count if error is true")
        return self._scale(namespace, job_id, group_name, count, message, error, meta)

    def _scale(self, namespace: str, job_id: str, group_name: str, count: int | None, message: str, error: bool,
               meta: dict[str, Any] | None) -> dict[str, Any]:
        """Nomad: Job.Scale after the request checks."""
        state, fsm = self.state, self.server.fsm
        current = state.job_by_id(namespace, job_id)
        if current is None:
            raise ApiError(404, f'job "{job_id}" not found')
        if current.type == JOB_TYPE_SYSTEM:
            raise ApiError(400, 'cannot scale jobs of type "system"')
        job = copy.deepcopy(current)
        group = job.lookup_task_group(group_name)
        if group is None:
            raise ApiError(400, f'task group "{group_name}" specified for scaling does not exist in job')
        event = ScalingEvent(time=self.server.unix_nanos(), previous_count=group.count or 0, count=count,
                             message=message, error=error, meta=meta)
        out = {"EvalID": "", "EvalCreateIndex": 0, "JobModifyIndex": current.modify_index, "Warnings": "",
               "LastContact": 0, "KnownLeader": False}
        if count is not None:
            scaling = group.scaling
            if scaling is not None and scaling.min is not None and count < scaling.min:
                raise ApiError(400, f"group count was less than scaling policy minimum: {count} < {scaling.min}")
            if scaling is not None and scaling.max < count:
                raise ApiError(400, f"group count was greater than scaling policy maximum: {count} > {scaling.max}")
            deployment = state.latest_deployment(namespace, job_id)
            if deployment is not None and deployment.active() and deployment.job_create_index == job.create_index:
                raise ApiError(400, "job scaling blocked due to active deployment")
            group.count = count
            job.stable = False
            out["JobModifyIndex"] = fsm.write_job(job, [])
            if not job.is_periodic() and not job.is_parameterized():
                ev = fsm.new_eval(job, TRIGGER_JOB_SCALING, job_modify_index=out["JobModifyIndex"])
                out["EvalCreateIndex"] = fsm.create_evals([ev])
                out["EvalID"] = event.eval_id = ev.id
        out["Index"] = self.last_index = state.upsert_scaling_event(namespace, job_id, group_name, event)
        return out
