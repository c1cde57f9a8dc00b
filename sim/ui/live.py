"""The page's data from a running simulation: nodes as columns, table pages, a job, the charts.

Each read names the state tables it depends on (`TABLES`), so the web layer answers it as a Nomad
blocking query: `?index=N` waits until one of those tables moves past N. Reads run under the
simulation lock and never write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.errors import ApiError
from sim.structs.consts import NODE_INELIGIBLE, NODE_STATUS_READY
from sim.ui import rows as R
from sim.ui.series import latency_by_sample, series

if TYPE_CHECKING:
    from sim.structs.alloc import Allocation
    from sim.structs.job import Job
    from sim.structs.node import Node
    from sim.world import World

# The state tables each read depends on (what its blocking query waits for).
TABLES: dict[str, frozenset[str]] = {
    "nodes": frozenset({"nodes", "allocs"}),  # usage moves with allocs
    "node": frozenset({"nodes", "allocs"}),
    "jobs": frozenset({"jobs", "job_summary"}),
    "allocations": frozenset({"allocs"}),
    "evaluations": frozenset({"evals"}),
    "deployments": frozenset({"deployment"}),
    "job": frozenset({"jobs", "job_version", "job_summary", "allocs", "deployment"}),
}




def node_state(node: Node) -> str:
    """One word for a node's cell: its status unless ready, then draining or ineligible or ready."""
    if node.status != NODE_STATUS_READY:
        return node.status
    if node.drain:
        return "draining"
    return "ineligible" if node.scheduling_eligibility == NODE_INELIGIBLE else "ready"


def alloc_row(a: Allocation) -> tuple:
    """An allocation in R.COLUMNS["allocations"] order."""
    return (a.id, a.name, a.job_id, a.task_group, a.node_id, a.node_name, a.client_status, a.desired_status,
            a.is_canary(), round(a.modify_time, 3))


ALLOC_GETTERS: dict[str, Callable[[Any], Any]] = {column: attrgetter(attr) for column, attr in (
    ("ID", "id"), ("Name", "name"), ("JobID", "job_id"), ("TaskGroup", "task_group"), ("NodeID", "node_id"),
    ("NodeName", "node_name"), ("ClientStatus", "client_status"))}
_alloc_text = attrgetter("id", "name", "job_id", "node_name", "task_group")
ALLOC_GETTERS["text"] = lambda a: "\n".join(_alloc_text(a)).lower()


class LiveSource:
    """Reads of one running World for the page."""

    def __init__(self, world: World):
        self.world = world

    @property
    def state(self) -> Any:
        return self.world.state

    def index(self, read: str) -> int:
        """The index a read answers with: the highest of its tables' indexes."""
        return max(self.state.table_index[t] for t in TABLES[read])

    def seconds(self, nanos: int) -> float:
        """Unix nanoseconds (SubmitTime) as simulated seconds."""
        return round((nanos - self.world.server.unix_nanos(0.0)) / 1e9, 3)

    # -- reads ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What the header shows: the run, the time and whether the page may act."""
        return {"Name": self.world.scenario.name, "Time": self.world.now, "ReadOnly": False,
                "Start": 0.0, "End": self.world.now, "Nodes": len(self.state.nodes)}

    def nodes(self, have: str | None = None) -> dict[str, Any]:
        """Every node: state and allocated CPU and memory (and, unless the page `have`s them, the static columns)."""
        table = self.state.nodes
        nodes = table.nodes

        def static() -> dict[str, list[Any]]:
            return {"ID": [n.id for n in nodes], "Name": [n.name for n in nodes],
                    "Datacenter": [n.datacenter for n in nodes], "NodePool": [n.node_pool for n in nodes],
                    "NodeClass": [n.node_class for n in nodes], "CpuTotal": table.cap[:, 0].round().tolist(),
                    "MemoryTotal": table.cap[:, 1].round().tolist()}
        key = f"{len(nodes)}.{table.version}"  # the version moves with any node's properties or status
        return R.nodes_answer(static, key, [node_state(n) for n in nodes], table.used[:, 0].tolist(),
                              table.used[:, 1].tolist(), have)

    def node(self, node_id: str) -> dict[str, Any]:
        """One node and its allocations."""
        node = self.state.node_by_id(node_id)
        if node is None:
            raise ApiError(404, "node not found")
        allocs = self.state.allocs_by_node(node_id)  # in creation order
        return {"ID": node.id, "Name": node.name, "Datacenter": node.datacenter, "NodePool": node.node_pool,
                "NodeClass": node.node_class, "Status": node.status, "Drain": node.drain,
                "SchedulingEligibility": node.scheduling_eligibility, "State": node_state(node),
                "Allocations": {"Columns": list(R.COLUMNS["allocations"]),
                                "Rows": [list(alloc_row(a)) for a in allocs]}}

    def table(self, name: str, query: Mapping[str, str]) -> dict[str, Any]:
        """One page of a table (jobs, allocations, evaluations, deployments)."""
        if name == "allocations":  # filtered on the objects (through an index when it can): only the page's become rows
            allocs = (self.state.allocs_by_node(query["node"]) if query.get("node") else
                      self.state.allocs_by_job(query.get("namespace") or "default", query["job"]) if query.get("job")
                      else self.state.allocs())
            return R.page(name, allocs, query, ALLOC_GETTERS, alloc_row)
        return R.page(name, list(getattr(self, f"_{name}")()), query, R.tuple_getters(name))

    def _jobs(self) -> Iterator[tuple]:
        for job in self.state.jobs(None):
            summary = self.state.job_summary(job.namespace, job.id)
            groups = summary.summary.values() if summary is not None else ()
            yield (job.id, job.type, job.priority, job.status, self.seconds(job.submit_time), job.version,
                   sum(g.running for g in groups), sum(g.queued for g in groups), sum(g.failed for g in groups))

    def _evaluations(self) -> Iterator[tuple]:
        timing = self.world.recorder.eval_timings()
        for ev in self.state.evals():
            latency = timing.get(ev.id, (0.0, float("nan")))[1]
            yield (ev.id, ev.job_id, ev.type, ev.triggered_by, ev.priority, ev.status, round(ev.create_time, 3),
                   None if latency != latency else round(latency, 6))

    def _deployments(self) -> Iterator[tuple]:
        for d in self.state.deployments():
            groups = d.task_groups.values()
            yield (d.id, d.job_id, d.job_version, d.status, d.status_description,
                   f"{sum(len(g.placed_canaries) for g in groups)}/{sum(g.desired_canaries for g in groups)}",
                   f"{sum(g.healthy_allocs for g in groups)}/{sum(g.desired_total for g in groups)}",
                   all(g.promoted for g in groups) if any(g.desired_canaries for g in groups) else None,
                   round(d.create_time, 3))

    def job(self, job_id: str, namespace: str = "default") -> dict[str, Any]:
        """A job page: versions, summary per group, allocations per group, deployments and their timeline."""
        job = self.state.job_by_id(namespace, job_id)
        if job is None:
            raise ApiError(404, "job not found")
        summary = self.state.job_summary(namespace, job_id)
        groups = {name: {"Queued": g.queued, "Starting": g.starting, "Running": g.running, "Complete": g.complete,
                         "Failed": g.failed, "Lost": g.lost} for name, g in sorted((summary.summary if summary else {}).items())}
        allocs = self.state.allocs_by_job(namespace, job_id)  # in creation order
        log = [r for r in self.state.deployment_log if r[2] == job_id]
        return {"ID": job.id, "Type": job.type, "Status": job.status, "Priority": job.priority,
                "Version": job.version, "Stop": job.stop,
                "Versions": [self._version(v) for v in self.state.job_versions(namespace, job_id)],
                "Summary": groups, "TaskGroups": [g.name for g in job.task_groups],
                "Allocations": {"Columns": list(R.COLUMNS["allocations"]), "Rows": [list(alloc_row(a)) for a in allocs]},
                "Deployments": {"Columns": list(R.COLUMNS["deployments"]),
                                "Rows": [list(r) for r in self._deployments() if r[1] == job_id]},
                "Timeline": [{"Time": round(t, 3), "DeploymentID": dep, "JobVersion": ver, "Status": status,
                              "Description": desc} for t, dep, _, ver, status, desc in log]}

    def _version(self, v: Job) -> dict[str, Any]:
        return {"Version": v.version, "Stable": v.stable, "SubmitTime": self.seconds(v.submit_time),
                "Groups": {g.name: g.count for g in v.task_groups}}

    def series(self, since: float) -> dict[str, Any]:
        """The charts' points after `since`, from the recorder's samples so far."""
        rec = self.world.recorder
        times, used, cap, counters = rec.samples_so_far()
        evals = np.array(list(rec.eval_timings().values()), dtype=float).reshape(-1, 2)
        mean, peak = latency_by_sample(times, evals[:, 0], evals[:, 1])
        with np.errstate(invalid="ignore", divide="ignore"):
            cols = {"Time": times, "CpuUtilisation": used[:, 0] / cap[0], "MemoryUtilisation": used[:, 1] / cap[1],
                    "PendingEvals": counters[:, 0], "BlockedEvals": counters[:, 1],
                    "LatencyMean": mean, "LatencyMax": peak}
        return series(cols, since)
