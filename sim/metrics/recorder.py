"""The recorder: collects the rows of every metrics table during a run and builds the DataFrames.

Rows are plain tuples appended in event order (cheap in the hot loop), so every event table is
sorted by time; their columns are the tables of SCHEMA (sim.metrics.schema). Node usage is sampled
as whole numpy columns; the `cluster` series and the `*_used` columns are derived when the tables
are built (sim.metrics.series), from the same rows, so the tables stay consistent with each other.
`Recorder.tables()` builds the DataFrames with the documented column types: the same run always
gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.metrics import strings
from sim.metrics.columns import ColumnRows
from sim.metrics.gpus import GpuSample, gpu_cluster_frame, gpu_usage_frame
from sim.metrics.heap import trim_heap
from sim.metrics.schema import SCHEMA, frame, frame_of_columns
from sim.metrics.series import (
    AllocCodes,
    Sample,
    cluster_frame,
    node_usage_frame,
    run_node_rows,
    running_intervals,
)

if TYPE_CHECKING:
    from sim.state.node_table import NodeTable
    from sim.structs.alloc import Allocation, AllocMetric
    from sim.structs.evaluation import Evaluation
    from sim.structs.job import Job

NAN = float("nan")

_EVAL_COLS = [c for c, _, _ in SCHEMA["evaluations"]]
(_CREATED, _READY, _DEQUEUED, _SUBMITTED, _APPLIED, _COMPLETED, _STATUS, _WAIT, _SCHEDULING, _LATENCY, _DEQUEUES,
 _PLANS, _CONFLICTS, _PLACED, _FAILED) = (_EVAL_COLS.index(c) for c in (
    "created", "ready", "dequeued", "plan_submitted", "plan_applied", "completed", "status", "wait_in_broker",
    "scheduling_time", "latency", "dequeues", "plans", "conflicts", "placements", "failed_placements"))
# an eval's record: its row, then the time of its last dequeue and the rows of the failed groups
# it was last re-blocked with (`eval_reblocked`: (failed groups, their rows), or None)
_WIDTH = len(_EVAL_COLS)
_LAST_DEQUEUE, _REBLOCKED = _WIDTH, _WIDTH + 1


# tables with a row per alloc or transition, kept as columns: (columns kept as typed arrays: float64
# or counts as uint32, columns of repeated values kept as codes)
_COUNTS = dict.fromkeys(("nodes_evaluated", "nodes_filtered", "nodes_exhausted"), "I")
PER_ALLOC: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "placements": ({**dict.fromkeys(("time", "score", "cpu", "memory", "disk"), "d"), **_COUNTS},
                   ("eval_id", "job_id", "task_group", "node_id", "dimension_exhausted")),
    "allocations": ({"time": "d"}, ("job_id", "task_group", "node_id", "client_status", "desired_status"))}
_ALLOC_ID = {name: [c for c, _, _ in SCHEMA[name]].index("alloc_id") for name in PER_ALLOC}
DERIVED = ("node_usage", "cluster", "gpu_usage", "gpu_cluster")  # built from the samples in `tables`
# what the tables built after a PER_ALLOC table (the derived ones, jobs) and the KPIs read of it:
# all that stays of it when `tables` hands it to an `emit` (of placements, only the placed rows:
# the failed ones, with no alloc ID, are read by none of them)
STREAMED = {"placements": ("time", "eval_id", "alloc_id", "job_id", "cpu", "memory", "disk"),
            "allocations": ("time", "alloc_id", "job_id", "client_status")}


def _dimension(metric: AllocMetric | None) -> str:
    """The most exhausted dimension (ties: the greatest name), read without creating the map."""
    dims = metric.peek("dimension_exhausted") if metric is not None else None
    if not dims:
        return ""
    if len(dims) == 1:
        return next(iter(dims))
    return max(dims.items(), key=lambda kv: (kv[1], kv[0]))[0]


def _failed_rows(ev: Evaluation) -> list[tuple]:
    """The placements rows of the eval's failed groups, but their time: one per group, sorted."""
    failed = ev.failed_tg_allocs
    groups = sorted(failed.items()) if len(failed) > 1 else failed.items()
    return [(ev.id, "", ev.job_id, tg, "", NAN, m.nodes_evaluated, m.nodes_filtered, m.nodes_exhausted,
             _dimension(m), NAN, NAN, NAN) for tg, m in groups]


class Recorder:
    """Collects rows for every table of SCHEMA during a run.

    Hooks: the server and its workers call `eval_created`, `eval_dequeued`, `plan_submitted`,
    `plan_applied`, `eval_done`, `placements`, `failed_placements`, `preemption`; the server and clients
    `add("allocations", ...)`; the simulation samples `sample_nodes` and `sample_cluster`; as a
    server job watcher, `on_job` logs every job write (the `jobs` table's submit times).
    `tables()` takes the per-alloc rows (PER_ALLOC) over into its tables: from then on `rows` of
    those holds the rows recorded since (its `len` still counts every row).
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock  # simulated time for `on_job` (the server's job watchers get no time)
        self.rows: dict[str, Any] = {name: [] for name in SCHEMA}  # a list of tuples, or ColumnRows
        for name in PER_ALLOC:
            self.rows[name] = _Rows(name)
        self._evals: dict[str, list] = {}  # eval ID -> its record (`_WIDTH` row values, then run-time state)
        self._samples: list[Sample] = []
        self._node_ids: list[str] = []
        self._node_cap: np.ndarray = np.zeros((0, 3))
        self._gpu_samples: list[GpuSample | None] = []  # per node sample (None: no GPUs then)
        self._cluster: list[tuple[float, int, int, int]] = []
        self.job_log: dict[tuple[str, str], list] = {}  # (namespace, job) -> [first write, type, parent, priority, writes]
        self._runs: pd.DataFrame | None = None  # the allocs' running intervals, set by tables()
        self._built: dict[str, pd.DataFrame] = {}  # PER_ALLOC tables of the rows handed over (`_per_alloc`)
        self._streamed = False  # `tables(emit)` took the PER_ALLOC rows for good

    def add(self, table: str, *row: object) -> None:
        """Append one row (values in SCHEMA column order)."""
        self.rows[table].append(row)

    # -- placements ---------------------------------------------------------------------------

    def placements(self, now: float, allocs: list[Allocation]) -> None:
        """Committed placements, with the scheduler's metrics for each (read once per run of
        allocs sharing one metric)."""
        rows: list[tuple[object, ...]] = []
        last: object = rows  # (no metric yet)
        counts: tuple[int, int, int] = (0, 0, 0)
        dimension = ""
        for a in allocs:
            m = a.metrics
            if m is not last:
                last = m
                # (a metric that never made a container has no exhausted dimensions: not looked up)
                counts, dimension = ((0, 0, 0), "") if m is None else (
                    (m.nodes_evaluated, m.nodes_filtered, m.nodes_exhausted), _dimension(m) if m.made_any() else "")
            rows.append((now, a.eval_id, a.id, a.job_id, a.task_group, a.node_id, a.score, *counts,
                         dimension, a.cpu, a.memory_mb, a.disk_mb))
            if a.devices:
                self.rows["devices"].extend((now, a.id, a.job_id, a.node_id, d.task, d.vendor, d.type, d.name, i)
                                            for d in a.devices for i in d.device_ids)
        self.rows["placements"].extend(rows)

    def failed_placements(self, now: float, ev: Evaluation) -> None:
        """Placements that found no node: one row per group, as the scheduler coalesces them."""
        self.rows["placements"].extend((now, *tail) for tail in _failed_rows(ev))

    # -- evaluations: one row per eval, filled in as it progresses --------------------------

    def _eval(self, ev: Evaluation) -> list:
        rec = self._evals.get(ev.id)
        if rec is None:
            rec = [ev.id, ev.job_id, ev.type, ev.triggered_by, ev.priority, NAN, NAN, NAN, NAN, NAN, NAN,
                   ev.status, NAN, NAN, NAN, 0, 0, 0, 0, 0, NAN, None]
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
        rec = self._evals.get(ev.id) or self._eval(ev)  # (`_eval` inline when known: once per scheduler pass)
        if rec[_DEQUEUED] != rec[_DEQUEUED]:
            rec[_DEQUEUED] = now
        rec[_DEQUEUES] += 1
        rec[_LAST_DEQUEUE] = now

    def scheduler_runs(self) -> int:
        """Evals dequeued by workers so far, re-runs of the same eval counted each time."""
        return sum(rec[_DEQUEUES] for rec in self._evals.values())

    def eval_timings(self) -> dict[str, tuple[float, float]]:
        """Each eval's (completed, completed - ready) so far (NaN until it completes), for live readers."""
        return {eid: (rec[_COMPLETED], rec[_COMPLETED] - rec[_READY]) for eid, rec in self._evals.items()}

    def samples_so_far(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For live readers: the node sample times, the cluster's allocated (cpu, memory, disk) at each,
        the nodes' summed capacity, and (pending, blocked) evals at each control-plane sample."""
        times = np.array([s[0] for s in self._samples], dtype=float)
        used = np.array([s[1].sum(axis=0) for s in self._samples]).reshape(-1, 3)
        cap = self._node_cap.sum(axis=0) if len(self._node_cap) else np.ones(3)
        counters = np.array([c[1:3] for c in self._cluster], dtype=float).reshape(-1, 2)
        return times, used, cap, counters

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
        rec[_REBLOCKED] = None
        rec[_COMPLETED] = now
        rec[_STATUS] = ev.status
        rec[_FAILED] += failed_placements

    def eval_reblocked(self, ev: Evaluation, now: float, failed_placements: int) -> None:
        """`eval_done` and `failed_placements` of a blocked eval's pass that re-blocked it. Its
        re-runs share the failed groups' metrics it was blocked with: their rows are made once."""
        rec = self._evals.get(ev.id) or self._eval(ev)  # (as in `eval_dequeued`)
        rec[_COMPLETED] = now
        rec[_STATUS] = ev.status
        rec[_FAILED] += failed_placements
        failed = ev.failed_tg_allocs
        if failed:
            kept = rec[_REBLOCKED]
            if kept is None or kept[0] is not failed:
                kept = rec[_REBLOCKED] = (failed, _failed_rows(ev))
            placements = self.rows["placements"]
            for tail in kept[1]:  # (the usual one failed group; no row tuple made)
                placements.append_parts(now, tail)

    def _eval_rows(self) -> list[tuple]:
        out = []
        for rec in self._evals.values():
            row = rec[:_WIDTH]
            row[_WAIT] = rec[_DEQUEUED] - rec[_READY]
            row[_SCHEDULING] = rec[_COMPLETED] - rec[_LAST_DEQUEUE]
            row[_LATENCY] = rec[_COMPLETED] - rec[_READY]
            out.append(tuple(row))
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

    def preemption(self, now: float, preempting: Allocation, preempted: Allocation) -> None:
        """One alloc evicted for another (`preempted` as stored, its tasks' states still intact)."""
        starts = [ts.started_at for ts in preempted.task_states.values() if ts.started_at is not None]
        ran = max(now - min(starts), 0.0) if starts else 0.0
        self.rows["preemptions"].append((
            now, preempting.id, preempting.job_id, preempting.job.priority, preempted.id, preempted.job_id,
            preempted.job.priority, preempted.node_id, float(preempted.cpu), float(preempted.memory_mb), ran,
            ran * preempted.cpu / 1000.0))

    # -- sampling: whole columns, expanded into rows only at the end ------------------------

    def sample_nodes(self, now: float, table: NodeTable) -> None:
        """Record every registered node's allocated resources and status at `now` (the rows of
        nodes that joined later are absent from earlier samples; removed nodes are masked out)."""
        if len(self._node_ids) != len(table):
            self._node_ids = [n.id for n in table.nodes]
            self._node_cap = table.cap.copy()
        status = np.array([n.status for n in table.nodes], dtype=object)
        present = None if not table.removed else table.present.copy()
        self._samples.append((now, table.used.copy(), status, present))
        gpus = table.gpu_total.any()
        self._gpu_samples.append((table.gpu_used.copy(), table.gpu_total.copy()) if gpus else None)

    def sample_cluster(self, now: float, pending_evals: int, blocked_evals: int, queued_allocs: int) -> None:
        """Record the control plane's counters at `now` (call right after `sample_nodes`)."""
        self._cluster.append((now, pending_evals, blocked_evals, queued_allocs))

    # -- output -----------------------------------------------------------------------------

    def _alloc_codes(self) -> tuple[AllocCodes | None, dict[str, Any]]:
        """`alloc_codes` of the rows not handed over yet, numbered from their alloc ID columns as
        the tables hold them (hashed in Arrow, not per Python string), and of those the columns
        built next (by table name: placements', the first built; allocations' is built again
        with its table, so that it is not held while placements' table is). (None, {}) where
        pandas' strings are not Arrow's (`alloc_codes` then)."""
        ids = [strings.from_list(self.rows[name].stored()[_ALLOC_ID[name]]) for name in ("allocations", "placements")]
        if any(column is None for column in ids):
            return None, {}
        codes = strings.numbered(*(pd.Series(column, copy=False) for column in ids))
        return AllocCodes(*codes), {"placements": ids[1]}

    def _per_alloc(self, name: str, keep: bool = True, ids: Any = None) -> pd.DataFrame:
        """A PER_ALLOC table. Its rows are handed over: each stored column is freed as soon as the
        table's is built (the table's peak memory holds one copy of the rows, not two); with
        `keep`, the recorder keeps the table for the next call, which adds the rows appended since.
        `ids`: its alloc ID column, if already built (`_alloc_codes`)."""
        columns = self.rows[name].hand_over()
        if ids is not None:
            columns[_ALLOC_ID[name]] = ids
        del ids
        new = frame_of_columns(name, columns)
        trim_heap()  # (the freed columns' pages: for the next table's Arrow buffers)
        built = self._built.pop(name, None)
        if built is not None and len(built):
            new = pd.concat([built, new], ignore_index=True) if len(new) else built
        if keep:
            self._built[name] = new
        return new.copy(deep=False)  # (columns a caller adds stay its own)

    def _emitted(self, emit: Callable[[str, pd.DataFrame], None], name: str, table: pd.DataFrame,
                 rows: np.ndarray | None = None) -> pd.DataFrame:
        """`emit(name, table)`, then only the STREAMED columns of the table (of its `rows`, a
        mask, if given)."""
        emit(name, table)
        kept = pd.DataFrame({c: table[c] for c in STREAMED[name]}, copy=False)
        return kept if rows is None else kept[rows].reset_index(drop=True)

    def take_runs(self) -> pd.DataFrame | None:
        """The running intervals (job_id, start, end) the last `tables()` computed, handed over
        once: the recorder keeps no copy (None when already taken)."""
        runs, self._runs = self._runs, None
        return runs

    def tables(self, emit: Callable[[str, pd.DataFrame], None] | None = None) -> dict[str, pd.DataFrame]:
        """Every table of SCHEMA as a DataFrame with the documented dtypes.

        With `emit`, each PER_ALLOC table is handed to `emit(name, table)` as soon as it is built
        (placements) or its running intervals are found (allocations), and only its
        STREAMED columns stay in the tables returned: one such table whole in memory at a time.
        The recorder then keeps none of their rows: it cannot build its tables again."""
        if self._streamed:
            raise RuntimeError("the recorder's tables were streamed (tables(emit)): their rows are gone")
        self._streamed = emit is not None
        codes, ids = (None, {}) if self._built else self._alloc_codes()  # (before the rows are handed over)
        trim_heap()
        out = {}
        for name in SCHEMA:
            if name in PER_ALLOC:
                out[name] = self._per_alloc(name, emit is None, ids.pop(name, None))
                if emit is not None and name == "placements":  # (allocations: after node_usage)
                    placed = (out[name]["alloc_id"] != "").to_numpy(bool, na_value=False)
                    codes = codes and codes._replace(placements=codes.placements[placed])
                    out[name] = self._emitted(emit, name, out[name], placed)
                    trim_heap()  # (the columns and rows not kept)
            elif name not in DERIVED:
                out[name] = frame(name, self._eval_rows() if name == "evaluations" else self.rows[name])
        codes = codes or alloc_codes(out["allocations"], out["placements"])
        # kept for the jobs table (`take_runs`), with the one ID column it reads
        self._runs = runs = running_intervals(out["allocations"], ("job_id",), codes.allocations)
        trim_heap()  # (what finding them freed)
        node_rows = None
        if emit is not None:  # (node_usage reads only the runs' nodes of it: their rows, found first)
            node_rows = run_node_rows(out["allocations"], runs, self._node_ids)
            out["allocations"] = self._emitted(emit, "allocations", out["allocations"])
            trim_heap()
        out["node_usage"] = node_usage_frame(self._samples, self._node_ids, self._node_cap, out["placements"],
                                             out["allocations"], runs, codes, node_rows)
        del codes, node_rows  # (8 bytes a row: freed before the other tables are built)
        trim_heap()  # (and what building node_usage freed)
        out["cluster"] = cluster_frame(out["node_usage"], self._cluster, runs, out["placements"])
        out["gpu_usage"] = gpu_usage_frame(self._gpu_samples, self._samples, out["node_usage"])
        out["gpu_cluster"] = gpu_cluster_frame(out["gpu_usage"], out["devices"], out["placements"])
        return out


class _Rows(ColumnRows):
    """A PER_ALLOC table's rows; `len` counts those handed over to its table too (`before`)."""

    __slots__ = ("name", "before")

    def __init__(self, name: str) -> None:
        typed, labelled = PER_ALLOC[name]
        columns = [c for c, _, _ in SCHEMA[name]]
        super().__init__(len(columns), {columns.index(c): code for c, code in typed.items()},
                         tuple(columns.index(c) for c in labelled))
        self.name, self.before = name, 0

    def hand_over(self) -> list[Any]:
        """The rows since the last hand-over, as `stored` gives them; this object keeps none of
        them (so each column is freed once its taker lets it go)."""
        stored, empty = self.stored(), _Rows(self.name)
        self.before = len(self)
        self.columns, self._pending, self._labels = empty.columns, empty._pending, empty._labels
        return stored

    def __len__(self) -> int:
        return self.before + super().__len__()


def alloc_codes(allocations: pd.DataFrame, placements: pd.DataFrame) -> AllocCodes:
    """The alloc ID of every allocations and placements row as a number (from the tables)."""
    return AllocCodes(*strings.numbered(allocations["alloc_id"], placements["alloc_id"]))


def control_plane_counts(server: Any) -> tuple[int, int, int]:
    """(evals in the broker, blocked evals, queued allocs of the jobs with a blocked eval) of a server."""
    broker, blocked, state = server.broker, server.blocked, server.state
    queued = 0
    for namespace, job_id in blocked.stats()["by_job"]:
        summary = state.job_summary(namespace, job_id)
        if summary is not None:
            queued += sum(g.queued for g in summary.summary.values())
    return broker.ready_count() + broker.in_flight(), blocked.blocked_count(), queued
