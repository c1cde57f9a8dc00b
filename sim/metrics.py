"""Metrics: append-only typed rows with a documented schema, turned into pandas DataFrames.

Every observation the simulation makes is a row in one of the tables of `SCHEMA`. Rows are plain
tuples appended in event order (cheap in the hot loop); `Recorder.tables()` builds the DataFrames
with the documented column types, so the same run always gives the same bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sim.node_table import NodeTable
    from sim.structs.alloc import Allocation
    from sim.structs.evaluation import Evaluation

# table -> [(column, dtype, meaning)]
SCHEMA: dict[str, list[tuple[str, str, str]]] = {
    "placements": [
        ("time", "float64", "simulated seconds when the scheduler chose the node"),
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
    ],
    "evaluations": [
        ("eval_id", "string", "evaluation ID"),
        ("job_id", "string", "job ID"),
        ("type", "string", "scheduler type"),
        ("triggered_by", "string", "Nomad trigger reason"),
        ("priority", "int64", "eval priority"),
        ("created", "float64", "simulated seconds when written"),
        ("dequeued", "float64", "when a worker first dequeued it (NaN if never)"),
        ("plan_submitted", "float64", "when its last plan was submitted (NaN if none)"),
        ("plan_applied", "float64", "when its last plan was applied (NaN if none)"),
        ("completed", "float64", "when it reached a terminal or blocked status"),
        ("status", "string", "final status"),
        ("wait_in_broker", "float64", "dequeued - created (ready time counts from wait_until)"),
        ("scheduling_time", "float64", "completed - dequeued"),
        ("plans", "int64", "plans submitted"),
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
        ("client_status", "string", "client status after the transition"),
        ("desired_status", "string", "desired status after the transition"),
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
        ("cpu_capacity", "float64", "MHz schedulable (total - reserved)"),
        ("memory_capacity", "float64", "MB schedulable"),
        ("disk_capacity", "float64", "MB schedulable"),
        ("status", "string", "node status"),
    ],
}


class Recorder:
    """Collects rows for every table of SCHEMA during a run."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple]] = {name: [] for name in SCHEMA}
        self._evals: dict[str, list] = {}
        self._eval_order: list[str] = []
        self._samples: list[tuple[float, np.ndarray, np.ndarray]] = []
        self._node_ids: list[str] = []
        self._node_cap: np.ndarray | None = None

    def add(self, table: str, *row: object) -> None:
        """Append one row (values in SCHEMA column order)."""
        self.rows[table].append(row)

    def placements(self, now: float, allocs: list[Allocation]) -> None:
        """Committed placements, with the scheduler's metrics for each."""
        rows = self.rows["placements"]
        for a in allocs:
            m = a.metrics
            dim = max(m.dimension_exhausted.items(), key=lambda kv: (kv[1], kv[0]))[0] if m and m.dimension_exhausted else ""
            rows.append((now, a.eval_id, a.id, a.job_id, a.task_group, a.node_id, a.score,
                         m.nodes_evaluated if m else 0, m.nodes_filtered if m else 0, m.nodes_exhausted if m else 0, dim))

    def failed_placements(self, now: float, ev: Evaluation) -> None:
        """Placements that found no node: one row per group, as the scheduler coalesces them."""
        for tg, m in sorted(ev.failed_tg_allocs.items()):
            dim = max(m.dimension_exhausted.items(), key=lambda kv: (kv[1], kv[0]))[0] if m.dimension_exhausted else ""
            self.rows["placements"].append((now, ev.id, "", ev.job_id, tg, "", float("nan"), m.nodes_evaluated,
                                            m.nodes_filtered, m.nodes_exhausted, dim))

    # -- evaluations: one row per eval, filled in as it progresses --------------------------

    _EVAL_COLS = [c for c, _, _ in SCHEMA["evaluations"]]

    def _eval(self, ev: Evaluation) -> list:
        rec = self._evals.get(ev.id)
        if rec is None:
            nan = float("nan")
            rec = [ev.id, ev.job_id, ev.type, ev.triggered_by, ev.priority, nan, nan, nan, nan, nan,
                   ev.status, nan, nan, 0, 0, 0, 0]
            self._evals[ev.id] = rec
            self._eval_order.append(ev.id)
        return rec

    def eval_created(self, ev: Evaluation, now: float) -> None:
        """An eval was written for the first time (updates keep the first time)."""
        rec = self._eval(ev)
        if rec[5] != rec[5]:
            rec[5] = max(now, ev.wait_until or 0.0) + (ev.wait or 0.0)
        rec[10] = ev.status

    def eval_dequeued(self, ev: Evaluation, now: float) -> None:
        """A worker took the eval from the broker."""
        rec = self._eval(ev)
        if rec[6] != rec[6]:
            rec[6] = now

    def plan_submitted(self, ev: Evaluation, now: float) -> None:
        """The worker submitted a plan for the eval."""
        rec = self._eval(ev)
        rec[7] = now
        rec[13] += 1

    def plan_applied(self, ev: Evaluation, now: float, placed: int, conflict: bool) -> None:
        """The applier committed (part of) a plan of the eval."""
        rec = self._eval(ev)
        rec[8] = now
        rec[15] += placed
        rec[14] += int(conflict)

    def eval_done(self, ev: Evaluation, now: float, failed_placements: int = 0) -> None:
        """The eval reached a terminal (or blocked) status."""
        rec = self._eval(ev)
        rec[9] = now
        rec[10] = ev.status
        rec[16] += failed_placements

    # -- node usage: sampled as whole columns, expanded into rows only at the end -----------

    def sample_nodes(self, now: float, table: NodeTable) -> None:
        """Record every node's allocated resources and status at `now`."""
        if len(self._node_ids) != len(table):
            self._node_ids = [n.id for n in table.nodes]
            self._node_cap = table.cap.copy()
        status = np.array([n.status for n in table.nodes], dtype=object)
        self._samples.append((now, table.used.copy(), status))

    def _node_usage_rows(self) -> pd.DataFrame:
        cols = [c for c, _, _ in SCHEMA["node_usage"]]
        if not self._samples:
            return pd.DataFrame(columns=cols)
        n = len(self._node_ids)
        used = np.concatenate([u[:n] for _, u, _ in self._samples])
        reps = len(self._samples)
        cap = np.tile(self._node_cap[:n], (reps, 1))
        return pd.DataFrame({
            "time": np.repeat([t for t, _, _ in self._samples], n),
            "node_id": np.tile(np.array(self._node_ids, dtype=object), reps),
            "cpu_allocated": used[:, 0], "memory_allocated": used[:, 1], "disk_allocated": used[:, 2],
            "cpu_capacity": cap[:, 0], "memory_capacity": cap[:, 1], "disk_capacity": cap[:, 2],
            "status": np.concatenate([st[:n] for _, _, st in self._samples]),
        }, columns=cols)

    # -- output -----------------------------------------------------------------------------

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table as a DataFrame with the documented dtypes."""
        rows = dict(self.rows)
        evals = []
        for eid in self._eval_order:
            rec = list(self._evals[eid])
            rec[11] = rec[6] - rec[5]
            rec[12] = rec[9] - rec[6]
            evals.append(tuple(rec))
        rows["evaluations"] = evals
        out = {name: _frame(name, rows[name]) for name in SCHEMA if name != "node_usage"}
        usage = self._node_usage_rows()
        out["node_usage"] = usage.astype({c: t for c, t, _ in SCHEMA["node_usage"]})
        return out


def _frame(name: str, rows: list[tuple]) -> pd.DataFrame:
    cols = SCHEMA[name]
    df = pd.DataFrame.from_records(rows, columns=[c for c, _, _ in cols])
    return df.astype({c: t for c, t, _ in cols})
