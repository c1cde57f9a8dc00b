"""Dispatching a parameterized job: request checks, the child job, its eval.

Nomad: nomad/job_endpoint.go Dispatch, validateDispatchRequest; structs.DispatchedID. Every check
runs before the state is written; a retried request with an idempotency token that a live child
already carries answers that child instead of creating another.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.errors import ValidationError
from sim.structs.codec import copy_job
from sim.structs.consts import (
    DISPATCH_PAYLOAD_SIZE_LIMIT,
    JOB_DEFAULT_MAX_PRIORITY,
    JOB_MIN_PRIORITY,
    TRIGGER_JOB_REGISTER,
)
from sim.structs.job import Job

if TYPE_CHECKING:
    from sim.server.server import Server

DISPATCH_LAUNCH_SUFFIX = "/dispatch-"


@dataclass(slots=True)
class DispatchRequest:
    """Nomad: structs.JobDispatchRequest. `payload` is the decoded bytes."""

    job_id: str
    payload: bytes = b""
    meta: dict[str, str] | None = None
    id_prefix_template: str = ""
    idempotency_token: str = ""
    priority: int = 0


@dataclass(slots=True)
class DispatchResult:
    """Nomad: structs.JobDispatchResponse."""

    dispatched_job_id: str
    eval_id: str = ""
    eval_create_index: int = 0
    job_create_index: int = 0
    index: int = 0


def decode_payload(payload: str | None) -> bytes:
    """A base64 payload as Go's JSON decoder reads a []byte (standard alphabet, padded).

    Raises:
        ValueError: not valid base64 (a 400 over HTTP).
    """
    if not payload:
        return b""
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"illegal base64 data: {exc}") from exc


def dispatched_id(parent_id: str, prefix_template: str, unix_seconds: int, hex8: str) -> str:
    """Nomad: structs.DispatchedID: `<parent>/dispatch-[<prefix>-]<unix>-<8 hex>`."""
    prefix = f"{prefix_template}-" if prefix_template else ""
    return f"{parent_id}{DISPATCH_LAUNCH_SUFFIX}{prefix}{unix_seconds}-{hex8}"


def validate_dispatch_request(req: DispatchRequest, job: Job) -> None:
    """Nomad: validateDispatchRequest: payload requirement and size, then the meta keys."""
    config = job.parameterized_job
    if config is None:
        raise ValidationError("JobID", f'Specified job "{job.id}" is not a parameterized job')
    requirement = config.payload or "optional"
    if requirement == "required" and not req.payload:
        raise ValidationError("Payload", "Payload is not provided but required by parameterized job")
    if requirement == "forbidden" and req.payload:
        raise ValidationError("Payload", "Payload provided but forbidden by parameterized job")
    if len(req.payload) > DISPATCH_PAYLOAD_SIZE_LIMIT:
        raise ValidationError("Payload", f"Payload exceeds maximum size; {len(req.payload)} > {DISPATCH_PAYLOAD_SIZE_LIMIT}")
    meta = req.meta or {}
    required, optional = set(config.meta_required), set(config.meta_optional)
    unpermitted = sorted(k for k in meta if k not in required and k not in optional)
    if unpermitted:
        raise ValidationError("Meta", f"Dispatch request included unpermitted metadata keys: [{' '.join(unpermitted)}]")
    missing = sorted(k for k in required if k not in meta)
    if missing:
        raise ValidationError("Meta", f"Dispatch did not provide required meta keys: [{' '.join(missing)}]")


def _parameterized_parent(server: Server, namespace: str, req: DispatchRequest) -> Job:
    """The parent job, checked as Nomad's Dispatch checks it, in the same order."""
    if not req.job_id:
        raise ValidationError("JobID", "missing parameterized job ID")
    job = server.state.job_by_id(namespace, req.job_id)
    if job is None:
        raise ValidationError("JobID", "parameterized job not found")
    if not job.is_parameterized():
        raise ValidationError("JobID", f'Specified job "{req.job_id}" is not a parameterized job')
    if job.stop:
        raise ValidationError("JobID", f'Specified job "{req.job_id}" is stopped')
    return job


def _existing_child(server: Server, parent: Job, token: str) -> Job | None:
    """A child of `parent` that already carries this idempotency token."""
    if not token:
        return None
    prefix = parent.id + DISPATCH_LAUNCH_SUFFIX
    for job in server.state.jobs(parent.namespace or "default", prefix):
        if job.parent_id == parent.id and job.dispatch_idempotency_token == token:
            return job
    return None


def dispatch(server: Server, namespace: str, req: DispatchRequest) -> DispatchResult:
    """Nomad: Job.Dispatch: create the child job (one write) and, unless periodic, its eval (another).

    Raises:
        ValidationError: any of Nomad's dispatch checks failed (nothing was written).
    """
    parent = _parameterized_parent(server, namespace, req)
    validate_dispatch_request(req, parent)
    priority = req.priority or parent.priority
    if not JOB_MIN_PRIORITY <= priority <= JOB_DEFAULT_MAX_PRIORITY:
        raise ValidationError("Priority", f"dispatch job priority must be between [{JOB_MIN_PRIORITY}, {JOB_DEFAULT_MAX_PRIORITY}]")
    existing = _existing_child(server, parent, req.idempotency_token)
    if existing is not None:
        return DispatchResult(existing.id, job_create_index=existing.create_index, index=existing.modify_index)
    child = _child_job(server, parent, req, priority)
    job_index = server.fsm.write_job(child, [])
    result = DispatchResult(child.id, job_create_index=job_index, index=job_index)
    if not child.is_periodic():
        ev = server.fsm.new_eval(child, TRIGGER_JOB_REGISTER, priority=priority, job_modify_index=job_index)
        result.eval_id = ev.id
        result.eval_create_index = result.index = server.fsm.create_evals([ev])
    return result


def _child_job(server: Server, parent: Job, req: DispatchRequest, priority: int) -> Job:
    """Nomad: the dispatched copy of the parent: new ID, merged meta, the payload, no status."""
    child = copy_job(parent)
    unix = server.clock.unix_seconds()
    child.id = dispatched_id(parent.id, req.id_prefix_template, unix, server.ids.hex8())
    child.parent_id = parent.id
    child.name = child.id
    child.dispatched = True
    child.status = child.status_description = ""
    child.stable = False
    child.priority = priority
    child.dispatch_idempotency_token = req.idempotency_token
    child.meta = {**parent.meta, **(req.meta or {})}
    child.payload = base64.b64encode(req.payload).decode("ascii") if req.payload else ""
    child.submit_time = server.clock.unix_nanos()
    return child
