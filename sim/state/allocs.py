"""The allocation table of the state store: allocs by ID, job and node, each job's live-alloc
count, and the row writes that keep node usage and job summaries in step with every alloc change.

Nomad: nomad/state/state_store.go upsertAllocsImpl, nestedUpdateAllocFromClient and
updateSummaryWithAlloc. The store (sim.state.store) owns one table and calls its row writes inside
its own writes (UpsertPlanResults, UpdateAllocsFromClient, UpdateAllocsDesiredTransitions), which
also bump the index, count deployments and refresh job status.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import repeat
from operator import attrgetter, is_
from typing import Any, cast

import numpy as np

from sim.state.alloc_columns import AllocColumns
from sim.state.narrow import IntColumn
from sim.state.node_table import NodeTable
from sim.state.summaries import SummaryKeeper
from sim.structs.alloc import Allocation
from sim.structs.consts import CLIENT_TERMINAL, SERVER_TERMINAL
from sim.structs.job import JobKey

_NO_PORTS: tuple[int, ...] = ()
_ID = attrgetter("id")
_CLIENT_STATUS = attrgetter("client_status")
_NODE_ID = attrgetter("node_id")
_USAGE = attrgetter("cpu", "memory_mb", "disk_mb")
_HELD = attrgetter("ports", "devices")
_BULK_RELEASE = 16  # allocs of one update from which freed usage is subtracted in one numpy pass
_INPLACE_FIELDS = ("job", "cpu", "memory_mb", "disk_mb", "deployment_id", "deployment_status", "eval_id", "metrics",
                   "last_reschedule")


class AllocTable:
    """Every allocation with its job and node indexes; usage of live allocs is counted on `nodes`
    and client status changes in `summaries`.

    Allocs are never removed. A dead job's client-terminal allocs are compacted into `columns`
    (`compact_job`): `by_id` and the job's list then hold the job's key in their place (one object
    for all, where row numbers would be an int object each), `compacted` the job's rows in list order,
    and the first read of any of them builds the job's allocs again (`get`, `of_job`), as the
    objects every later read and write sees. A node's allocs are kept as IDs, read through `by_id`.
    """

    def __init__(self, nodes: NodeTable, summaries: SummaryKeeper) -> None:
        self.nodes = nodes
        self.summaries = summaries
        self.by_id: dict[str, Allocation | JobKey] = {}
        self.by_job: dict[JobKey, list[Allocation | JobKey]] = defaultdict(list)  # in creation order
        self.by_node: dict[str, list[str]] = defaultdict(list)  # alloc IDs, in creation order
        self.columns = AllocColumns()
        self.compacted: dict[JobKey, IntColumn] = {}  # jobs with allocs in `columns`: their rows, in list order
        self.live: dict[JobKey, int] = defaultdict(int)  # non-terminal allocs per job (drives job status)
        self._writes: dict[str, Allocation] | None = None  # see take_writes
        self.changed: dict[str, Allocation] | None = None  # allocs written since last taken, when recording

    # -- reads ----------------------------------------------------------------------------------

    def get(self, alloc_id: str) -> Allocation | None:
        """The stored alloc with this ID (its job's allocs built again if it was compacted)."""
        alloc = self.by_id.get(alloc_id)
        if type(alloc) is tuple:
            self._expand(alloc)
            alloc = self.by_id[alloc_id]
        return alloc  # type: ignore[return-value]

    def of_job(self, key: JobKey, start: int = 0) -> list[Allocation]:
        """A job's allocs from its `start`-th, in creation order."""
        allocs = self.by_job.get(key)
        if not allocs:
            return []
        if key in self.compacted:
            self._expand(key)
        return cast("list[Allocation]", allocs[start:] if start else list(allocs))

    def of_node(self, node_id: str) -> list[Allocation]:
        """A node's allocs, in creation order."""
        ids = self.by_node.get(node_id, ())
        if self.compacted:
            get = self.get
            return [get(alloc_id) for alloc_id in ids]  # type: ignore[misc]
        by_id = self.by_id
        return [by_id[alloc_id] for alloc_id in ids]  # type: ignore[misc]

    def every(self) -> list[Allocation]:
        """Every alloc in creation order; compacted ones are built for this read only."""
        if not self.compacted:
            return list(self.by_id.values())  # type: ignore[arg-type]
        build, ids = self.columns.build, self.columns.ids
        row_of = dict(zip(ids, range(len(ids)), strict=True))  # (an ID's last row is its current one)
        return [build(row_of[alloc_id]) if type(a) is tuple else a for alloc_id, a in self.by_id.items()]  # type: ignore[misc]

    def own(self, allocs: list[Allocation]) -> list[Allocation]:
        """The stored allocs of `allocs` (a write's input): once allocs have been compacted, the
        writer's object may be one compacted since it read it, and the write goes to the stored one.
        (Only client-terminal allocs are compacted, and a compacted object is never written again:
        a list without a client-terminal alloc holds none.)"""
        if not len(self.columns) or CLIENT_TERMINAL.isdisjoint(map(_CLIENT_STATUS, allocs)):
            return allocs
        return self.stored(allocs)

    def stored(self, allocs: list[Allocation]) -> list[Allocation]:
        """`get(a.id) or a` for each alloc (the list itself when each is the stored one)."""
        held = list(map(self.by_id.get, map(_ID, allocs)))
        if all(map(is_, held, allocs)):
            return allocs
        get = self.get
        return [a if h is a else get(a.id) or a for a, h in zip(allocs, held, strict=True)]

    # -- compaction -----------------------------------------------------------------------------

    def compact_job(self, key: JobKey) -> None:
        """Move a job without live allocs' client-terminal allocs into `columns`."""
        allocs = self.by_job.get(key)
        if not allocs or self.live.get(key):
            return
        at: range | list[int]
        if key not in self.compacted and CLIENT_TERMINAL.issuperset(map(_CLIENT_STATUS, allocs)):
            at = range(len(allocs))  # (the common case: none compacted yet, every one finished)
        else:
            at = [i for i, alloc in enumerate(allocs)
                  if type(alloc) is not tuple and alloc.client_status in CLIENT_TERMINAL]  # type: ignore[union-attr]
            if not at:
                return
        done = cast("list[Allocation]", [allocs[i] for i in at] if type(at) is list else list(allocs))
        first = self.columns.add(done)
        key = (key[0], key[1])  # (the marker: a plain tuple)
        self.by_id.update(zip(map(_ID, done), repeat(key)))
        # the job's rows in list order: the new ones among those compacted earlier (if all are new, just them)
        order: range | list[int] = range(first, first + len(at))
        if len(at) < len(allocs):
            for i in at:
                allocs[i] = key
            earlier, later, new = iter(self.compacted.get(key, ())), iter(order), set(at)
            order = [next(later) if i in new else next(earlier) for i, a in enumerate(allocs) if type(a) is tuple]
        else:
            allocs[:] = repeat(key, len(allocs))
        self.compacted[key] = rows = IntColumn()
        rows.extend(order)

    def _expand(self, key: JobKey) -> None:
        """Build a job's compacted allocs again, in place of their rows."""
        allocs, by_id, build = self.by_job[key], self.by_id, self.columns.build
        rows = iter(self.compacted.pop(key))
        for i, alloc in enumerate(allocs):
            if type(alloc) is tuple:
                built = allocs[i] = build(next(rows))
                by_id[built.id] = built

    def take_writes(self) -> list[Allocation]:
        """Stored allocs written since the last call (new ones not among them), in first-write
        order; the first call starts the record and returns none."""
        writes, self._writes = self._writes, {}
        return list(writes.values()) if writes else []

    # -- writes ---------------------------------------------------------------------------------

    def insert(self, alloc: Allocation, index: int, now: float) -> None:
        """Store a new alloc: indexes, live count and node usage, summary (Queued -1), and the link
        from the alloc it replaces. Nomad: upsertAllocsImpl for a new alloc."""
        alloc.create_index = alloc.modify_index = alloc.alloc_modify_index = index
        alloc.create_time = alloc.modify_time = now
        key = (alloc.namespace, alloc.job_id)
        alloc_id = alloc.id
        self.by_id[alloc_id] = alloc
        self.by_job[key].append(alloc)
        self.by_node[alloc.node_id].append(alloc_id)
        if alloc.desired_status not in SERVER_TERMINAL and alloc.client_status not in CLIENT_TERMINAL:
            self.live[key] += 1
            nodes = self.nodes  # `_reserve`, spelled out (one call per placed alloc)
            row = nodes.index_of[alloc.node_id]
            u = nodes.used[row]
            u[0] += alloc.cpu
            u[1] += alloc.memory_mb
            u[2] += alloc.disk_mb
            if alloc.ports:
                nodes.used_ports[row].update([p for _, p in alloc.ports])
            if alloc.devices:
                nodes.hold_devices(row, alloc.devices, 1)
        self.summaries.on_new_alloc(alloc, index)
        if self.changed is not None:
            self.changed[alloc_id] = alloc
        if alloc.previous_allocation and (prev := self.get(alloc.previous_allocation)) is not None:  # Nomad: upsertAllocsImpl links the replaced alloc to its replacement
            prev.next_allocation = alloc.id
            prev.modify_index = index
            if self.changed is not None:
                self.changed[prev.id] = prev
            if self._writes is not None:
                self._writes[prev.id] = prev

    def update_in_place(self, existing: Allocation, updated: Allocation, index: int, now: float) -> bool:
        """An in-place update: the same alloc runs the new job version (and maybe a new deployment).
        Returns whether the alloc joined a new deployment (its placement counts there)."""
        live = not existing.terminal()
        if live:
            self._release(existing)
        if self._writes is not None:
            self._writes[existing.id] = existing
        new_deployment = bool(updated.deployment_id) and updated.deployment_id != existing.deployment_id
        for name in _INPLACE_FIELDS:
            setattr(existing, name, getattr(updated, name))
        if updated.followup_eval_id:  # a delayed reschedule's attribute update (Nomad: FollowupEvalID)
            existing.followup_eval_id = updated.followup_eval_id
        existing.modify_index = existing.alloc_modify_index = index
        existing.modify_time = now
        if self.changed is not None:
            self.changed[existing.id] = existing
        if live:
            self._reserve(existing)
        return new_deployment

    def update(self, alloc: Allocation, index: int, now: float, changes: dict[str, object]) -> None:
        """Apply field changes (empty values skipped) to a stored alloc, keeping the live count,
        node usage and summary in step. Nomad: nestedUpdateAllocFromClient, updateSummaryWithAlloc."""
        self.update_many([alloc], index, now, changes)

    def update_many(self, allocs: list[Allocation], index: int, now: float, changes: dict[str, object]) -> None:
        """`update` of each alloc in turn with the same changes (not modified)."""
        if self.changed is not None:
            self.changed.update((a.id, a) for a in allocs)
        if self._writes is not None:
            self._writes.update(zip(map(_ID, allocs), allocs, strict=True))
        fields = [(name, value) for name, value in changes.items() if value is not None and value != ""]
        status: Any = None
        description: Any = None
        states: Any = None
        if len(fields) == 3 and fields[0][0] == "client_status" and fields[1][0] == "client_description" \
                and fields[2][0] == "task_states":  # a client's report: the fields spelled out
            status, description, states = fields[0][1], fields[1][1], fields[2][1]
        live = self.live
        freed: list[Allocation] | None = [] if len(allocs) >= _BULK_RELEASE else None
        moved: list[Allocation] = []  # client status changed: counted in the summaries after the loop
        olds: list[str] = []
        for alloc in allocs:
            old_client = alloc.client_status
            old_desired = alloc.desired_status
            if status is not None:
                alloc.client_status = status
                alloc.client_description = description
                alloc.task_states = states
            else:
                for name, value in fields:
                    setattr(alloc, name, value)
            alloc.modify_index = index
            alloc.modify_time = now
            new_client = alloc.client_status
            if ((new_client in CLIENT_TERMINAL or alloc.desired_status in SERVER_TERMINAL)
                    and old_desired not in SERVER_TERMINAL and old_client not in CLIENT_TERMINAL):
                live[(alloc.namespace, alloc.job_id)] -= 1
                if freed is None:
                    self._release(alloc)
                else:
                    freed.append(alloc)
            if new_client != old_client:
                moved.append(alloc)
                olds.append(old_client)
        if moved:
            self.summaries.on_client_statuses(moved, olds, index)
        if freed:
            self._release_all(freed)

    def set_desired_transition(self, alloc: Allocation, transition: dict[str, bool], index: int) -> None:
        """Set DesiredTransition flags (migrate, reschedule, force_reschedule) on a stored alloc."""
        for name, value in transition.items():
            setattr(alloc.desired_transition, name, value)
        alloc.modify_index = index
        if self._writes is not None:
            self._writes[alloc.id] = alloc
        if self.changed is not None:
            self.changed[alloc.id] = alloc

    def _reserve(self, alloc: Allocation) -> None:
        """Count a live alloc's resources and ports on its node."""
        row = self.nodes.index_of[alloc.node_id]
        self.nodes.reserve(row, alloc.cpu, alloc.memory_mb, alloc.disk_mb,
                           [p for _, p in alloc.ports] if alloc.ports else _NO_PORTS)
        if alloc.devices:
            self.nodes.hold_devices(row, alloc.devices, 1)

    def _release_all(self, allocs: list[Allocation]) -> None:
        """`_release` of each alloc in turn, the usage in one vectorised pass (`np.subtract.at`
        subtracts repeated rows one after the other, in order, as `_release` would; allocs that
        all ask the same (a job's) subtract that one ask, broadcast)."""
        nodes = self.nodes
        rows = list(map(nodes.index_of.__getitem__, map(_NODE_ID, allocs)))
        usage = list(map(_USAGE, allocs))
        np.subtract.at(nodes.used, rows, usage[0] if usage.count(usage[0]) == len(usage) else usage)
        if not any(map(any, map(_HELD, allocs))):
            return  # (no ports, no devices)
        used_ports = nodes.used_ports
        for row, alloc in zip(rows, allocs, strict=True):
            if alloc.ports:
                used_ports[row].difference_update([p for _, p in alloc.ports])
            if alloc.devices:
                nodes.hold_devices(row, alloc.devices, -1)

    def _release(self, alloc: Allocation) -> None:
        """Stop counting an alloc's resources and ports on its node."""
        row = self.nodes.index_of[alloc.node_id]
        self.nodes.release(row, alloc.cpu, alloc.memory_mb, alloc.disk_mb,
                           [p for _, p in alloc.ports] if alloc.ports else _NO_PORTS)
        if alloc.devices:
            self.nodes.hold_devices(row, alloc.devices, -1)
