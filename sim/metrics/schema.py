"""The schema of the results tables: every table's columns with their dtypes and meanings.

Every observation the simulation makes is a row in one of the tables of `SCHEMA`; `frame` turns a
table's rows into a DataFrame with the documented column types (the same rows always give the same
bytes). The recorder collects the rows (sim.metrics.recorder) and derives the time series
(sim.metrics.series). Tables built after a run from the final state live next to their inputs:
`jobs` and `children` (sim.results.tables), `dags` (sim.workload.dags), `nodes`
(sim.scenario.topology), `deployments` (sim.metrics.deployments). `TABLES` lists every results
table with its one-line meaning.
"""

from __future__ import annotations

from array import array
from typing import Any

import numpy as np
import pandas as pd

from sim.metrics import strings
from sim.metrics.columns import ColumnRows, Labelled

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
        ("nodes", "int64", "registered nodes (any status; nodes join and leave with add_nodes / remove_nodes)"),
        ("nodes_ready", "int64", "nodes whose status is ready"),
        ("cpu_utilisation", "float64", "sum cpu_allocated / sum cpu_capacity over every node (node_usage)"),
        ("memory_utilisation", "float64", "sum memory_allocated / sum memory_capacity over every node"),
        ("cpu_used_utilisation", "float64", "sum cpu_used / sum cpu_capacity over every node"),
        ("cpu_fragmentation", "float64", "share of the ready nodes' free cpu on nodes that cannot host one more "
                                         "typical (median) ask (sim.metrics.series; NaN if none free)"),
        ("memory_fragmentation", "float64", "the same for memory"),
        ("pending_evals", "int64", "evals in the broker: ready, unacked, waiting behind their job or delayed"),
        ("blocked_evals", "int64", "evals parked in the blocked tracker"),
        ("queued_allocs", "int64", "allocs the blocked evals' jobs still wait to place (job summaries' Queued)"),
        ("running_allocs", "int64", "allocs running on clients at that time (from `allocations`)"),
    ],
    "node_events": [
        ("time", "float64", "simulated seconds of the event"),
        ("node_id", "string", "node"),
        ("event", "string", "down, up, drain, add (joined) or remove (deregistered)"),
        ("cause", "string", "node_event, domain:<rack or datacenter>, random_failure, drain_fraction, add_nodes or remove_nodes"),
    ],
    "preemptions": [
        ("time", "float64", "simulated seconds when the plan evicting the alloc was applied"),
        ("preempting_alloc_id", "string", "allocation whose placement evicted it"),
        ("preempting_job_id", "string", "job of the preempting allocation"),
        ("preempting_priority", "int64", "priority of the preempting job"),
        ("preempted_alloc_id", "string", "allocation evicted (desired status evict)"),
        ("preempted_job_id", "string", "job of the evicted allocation"),
        ("preempted_priority", "int64", "priority of the evicted job"),
        ("node_id", "string", "node both allocations are on"),
        ("cpu", "float64", "MHz the evicted alloc reserved"),
        ("memory", "float64", "MB the evicted alloc reserved"),
        ("ran_seconds", "float64", "seconds the evicted alloc's tasks had run (since the first task started)"),
        ("cpu_seconds_lost", "float64", "work lost: ran_seconds x cpu / 1000 (1000 MHz for 1 s = 1 CPU-second)"),
    ],
    "workload_errors": [
        ("time", "float64", "simulated seconds when the action was rejected"),
        ("action", "string", "workload action or event kind"),
        ("job_id", "string", "job (or node) the action concerned"),
        ("message", "string", "why it was rejected"),
    ],
    "devices": [
        ("time", "float64", "simulated seconds when the plan placing the alloc was applied"),
        ("alloc_id", "string", "allocation holding the device instance"),
        ("job_id", "string", "job ID"),
        ("node_id", "string", "node of the device"),
        ("task", "string", "task the device was assigned to (AllocatedResources.Tasks)"),
        ("vendor", "string", "device vendor"),
        ("type", "string", "device type (gpu)"),
        ("device_name", "string", "device name (model)"),
        ("device_id", "string", "device instance ID"),
    ],
    "trace_reports": [
        ("time", "float64", "simulated seconds when the trace was loaded"),
        ("path", "string", "trace file name (without its folder, so results do not depend on where the repository is)"),
        ("format", "string", "trace format"),
        ("submissions", "int64", "jobs the trace submits"),
        ("fractional_gpu", "int64", "pods asking for a fraction of a GPU (gpu_milli < 1000), asking one whole device"),
        ("never_placeable", "int64", "jobs whose ask no node could ever hold (CPU, memory or GPUs); they stay blocked"),
        ("never_placeable_ids", "string", "the first 20 of those job IDs"),
    ],
    "gpu_usage": [
        ("time", "float64", "sample time (every metrics.sample_every)"),
        ("node_id", "string", "node with GPUs"),
        ("gpus_allocated", "int64", "GPU instances held by live allocs"),
        ("gpu_capacity", "int64", "GPU instances of the node"),
        ("cpu_free", "float64", "MHz not allocated"),
        ("memory_free", "float64", "MB not allocated"),
        ("status", "string", "node status"),
    ],
    "gpu_cluster": [
        ("time", "float64", "sample time"),
        ("gpu_capacity", "int64", "GPU instances in the cluster"),
        ("gpus_allocated", "int64", "GPU instances held by live allocs"),
        ("gpu_allocation_rate", "float64", "gpus_allocated / gpu_capacity"),
        ("fragmented_gpus", "int64", "unallocated GPUs on nodes that cannot host the typical ask (FGD)"),
        ("gpu_fragmentation", "float64", "fragmented_gpus / gpu_capacity"),
        ("typical_gpus", "int64", "GPUs of the typical ask (most frequent count among GPU allocs)"),
        ("typical_cpu", "float64", "MHz of the typical ask (median over those allocs)"),
        ("typical_memory", "float64", "MB of the typical ask (median over those allocs)"),
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
    "node_events": "one node going down, coming up, starting to drain, joining or leaving (scenario events)",
    "preemptions": "one allocation evicted to place a higher-priority one (Nomad's preemption)",
    "workload_errors": "one workload action or event that was rejected at run time",
    "devices": "one device instance assigned to a placed allocation",
    "trace_reports": "one trace as it loaded: submissions, fractional-GPU asks, jobs that can never be placed",
    "gpu_usage": "one node with GPUs at one sample time (sim.metrics.gpus)",
    "gpu_cluster": "the cluster's GPUs at one sample time: allocation and FGD fragmentation (sim.metrics.gpus)",
    "jobs": "one job: submit, first placement, all started, completion, makespan (sim.results.tables)",
    "children": "one periodic launch or dispatched child of a parent job (sim.results.tables)",
    "dags": "one DAG of `after` dependencies: makespan and critical path (sim.workload.dags)",
    "nodes": "one node with its failure domains (sim.scenario.topology)",
    "wait_times": "one job type and priority: wait from submission to running, p50/p95/p99 (sim.results.tables)",
}


def frame(name: str, rows: list[tuple] | ColumnRows) -> pd.DataFrame:
    """A DataFrame of SCHEMA table `name` from its rows, with the documented dtypes."""
    cols = SCHEMA[name]
    if not len(rows):
        return empty(name)
    if isinstance(rows, ColumnRows):
        return frame_of_columns(name, rows.stored())
    df = pd.DataFrame.from_records(rows, columns=[c for c, _, _ in cols])
    return df.astype({c: t for c, t, _ in cols})


def frame_of_columns(name: str, columns: list[Any]) -> pd.DataFrame:
    """`frame` of stored columns (`ColumnRows.stored`), each let go as soon as its own is built
    (when the caller holds no other reference, it is freed before the next is built)."""
    cols = SCHEMA[name]
    first = columns[0]
    if not len(first.codes if isinstance(first, Labelled) else first):
        return empty(name)
    built = {}
    for i, (c, t, _) in enumerate(cols):
        built[c] = pd.Series(_column(columns[i], t)).astype(t)
        columns[i] = None
    return pd.DataFrame(built, copy=False)


def _column(values: list[Any] | array | Labelled | pd.arrays.ArrowStringArray, dtype: str) -> Any:
    """One stored column as the DataFrame's (strings built in Arrow, else as `frame`'s astype takes them;
    one built already as it is)."""
    if isinstance(values, pd.arrays.ArrowStringArray):
        return values
    if isinstance(values, Labelled):
        made = strings.from_codes(values.codes, values.values) if dtype == "string" else None
        return values.decoded() if made is None else made
    if isinstance(values, array):
        return np.array(values)  # (a copy: the typed array stays free to grow)
    made = strings.from_list(values) if dtype == "string" else None
    return values if made is None else made


def empty(name: str) -> pd.DataFrame:
    """An empty DataFrame with SCHEMA table `name`'s columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t, _ in SCHEMA[name]})
