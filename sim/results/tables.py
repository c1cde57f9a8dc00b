"""Per-job results tables built after a run: `jobs` and `children`, and the assembly of all tables.

`jobs` has one row per job ever written (from the recorder's job log), with its final state from
the state store and its timeline from the event tables: first placement, the time its desired
number of allocs had all started, its completion (for a job that ended: its last alloc's terminal
transition), and for batch jobs the makespan (completion - submit), the longest alloc run time
and the slowdown (makespan / run time). `children` has one row per periodic launch (skipped ones
included) or dispatched child. `with_derived` adds these, `dags`, `nodes` and `deployments` to
the recorder's tables, and keeps only the tables a scenario's `metrics.tables` names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.metrics import strings
from sim.metrics.deployments import DEPLOYMENTS_SCHEMA, deployments_table
from sim.metrics.heap import trim_heap
from sim.metrics.schema import SCHEMA
from sim.metrics.series import TERMINAL_CLIENT, running_intervals
from sim.scenario.topology import NODES_SCHEMA
from sim.workload.dags import DAGS_SCHEMA, critical_path, dags_table

if TYPE_CHECKING:
    from sim.workload.dags import Workflow
    from sim.workload.replay import Workload
    from sim.world import World

BATCH_TYPES = ("batch", "sysbatch")
# Bounded slowdown's threshold (Feitelson et al., "Theory and practice in parallel job scheduling"):
# runs shorter than this count as this long, so a 1 s job waiting 10 s does not dominate the mean.
BSLD_TAU = 10.0

# column -> (dtype, meaning)
JOBS_SCHEMA: list[tuple[str, str, str]] = [
    ("job_id", "string", "job ID"),
    ("namespace", "string", "namespace"),
    ("parent_id", "string", "periodic or parameterized parent (empty for none)"),
    ("type", "string", "job type"),
    ("priority", "int64", "priority of the first version"),
    ("submit", "float64", "simulated seconds of the job's first write (registration, dispatch, launch)"),
    ("versions", "int64", "job writes (registrations that changed it, stop, purge)"),
    ("status", "string", "final status (pending, running, dead; purged when gone)"),
    ("stopped", "bool", "stopped by a deregister"),
    ("desired_allocs", "int64", "sum of the group counts of the final version"),
    ("placed_allocs", "int64", "allocations placed (placements rows)"),
    ("failed_allocs", "int64", "allocations that failed or were lost"),
    ("first_placement", "float64", "first placement time (NaN if none)"),
    ("all_started", "float64", "when desired_allocs allocs had started running (NaN if never)"),
    ("completed", "float64", "for a dead job: its last alloc's terminal transition (NaN otherwise)"),
    ("succeeded", "bool", "dead, not stopped, every group's count of allocs complete"),
    ("makespan", "float64", "batch jobs: completed - submit"),
    ("runtime", "float64", "longest run (first running to terminal) of any of its allocs"),
    ("slowdown", "float64", "batch jobs: makespan / runtime"),
    ("wait", "float64", "all_started - submit: from submission until every desired alloc ran (NaN if never)"),
    ("bounded_slowdown", "float64", f"batch jobs: max(1, makespan / max(runtime, {BSLD_TAU:g} s))"),
    ("dag", "string", "the DAG of `after` dependencies the job belongs to (empty for none)"),
    ("on_critical_path", "bool", "the job lies on its DAG's critical path"),
    ("dag_critical_path", "string", "its DAG's critical path (as in the dags table; empty outside a DAG)"),
    ("dag_makespan", "float64", "its DAG's makespan (NaN outside a DAG or while it runs)"),
]

CHILDREN_SCHEMA: list[tuple[str, str, str]] = [
    ("parent_id", "string", "periodic or parameterized parent job"),
    ("child_id", "string", "child job ID"),
    ("kind", "string", "periodic or dispatch"),
    ("outcome", "string", "launched, forced, skipped (periodic ProhibitOverlap) or dispatched"),
    ("launch", "float64", "simulated seconds of the launch or dispatch"),
    ("status", "string", "the child's final status (empty when skipped)"),
    ("first_placement", "float64", "the child's first placement"),
    ("completed", "float64", "the child's completion (NaN unless dead)"),
    ("duration", "float64", "completed - launch"),
    ("runtime", "float64", "longest run of any of the child's allocs"),
]


def _typed(rows: list[tuple] | pd.DataFrame, schema: list[tuple[str, str, str]]) -> pd.DataFrame:
    cols = [c for c, _, _ in schema]
    if isinstance(rows, pd.DataFrame):
        frame = rows[cols]
    elif rows:
        frame = pd.DataFrame.from_records(rows, columns=cols)
    else:
        frame = pd.DataFrame({c: pd.Series(dtype=t) for c, t, _ in schema})
    return frame.astype({c: t for c, t, _ in schema})


def _job_rows(job_log: dict, state: Any) -> pd.DataFrame:
    """Identity, final state and desired size of every logged job."""
    rows = []
    for (ns, job_id), (submit, jtype, parent, priority, writes) in job_log.items():
        job = state.job_by_id(ns, job_id)
        if job is None:
            rows.append((job_id, ns, parent, jtype, priority, submit, writes, "purged", True, 0, False))
            continue
        summary = state.job_summary(ns, job_id)
        ok = job.status == "dead" and not job.stop and summary is not None and all(
            (g := summary.summary.get(tg.name)) is not None and g.complete >= tg.count for tg in job.task_groups)
        rows.append((job_id, ns, parent, jtype, priority, submit, writes, job.status, bool(job.stop),
                     sum(tg.count for tg in job.task_groups), bool(ok)))
    cols = ["job_id", "namespace", "parent_id", "type", "priority", "submit", "versions", "status", "stopped",
            "desired_allocs", "succeeded"]
    return pd.DataFrame.from_records(rows, columns=cols)


def _kth_start(runs: pd.DataFrame, desired: pd.Series) -> pd.Series:
    """Per job: the start time of its `desired`-th alloc to start (NaN if fewer started)."""
    if runs.empty:
        return pd.Series(dtype=float)
    job, jobs = pd.factorize(runs["job_id"])  # (by code, not by string: the ranks within a job are the same)
    start = runs["start"].to_numpy(float)
    order = np.lexsort((start, job))  # (stable: equal starts keep their order)
    job, start = job[order], start[order]
    rank = np.arange(1, len(job) + 1) - np.searchsorted(job, job, side="left")
    want = np.append(pd.Series(jobs).map(desired).to_numpy(float), np.nan)  # (NA job: code -1, no hit)
    hit = rank == want[job]
    return pd.Series(start[hit], index=jobs[job[hit]])


def jobs_table(jobs: pd.DataFrame, tables: dict[str, pd.DataFrame], dags: dict[str, str] | None = None,
               critical: set[str] | None = None, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """The `jobs` table (JOBS_SCHEMA) from the jobs' rows of `_job_rows` (the table takes them
    over); `runs` are the allocs' running intervals if already computed."""
    if jobs.empty:
        return _typed([], JOBS_SCHEMA)
    placements, allocs = tables["placements"], tables["allocations"]
    ids = jobs["job_id"]
    # per job over the rows that count, the others' times masked (NaN) rather than the rows copied
    placed = placements["time"].where(placements["alloc_id"] != "").groupby(placements["job_id"])
    jobs["placed_allocs"] = ids.map(placed.count()).fillna(0).astype("int64")
    jobs["first_placement"] = ids.map(placed.min())
    del placed  # (its arrays as long as the placements: freed before the allocations' are made)
    runs = running_intervals(allocs) if runs is None else runs
    status = allocs["client_status"]
    bad = allocs.loc[status.isin(("failed", "lost")), ["alloc_id", "job_id"]].drop_duplicates("alloc_id")
    jobs["failed_allocs"] = ids.map(bad.groupby("job_id").size()).fillna(0).astype("int64")
    jobs["all_started"] = ids.map(_kth_start(runs, jobs.set_index("job_id")["desired_allocs"]))
    ended = allocs["time"].where(status.isin(TERMINAL_CLIENT)).groupby(allocs["job_id"]).max()
    jobs["completed"] = ids.map(ended).where(jobs["status"] == "dead")
    batch = jobs["type"].isin(BATCH_TYPES)
    jobs["makespan"] = (jobs["completed"] - jobs["submit"]).where(batch)
    jobs["runtime"] = ids.map((runs["end"] - runs["start"]).groupby(runs["job_id"]).max())
    jobs["slowdown"] = (jobs["makespan"] / jobs["runtime"].where(jobs["runtime"] > 0)).where(batch)
    jobs["wait"] = jobs["all_started"] - jobs["submit"]
    jobs["bounded_slowdown"] = (jobs["makespan"] / jobs["runtime"].clip(lower=BSLD_TAU)).clip(lower=1.0).where(batch)
    jobs["dag"] = ids.map(lambda j: (dags or {}).get(j, ""))
    jobs["on_critical_path"] = ids.isin(critical or set())
    jobs["dag_critical_path"] = ""
    jobs["dag_makespan"] = math.nan
    return _typed(jobs, JOBS_SCHEMA)


def children_table(jobs: pd.DataFrame, launches: list[Any]) -> pd.DataFrame:
    """The `children` table (CHILDREN_SCHEMA): periodic launches, then dispatched children."""
    info = jobs.set_index("job_id")
    rows = []
    for launch in launches:
        outcome = launch.outcome
        rows.append((launch.parent_id, launch.child_id, "periodic", outcome, float(launch.time)))
    dispatched = jobs[(jobs["parent_id"] != "") & jobs["job_id"].str.contains("/dispatch-", regex=False)]
    for child, parent, submit in zip(dispatched["job_id"], dispatched["parent_id"], dispatched["submit"], strict=True):
        rows.append((parent, child, "dispatch", "dispatched", float(submit)))
    out = []
    for parent, child, kind, outcome, launch in rows:
        if child in info.index and outcome != "skipped":
            row = info.loc[child]
            status, first, done, runtime = str(row["status"]), row["first_placement"], row["completed"], row["runtime"]
        else:
            status, first, done, runtime = "", math.nan, math.nan, math.nan
        out.append((parent, child, kind, outcome, launch, status, first, done, done - launch, runtime))
    return _typed(out, CHILDREN_SCHEMA)


@dataclass
class FinalState:
    """What the derived tables read from a run's final state (and workload): taken before the
    recorder's tables are built, so the state can be released first (`Simulation.final_results`)."""

    jobs: pd.DataFrame  # the jobs' rows of `_job_rows`
    launches: list[Any]  # the periodic launches
    workflow: Workflow | None  # (it holds the state: a run with DAGs keeps it until its tables are built)
    nodes: pd.DataFrame  # the nodes table
    deployments: pd.DataFrame  # the deployments table
    keep: Collection[str] | None  # the tables the scenario's `metrics.tables` names (None: all)


def final_state(sim: World, workload: Workload) -> FinalState:
    """The final state's part of the derived tables, read now."""
    periodic = getattr(sim.server, "periodic", None)
    return FinalState(_job_rows(sim.recorder.job_log, sim.state), list(getattr(periodic, "launches", []) or []),
                      workload.workflow, workload.topology.frame(), deployments_table(sim.state),
                      sim.scenario.metrics.tables)


def named_emit(final: FinalState, emit: Callable[[str, pd.DataFrame], None]) -> Callable[[str, pd.DataFrame], None]:
    """`emit` of the recorder's tables as `with_derived` gives them (node names added; none of
    the tables the scenario does not keep)."""
    names = dict(zip(final.nodes["node_id"], final.nodes["name"], strict=True))

    def named(name: str, table: pd.DataFrame) -> None:
        if final.keep is None or name in final.keep:
            emit(name, with_node_names({name: table}, names)[name])

    return named


def with_derived(final: FinalState, tables: dict[str, pd.DataFrame],
                 runs: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The recorder's `tables` with those built from the final state; `runs` are the allocs'
    running intervals if already computed."""
    workflow = final.workflow
    membership = workflow.job_dags() if workflow is not None else {}
    out = dict(tables)
    jobs = jobs_table(final.jobs, tables, membership, runs=runs)
    del runs
    trim_heap()  # (what the jobs table's group-bys freed, before the node names are built)
    if workflow is not None:
        durations = dict(zip(jobs["job_id"], (jobs["completed"] - jobs["submit"]).to_numpy(float), strict=True))
        critical = {j for comp in workflow.components()
                    for j in critical_path(workflow.graph.subgraph(comp), durations)[0]}
        jobs["on_critical_path"] = jobs["job_id"].isin(critical)
    out["jobs"] = jobs
    out["children"] = children_table(jobs, final.launches)
    out["dags"] = dags = dags_table(workflow, jobs)
    if len(dags):
        per_dag = dags.set_index("dag")
        jobs["dag_critical_path"] = jobs["dag"].map(per_dag["critical_path"]).fillna("").astype("string")
        jobs["dag_makespan"] = jobs["dag"].map(per_dag["makespan"]).astype("float64")
    out["nodes"] = nodes = final.nodes
    out["deployments"] = final.deployments
    out["wait_times"] = wait_times_table(jobs)
    out = with_node_names(out, dict(zip(nodes["node_id"], nodes["name"], strict=True)))
    if final.keep is not None:
        out = {name: frame for name, frame in out.items() if name in final.keep}
    return out


def table_schemas() -> dict[str, list[tuple[str, str, str]]]:
    """Every results table's documented columns: (column, dtype, meaning)."""
    named = {name: _named_schema(cols) for name, cols in SCHEMA.items()}
    return {**named, "jobs": JOBS_SCHEMA, "children": CHILDREN_SCHEMA, "dags": DAGS_SCHEMA,
            "nodes": NODES_SCHEMA, "deployments": DEPLOYMENTS_SCHEMA, "wait_times": WAIT_TIMES_SCHEMA}


def _named_schema(cols: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    out = []
    for col in cols:
        out.append(col)
        if col[0] == "node_id":
            out.append(NODE_NAME)
    return out


NODE_NAME = ("node_name", "string", "name of node_id (empty when there is no node)")


def with_node_names(tables: dict[str, pd.DataFrame], names: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Every table with a node_id column gets node_name right after it (the nodes table has `name`)."""
    out = {}
    for table, frame in tables.items():
        if "node_id" in frame.columns and "node_name" not in frame.columns and table != "nodes":
            frame = frame.copy(deep=False)
            at = frame.columns.get_loc("node_id") + 1
            frame.insert(at, "node_name", _names(frame["node_id"], names))
        out[table] = frame
    return out


def _names(node_ids: pd.Series, names: dict[str, str]) -> pd.Series:
    """The name of each node ID ("" for none), mapped once per distinct ID."""
    made = strings.mapped(node_ids, names, "")
    if made is not None:
        return pd.Series(made, index=node_ids.index)
    codes, distinct = pd.factorize(node_ids)  # (NA: -1, the last name below)
    table = [*pd.Series(distinct, dtype=object).map(names).fillna(""), ""]
    made = strings.from_codes(np.where(codes < 0, len(table) - 1, codes), table)
    return pd.Series(made, index=node_ids.index) if made is not None else node_ids.map(names).fillna("").astype("string")


WAIT_TIMES_SCHEMA: list[tuple[str, str, str]] = [
    ("type", "string", "job type"),
    ("priority", "int64", "job priority"),
    ("jobs", "int64", "jobs of this type and priority"),
    ("started", "int64", "of which every desired alloc ran (the wait is known)"),
    ("wait_p50", "float64", "median of jobs.wait (submission until every desired alloc ran)"),
    ("wait_p95", "float64", "95th percentile of the same"),
    ("wait_p99", "float64", "99th percentile of the same"),
]


def wait_times_table(jobs: pd.DataFrame) -> pd.DataFrame:
    """The `wait_times` table: wait from submission to running per job type and priority."""
    rows = []
    for (jtype, priority), group in jobs.groupby(["type", "priority"], sort=True):
        wait = group["wait"].dropna().to_numpy(float)
        q = [float(np.quantile(wait, p)) if wait.size else math.nan for p in (0.5, 0.95, 0.99)]
        rows.append((str(jtype), int(priority), len(group), int(wait.size), *q))
    return _typed(rows, WAIT_TIMES_SCHEMA)
