"""Job dependencies: workload `register` actions with `after: [job ids]` form a DAG.

At load time the scenario's `after` edges become a networkx DiGraph (parent → dependent) that
must be acyclic; the error names the key path of the register that closes the cycle. At run time
a `Workflow` plays the workflow engine that sits in front of Nomad: it registers a job once its
`at` has come and every parent has completed (job dead with every group's count of allocs
complete); a parent that is stopped or ends with failures skips its dependents (recorded as
rejected actions). Completions are noticed from state writes that touch the jobs table, checking
only the parents still awaited. The `dags` results table reports each DAG (a weakly connected
component, named after its first job in workload order): makespan and critical path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import networkx as nx
import pandas as pd

from sim.errors import ScenarioError, SimError

if TYPE_CHECKING:
    import simpy

    from sim.scenario.actions import Register
    from sim.state.store import StateStore

NAMESPACE = "default"

# column -> (dtype, meaning) of the `dags` table
DAGS_SCHEMA: list[tuple[str, str, str]] = [
    ("dag", "string", "the DAG's name: its first job in workload order"),
    ("jobs", "int64", "jobs in the DAG"),
    ("completed_jobs", "int64", "jobs that completed successfully"),
    ("status", "string", "complete, failed (a job failed or was skipped) or running"),
    ("start", "float64", "first submit of a job of the DAG"),
    ("end", "float64", "last completion (NaN unless complete)"),
    ("makespan", "float64", "end - start"),
    ("critical_path", "string", "longest chain by job duration, jobs joined by ' -> '"),
    ("critical_path_length", "float64", "sum of the durations (completed - submit) along it"),
]


def after_graph(registers: Sequence[tuple[int, Register]]) -> nx.DiGraph:
    """Edges parent → dependent for every `after`; vertex attribute `index` is the workload position."""
    graph = nx.DiGraph()
    for i, action in registers:
        job = action.source.job_id
        if job and job not in graph:
            graph.add_node(job, index=i)
    for _, action in registers:
        for parent in action.after if action.source.job_id else ():
            graph.add_edge(parent, action.source.job_id)
    return graph


def check_after(registers: Sequence[tuple[int, Register]]) -> list[str]:
    """The jobs of the `after` graph in a topological order (ties in workload order).

    Raises:
        ScenarioError: at `workload[i].after` of the register whose job starts the cycle found first.
    """
    graph = after_graph(registers)
    order = _workload_order(graph)
    waits_for = graph.reverse(copy=False)
    try:
        cycle = nx.find_cycle(waits_for, source=order)
    except nx.NetworkXNoCycle:
        return list(nx.lexicographical_topological_sort(graph, key=lambda j: (_index(graph, j), j)))
    jobs = [u for u, _ in cycle] + [cycle[0][0]]
    raise ScenarioError(f"workload[{graph.nodes[jobs[0]]['index']}].after", f"cycle in after: {' -> '.join(jobs)}")


def _index(graph: nx.DiGraph, job: str) -> float:
    return graph.nodes[job].get("index", math.inf)


def _workload_order(graph: nx.DiGraph) -> list[str]:
    return sorted(graph, key=lambda j: (_index(graph, j), j))


class Workflow:
    """Registers the workload's dependent jobs when their parents complete.

    Args:
        env: the simulation's environment.
        state: the state store (subscribed to, read for job status and summaries).
        registers: every `(position, Register)` of the workload (dependent or not: a DAG's roots
            are plain registers).
        submit: registers the job of a Register action; False when it was rejected (and recorded).
        reject: records an action that will not run: (action kind, job id, message).
    """

    def __init__(self, env: simpy.Environment, state: StateStore, registers: Sequence[tuple[int, Register]],
                 submit: Callable[[Register], bool], reject: Callable[[str, str, str], None]):
        self.env = env
        self.state = state
        self.graph = after_graph(registers)
        self.submit = submit
        self.reject = reject
        self.armed: dict[str, Register] = {}          # `at` passed, waiting for parents
        self.outcome: dict[str, bool] = {}            # parent job -> completed successfully?
        self.completed_at: dict[str, float] = {}
        self.released_at: dict[str, float] = {}
        self._watched = {p for p in self.graph if self.graph.out_degree(p)}
        self._release_armed = False
        state.subscribe(self._on_write)

    def arm(self, action: Register) -> None:
        """The action's `at` has come: register now if its parents are done, else wait."""
        job = action.source.job_id
        if job is None:  # only jobs of the graph are armed, and every one has an ID
            raise SimError("a register action without a job ID cannot wait for other jobs")
        self.armed[job] = action
        self._release()

    def _on_write(self, _index: int, tables: frozenset[str]) -> None:
        if "jobs" not in tables or not self._watched:
            return
        changed = False
        for parent in sorted(self._watched):
            job = self.state.job_by_id(NAMESPACE, parent)
            if job is not None and job.status == "dead":
                self._watched.discard(parent)
                self.outcome[parent] = self._succeeded(job)
                self.completed_at[parent] = float(self.env.now)
                changed = True
        if changed and not self._release_armed:  # register outside the state write that noticed it
            self._release_armed = True
            self.env.timeout(0).callbacks.append(lambda _e: self._release())

    def _succeeded(self, job: Any) -> bool:
        if job.stop:
            return False
        summary = self.state.job_summary(NAMESPACE, job.id)
        if summary is None:
            return False
        return all(summary.summary.get(tg.name) is not None and summary.summary[tg.name].complete >= tg.count
                   for tg in job.task_groups)

    def _release(self) -> None:
        """Register (or skip) every armed job whose parents are all decided, until none is left."""
        self._release_armed = False
        progress = True
        while progress:
            progress = False
            for job in sorted(self.armed, key=lambda j: (_index(self.graph, j), j)):
                parents = list(self.graph.predecessors(job))
                if any(p not in self.outcome for p in parents):
                    continue
                progress = True
                action = self.armed.pop(job)
                failed = [p for p in parents if not self.outcome[p]]
                if failed:
                    self._skip(job, failed[0])
                    continue
                self.released_at[job] = float(self.env.now)
                if not self.submit(action):  # rejected: its dependents will never run
                    self.outcome[job] = False
                    self._watched.discard(job)

    def _skip(self, job: str, parent: str) -> None:
        """A dependent of a failed job never runs; neither do its own dependents."""
        self.reject("register", job, f"job {job!r} not registered: parent {parent!r} did not complete successfully")
        self.outcome[job] = False
        self._watched.discard(job)

    # -- results ------------------------------------------------------------------------------

    def components(self) -> list[list[str]]:
        """Each DAG's jobs in topological order, DAGs ordered by their first job."""
        comps = []
        for comp in nx.weakly_connected_components(self.graph):
            sub = self.graph.subgraph(comp)
            comps.append(list(nx.lexicographical_topological_sort(sub, key=lambda j: (_index(self.graph, j), j))))
        return sorted((c for c in comps if len(c) > 1), key=lambda c: min(_index(self.graph, j) for j in c))

    def job_dags(self) -> dict[str, str]:
        """Job ID -> the name of its DAG (jobs outside any DAG are absent)."""
        return {job: comp[0] for comp in self.components() for job in comp}


def critical_path(graph: nx.DiGraph, durations: dict[str, float]) -> tuple[list[str], float]:
    """The chain of jobs with the largest total duration (NaN durations count as 0)."""
    weight = {j: (0.0 if not math.isfinite(durations.get(j, math.nan)) else durations[j]) for j in graph}
    best: dict[str, tuple[float, str | None]] = {}
    for job in nx.lexicographical_topological_sort(graph, key=lambda j: (_index(graph, j), j)):
        parents = sorted(graph.predecessors(job), key=lambda p: (-best[p][0], _index(graph, p), p))
        base, via = (best[parents[0]][0], parents[0]) if parents else (0.0, None)
        best[job] = (base + weight[job], via)
    end = max(best, key=lambda j: (best[j][0], -_index(graph, j)))
    path: list[str] = []
    node: str | None = end
    while node is not None:
        path.append(node)
        node = best[node][1]
    return path[::-1], best[end][0]


def dags_table(workflow: Workflow | None, jobs: pd.DataFrame) -> pd.DataFrame:
    """The `dags` table (DAGS_SCHEMA) from the workflow's graph and the `jobs` table."""
    cols = [c for c, _, _ in DAGS_SCHEMA]
    rows = []
    if workflow is not None:
        info = jobs.set_index("job_id")
        for comp in workflow.components():
            rows.append(_dag_row(workflow, comp, info))
    frame = pd.DataFrame.from_records(rows, columns=cols)
    return frame.astype({c: t for c, t, _ in DAGS_SCHEMA})


def _dag_row(workflow: Workflow, comp: list[str], info: pd.DataFrame) -> tuple:
    submit = info["submit"].reindex(comp)
    done = info["completed"].reindex(comp)
    succeeded = info["succeeded"].reindex(comp).fillna(False).astype(bool)
    ended_badly = info["status"].reindex(comp).eq("dead") & ~succeeded
    path, length = critical_path(workflow.graph.subgraph(comp), (done - submit).to_dict())
    failed = bool(ended_badly.any()) or any(workflow.outcome.get(j) is False for j in comp)
    status = "complete" if succeeded.all() else ("failed" if failed else "running")
    start = float(submit.min()) if submit.notna().any() else math.nan
    end = float(done.max()) if status == "complete" else math.nan
    return (comp[0], len(comp), int(succeeded.sum()), status, start, end, end - start, " -> ".join(path), length)
