"""Settled allocs: the part of a job's allocs the reconciler treats the same way on every run.

A big batch job keeps its finished allocs, and each run of its blocked eval reconciles all of
them again. An alloc is *settled* when it is client-terminal and its fate in `reconcile` depends
only on its own fields and the job version (no node, time, eval or deployment input):

- DROPPED: server-terminal, dropped by filter_server_terminal_allocs;
- OLD: (batch) terminal of an older job version, ignored by filter_old_terminal_allocs;
- IGNORED: server-terminal batch alloc kept for Count, classified ignore;
- REPLACED: terminal with a next allocation, dropped by filter_by_rescheduleable;
- FILTERED: (service) complete or lost, ignored by should_filter;
- UNTAINTED: (batch) finished without failing: untainted, holds its name, counts towards
  Count, and is ignored by computeUpdates (same JobModifyIndex).

Failed, migrating and still running allocs are never settled. A batch job's *plain* live allocs
(pending or running as desired, no transition, of the job's version, on nodes that are not
tainted) are not settled but are summarised the same way: reconcile treats them exactly as
UNTAINTED ones (untainted, holding their names, counting towards Count, ignored by
computeUpdates), and a big job has thousands of them.

`SettledIndex` keeps, per job, the unsettled allocs in creation order (the plain live ones
marked) and per group a summary of the settled and plain ones, updated by the delta: only the
allocs in the state's record of alloc writes are looked at again; `reconcile` takes the other
allocs plus the summary (its result is the same as with every alloc,
tests/scheduler/reconciler/test_settled.py). The unsettled allocs come with the per-group node
counts of those not client-terminal (`JobCounts`, kept from the same writes), which the stack
starts from instead of counting every alloc again. The index lives in
`StateStore.derived`; it is a pure function of the store, so runs stay deterministic.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sim.scheduler.feasible.proposed import CountedAllocs, JobCounts
from sim.scheduler.reconciler.names import IndexMultiset
from sim.state.node_table import NodeTable
from sim.structs.alloc import Allocation
from sim.structs.consts import (
    ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_PENDING,
    ALLOC_CLIENT_RUNNING,
    ALLOC_DESIRED_RUN,
    CLIENT_TERMINAL,
    JOB_TYPE_BATCH,
    NODE_STATUS_DISCONNECTED,
    NODE_STATUS_DOWN,
    SERVER_TERMINAL,
)
from sim.structs.deployment import Deployment
from sim.structs.job import Job

DROPPED, OLD, IGNORED, REPLACED, FILTERED, UNTAINTED = range(6)
MAX_JOBS = 1024  # job summaries kept (least recently used dropped; rebuilt on demand)
Stamp = tuple[bool, int, int, int]  # (batch, version, create index, job modify index)
Part = tuple[int, bool, str]  # what a settled alloc was counted as: (fate, same version, deployment)


def settled_fate(alloc: Allocation, stamp: Stamp) -> int | None:
    """The alloc's fate if settled under this job version, else None.

    Mirrors reconcile's filters for a client-terminal alloc: filter_server_terminal_allocs,
    filter_old_terminal_allocs, classify_allocs, filter_by_rescheduleable and compute_updates.
    """
    if alloc.client_status not in CLIENT_TERMINAL:
        return None
    batch, version, create_index, modify_index = stamp
    job, transition = alloc.job, alloc.desired_transition
    server_terminal = alloc.desired_status in SERVER_TERMINAL
    if server_terminal and not (job.type == JOB_TYPE_BATCH and not transition.reschedule):
        return DROPPED
    if batch and (job.version < version or job.create_index < create_index):
        return OLD
    if server_terminal:
        return IGNORED
    if transition.migrate and alloc.is_canary():
        return None  # migrates
    if alloc.next_allocation:
        return REPLACED
    if alloc.client_status == ALLOC_CLIENT_FAILED or transition.reschedule:
        return None  # a reschedule candidate
    if not batch:
        return FILTERED
    if alloc.desired_status != ALLOC_DESIRED_RUN or job.job_modify_index != modify_index:
        return None
    return UNTAINTED


def plain_live(alloc: Allocation, stamp: Stamp) -> bool:
    """Whether a batch job's live alloc is one reconcile treats as a settled UNTAINTED one while
    its node is not tainted: pending or running as desired, no transition, no canary, of the
    job's version (filter_by_rescheduleable's untainted batch case, ignored by computeUpdates)."""
    if not stamp[0] or (alloc.client_status != ALLOC_CLIENT_RUNNING and alloc.client_status != ALLOC_CLIENT_PENDING):
        return False
    job, transition = alloc.job, alloc.desired_transition
    return (alloc.desired_status == ALLOC_DESIRED_RUN and not transition.migrate and not transition.reschedule
            and not transition.force_reschedule and not alloc.is_canary() and job.job_modify_index == stamp[3]
            and job.version == stamp[1] and job.create_index == stamp[2])


@dataclass(slots=True)
class SettledGroup:
    """What one task group's settled allocs add to a reconcile."""

    total: int = 0  # settled allocs of any fate
    old: int = 0  # du.ignore from filter_old_terminal_allocs
    ignored: int = 0  # du.ignore from classify_allocs
    untainted: int = 0  # untainted (and du.ignore from compute_updates)
    same_version: int = 0  # kept past filter_old_terminal_allocs, of the job's version
    names: IndexMultiset = field(default_factory=IndexMultiset)  # untainted ones' name indexes
    deployments: dict[str, int] = field(default_factory=dict)  # untainted ones' deployment IDs

    def count(self, alloc: Allocation, part: Part, sign: int) -> None:
        """Add (sign 1) or take back (sign -1) one alloc's part (its name and group never change)."""
        fate, same_version, deployment_id = part
        self.total += sign
        if fate == OLD:
            self.old += sign
            return
        if fate == DROPPED:
            return
        self.same_version += sign * same_version
        if fate == IGNORED:
            self.ignored += sign
        elif fate == UNTAINTED:
            self.untainted += sign
            if sign > 0:
                self.names.add(alloc.index())
            else:
                self.names.remove(alloc.index())
            if deployment_id:
                left = self.deployments.get(deployment_id, 0) + sign
                if left:
                    self.deployments[deployment_id] = left
                else:
                    del self.deployments[deployment_id]


class _JobSettled:
    """One job's allocs split into unsettled ones (in creation order) and settled summaries."""

    __slots__ = ("stamp", "version", "create_index", "unsettled", "fate", "groups", "seen", "stale", "_parts",
                 "plain", "nodes", "counts")

    def __init__(self, stamp: Stamp, table: NodeTable) -> None:
        self.stamp = stamp
        self.version, self.create_index = stamp[1], stamp[2]
        self.unsettled: dict[str, Allocation] = {}
        self.fate: dict[str, Part] = {}  # settled alloc ID -> its part
        self.groups: dict[str, SettledGroup] = {}
        self.seen = 0  # allocs of the job learnt, in creation order
        self.stale = False  # a settled alloc stopped being settled: rebuild
        self._parts: dict[Part, Part] = {}  # one tuple per distinct part
        self.plain: dict[str, Part] = {}  # unsettled plain live alloc ID -> its part (as UNTAINTED)
        self.nodes: dict[str, int] = {}  # the plain live allocs' nodes (how many on each)
        self.counts = JobCounts(table)  # the unsettled allocs that are not client-terminal (the stack's start)

    def _part(self, alloc: Allocation, fate: int) -> Part:
        job = alloc.job
        part = (fate, job.version == self.version and job.create_index == self.create_index, alloc.deployment_id)
        return self._parts.setdefault(part, part)

    def _settle(self, alloc: Allocation, fate: int) -> None:
        part = self.fate[alloc.id] = self._part(alloc, fate)
        self._group(alloc).count(alloc, part, 1)

    def _leave_node(self, alloc: Allocation) -> None:
        left = self.nodes[alloc.node_id] - 1
        if left:
            self.nodes[alloc.node_id] = left
        else:
            del self.nodes[alloc.node_id]

    def _group(self, alloc: Allocation) -> SettledGroup:
        group = self.groups.get(alloc.task_group)
        if group is None:
            group = self.groups[alloc.task_group] = SettledGroup()
        return group

    def _mark_plain(self, alloc: Allocation, plain: bool) -> None:
        """Count a live alloc in the summary (plain) or take it back out."""
        if plain:
            part = self.plain[alloc.id] = self._part(alloc, UNTAINTED)
            self.nodes[alloc.node_id] = self.nodes.get(alloc.node_id, 0) + 1
            self._group(alloc).count(alloc, part, 1)
            return
        self._group(alloc).count(alloc, self.plain.pop(alloc.id), -1)
        self._leave_node(alloc)

    def learn(self, alloc: Allocation) -> None:
        """A new alloc of the job (in creation order)."""
        fate = settled_fate(alloc, self.stamp)
        if fate is None:
            self.unsettled[alloc.id] = alloc
            self.counts.set(alloc, alloc.client_status not in CLIENT_TERMINAL)
            if plain_live(alloc, self.stamp):
                self._mark_plain(alloc, True)
        else:
            self._settle(alloc, fate)

    def refresh(self, alloc: Allocation) -> None:
        """An alloc of the job was written: count, settle and summarise it as it now is."""
        alloc_id = alloc.id
        if alloc_id in self.unsettled:
            live = alloc.client_status not in CLIENT_TERMINAL
            self.counts.set(alloc, live)
            fate = None if live else settled_fate(alloc, self.stamp)
            if fate is None:
                now_plain = plain_live(alloc, self.stamp)
                if now_plain != (alloc_id in self.plain):
                    self._mark_plain(alloc, now_plain)
            else:
                del self.unsettled[alloc_id]
                plain = self.plain.get(alloc_id)
                if plain is not None and plain is self._part(alloc, fate):  # counted as it settles: moves
                    del self.plain[alloc_id]
                    self._leave_node(alloc)
                    self.fate[alloc_id] = plain
                    return
                if plain is not None:
                    self._mark_plain(alloc, False)
                self._settle(alloc, fate)
            return
        old = self.fate.get(alloc_id)
        if old is None:
            return  # not learnt yet: learnt later with its fields as they are then
        fate = settled_fate(alloc, self.stamp)
        if fate is None:
            self.stale = True  # back among the unsettled, at its place in creation order
            return
        part = self._part(alloc, fate)
        if part is not old:
            group = self.groups[alloc.task_group]
            group.count(alloc, old, -1)
            self.fate[alloc_id] = part
            group.count(alloc, part, 1)

    def size(self) -> int:
        return len(self.unsettled) + len(self.fate)


class SettledIndex:
    """Per job: unsettled allocs plus settled summaries, kept in step with one state store."""

    def __init__(self, max_jobs: int = MAX_JOBS) -> None:
        self.max_jobs = max_jobs
        self._jobs: OrderedDict[tuple[str, str], _JobSettled] = OrderedDict()
        self.fast_runs = 0  # reconciles given the summary (diagnostics)
        self.full_runs = 0
        self._healthy: tuple[int, frozenset[str]] = (-1, frozenset())  # (node table version, untainted nodes)

    def _sync(self, state: Any, key: tuple[str, str], stamp: Stamp) -> _JobSettled:
        """The job's entry, up to date with every write the state made since the last call."""
        jobs = self._jobs
        for alloc in state.take_alloc_writes():
            entry = jobs.get((alloc.namespace, alloc.job_id))
            if entry is not None:
                entry.refresh(alloc)
        entry = jobs.get(key)
        total = state.job_alloc_count(*key)
        if entry is None or entry.stamp != stamp or entry.stale:
            entry = jobs[key] = _JobSettled(stamp, state.nodes)
            for alloc in state.allocs_by_job(*key):
                entry.learn(alloc)
        elif total > entry.seen:
            for alloc in state.job_allocs_after(*key, entry.seen):
                entry.learn(alloc)
        entry.seen = total
        jobs.move_to_end(key)
        while len(jobs) > self.max_jobs:
            jobs.popitem(last=False)
        return entry

    def view(
        self, state: Any, job: Job | None, namespace: str, job_id: str, batch: bool, deployment: Deployment | None
    ) -> tuple[list[Allocation], dict[str, SettledGroup] | None, list[Allocation]]:
        """(allocs, summaries by group, unsettled allocs) for `reconcile`: the unsettled allocs
        but the plain live ones, the summaries of the settled and plain ones when they give the
        same result, and every unsettled alloc in creation order (every non-terminal one among
        them); else every alloc, None and every alloc."""
        if job is None or job.stopped():
            self.full_runs += 1
            allocs = state.allocs_by_job(namespace, job_id)
            return allocs, None, allocs
        stamp = (batch, job.version, job.create_index, job.job_modify_index)
        entry = self._sync(state, (namespace, job_id), stamp)
        unsettled = CountedAllocs(entry.unsettled.values(), entry.counts)
        plain = entry.plain
        # (every plain alloc is unsettled: when all of them are plain, none is live)
        live = unsettled if not plain else [] if len(plain) == len(unsettled) else [a for a in unsettled if a.id not in plain]
        groups = {name: g for name, g in entry.groups.items() if g.total}
        if groups and (not _applies(job, deployment, entry, groups, live)
                       or (entry.nodes and not entry.nodes.keys() <= self._untainted_nodes(state))):
            self.full_runs += 1
            allocs = CountedAllocs(state.allocs_by_job(namespace, job_id), entry.counts)  # (the settled ones count nowhere)
            return allocs, None, allocs
        self.fast_runs += 1
        return live, groups, unsettled

    def _untainted_nodes(self, state: Any) -> frozenset[str]:
        """The registered nodes that are not down, disconnected or draining (node_sets.tainted_nodes)."""
        table = state.nodes
        if self._healthy[0] != table.version:
            untainted = frozenset(
                n.id for n in table.live()
                if n.status != NODE_STATUS_DOWN and n.status != NODE_STATUS_DISCONNECTED and not n.drain
            )
            self._healthy = (table.version, untainted)
        return self._healthy[1]


def _applies(
    job: Job, deployment: Deployment | None, entry: _JobSettled, groups: dict[str, SettledGroup],
    live: list[Allocation],
) -> bool:
    """Whether reconciling `live` plus the summaries is exact: every settled alloc is in a group
    of the job with a Count, none is a canary of the deployment (nor in it, for the MaxParallel
    health count), and no group can have more allocs than its Count (no stop beyond Count)."""
    if deployment is not None:
        for state in deployment.task_groups.values():
            if any(cid in entry.fate for cid in state.placed_canaries):
                return False
    live_count: dict[str, int] = {}
    for alloc in live:
        live_count[alloc.task_group] = live_count.get(alloc.task_group, 0) + 1
    for name, group in groups.items():
        tg = job.lookup_task_group(name)
        if tg is None or not tg.count:
            return False
        if deployment is not None and deployment.id in group.deployments:
            return False
        if group.untainted + live_count.get(name, 0) > tg.count:
            return False
    return True


def job_allocs(
    state: Any, job: Job | None, namespace: str, job_id: str, batch: bool, deployment: Deployment | None
) -> tuple[list[Allocation], dict[str, SettledGroup] | None, list[Allocation]]:
    """`SettledIndex.view` on the state's index (made on first use); a state without one gives
    every alloc, None and every alloc."""
    derived = getattr(state, "derived", None)
    if derived is None or not hasattr(state, "take_alloc_writes"):
        allocs = state.allocs_by_job(namespace, job_id)
        return allocs, None, allocs
    index: SettledIndex | None = derived.get("settled_allocs")
    if index is None:
        index = derived["settled_allocs"] = SettledIndex()
    return index.view(state, job, namespace, job_id, batch, deployment)
