"""What one evaluation has proposed and learned so far: the state the stack's stages read.

Nomad: scheduler/feasible/context.go. ProposedAllocs = the state's allocs on a node, minus the
plan's stops and preemptions, plus the plan's placements (an in-place update replaces the alloc
of the same ID). Here that is a copy of the table's usage columns and port sets, edited by each
planned place, stop or preemption, plus per-node counts of this job's allocs (for anti-affinity
and distinct_hosts) and the feed of the property sets; a job's allocs given as `CountedAllocs`
bring those counts along (kept by the reconciler's settled index). EvalEligibility's computed-class
verdicts live here too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import compress, repeat
from operator import attrgetter
from typing import cast

import numpy as np
import numpy.typing as npt

from sim.scheduler.feasible.checks import StaticFeasibility
from sim.scheduler.feasible.constraints import escapes
from sim.scheduler.feasible.ports import PortOverlay
from sim.scheduler.feasible.spread import PropertySet
from sim.state.node_table import GPU_TYPE, NodeTable
from sim.structs.alloc import Allocation
from sim.structs.consts import CLIENT_TERMINAL, SERVER_TERMINAL
from sim.structs.job import Job

_NODE_ID, _GROUP, _JOB_ID = attrgetter("node_id"), attrgetter("task_group"), attrgetter("job_id")
_CLIENT_STATUS = attrgetter("client_status")
_PORTS, _DEVICES = attrgetter("ports"), attrgetter("devices")


class JobCounts:
    """A job's allocs that are not client-terminal, counted per task group and node row (the
    counts `ProposedState.reset` makes from them), kept in step by their owner: `set` whenever an
    alloc of the job is learnt or its client status may have changed."""

    __slots__ = ("index_of", "at", "groups", "unknown")

    def __init__(self, table: NodeTable) -> None:
        self.index_of = table.index_of
        self.at: dict[str, tuple[str, int]] = {}  # counted alloc ID -> (group, row; -1: node not in the table)
        self.groups: dict[str, dict[int, int]] = {}  # group -> row -> allocs there
        self.unknown = 0  # counted allocs whose node the table did not know (it may since): counts unusable

    def set(self, alloc: Allocation, live: bool) -> None:
        """Count the alloc (live: not client-terminal) or stop counting it."""
        entry = self.at.get(alloc.id)
        if live == (entry is not None):
            return
        if entry is None:
            group, row = alloc.task_group, self.index_of.get(alloc.node_id, -1)
            self.at[alloc.id] = (group, row)
            if row < 0:
                self.unknown += 1
                return
            rows = self.groups.get(group)
            if rows is None:
                rows = self.groups[group] = {}
            rows[row] = rows.get(row, 0) + 1
            return
        del self.at[alloc.id]
        group, row = entry
        if row < 0:
            self.unknown -= 1
            return
        rows = self.groups[group]
        left = rows[row] - 1
        if left:
            rows[row] = left
        else:
            del rows[row]


class CountedAllocs(list[Allocation]):
    """A job's allocs (in creation order) with `counts` of them, kept by their owner."""

    __slots__ = ("counts",)

    def __init__(self, allocs: Iterable[Allocation], counts: JobCounts) -> None:
        super().__init__(allocs)
        self.counts = counts


@dataclass(slots=True)
class _Counted:
    row: int
    group: str
    holds_resources: bool
    alloc: Allocation


class ProposedState:
    """Per-node usage, ports and job alloc counts as the plan so far would leave them."""

    def __init__(self, table: NodeTable) -> None:
        self.table = table
        self.reset(None, [])

    def reset(self, job: Job | None, allocs: list[Allocation]) -> None:
        """Start from the table's usage and the job's allocs in state (client-terminal ones ignored)."""
        n = len(self.table)
        self.job_id = job.id if job is not None else ""
        self.used = self.table.used.copy()
        self.ports = PortOverlay(self.table)
        self._devices: dict[int, set[str]] = {}  # rows whose held device instances the plan edited
        self._gpu_used: np.ndarray | None = None  # the table's gpu_used, copied on the first edit
        self.job_count = np.zeros(n, dtype=np.int64)
        self.group_count: dict[str, np.ndarray] = {}
        self._state_allocs = allocs
        self._counted: dict[str, _Counted] | None = None  # `counted`, made on first use
        self._added: dict[str, _Counted] = {}  # the plan's new allocs' entries while `counted` is not made
        self._existing: list[Allocation] | None = None
        self.placed: list[Allocation] = []
        self.stopped: list[Allocation] = []
        self._stops: dict[str, _Counted | None] = {}
        self.property_sets: list[PropertySet] = []
        self.touched: list[int] = []  # every row whose usage, ports or counts changed, in order
        if type(allocs) is CountedAllocs and not allocs.counts.unknown:
            self._copy_counts(allocs.counts)
        elif allocs:
            self._count_existing(allocs)

    def _copy_counts(self, counts: JobCounts) -> None:
        """`_count_existing` from the job's counts (its rows are not `touched`: a reset makes
        every reader of `touched` start over)."""
        for group, rows in counts.groups.items():
            if rows:
                at = np.fromiter(rows, dtype=np.intp, count=len(rows))
                self.counts_of(group)[at] = n = np.fromiter(rows.values(), dtype=np.int64, count=len(rows))
                self.job_count[at] += n

    def _count_existing(self, allocs: list[Allocation]) -> None:
        """`_count` (without resources: the table holds them) of each alloc in state: the counts in
        bulk, with a few passes over the allocs; their entries in `counted` wait for its first use."""
        live = allocs  # the client-terminal ones left out (Allocation.ClientTerminalStatus), in one test when none is
        if not CLIENT_TERMINAL.isdisjoint(map(_CLIENT_STATUS, allocs)):
            live = [a for a in allocs if a.client_status not in CLIENT_TERMINAL]
        found = list(map(self.table.index_of.get, map(_NODE_ID, live)))
        if None in found:  # allocs on nodes gone from the table count nowhere
            known = [row is not None for row in found]
            live, found = list(compress(live, known)), list(compress(found, known))
        rows = cast(list[int], found)
        self.touched += rows
        groups = list(map(_GROUP, live))
        jobs = list(map(_JOB_ID, live))
        at = np.array(rows, dtype=np.intp)
        if jobs.count(self.job_id) != len(jobs):  # other jobs' allocs count only on usage
            mine = [job == self.job_id for job in jobs]
            at, groups = at[np.array(mine, dtype=bool)], list(compress(groups, mine))
        n = len(self.table)
        order = dict.fromkeys(groups)  # the groups as first met
        for group in order:
            picked = at if len(order) == 1 else at[np.array([g == group for g in groups], dtype=bool)]
            counts = np.bincount(picked, minlength=n)
            self.job_count += counts
            self.counts_of(group)[:] = counts

    @property
    def counted(self) -> dict[str, _Counted]:
        """Alloc ID -> its entry, for every alloc the proposed state counts (state's, then the plan's)."""
        counted = self._counted
        if counted is None:
            counted = self._counted = {}
            index = self.table.index_of
            for alloc in self._state_allocs:
                if alloc.client_status in CLIENT_TERMINAL:
                    continue
                row = index.get(alloc.node_id)
                if row is not None:
                    counted[alloc.id] = _Counted(row, alloc.task_group, alloc.desired_status not in SERVER_TERMINAL, alloc)
            counted.update(self._added)
            self._added = {}
        return counted

    @property
    def existing(self) -> list[Allocation]:
        """The state's allocs the reset started from that are not terminal."""
        if self._existing is None:
            self._existing = [a for a in self._state_allocs if not a.terminal()]
        return self._existing

    def counts_of(self, group: str) -> np.ndarray:
        """Per node, how many proposed allocs of this job's group run there."""
        counts = self.group_count.get(group)
        if counts is None:
            counts = np.zeros(len(self.table), dtype=np.int64)
            self.group_count[group] = counts
        return counts

    def watch(self, pset: PropertySet) -> None:
        """Feed a new property set the state's and the plan's allocs, then every later change."""
        pset.populate(self.existing, self.placed, self.stopped)
        self.property_sets.append(pset)

    def place(self, row: int, alloc: Allocation) -> None:
        """Nomad: Plan.AppendAlloc as ProposedAllocs sees it (same ID replaces the previous one).

        `_count` with resources, spelled out (one placement per select makes this hot)."""
        counted, alloc_id, group = self.counted, alloc.id, alloc.task_group
        previous = counted.get(alloc_id)
        if previous is not None:
            self._uncount(previous)
        counted[alloc_id] = _Counted(row, group, True, alloc)
        self.touched.append(row)
        if alloc.job_id == self.job_id:
            self.job_count[row] += 1
            counts = self.group_count.get(group)
            if counts is None:
                counts = self.counts_of(group)
            counts[row] += 1
        u = self.used[row]
        u[0] += alloc.cpu
        u[1] += alloc.memory_mb
        u[2] += alloc.disk_mb
        if alloc.ports:
            self.ports.add(row, [p for _, p in alloc.ports])
        if alloc.devices:
            self._edit_devices(row, alloc, 1)
        self.placed.append(alloc)
        for ps in self.property_sets:
            ps.track(alloc, ps.proposed, 1, skip_terminal=True)

    def place_new(self, rows: list[int], allocs: list[Allocation], group: str, ask: npt.NDArray[np.float64],
                  alloc_ids: list[str] | None = None) -> None:
        """`place` of each alloc on its row, in order, for new allocs of this job's `group` that
        each ask `ask` (cpu, memory, disk): the counts and usage grow in one pass. New allocs
        have new IDs, none of the state's (a placement the plan already counts is replaced).
        `alloc_ids`: the allocs' IDs, when the caller has them."""
        counted = self._added if self._counted is None else self._counted
        if alloc_ids is None:
            alloc_ids = [alloc.id for alloc in allocs]
        if not counted.keys().isdisjoint(alloc_ids):  # an ID already counted replaces its alloc
            for row, alloc in zip(rows, allocs, strict=True):
                self.place(row, alloc)
            return
        if self.property_sets or any(map(_PORTS, allocs)) or any(map(_DEVICES, allocs)):
            for row, alloc in zip(rows, allocs, strict=True):
                if alloc.ports:
                    self.ports.add(row, [p for _, p in alloc.ports])
                if alloc.devices:
                    self._edit_devices(row, alloc, 1)
                for ps in self.property_sets:
                    ps.track(alloc, ps.proposed, 1, skip_terminal=True)
        counted.update(zip(alloc_ids, map(_Counted, rows, repeat(group), repeat(True), allocs), strict=True))
        self.touched += rows
        at = np.array(rows, dtype=np.intp)
        np.add.at(self.job_count, at, 1)
        np.add.at(self.counts_of(group), at, 1)
        np.add.at(self.used, at, ask)
        self.placed += allocs

    def stop(self, alloc: Allocation) -> None:
        """Nomad: Plan.AppendStoppedAlloc as ProposedAllocs sees it: the alloc no longer counts.

        An alloc of another job (a preemption-like stop) frees its resources when it is live.
        Stopping an alloc twice changes nothing (Nomad removes proposed allocs by ID).
        """
        if alloc.id in self._stops:
            return
        entry = self.counted.get(alloc.id)
        if entry is not None:
            self._uncount(entry)
        elif alloc.job_id != self.job_id and not alloc.terminal():
            row = self.table.index_of.get(alloc.node_id)
            if row is not None:
                self._add_resources(row, alloc, -1)
        self._stops[alloc.id] = entry
        self.stopped.append(alloc)
        for ps in self.property_sets:
            ps.track(alloc, ps.cleared, 1, skip_terminal=False)

    def evict(self, alloc: Allocation) -> None:
        """Nomad: Plan.AppendPreemptedAlloc as ProposedAllocs sees it: another job's live alloc
        leaves its node. Property sets do not see it (Nomad's read only the plan's stops)."""
        if alloc.id in self._stops:
            return
        entry = self.counted.get(alloc.id)
        if entry is not None:
            self._uncount(entry)
        elif not alloc.terminal():
            row = self.table.index_of.get(alloc.node_id)
            if row is not None:
                self._add_resources(row, alloc, -1)
        self._stops[alloc.id] = entry

    def is_stopped(self, alloc: Allocation) -> bool:
        """Whether the plan stops this alloc."""
        return alloc.id in self._stops

    def unstop(self, alloc: Allocation) -> None:
        """Nomad: Plan.PopUpdate: take back a planned stop (no-op when the alloc was not stopped)."""
        if alloc.id not in self._stops:
            return
        entry = self._stops.pop(alloc.id)
        for i in range(len(self.stopped) - 1, -1, -1):
            if self.stopped[i].id == alloc.id:
                del self.stopped[i]
                break
        for ps in self.property_sets:
            ps.track(alloc, ps.cleared, -1, skip_terminal=False)
        if entry is not None:
            self._count(entry, resources=entry.holds_resources)
        elif alloc.job_id != self.job_id and not alloc.terminal():
            row = self.table.index_of.get(alloc.node_id)
            if row is not None:
                self._add_resources(row, alloc, 1)

    def _count(self, entry: _Counted, resources: bool) -> None:
        self.counted[entry.alloc.id] = entry
        self.touched.append(entry.row)
        if entry.alloc.job_id == self.job_id:
            self.job_count[entry.row] += 1
            self.counts_of(entry.group)[entry.row] += 1
        if resources:
            self._add_resources(entry.row, entry.alloc, 1)

    def _uncount(self, entry: _Counted) -> None:
        del self.counted[entry.alloc.id]
        self.touched.append(entry.row)
        if entry.alloc.job_id == self.job_id:
            self.job_count[entry.row] -= 1
            self.counts_of(entry.group)[entry.row] -= 1
        if entry.holds_resources:
            self._add_resources(entry.row, entry.alloc, -1)

    def _add_resources(self, row: int, alloc: Allocation, sign: int) -> None:
        self.touched.append(row)
        u = self.used[row]
        u[0] += sign * alloc.cpu
        u[1] += sign * alloc.memory_mb
        u[2] += sign * alloc.disk_mb
        if alloc.ports:
            ports = [p for _, p in alloc.ports]
            if sign > 0:
                self.ports.add(row, ports)
            else:
                self.ports.remove(row, ports)
        if alloc.devices:
            self._edit_devices(row, alloc, sign)

    def held_devices(self, row: int) -> set[str]:
        """The device instances the state's live allocs and the plan hold on a node (read only).

        Nomad: the deviceAllocator's AddAllocs(proposed)."""
        edited = self._devices.get(row)
        return edited if edited is not None else self.table.used_devices[row]

    @property
    def gpu_used(self) -> np.ndarray:
        """Per node, the GPU instances the state's live allocs and the plan hold (read only)."""
        return self._gpu_used if self._gpu_used is not None else self.table.gpu_used

    def _edit_devices(self, row: int, alloc: Allocation, sign: int) -> None:
        held = self._devices.get(row)
        if held is None:
            held = self._devices[row] = set(self.table.used_devices[row])
        for d in alloc.devices:
            if sign > 0:
                held.update(d.device_ids)
            else:
                held.difference_update(d.device_ids)
            if d.type == GPU_TYPE:
                if self._gpu_used is None:
                    self._gpu_used = self.table.gpu_used.copy()
                self._gpu_used[row] += sign * len(d.device_ids)


class ClassEligibility:
    """Nomad: feasible/context.go, EvalEligibility: computed-class verdicts of one evaluation.

    The first node of a class that fails a job (or group) check is filtered with the check's own
    reason and marks the class; later nodes of that class are filtered as "computed class
    ineligible". Constraints on unique attributes escape this (every node is checked).
    """

    def __init__(self, table: NodeTable) -> None:
        self.table = table
        self.job_escaped = False
        self.group_escaped: dict[str, bool] = {}
        self.job: dict[int, bool] = {}
        self.groups: dict[str, dict[int, bool]] = {}
        self.visits: list[tuple[str, StaticFeasibility, np.ndarray, int, int]] = []

    def set_job(self, job: Job) -> None:
        """Nomad: EvalEligibility.SetJob: which levels escape computed classes."""
        self.job_escaped = escapes(job.constraints)
        for tg in job.task_groups:
            constraints = list(tg.constraints) + [c for t in tg.tasks for c in t.constraints]
            self.group_escaped[tg.name] = escapes(constraints)

    def forget_marks(self) -> None:
        """Forget which classes already failed a check, so the next filter reports each check's
        own reason (the system stack selects every node afresh)."""
        self.job.clear()
        self.groups.clear()

    def filter_reasons(self, group: str, fails: np.ndarray, stages: np.ndarray, rows: np.ndarray, ineligible_code: int) -> np.ndarray:
        """Reason codes for statically infeasible nodes in scan order (ineligible_code for class hits)."""
        out = fails.astype(np.int64)
        classes, _ = self.table.codes("computed_class")
        levels = ((1, self.job_escaped, self.job), (2, self.group_escaped.get(group, False), self.groups.setdefault(group, {})))
        for stage, escaped, marks in levels:
            sel = np.flatnonzero(stages == stage)
            if escaped or len(sel) == 0:
                continue
            uniq, first = np.unique(classes[rows[sel]], return_index=True)
            fresh = np.zeros(len(sel), dtype=bool)
            for cls, idx in zip(uniq.tolist(), first.tolist(), strict=True):
                if cls not in marks:
                    fresh[idx] = True
                    marks[cls] = False
            out[sel[~fresh]] = ineligible_code
        return out

    def observe(self, group: str, static: StaticFeasibility, order: np.ndarray, start: int, count: int) -> None:
        """Remember the nodes a select visited (`count` of `order` from `start`), for the eval's
        class eligibility (blocked evals); the verdicts are derived only when asked for."""
        self.visits.append((group, static, order, start, count))

    def _seen(self) -> dict[str, tuple[np.ndarray, StaticFeasibility]]:
        seen: dict[str, tuple[np.ndarray, StaticFeasibility]] = {}
        for group, static, order, start, count in self.visits:
            known = seen.get(group)
            if known is None:
                known = seen[group] = (np.zeros(len(self.table), dtype=bool), static)
            mask = known[0]
            end = start + count
            mask[order[start:end]] = True
            if end > len(order):
                mask[order[: end - len(order)]] = True
        return seen

    def class_eligibility(self) -> dict[str, bool]:
        """Nomad: EvalEligibility.GetClasses over the visited nodes (computed class -> eligible)."""
        _, labels = self.table.codes("computed_class")
        job: dict[int, bool] = {}
        out: dict[int, bool] = {}
        for group, (seen, static) in sorted(self._seen().items()):
            self._group_verdicts(group, seen, static, job, out)
        for cls, ok in job.items():
            if not ok or cls not in out:
                out[cls] = ok
        return {labels[c]: ok for c, ok in sorted(out.items())}

    def _group_verdicts(
        self, group: str, seen: npt.NDArray[np.bool_], static: StaticFeasibility, job: dict[int, bool], out: dict[int, bool]
    ) -> None:
        classes, _ = self.table.codes("computed_class")
        rows = np.flatnonzero(seen)
        if static.all_feasible:  # every stage is 0: each class seen is eligible at both levels
            for cls in dict.fromkeys(classes[rows].tolist()):
                if not self.job_escaped:
                    job.setdefault(cls, True)
                if not self.group_escaped.get(group, False):
                    out[cls] = True
            return
        for cls, stage in zip(classes[rows].tolist(), static.stage[rows].tolist(), strict=True):
            if not self.job_escaped:
                job[cls] = job.get(cls, True) and stage != 1
            if stage != 1 and not self.group_escaped.get(group, False):
                ok = stage != 2
                out[cls] = out.get(cls, False) or ok

    def has_escaped(self) -> bool:
        """Nomad: EvalEligibility.HasEscaped."""
        return self.job_escaped or any(self.group_escaped.values())

