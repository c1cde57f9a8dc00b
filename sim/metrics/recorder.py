"""Metrics: append-only typed rows with a documented schema, turned into pandas DataFrames.

Every observation the simulation makes is a row in one of the tables of `SCHEMA`. Rows are plain
tuples appended in event order (cheap in the hot loop), so every event table is sorted by time.
Node usage is sampled as whole numpy columns; the `cluster` series and the `*_used` columns are
derived when the tables are built (sim.metrics.series), from the same rows, so the tables stay
consistent with each other. `Recorder.tables()` builds the DataFrames with the documented column
types: the same run always gives the same bytes.

Tables built after a run from the final state live next to their inputs: `jobs` and `children`
(sim.results.tables), `dags` (sim.workload.dags), `nodes` (sim.scenario.topology), `deployments`
(sim.metrics.deployments). `TABLES` lists every results table with its one-line meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sim.state.node_table import NodeTable
    from sim.structs.alloc import Allocation
    from sim.structs.evaluation import Evaluation
    from sim.structs.job import Job

NAN = float("nan")

# table -> [(column, dtype, meaning)]
SCHEMA: dict[str, list[tuple[str, str, str]]] = {
    "placements": [
        ("time", "float64", "simulated seconds when the plan placing the alloc was applied"),
        ("eval_id", "string", "evaluation that placed the alloc"),
        ("alloc_id", "string", "allocation placed (empty for a failed placement)"),
        ("job_id", "string", "job ID"),
        ("task_group", "string", "task group"),
        ("node_id", "string", "chosen node (empty when none fit)"),
        ("score", "float64", "normalized score of the chosen node"),
        ("nodes_evaluated", "int64", "AllocMetric.NodesEvaluated"),
        ("nodes_filtered", "int64", "AllocMetric.NodesFiltered"),
        ("nodes_exhausted", "int64", "AllocMetric.NodesExhausted"),
        ("dimension_exhausted", "string", "most frequent exhausted dimension, if any"),
        ("cpu", "float64", "MHz the alloc reserves (NaN for a failed placement)"),
        ("memory", "float64", "MB the alloc reserves"),
        ("disk", "float64", "MB the alloc reserves"),
    ],
    "evaluations": [
        ("eval_id", "string", "evaluation ID"),
        ("job_id", "string", "job ID"),
        ("type", "string", "scheduler type"),
        ("triggered_by", "string", "Nomad trigger reason"),
        ("priority", "int64", "eval priority"),
        ("created", "float64", "simulated seconds when first written"),
        ("ready", "float64", "when a worker may take it: max(created, wait_until) + wait"),
        ("dequeued", "float64", "when a worker first dequeued it (NaN if never)"),
        ("plan_submitted", "float64", "when its last plan was submitted (NaN if none)"),
        ("plan_applied", "float64", "when its last plan was applied (NaN if none)"),
        ("completed", "float64", "when it last reached a terminal or blocked status (NaN if never)"),
        ("status", "string", "final status"),
        ("wait_in_broker", "float64", "dequeued - ready"),
        ("scheduling_time", "float64", "completed - the last dequeue"),
        ("latency", "float64", "completed - ready"),
        ("dequeues", "int64", "times a worker dequeued it (more than 1: nacked and redelivered, or unblocked)"),
        ("plans", "int64", "plans submitted (more than 1: retries after the applier rejected part of a plan)"),
        ("conflicts", "int64", "plans partially rejected by the applier"),
        ("placements", "int64", "allocs placed"),
        ("failed_placements", "int64", "allocs that could not be placed (incl. coalesced)"),
    ],
    "allocations": [
        ("time", "float64", "simulated seconds of the transition"),
        ("alloc_id", "string", "allocation ID"),
        ("job_id", "string", "job ID"),
        ("task_group", "string", "task group"),
        ("node_id", "string", "node the alloc is on"),
        ("client_status", "string", "client status after the transition (pending at placement; running, "
                                    "complete, failed on the client; lost when the server gives it up)"),
        ("desired_status", "string", "desired status after the transition (stop rows: the server stops it)"),
    ],
    "deployment_events": [
        ("time", "float64", "simulated seconds of the status change"),
        ("deployment_id", "string", "deployment"),
        ("job_id", "string", "job ID"),
        ("job_version", "int64", "job version the deployment rolls out"),
        ("status", "string", "new status"),
        ("description", "string", "Nomad's status description"),
    ],
    "node_usage": [
        ("time", "float64", "sample time"),
        ("node_id", "string", "node"),
        ("cpu_allocated", "float64", "MHz reserved by non-terminal allocs"),
        ("memory_allocated", "float64", "MB reserved by non-terminal allocs"),
        ("disk_allocated", "float64", "MB reserved by non-terminal allocs"),
        ("cpu_used", "float64", "MHz of allocs whose tasks run on the client (running in `allocations`)"),
        ("memory_used", "float64", "MB of running allocs"),
        ("disk_used", "float64", "MB of running allocs"),
        ("cpu_capacity", "float64", "MHz schedulable (total - reserved)"),
        ("memory_capacity", "float64", "MB schedulable"),
        ("disk_capacity", "float64", "MB schedulable"),
        ("status", "string", "node status"),
    ],
    "cluster": [
        ("time", "float64", "sample time (every metrics.sample_every)"),
        ("nodes_ready", "int64", "nodes whose status is ready"),
        ("cpu_utilisation", "float64", "sum cpu_allocated / sum cpu_capacity over every node (node_usage)"),
        ("memory_utilisation", "float64", "sum memory_allocated / sum memory_capacity over every node"),
        ("cpu_used_utilisation", "float64", "sum cpu_used / sum cpu_capacity over every node"),
        ("cpu_fragmentation", "float64", "1 - max free / sum free cpu over ready nodes (NaN if none free)"),
        ("memory_fragmentation", "float64", "1 - max free / sum free memory over ready nodes"),
        ("pending_evals", "int64", "evals in the broker: ready, unacked, waiting behind their job or delayed"),
        ("blocked_evals", "int64", "evals parked in the blocked tracker"),
        ("queued_allocs", "int64", "allocs the blocked evals' jobs still wait to place (job summaries' Queued)"),
        ("running_allocs", "int64", "allocs running on clients at that time (from `allocations`)"),
    ],
    "node_events": [
        ("time", "float64", "simulated seconds of the event"),
        ("node_id", "string", "node"),
        ("event", "string", "down, up or drain"),
        ("cause", "string", "node_event, domain:<rack or datacenter>, random_failure or drain_fraction"),
    ],
    "workload_errors": [
        ("time", "float64", "simulated seconds when the action was rejected"),
        ("action", "string", "workload action or event kind"),
        ("job_id", "string", "job (or node) the action concerned"),
        ("message", "string", "why it was rejected"),
    ],
}

# Every table a run writes and what one row is (tables derived after the run included).
TABLES: dict[str, str] = {
    "placements": "one allocation placed, or one task group that could not be placed, by an eval",
    "evaluations": "one evaluation, filled in as it progresses",
    "allocations": "one status transition of an allocation",
    "deployment_events": "one status change of a deployment",
    "deployments": "one deployment and task group with its final counters (sim.metrics.deployments)",
    "node_usage": "one node at one sample time",
    "cluster": "the whole cluster at one sample time",
    "node_events": "one node going down, coming up or starting to drain (scenario events)",
    "workload_errors": "one workload action or event that was rejected at run time",
    "jobs": "one job: submit, first placement, all started, completion, makespan (sim.results.tables)",
    "children": "one periodic launch or dispatched child of a parent job (sim.results.tables)",
    "dags": "one DAG of `after` dependencies: makespan and critical path (sim.workload.dags)",
    "nodes": "one node with its failure domains (sim.scenario.topology)",
}

_EVAL_COLS = [c for c, _, _ in SCHEMA["evaluations"]]
(_CREATED, _READY, _DEQUEUED, _SUBMITTED, _APPLIED, _COMPLETED, _STATUS, _DEQUEUES, _PLANS, _CONFLICTS,
 _PLACED, _FAILED) = (_EVAL_COLS.index(c) for c in (
    "created", "ready", "dequeued", "plan_submitted", "plan_applied", "completed", "status", "dequeues",
    "plans", "conflicts", "placements", "failed_placements"))


def _dimension(metric: Any) -> str:
    dims = metric.dimension_exhausted if metric is not None else None
    return max(dims.items(), key=lambda kv: (kv[1], kv[0]))[0] if dims else ""


class Recorder:
    """Collects rows for every table of SCHEMA during a run.

    Hooks: the server and its workers call `eval_created`, `eval_dequeued`, `plan_submitted`,
    `plan_applied`, `eval_done`, `placements`, `failed_placements`; the server and clients
    `add("allocations", ...)`; the simulation samples `sample_nodes` and `sample_cluster`; as a
    server job watcher, `on_job` logs every job write (the `jobs` table's submit times).
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock  # simulated time for `on_job` (the server's job watchers get no time)
        self.rows: dict[str, list[tuple]] = {name: [] for name in SCHEMA}
        self._evals: dict[str, list] = {}
        self._last_dequeue: dict[str, float] = {}
        self._samples: list[tuple[float, np.ndarray, np.ndarray]] = []
        self._node_ids: list[str] = []
        self._node_cap: np.ndarray | None = None
        self._cluster: list[tuple[float, int, int, int]] = []
        self.job_log: dict[tuple[str, str], list] = {}  # (namespace, job) -> [first write, type, parent, priority, writes]
        self.runs: pd.DataFrame | None = None  # the allocs' running intervals, set by tables()

    def add(self, table: str, *row: object) -> None:
        """Append one row (values in SCHEMA column order)."""
        self.rows[table].append(row)

    # -- placements ---------------------------------------------------------------------------

    def placements(self, now: float, allocs: list[Allocation]) -> None:
        """Committed placements, with the scheduler's metrics for each."""
        rows = self.rows["placements"]
        for a in allocs:
            m = a.metrics
            if m is None:
                counts, dimension = (0, 0, 0), ""
            else:
                counts = (m.nodes_evaluated, m.nodes_filtered, m.nodes_exhausted)
                dimension = _dimension(m) if m.dimension_exhausted else ""
            rows.append((now, a.eval_id, a.id, a.job_id, a.task_group, a.node_id, a.score, *counts,
                         dimension, a.cpu, a.memory_mb, a.disk_mb))

    def failed_placements(self, now: float, ev: Evaluation) -> None:
        """Placements that found no node: one row per group, as the scheduler coalesces them."""
        for tg, m in sorted(ev.failed_tg_allocs.items()):
            self.rows["placements"].append((now, ev.id, "", ev.job_id, tg, "", NAN, m.nodes_evaluated,
                                            m.nodes_filtered, m.nodes_exhausted, _dimension(m), NAN, NAN, NAN))

    # -- evaluations: one row per eval, filled in as it progresses --------------------------

    def _eval(self, ev: Evaluation) -> list:
        rec = self._evals.get(ev.id)
        if rec is None:
            rec = [ev.id, ev.job_id, ev.type, ev.triggered_by, ev.priority, NAN, NAN, NAN, NAN, NAN, NAN,
                   ev.status, NAN, NAN, NAN, 0, 0, 0, 0, 0]
            self._evals[ev.id] = rec
        return rec

    def eval_created(self, ev: Evaluation, now: float) -> None:
        """An eval was written for the first time (updates keep the first times)."""
        rec = self._eval(ev)
        if rec[_CREATED] != rec[_CREATED]:
            rec[_CREATED] = now
            rec[_READY] = max(now, ev.wait_until or 0.0) + (ev.wait or 0.0)
        rec[_STATUS] = ev.status

    def eval_dequeued(self, ev: Evaluation, now: float) -> None:
        """A worker took the eval from the broker."""
        rec = self._eval(ev)
        if rec[_DEQUEUED] != rec[_DEQUEUED]:
            rec[_DEQUEUED] = now
        rec[_DEQUEUES] += 1
        self._last_dequeue[ev.id] = now

    def scheduler_runs(self) -> int:
        """Evals dequeued by workers so far, re-runs of the same eval counted each time."""
        return sum(rec[_DEQUEUES] for rec in self._evals.values())

    def plan_submitted(self, ev: Evaluation, now: float) -> None:
        """The worker submitted a plan for the eval."""
        rec = self._eval(ev)
        rec[_SUBMITTED] = now
        rec[_PLANS] += 1

    def plan_applied(self, ev: Evaluation, now: float, placed: int, conflict: bool) -> None:
        """The applier committed (part of) a plan of the eval."""
        rec = self._eval(ev)
        rec[_APPLIED] = now
        rec[_PLACED] += placed
        rec[_CONFLICTS] += int(conflict)

    def eval_done(self, ev: Evaluation, now: float, failed_placements: int = 0) -> None:
        """The eval reached a terminal (or blocked) status."""
        rec = self._eval(ev)
        rec[_COMPLETED] = now
        rec[_STATUS] = ev.status
        rec[_FAILED] += failed_placements

    def _eval_rows(self) -> list[tuple]:
        out = []
        for eid, rec in self._evals.items():
            rec = list(rec)
            rec[_EVAL_COLS.index("wait_in_broker")] = rec[_DEQUEUED] - rec[_READY]
            rec[_EVAL_COLS.index("scheduling_time")] = rec[_COMPLETED] - self._last_dequeue.get(eid, NAN)
            rec[_EVAL_COLS.index("latency")] = rec[_COMPLETED] - rec[_READY]
            out.append(tuple(rec))
        return out

    # -- jobs ---------------------------------------------------------------------------------

    def on_job(self, job: Job, purged: bool) -> None:
        """A job write (register, new version, stop, purge, dispatch, periodic launch)."""
        entry = self.job_log.get(job.ns_id)
        if entry is None:
            now = self.clock() if self.clock is not None else NAN
            self.job_log[job.ns_id] = [float(now), job.type, job.parent_id or "", job.priority, 1]
        else:
            entry[4] += 1

    # -- sampling: whole columns, expanded into rows only at the end ------------------------

    def sample_nodes(self, now: float, table: NodeTable) -> None:
        """Record every node's allocated resources and status at `now`."""
        if len(self._node_ids) != len(table):
            self._node_ids = [n.id for n in table.nodes]
            self._node_cap = table.cap.copy()
        status = np.array([n.status for n in table.nodes], dtype=object)
        self._samples.append((now, table.used.copy(), status))

    def sample_cluster(self, now: float, pending_evals: int, blocked_evals: int, queued_allocs: int) -> None:
        """Record the control plane's counters at `now` (call right after `sample_nodes`)."""
        self._cluster.append((now, pending_evals, blocked_evals, queued_allocs))

    # -- output -----------------------------------------------------------------------------

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of SCHEMA as a DataFrame with the documented dtypes."""
        from sim.metrics.series import cluster_frame, node_usage_frame, running_intervals

        rows = dict(self.rows)
        rows["evaluations"] = self._eval_rows()
        out = {name: frame(name, rows[name]) for name in SCHEMA if name not in ("node_usage", "cluster")}
        self.runs = running_intervals(out["allocations"])
        out["node_usage"] = node_usage_frame(self._samples, self._node_ids, self._node_cap, out["placements"], self.runs)
        out["cluster"] = cluster_frame(out["node_usage"], self._cluster, self.runs)
        return out


def control_plane_counts(server: Any) -> tuple[int, int, int]:
    """(evals in the broker, blocked evals, queued allocs of the jobs with a blocked eval) of a server."""
    broker, blocked, state = server.broker, server.blocked, server.state
    queued = 0
    for namespace, job_id in blocked.stats()["by_job"]:
        summary = state.job_summary(namespace, job_id)
        if summary is not None:
            queued += sum(g.queued for g in summary.summary.values())
    return broker.ready_count() + broker.in_flight(), blocked.blocked_count(), queued


def frame(name: str, rows: list[tuple]) -> pd.DataFrame:
    """A DataFrame of SCHEMA table `name` from its rows, with the documented dtypes."""
    cols = SCHEMA[name]
    if not rows:
        return empty(name)
    df = pd.DataFrame.from_records(rows, columns=[c for c, _, _ in cols])
    return df.astype({c: t for c, t, _ in cols})


def empty(name: str) -> pd.DataFrame:
    """An empty DataFrame with SCHEMA table `name`'s columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t, _ in SCHEMA[name]})
