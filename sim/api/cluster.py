"""The endpoints beyond the jobs page: evaluations, allocations, deployments, nodes, job parsing.

Nomad: command/agent/{eval,alloc,deployment,node}_endpoint.go and job_endpoint.go jobsParse,
over nomad/{deployment,node}_endpoint.go. `ClusterApi` is the base of `JobsApi` and holds what
both need: the simulation, its server and state, the time conversion and `last_index`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim.api import encode as E
from sim.api.operator import decode_scheduler_config, encode_scheduler_config
from sim.api.requests import body, field, lookup
from sim.errors import ApiError, ScenarioError, ValidationError
from sim.scenario.load import load_node_group
from sim.structs.canonicalize import canonicalize
from sim.structs.codec import decode_job, encode_job
from sim.structs.consts import NODE_ELIGIBLE, NODE_INELIGIBLE
from sim.structs.deployment import Deployment
from sim.structs.evaluation import Evaluation
from sim.structs.hcl import parse_job_hcl

if TYPE_CHECKING:
    from sim.server.server import Server
    from sim.state.store import StateStore
    from sim.world import World

_TERMINAL_DEPLOYMENT = {"promote": "can't promote terminal deployment", "fail": "can't fail terminal deployment",
                        "pause": "can't pause terminal deployment", "resume": "can't resume terminal deployment",
                        "set health of": "can't set health of allocations for a terminal deployment"}


def rpc(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run server logic; its validation errors become Nomad's RPC-error 500s."""
    try:
        return fn(*args, **kwargs)
    except ValidationError as exc:
        raise ApiError(500, exc.message) from None


class ClusterApi:
    """Evaluations, allocations, deployments and nodes of one simulation."""

    def __init__(self, simulation: World):
        self.sim = simulation
        self.last_index = 0

    @property
    def server(self) -> Server:
        """The simulation's server."""
        return self.sim.server

    @property
    def state(self) -> StateStore:
        """The simulation's state store."""
        return self.sim.state

    def nanos(self, t: float) -> int:
        """Simulated seconds as Unix nanoseconds."""
        return self.sim.server.unix_nanos(t)

    def _found(self, obj: Any, table: str, what: str) -> Any:
        """The object, setting `last_index` to its ModifyIndex; a 404 `<what> not found` if None."""
        if obj is None:
            self.last_index = self.state.table_index[table]
            raise ApiError(404, f"{what} not found")
        self.last_index = obj.modify_index
        return obj

    # -- operator: scheduler configuration -----------------------------------------------------

    def scheduler_configuration(self, namespace: str = "default") -> dict[str, Any]:
        """GET /v1/operator/scheduler/configuration (Nomad: SchedulerConfigurationResponse)."""
        index = self.last_index = self.state.table_index["scheduler_config"]
        return {"SchedulerConfig": encode_scheduler_config(self.state.scheduler_config), "Index": index,
                "LastContact": 0, "KnownLeader": True, "NextToken": ""}

    def update_scheduler_configuration(self, payload: Any, cas: int | None = None,
                                       namespace: str = "default") -> dict[str, Any]:
        """PUT /v1/operator/scheduler/configuration (`cas`: check-and-set on ModifyIndex); the
        scheduler workers use it from their next pass. Nomad: SchedulerSetConfigurationResponse."""
        config = decode_scheduler_config(payload)
        updated, index = self.state.set_scheduler_config(config, cas)
        self.last_index = index
        return {"Updated": updated, "Index": index}

    # -- evaluations and allocations ---------------------------------------------------------

    def read_evaluation(self, eval_id: str, namespace: str = "default") -> dict[str, Any]:
        """GET /v1/evaluation/:id."""
        ev = self._found(self.state.eval_by_id(eval_id), "evals", "eval")
        return E.encode_eval(ev, self.nanos)

    def read_allocation(self, alloc_id: str, namespace: str = "default") -> dict[str, Any]:
        """GET /v1/allocation/:id."""
        alloc = self._found(self.state.alloc_by_id(alloc_id), "allocs", "alloc")
        return E.encode_alloc(alloc, self.nanos, lambda job: E.nomad_job(encode_job(job)))

    # -- deployments -------------------------------------------------------------------------

    def read_deployment(self, deployment_id: str, namespace: str = "default") -> dict[str, Any]:
        """GET /v1/deployment/:id."""
        dep = self._found(self.state.deployment_by_id(deployment_id), "deployment", "deployment")
        return E.encode_deployment(dep, self.nanos)

    def list_deployments(self, prefix: str = "", namespace: str = "default") -> list[dict[str, Any]]:
        """GET /v1/deployments (sorted by ID; `namespace="*"` for all)."""
        deps = [d for d in self.state.deployments() if d.id.startswith(prefix or "")
                and (namespace == "*" or d.namespace == (namespace or "default"))]
        self.last_index = self.state.table_index["deployment"]
        return [E.encode_deployment(d, self.nanos) for d in sorted(deps, key=lambda d: d.id)]

    def _active_deployment(self, deployment_id: str, op: str) -> Deployment:
        """The deployment `op` acts on; Nomad's 500s when it is missing or terminal."""
        dep = self.state.deployment_by_id(deployment_id)
        if dep is None:
            raise ApiError(500, "deployment not found")
        if not dep.active():
            raise ApiError(500, _TERMINAL_DEPLOYMENT[op])
        return dep

    def _deployment_update(self, dep: Deployment, index: int) -> dict[str, Any]:
        """Nomad: structs.DeploymentUpdateResponse (the eval the change created, if any yet)."""
        evals = [e for e in self.state.evals_by_job(dep.namespace, dep.job_id) if e.create_index >= index]
        ev = evals[-1] if evals else None
        self.last_index = index
        return {"EvalID": ev.id if ev else "", "EvalCreateIndex": ev.create_index if ev else 0,
                "DeploymentModifyIndex": dep.modify_index,
                "RevertedJobVersion": self.server.deployment_watcher.reverted_versions.get(dep.id),
                "Index": index}

    def promote_deployment(self, deployment_id: str, payload: Any = None, namespace: str = "default") -> dict[str, Any]:
        """POST /v1/deployment/promote/:id with {All} or {Groups}."""
        struct = "DeploymentPromoteRequest"
        data = body(payload, struct)
        groups = field(data, "Groups", list, struct, None)
        if not field(data, "All", bool, struct, False) and not groups:
            groups = None
        dep = self._active_deployment(deployment_id, "promote")
        index = rpc(self.server.deployment_watcher.promote, dep.id, groups)
        return self._deployment_update(dep, index)

    def fail_deployment(self, deployment_id: str, namespace: str = "default") -> dict[str, Any]:
        """POST /v1/deployment/fail/:id (rolls back if the groups auto-revert)."""
        dep = self._active_deployment(deployment_id, "fail")
        index = rpc(self.server.deployment_watcher.fail, dep.id)
        return self._deployment_update(dep, index)

    def pause_deployment(self, deployment_id: str, payload: Any = None, namespace: str = "default") -> dict[str, Any]:
        """POST /v1/deployment/pause/:id with {Pause: bool}."""
        data = body(payload, "DeploymentPauseRequest")
        pause = field(data, "Pause", bool, "DeploymentPauseRequest", False)
        dep = self._active_deployment(deployment_id, "pause" if pause else "resume")
        index = rpc(self.server.deployment_watcher.pause, dep.id, pause)
        return self._deployment_update(dep, index)

    def set_alloc_health(self, deployment_id: str, payload: Any = None, namespace: str = "default") -> dict[str, Any]:
        """POST /v1/deployment/allocation-health/:id with {HealthyAllocationIDs, UnhealthyAllocationIDs}."""
        struct = "DeploymentAllocHealthRequest"
        data = body(payload, struct)
        healthy = field(data, "HealthyAllocationIDs", list, struct, None) or []
        unhealthy = field(data, "UnhealthyAllocationIDs", list, struct, None) or []
        dep = self._active_deployment(deployment_id, "set health of")
        index = rpc(self.server.deployment_watcher.set_alloc_health, dep.id, healthy, unhealthy)
        return self._deployment_update(dep, index)

    # -- nodes -------------------------------------------------------------------------------

    def list_nodes(self, prefix: str = "", namespace: str = "default", resources: bool = False) -> list[dict[str, Any]]:
        """GET /v1/nodes (sorted by ID)."""
        nodes = sorted((n for n in self.state.nodes.live() if n.id.startswith(prefix or "")), key=lambda n: n.id)
        self.last_index = self.state.table_index["nodes"]
        return [E.encode_node_stub(n, self.nanos, resources) for n in nodes]

    def read_node(self, node_id: str, namespace: str = "default") -> dict[str, Any]:
        """GET /v1/node/:id."""
        node = self._found(self.state.node_by_id(node_id), "nodes", "node")
        return E.encode_node(node, self.nanos)


    def purge_node(self, node_id: str, payload: Any = None, namespace: str = "default") -> dict[str, Any]:
        """PUT/POST /v1/node/:id/purge: Nomad's Node.Deregister. The node leaves the cluster for
        good (its client stops too: a purged Nomad client that is still alive would re-register)."""
        evals = rpc(self.sim.remove_nodes, [node_id], "api")
        self.last_index = self.state.index
        return {"EvalIDs": [e.id for e in evals] or None,
                "EvalCreateIndex": min((e.create_index for e in evals), default=0),
                "NodeModifyIndex": self.state.table_index["nodes"], "Index": self.last_index}

    def add_nodes(self, payload: Any = None, namespace: str = "default") -> dict[str, Any]:
        """POST /v1/sim/nodes: a node group in the scenario's form (as `add_nodes` takes it) joins
        now, registered ready; its nodes are numbered on after those of its name prefix."""
        next_index: dict[str, int] = {}
        for node in self.state.nodes.nodes:  # removed nodes too: names stay unique
            prefix, _, number = node.name.rpartition("-")
            if number.isdigit():
                next_index[prefix] = max(next_index.get(prefix, 0), int(number) + 1)
        try:
            group = load_node_group(payload, next_index)
        except ScenarioError as exc:
            raise ApiError(400, str(exc)) from None
        nodes = self.sim.add_nodes(group, "api")
        self.last_index = self.state.index
        return {"NodeIDs": [n.id for n in nodes], "Names": [n.name for n in nodes], "Index": self.last_index}

    def _node_update(self, node_id: str, evals: list[Evaluation]) -> dict[str, Any]:
        """Nomad: NodeDrainUpdateResponse / NodeEligibilityUpdateResponse."""
        node = self.state.node_by_id(node_id)
        if node is None:  # the update itself found the node: only a bug gets here
            raise ApiError(404, "node not found")
        self.last_index = max([node.modify_index, *(e.create_index for e in evals)])
        return {"EvalIDs": [e.id for e in evals] or None,
                "EvalCreateIndex": max((e.create_index for e in evals), default=0),
                "NodeModifyIndex": node.modify_index, "Index": self.last_index}

    def drain_node(self, node_id: str, payload: Any = None, namespace: str = "default") -> dict[str, Any]:
        """POST /v1/node/:id/drain: {DrainSpec: {Deadline ns, IgnoreSystemJobs} | null, MarkEligible, Meta}."""
        struct = "NodeUpdateDrainRequest"
        data = body(payload, struct)
        spec = lookup(data, "DrainSpec")
        if spec is not None and not isinstance(spec, dict):
            body(spec, "DrainSpec")
        mark = field(data, "MarkEligible", bool, struct, False)
        meta = field(data, "Meta", dict, struct, None, "map[string]string")
        deadline, ignore_system = None, False
        if spec is not None:
            deadline = field(spec, "Deadline", int, "DrainSpec", 0, "time.Duration") / 1e9
            ignore_system = field(spec, "IgnoreSystemJobs", bool, "DrainSpec", False)
        evals = rpc(self.server.node_endpoint.set_drain, node_id, spec is not None, deadline, mark, ignore_system, meta)
        return self._node_update(node_id, evals)

    def node_eligibility(self, node_id: str, payload: Any = None, namespace: str = "default") -> dict[str, Any]:
        """POST /v1/node/:id/eligibility: {Eligibility: "eligible" | "ineligible"}."""
        struct = "NodeUpdateEligibilityRequest"
        value = field(body(payload, struct), "Eligibility", str, struct, "")
        if value not in (NODE_ELIGIBLE, NODE_INELIGIBLE):
            raise ApiError(500, f'invalid scheduling eligibility "{value}"')
        evals = rpc(self.server.node_endpoint.set_eligibility, node_id, value == NODE_ELIGIBLE)
        return self._node_update(node_id, evals)

    # -- job parsing -------------------------------------------------------------------------

    def parse_job(self, payload: Any, namespace: str = "default") -> dict[str, Any]:
        """POST /v1/jobs/parse: {JobHCL, Canonicalize} -> the job in Nomad's JSON form."""
        struct = "JobsParseRequest"
        data = body(payload, struct)
        text = field(data, "JobHCL", str, struct, "")
        if not text:
            raise ApiError(400, "Job spec is empty")
        try:
            job_dict = parse_job_hcl(text)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        if not field(data, "Canonicalize", bool, struct, False):
            return job_dict
        try:
            job = decode_job(job_dict)
        except ValidationError as exc:
            raise ApiError(400, exc.message) from None
        canonicalize(job)
        return E.nomad_job(encode_job(job))
