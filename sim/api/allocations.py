"""Listing allocations and evaluations, the allocations of an eval, deployment or node, and alloc stop.

Nomad: command/agent/{alloc,eval,deployment,node}_endpoint.go over nomad/{alloc,eval}_endpoint.go
(Alloc.List, Eval.List, Eval.Allocations, Deployment.Allocations, Node.GetAllocs, Alloc.Stop).
Lists without `prefix` are ordered by (CreateIndex, ID), with a prefix by ID, as Nomad's memdb
indexes iterate; `filter` is a go-bexpr expression over each listed object's JSON form.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sim.api import encode as E
from sim.api.bexpr import FilterError, compile_filter
from sim.api.cluster import ClusterApi
from sim.errors import ApiError
from sim.structs.alloc import Allocation
from sim.structs.codec import encode_job
from sim.structs.consts import TRIGGER_ALLOC_STOP
from sim.structs.evaluation import Evaluation
from sim.structs.job import Job

T = TypeVar("T", Allocation, Evaluation)


def _ordered(items: Iterable[T], prefix: str, namespace: str) -> list[T]:
    """Nomad's list order: by ID under a prefix, else by (CreateIndex, ID); `*` is every namespace."""
    chosen = [i for i in items if i.id.startswith(prefix) and (namespace == "*" or i.namespace == namespace)]
    return sorted(chosen, key=(lambda i: i.id) if prefix else (lambda i: (i.create_index, i.id)))


def filtered(objects: list[dict[str, Any]], expression: str) -> list[dict[str, Any]]:
    """The objects a go-bexpr `filter` keeps (Nomad's paginator messages on a bad expression)."""
    if not expression:
        return objects
    try:
        keep = compile_filter(expression)
    except FilterError as exc:
        raise ApiError(400, f"failed to create result paginator: failed to read filter expression: {exc}") from None
    try:
        return [o for o in objects if keep(o)]
    except FilterError as exc:
        raise ApiError(400, f"failed to read result page: {exc}") from None


class AllocsApi(ClusterApi):
    """Allocation and evaluation lists, and stopping an allocation."""

    def _stubs(self, allocs: Iterable[Allocation], task_states: bool = True,
               resources: bool = False) -> list[dict[str, Any]]:
        out = []
        for a in allocs:
            stub = E.encode_alloc_stub(a, self.nanos)
            if not task_states:
                stub["TaskStates"] = None
            if resources:
                stub["AllocatedResources"] = E.allocated_resources(a)
            out.append(stub)
        return out

    def list_allocations(self, prefix: str = "", namespace: str = "default", task_states: bool = True,
                         resources: bool = False, filter: str = "") -> list[dict[str, Any]]:
        """GET /v1/allocations (`?prefix=`, `?namespace=*`, `?task_states=`, `?resources=`, `?filter=`)."""
        self.last_index = self.state.table_index["allocs"]
        allocs = _ordered(self.state.allocs(), prefix, namespace or "default")
        return filtered(self._stubs(allocs, task_states, resources), filter)

    def list_evaluations(self, prefix: str = "", namespace: str = "default", job: str = "", status: str = "",
                         filter: str = "") -> list[dict[str, Any]]:
        """GET /v1/evaluations (`?prefix=`, `?job=`, `?status=`, `?filter=`; filter excludes the other two)."""
        if filter and (job or status):
            raise ApiError(500, "Filter expression cannot be used with other filter parameters")
        self.last_index = self.state.table_index["evals"]
        evals = [e for e in _ordered(self.state.evals(), prefix, namespace or "default")
                 if (not job or e.job_id == job) and (not status or e.status == status)]
        return filtered([E.encode_eval(e, self.nanos) for e in evals], filter)

    def eval_allocations(self, eval_id: str, namespace: str = "default") -> list[dict[str, Any]]:
        """GET /v1/evaluation/:id/allocations: the allocs the eval placed or updated."""
        self.last_index = self.state.table_index["allocs"]
        return self._stubs(a for a in self.state.allocs() if a.eval_id == eval_id)

    def deployment_allocations(self, deployment_id: str, namespace: str = "default") -> list[dict[str, Any]]:
        """GET /v1/deployment/allocations/:id."""
        self.last_index = self.state.table_index["allocs"]
        return self._stubs(a for a in self.state.allocs() if a.deployment_id == deployment_id)

    def node_allocations(self, node_id: str, namespace: str = "default") -> list[dict[str, Any]]:
        """GET /v1/node/:id/allocations: full allocations (Nomad: Node.GetAllocs); 404 for an unknown node."""
        self.last_index = self.state.table_index["allocs"]
        if self.state.node_by_id(node_id) is None:
            raise ApiError(404, "node not found")
        return [E.encode_alloc(a, self.nanos, self._alloc_job) for a in self.state.allocs_by_node(node_id)]

    @staticmethod
    def _alloc_job(job: Job) -> dict[str, Any]:
        return E.nomad_job(encode_job(job))

    def stop_allocation(self, alloc_id: str, namespace: str = "default", no_shutdown_delay: bool = False) -> dict[str, Any]:
        """POST /v1/allocation/:id/stop: mark the alloc to migrate and create an alloc-stop eval.

        Nomad: Alloc.Stop (one AllocUpdateDesiredTransition write carries the mark and the eval).
        """
        alloc = self.state.alloc_by_id(alloc_id)
        if alloc is None:
            raise ApiError(404, "allocation not found")
        fsm = self.server.fsm
        ev = fsm.new_eval(alloc.job, TRIGGER_ALLOC_STOP)
        index = self.state.update_alloc_desired_transition([alloc], evals=[ev], migrate=True)
        fsm.enqueue_created(ev)
        self.last_index = index
        return {"EvalID": ev.id, "Index": index}
