"""The Jobs API facade: one method per endpoint, Nomad-shaped dicts in and out.

Nomad: command/agent/job_endpoint.go (request parsing, the 400s) over nomad/job_endpoint.go
(the RPCs, whose errors reach HTTP clients as 500s with the message). `JobsApi` is what
`Simulation.api` is and what the HTTP layer serves: every method answers the body Nomad would,
raises ApiError(status, message) as the HTTP layer answers failures, and leaves in `last_index`
the X-Nomad-Index of its answer (a read's table or object index, a write's Index). Every method
takes `namespace` ("default"); `region` is accepted and ignored (one region).
"""

from __future__ import annotations

from typing import Any

from sim.api import encode as E
from sim.api.agent import AgentApi
from sim.api.allocations import AllocsApi
from sim.api.cluster import rpc
from sim.api.requests import body, field, lookup
from sim.api.scale import ScaleApi
from sim.api.search import SearchApi
from sim.client.behavior import check_job_meta
from sim.errors import ApiError, ValidationError
from sim.server import dispatch as D
from sim.server import job_versions
from sim.server.job_plan import plan
from sim.server.jobs import WriteResult
from sim.structs.codec import decode_job, encode_job
from sim.structs.diff.job import job_diff
from sim.structs.job import Job

DEFAULT_NAMESPACE = "default"


def _write_response(r: WriteResult) -> dict[str, Any]:
    """Nomad: structs.JobRegisterResponse as the HTTP layer writes it."""
    return {"EvalID": r.eval_id, "EvalCreateIndex": r.eval_create_index, "JobModifyIndex": r.job_modify_index,
            "Warnings": r.warnings, "Index": r.index, "LastContact": 0, "KnownLeader": False}


class JobsApi(AllocsApi, AgentApi, SearchApi, ScaleApi):
    """Nomad's job endpoints over one simulation (and, through its bases, every other endpoint)."""

    # -- helpers ----------------------------------------------------------------------------

    def _job(self, namespace: str, job_id: str) -> Job | None:
        return self.state.job_by_id(namespace or DEFAULT_NAMESPACE, job_id)

    def _decode(self, job_dict: Any, namespace: str) -> Job:
        """A job from its JSON form; decoder errors are 400s. The request namespace fills a gap."""
        try:
            job = decode_job({"Job": job_dict})
            check_job_meta(job)  # a bad `sim.*` value is the client's 400, not a failed run
        except ValidationError as exc:
            raise ApiError(400, exc.message) from None
        if not job.namespace:
            job.namespace = namespace or DEFAULT_NAMESPACE
        return job

    def _submitted_job(self, payload: Any, job_id: str, namespace: str, struct: str,
                       no_id: str, mismatch: str) -> tuple[dict[str, Any], Job]:
        """The body and the job of a register/plan request, with Nomad's 400s in its order."""
        data = body(payload, struct)
        job_dict = lookup(data, "Job")
        if job_dict is None:
            raise ApiError(400, "Job must be specified")
        job = self._decode(job_dict, namespace)
        if lookup(job_dict, "ID") is None:
            raise ApiError(400, no_id)
        if job_id and job.id != job_id:
            raise ApiError(400, mismatch)
        return data, job

    # -- reads ------------------------------------------------------------------------------

    def list_jobs(self, prefix: str = "", namespace: str = DEFAULT_NAMESPACE, meta: bool = False) -> list[dict[str, Any]]:
        """GET /v1/jobs: list stubs sorted by ID (`namespace="*"` lists every namespace)."""
        state = self.state
        jobs = state.jobs(None if namespace == "*" else namespace or DEFAULT_NAMESPACE, prefix or "")
        self.last_index = max(state.table_index["jobs"], state.table_index["job_summary"])
        return [E.encode_job_stub(j, state.job_summary(*j.ns_id), meta) for j in jobs]

    def read_job(self, job_id: str, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
        """GET /v1/job/:id."""
        job = self._job(namespace, job_id)
        if job is None:
            self.last_index = self.state.table_index["jobs"]
            raise ApiError(404, "job not found")
        self.last_index = job.modify_index
        return E.nomad_job(encode_job(job))

    def job_versions(self, job_id: str, diffs: bool = False, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
        """GET /v1/job/:id/versions: newest first, each diffed against its predecessor if asked."""
        versions = self.state.job_versions(namespace or DEFAULT_NAMESPACE, job_id)
        self.last_index = self.state.table_index["job_version"]
        if not versions:
            raise ApiError(404, "job versions not found")
        encoded = [E.nomad_job(encode_job(v)) for v in versions]
        out_diffs = None
        if diffs:
            out_diffs = [job_diff(encoded[i + 1], encoded[i], True) for i in range(len(encoded) - 1)]
        return {"Versions": encoded, "Diffs": out_diffs, "Index": self.last_index, "KnownLeader": True,
                "LastContact": 0}

    def job_allocations(self, job_id: str, all: bool = False, namespace: str = DEFAULT_NAMESPACE) -> list[dict[str, Any]]:
        """GET /v1/job/:id/allocations; without `all` only allocs of the current job instance."""
        allocs = self.state.allocs_by_job(namespace or DEFAULT_NAMESPACE, job_id)
        job = self._job(namespace, job_id)
        if not all and job is not None:
            allocs = [a for a in allocs if a.job.create_index == job.create_index]
        self.last_index = self.state.table_index["allocs"]
        return [E.encode_alloc_stub(a, self.nanos) for a in allocs]

    def job_evaluations(self, job_id: str, namespace: str = DEFAULT_NAMESPACE) -> list[dict[str, Any]]:
        """GET /v1/job/:id/evaluations."""
        evals = self.state.evals_by_job(namespace or DEFAULT_NAMESPACE, job_id)
        self.last_index = self.state.table_index["evals"]
        return [E.encode_eval(ev, self.nanos) for ev in evals]

    def job_deployments(self, job_id: str, all: bool = False, namespace: str = DEFAULT_NAMESPACE) -> list[dict[str, Any]]:
        """GET /v1/job/:id/deployments, newest first."""
        deployments = self.state.deployments_by_job(namespace or DEFAULT_NAMESPACE, job_id)
        job = self._job(namespace, job_id)
        if not all and job is not None:
            deployments = [d for d in deployments if d.job_create_index == job.create_index]
        self.last_index = self.state.table_index["deployment"]
        return [E.encode_deployment(d, self.nanos) for d in deployments]

    def job_deployment(self, job_id: str, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any] | None:
        """GET /v1/job/:id/deployment: the latest deployment, or None (a JSON null)."""
        dep = self.state.latest_deployment(namespace or DEFAULT_NAMESPACE, job_id)
        self.last_index = self.state.table_index["deployment"]
        return None if dep is None else E.encode_deployment(dep, self.nanos)

    def job_summary(self, job_id: str, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
        """GET /v1/job/:id/summary."""
        summary = self.state.job_summary(namespace or DEFAULT_NAMESPACE, job_id)
        if summary is None:
            self.last_index = self.state.table_index["job_summary"]
            raise ApiError(404, "job not found")
        self.last_index = summary.modify_index
        return E.encode_summary(summary)

    # -- writes -----------------------------------------------------------------------------

    def register_job(self, payload: Any, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
        """POST /v1/jobs."""
        return self.update_job("", payload, namespace)

    def update_job(self, job_id: str, payload: Any, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
        """POST /v1/job/:id: register with EnforceIndex/JobModifyIndex check-and-set."""
        data, job = self._submitted_job(payload, job_id, namespace, "JobRegisterRequest",
                                        "Job ID hasn't been provided", "Job ID does not match name")
        struct = "JobRegisterRequest"
        enforce = field(data, "EnforceIndex", bool, struct, False)
        index = field(data, "JobModifyIndex", int, struct, 0)
        eval_priority = field(data, "EvalPriority", int, struct, 0, "int")
        if field(data, "PreserveCounts", bool, struct, False):
            self._preserve_counts(job)
        result = rpc(self.server.jobs.register, job, enforce=enforce, job_modify_index=index,
                     eval_priority=eval_priority)
        self.last_index = result.index
        return _write_response(result)

    def _preserve_counts(self, job: Job) -> None:
        """Nomad: PreserveCounts: groups that exist keep their current count."""
        existing = self._job(job.namespace, job.id)
        if existing is None:
            return
        for tg in job.task_groups:
            old = existing.lookup_task_group(tg.name)
            if old is not None:
                tg.count = old.count

    def deregister_job(self, job_id: str, purge: bool = False, namespace: str = DEFAULT_NAMESPACE,
                       eval_priority: int = 0) -> dict[str, Any]:
        """DELETE /v1/job/:id (`purge` deletes the job and its versions)."""
        r = rpc(self.server.jobs.deregister, namespace or DEFAULT_NAMESPACE, job_id, purge=purge,
                eval_priority=eval_priority)
        self.last_index = r.index
        return {"EvalID": r.eval_id, "EvalCreateIndex": r.eval_create_index, "JobModifyIndex": r.job_modify_index,
                "Index": r.index}

    def evaluate_job(self, job_id: str, payload: Any = None, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
        """POST /v1/job/:id/evaluate (optionally EvalOptions.ForceReschedule)."""
        struct = "JobEvaluateRequest"
        data = body(payload, struct)
        body_id = field(data, "JobID", str, struct, "")
        if body_id and body_id != job_id:
            raise ApiError(400, "JobID not same as job name")
        options = body(lookup(data, "EvalOptions"), "EvalOptions")
        force = field(options, "ForceReschedule", bool, f"{struct}.EvalOptions", False)
        r = rpc(self.server.jobs.evaluate, namespace or DEFAULT_NAMESPACE, job_id, force_reschedule=force)
        self.last_index = r.index
        return {"EvalID": r.eval_id, "EvalCreateIndex": r.eval_create_index, "JobModifyIndex": r.job_modify_index,
                "Warnings": "", "Index": r.index}

    def dispatch_job(self, job_id: str, payload: Any = None, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
        """POST /v1/job/:id/dispatch: a child of a parameterized job."""
        struct = "JobDispatchRequest"
        data = body(payload, struct)
        body_id = field(data, "JobID", str, struct, "")
        if body_id and body_id != job_id:
            raise ApiError(400, "Job ID does not match")
        try:
            raw = D.decode_payload(field(data, "Payload", str, struct, "", "[]uint8"))
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        req = D.DispatchRequest(
            job_id=body_id or job_id, payload=raw, meta=field(data, "Meta", dict, struct, None),
            id_prefix_template=field(data, "IdPrefixTemplate", str, struct, ""),
            idempotency_token=field(data, "IdempotencyToken", str, struct, "")
            or field(data, "idempotency_token", str, struct, ""),
            priority=field(data, "Priority", int, struct, 0, "int"))
        r = rpc(D.dispatch, self.server, namespace or DEFAULT_NAMESPACE, req)
        self.last_index = r.index
        return {"DispatchedJobID": r.dispatched_job_id, "EvalID": r.eval_id, "EvalCreateIndex": r.eval_create_index,
                "JobCreateIndex": r.job_create_index, "Index": r.index}

    def _versioned(self, job_id: str, payload: Any, struct: str) -> dict[str, Any]:
        """The body of a revert/stable request with Nomad's JobID checks."""
        data = body(payload, struct)
        body_id = field(data, "JobID", str, struct, "")
        if not body_id:
            raise ApiError(400, "JobID must be specified")
        if body_id != job_id:
            raise ApiError(400, "Job ID does not match")
        return data

    def revert_job(self, job_id: str, payload: Any, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
        """POST /v1/job/:id/revert (EnforcePriorVersion is a check-and-set on the current version)."""
        struct = "JobRevertRequest"
        data = self._versioned(job_id, payload, struct)
        version = field(data, "JobVersion", int, struct, 0)
        prior = field(data, "EnforcePriorVersion", int, struct, None, "*uint64")
        r = rpc(job_versions.revert, self.server, namespace or DEFAULT_NAMESPACE, job_id, version, prior)
        self.last_index = r.index
        return _write_response(r)

    def stable_job(self, job_id: str, payload: Any, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
        """POST /v1/job/:id/stable."""
        struct = "JobStabilityRequest"
        data = self._versioned(job_id, payload, struct)
        version = field(data, "JobVersion", int, struct, 0)
        stable = field(data, "Stable", bool, struct, False)
        index = rpc(job_versions.set_stability, self.server, namespace or DEFAULT_NAMESPACE, job_id, version, stable)
        self.last_index = index
        return {"Index": index, "JobModifyIndex": index}

    def plan_job(self, job_id: str, payload: Any, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
        """POST /v1/job/:id/plan: a dry run of the scheduler; nothing is written."""
        data, job = self._submitted_job(payload, job_id, namespace, "JobPlanRequest",
                                        "Job must have a valid ID", "Job ID does not match")
        want_diff = field(data, "Diff", bool, "JobPlanRequest", False)
        out = rpc(plan, self.server, job, self.sim.rngs["api"], want_diff)
        self.last_index = out.job_modify_index
        launch = E.ZERO_TIME if out.next_periodic_launch is None else E.rfc3339(int(round(out.next_periodic_launch * 1e9)))
        return {
            "Annotations": E.encode_plan_annotations(out.annotations, [
                E.encode_alloc_stub(self.state.alloc_by_id(a.id) or a, self.nanos) for a in out.preempted_allocs]),
            "FailedTGAllocs": {tg: E.encode_metric(m) for tg, m in sorted(out.failed_tg_allocs.items())},
            "JobModifyIndex": out.job_modify_index,
            "CreatedEvals": [E.encode_eval(ev, self.nanos) for ev in out.created_evals],
            "Diff": out.diff, "NextPeriodicLaunch": launch, "Warnings": out.warnings,
            "Index": out.job_modify_index,
        }

    def force_periodic(self, job_id: str, namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
        """POST /v1/job/:id/periodic/force: launch a periodic job's child now.

        Nomad: nomad/periodic_endpoint.go, Periodic.Force (the server's periodic dispatcher).
        """
        ev = rpc(self.server.periodic.force_run, namespace or DEFAULT_NAMESPACE, job_id)
        self.last_index = ev.create_index
        return {"EvalID": ev.id, "EvalCreateIndex": ev.create_index, "Index": ev.create_index}
