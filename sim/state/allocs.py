"""The allocation table of the state store: reads by ID, job and node, and the writes that change
allocs (applied plans, client updates, desired transitions), keeping node usage, job summaries,
live-alloc counts and deployment counters in step.

Nomad: nomad/state/state_store.go UpsertPlanResults, UpdateAllocsFromClient,
UpdateAllocsDesiredTransitions. A mixin of `StateStore` (sim/state.py), which owns the tables.
"""

from __future__ import annotations

from itertools import islice
from typing import TYPE_CHECKING

from sim.structs.alloc import Allocation
from sim.structs.consts import CLIENT_TERMINAL, SERVER_TERMINAL
from sim.structs.deployment import Deployment
from sim.structs.job import JobKey

if TYPE_CHECKING:
    from sim.state.node_table import NodeTable
    from sim.state.summaries import SummaryKeeper

_NO_PORTS: tuple[int, ...] = ()


class AllocTable:
    """StateStore's allocation reads and writes. The store initialises the attributes below and
    provides the write index (`_begin`, `_commit`), job status refresh and deployment counters."""

    nodes: NodeTable
    summaries: SummaryKeeper
    _allocs: dict[str, Allocation]
    _allocs_by_job: dict[JobKey, dict[str, Allocation]]
    _allocs_by_node: dict[str, dict[str, Allocation]]
    _live_allocs: dict[JobKey, int]
    _terminal_writes: dict[str, Allocation] | None

    def alloc_by_id(self, alloc_id: str) -> Allocation | None:
        """Nomad: AllocByID."""
        return self._allocs.get(alloc_id)

    def allocs_by_job(self, namespace: str, job_id: str) -> list[Allocation]:
        """Every alloc of a job (terminal too), in creation order."""
        return list(self._allocs_by_job.get((namespace, job_id), {}).values())

    def job_alloc_count(self, namespace: str, job_id: str) -> int:
        """How many allocs a job has (terminal too)."""
        return len(self._allocs_by_job.get((namespace, job_id), ()))

    def job_allocs_after(self, namespace: str, job_id: str, n: int) -> list[Allocation]:
        """A job's allocs after its first `n`, in creation order (O(new ones))."""
        allocs = self._allocs_by_job.get((namespace, job_id), {})
        return list(islice(reversed(allocs.values()), max(len(allocs) - n, 0)))[::-1]

    def take_client_terminal_writes(self) -> list[Allocation]:
        """Allocs written while client-terminal (before or after the write) since the last call,
        in first-write order; the first call starts the record and returns none."""
        writes, self._terminal_writes = self._terminal_writes, {}
        return list(writes.values()) if writes else []

    def allocs_by_node(self, node_id: str) -> list[Allocation]:
        """Every alloc on a node (terminal too), in creation order."""
        return list(self._allocs_by_node.get(node_id, {}).values())

    def allocs(self) -> list[Allocation]:
        """Every allocation, in creation order."""
        return list(self._allocs.values())

    def upsert_plan_results(self, placed: list[Allocation], stopped: list[Allocation],
                            deployment: Deployment | None, deployment_updates: list, eval_id: str) -> int:
        """Commit an applied plan in one write. Nomad: UpsertPlanResults.

        `placed` are new or in-place updated allocs; `stopped` are copies carrying the desired
        stop (and optional client status / follow-up eval) of existing allocs.
        """
        index = self._begin()
        now = self.clock()
        keys: set[JobKey] = set()
        if deployment is not None:
            self._put_deployment(deployment, index, now)
            keys.add((deployment.namespace, deployment.job_id))  # an active deployment: running
        for upd in deployment_updates:
            self._set_deployment_status(upd.deployment_id, upd.status, upd.status_description, index, now)
        allocs = self._allocs
        for stop in stopped:
            alloc = allocs.get(stop.id)
            if alloc is None:
                continue
            self._mutate_alloc(alloc, index, now, {
                "desired_status": stop.desired_status, "desired_description": stop.desired_description,
                "client_status": stop.client_status, "followup_eval_id": stop.followup_eval_id,
                "last_reschedule": stop.last_reschedule})
            keys.add((alloc.namespace, alloc.job_id))
        for alloc in placed:
            existing = allocs.get(alloc.id)
            if existing is not None:
                self._inplace_alloc(existing, alloc, index, now)
            else:
                self._insert_alloc(alloc, index, now)
            keys.add((alloc.namespace, alloc.job_id))
        self._refresh_jobs(keys, index)
        return self._commit(["allocs", "job_summary", "deployment", "jobs"])

    def _insert_alloc(self, alloc: Allocation, index: int, now: float) -> None:
        alloc.create_index = alloc.modify_index = alloc.alloc_modify_index = index
        alloc.create_time = alloc.modify_time = now
        key = (alloc.namespace, alloc.job_id)
        alloc_id = alloc.id
        self._allocs[alloc_id] = alloc
        self._allocs_by_job[key][alloc_id] = alloc
        self._allocs_by_node[alloc.node_id][alloc_id] = alloc
        if alloc.desired_status not in SERVER_TERMINAL and alloc.client_status not in CLIENT_TERMINAL:
            self._live_allocs[key] += 1
            self._reserve(alloc)
        self.summaries.on_new_alloc(alloc, index)
        prev = self._allocs.get(alloc.previous_allocation) if alloc.previous_allocation else None
        if prev is not None:  # Nomad: upsertAllocsImpl links the replaced alloc to its replacement
            prev.next_allocation = alloc.id
            prev.modify_index = index
            if self._terminal_writes is not None and prev.client_status in CLIENT_TERMINAL:
                self._terminal_writes[prev.id] = prev
        if alloc.deployment_id:
            self._deployment_on_new_alloc(alloc, now)

    def _inplace_alloc(self, existing: Allocation, updated: Allocation, index: int, now: float) -> None:
        """An in-place update: the same alloc runs the new job version (and maybe a new deployment)."""
        live = not existing.terminal()
        if live:
            self._release(existing)
        if self._terminal_writes is not None and existing.client_status in CLIENT_TERMINAL:
            self._terminal_writes[existing.id] = existing
        new_deployment = updated.deployment_id and updated.deployment_id != existing.deployment_id
        for name in ("job", "cpu", "memory_mb", "disk_mb", "deployment_id", "deployment_status", "eval_id", "metrics",
                     "last_reschedule"):
            setattr(existing, name, getattr(updated, name))
        if updated.followup_eval_id:  # a delayed reschedule's attribute update (Nomad: FollowupEvalID)
            existing.followup_eval_id = updated.followup_eval_id
        existing.modify_index = existing.alloc_modify_index = index
        existing.modify_time = now
        if live:
            self._reserve(existing)
        if new_deployment:
            self._deployment_on_new_alloc(existing, now)

    def _mutate_alloc(self, alloc: Allocation, index: int, now: float, changes: dict[str, object]) -> None:
        """Apply field changes (empty values skipped) to a stored alloc, keeping usage, summary and
        job status in step."""
        old_client = alloc.client_status
        was_live = alloc.desired_status not in SERVER_TERMINAL and old_client not in CLIENT_TERMINAL
        for name, value in changes.items():
            if value is not None and value != "":
                setattr(alloc, name, value)
        alloc.modify_index = index
        alloc.modify_time = now
        new_client = alloc.client_status
        if was_live and (new_client in CLIENT_TERMINAL or alloc.desired_status in SERVER_TERMINAL):
            self._live_allocs[(alloc.namespace, alloc.job_id)] -= 1
            self._release(alloc)
        if new_client != old_client:
            self.summaries.on_client_status(alloc, old_client, index)
        if self._terminal_writes is not None and (new_client in CLIENT_TERMINAL or old_client in CLIENT_TERMINAL):
            self._terminal_writes[alloc.id] = alloc

    def _reserve(self, alloc: Allocation) -> None:
        """Count a live alloc's resources and ports on its node."""
        self.nodes.reserve(self.nodes.index_of[alloc.node_id], alloc.cpu, alloc.memory_mb, alloc.disk_mb,
                           [p for _, p in alloc.ports] if alloc.ports else _NO_PORTS)

    def _release(self, alloc: Allocation) -> None:
        """Stop counting an alloc's resources and ports on its node."""
        self.nodes.release(self.nodes.index_of[alloc.node_id], alloc.cpu, alloc.memory_mb, alloc.disk_mb,
                           [p for _, p in alloc.ports] if alloc.ports else _NO_PORTS)

    def update_allocs_from_client(self, updates: list[tuple[Allocation, dict]]) -> int:
        """Client reports of alloc status, task states and deployment health. Nomad: UpdateAllocsFromClient."""
        index = self._begin()
        now = self.clock()
        keys: set[JobKey] = set()
        mutate = self._mutate_alloc
        for alloc, changes in updates:
            health = changes.pop("healthy", None)
            mutate(alloc, index, now, changes)
            if health is not None:
                self._set_alloc_health(alloc, health, index, now)
            keys.add((alloc.namespace, alloc.job_id))
        self._refresh_jobs(keys, index)
        return self._commit(["allocs", "job_summary", "deployment", "jobs"])

    def update_alloc_desired_transition(self, allocs: list[Allocation], **transition: bool) -> int:
        """Nomad: UpdateAllocsDesiredTransitions (drainer: migrate; watcher: reschedule)."""
        index = self._begin()
        for alloc in allocs:
            for name, value in transition.items():
                setattr(alloc.desired_transition, name, value)
            alloc.modify_index = index
            if self._terminal_writes is not None and alloc.client_status in CLIENT_TERMINAL:
                self._terminal_writes[alloc.id] = alloc
        return self._commit(["allocs"])
