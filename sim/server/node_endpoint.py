"""The server's node endpoint: client alloc updates, node status, eligibility and drain.

Nomad: nomad/node_endpoint.go (UpdateAlloc + batchUpdate, createNodeEvals, UpdateStatus,
UpdateEligibility, UpdateDrain) and the matching parts of nomad/fsm.go (unblocking blocked evals
when a client frees capacity or a node becomes usable). Each call is one state write followed by
the evaluations it implies (Nomad commits both in one Raft entry; here they take two indexes).

Wiring: `NodeEndpoint(env, state, raft, blocked, drainer, deployments)`: evals are written
through `raft` (EvalCreator, the server's FSM); `blocked` is told of capacity changes
(`unblock`, `unblock_node`), `drainer` starts and stops drains (`drain`, `stop`), and
`deployments` hears client health verdicts (`on_alloc_health(allocs)`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import simpy

from sim.errors import ValidationError
from sim.scheduler.node_sets import node_in_any_dc, node_in_pool
from sim.scheduler.reconciler.reschedule import reschedule_eligible
from sim.server.fsm import EvalCreator
from sim.state.store import StateStore
from sim.structs.alloc import Allocation
from sim.structs.consts import (
    ALLOC_CLIENT_FAILED,
    ALLOC_CLIENT_LOST,
    CLIENT_TERMINAL,
    JOB_TYPE_SYSTEM,
    NODE_ELIGIBLE,
    NODE_INELIGIBLE,
    NODE_STATUS_DISCONNECTED,
    NODE_STATUS_DOWN,
    NODE_STATUS_INIT,
    NODE_STATUS_READY,
    TRIGGER_JOB_DEREGISTER,
    TRIGGER_NODE_UPDATE,
    TRIGGER_RETRY_FAILED_ALLOC,
)
from sim.structs.evaluation import Evaluation
from sim.structs.node import (
    NODE_DRAIN_DISABLED,
    NODE_ELIGIBLE_EVENT,
    NODE_INELIGIBLE_EVENT,
    NODE_REREGISTERED_BY_HEARTBEAT,
    SUBSYSTEM_CLUSTER,
    SUBSYSTEM_DRAIN,
    Node,
    NodeEvent,
    next_last_drain,
)

if TYPE_CHECKING:
    from sim.structs.job import Job

# Terminal allocs older than this are treated as garbage collected (Nomad: EvalGCThreshold 1h):
# they no longer pull their job into a node's evaluations.
ALLOC_GC_THRESHOLD = 3600.0
NODE_STATUSES = (NODE_STATUS_INIT, NODE_STATUS_READY, NODE_STATUS_DOWN, NODE_STATUS_DISCONNECTED)


class Unblocker(Protocol):
    """Capacity changes that release blocked evals. Nomad: the FSM's calls into BlockedEvals."""

    def unblock(self, computed_class: str, index: int) -> None: ...

    def unblock_node(self, node_id: str, index: int) -> None: ...


class DrainTracker(Protocol):
    """Starts and cancels node drains. Nomad: the node drainer, fed by Node.UpdateDrain."""

    def drain(self, node_id: str, deadline: float | None, ignore_system_jobs: bool = False,
              meta: dict[str, str] | None = None) -> None: ...

    def stop(self, node_id: str) -> None: ...


class AllocHealthWatcher(Protocol):
    """Hears the health verdicts clients report. Nomad: the deployment watcher's alloc watch."""

    def on_alloc_health(self, allocs: list[Allocation]) -> None: ...


def transition_requires_eval(new: str, old: str) -> bool:
    """Nomad: node_endpoint.go, nodeStatusTransitionRequiresEval (plus ShouldDrainNode)."""
    return (
        new in (NODE_STATUS_DOWN, NODE_STATUS_DISCONNECTED)
        or (old == NODE_STATUS_INIT and new == NODE_STATUS_READY)
        or (old == NODE_STATUS_DOWN and new == NODE_STATUS_READY)
        or (old == NODE_STATUS_DISCONNECTED and new != NODE_STATUS_DISCONNECTED)
    )


class NodeEndpoint:
    """Nomad: nomad/node_endpoint.go, Node."""

    def __init__(self, env: simpy.Environment, state: StateStore, raft: EvalCreator, blocked: Unblocker,
                 drainer: DrainTracker, deployments: AllocHealthWatcher):
        self.env = env
        self.state = state
        self.raft = raft
        self.blocked = blocked
        self.drainer = drainer
        self.deployments = deployments

    # -- client alloc updates -----------------------------------------------------------------

    def update_allocs(self, updates: list[tuple[Allocation, dict[str, Any]]]) -> int:
        """Apply a batch of client reports in one write, then follow-up evals and unblocks.

        `updates` pairs each stored alloc with its changes (`client_status`,
        `client_description`, `task_states`, optional `healthy`). Nomad: Node.UpdateAlloc,
        batchUpdate and fsm.applyAllocClientUpdate.
        """
        return self.update_alloc_groups([([alloc], changes) for alloc, changes in updates])

    def update_alloc_groups(self, groups: list[tuple[list[Allocation], dict[str, Any]]]) -> int:
        """`update_allocs` of reports given as groups of allocs with the same changes, in order."""
        state = self.state
        evals: dict[tuple[str, str], Evaluation] = {}
        settled: set[tuple[str, str]] = set()  # jobs that exist: a complete or lost report needs no eval
        freed: list[Allocation] = []
        health: list[Allocation] = []
        for allocs, changes in groups:
            status = changes.get("client_status")
            if status in CLIENT_TERMINAL:
                self._terminal_reports(allocs, status, evals, settled, freed)
            elif not status:  # (a report without a status keeps the alloc's)
                for alloc in allocs:
                    old_status = alloc.client_status
                    new_status = status or old_status
                    if new_status in CLIENT_TERMINAL:
                        key = (alloc.namespace, alloc.job_id)
                        if key not in evals and (new_status == ALLOC_CLIENT_FAILED or key not in settled):
                            self._followup_eval(alloc, new_status, evals, settled)
                        if new_status != old_status and new_status != ALLOC_CLIENT_LOST:
                            freed.append(alloc)
            if changes.get("healthy") is not None:
                health += [alloc for alloc in allocs if alloc.deployment_id]
        index = state.update_alloc_groups_from_client(groups)
        self._unblock_freed(freed, index)
        if evals:
            self.raft.create_evals(list(evals.values()))
        if health:
            self.deployments.on_alloc_health(health)
        return index

    def _terminal_reports(self, allocs: list[Allocation], status: str, evals: dict[tuple[str, str], Evaluation],
                          settled: set[tuple[str, str]], freed: list[Allocation]) -> None:
        """The loop of `update_alloc_groups` for a group reported terminal (`status`): each alloc's
        follow-up eval check (a run of allocs of one job checked once, unless failed: the first
        decides for the rest), and the allocs it frees."""
        each = status == ALLOC_CLIENT_FAILED
        namespace = job_id = None
        for alloc in allocs:
            if each or alloc.job_id != job_id or alloc.namespace != namespace:
                namespace, job_id = key = (alloc.namespace, alloc.job_id)
                if key not in evals and (each or key not in settled):
                    self._followup_eval(alloc, status, evals, settled)
        if status != ALLOC_CLIENT_LOST:
            freed += [alloc for alloc in allocs if alloc.client_status != status]

    def _followup_eval(self, alloc: Allocation, new_status: str, evals: dict[tuple[str, str], Evaluation],
                       settled: set[tuple[str, str]]) -> None:
        """The eval a terminal report asks for, batched one per job (`settled` collects the jobs
        that exist, whose complete or lost reports ask for none). Nomad: UpdateAlloc."""
        key = (alloc.namespace, alloc.job_id)
        if key in evals:
            return
        job = self.state.job_by_id(*key)
        if job is None:
            evals[key] = self.raft.new_eval(alloc.job, TRIGGER_JOB_DEREGISTER)
            return
        settled.add(key)
        if new_status != ALLOC_CLIENT_FAILED or alloc.followup_eval_id:
            return
        tg = job.lookup_task_group(alloc.task_group)
        if tg is not None and reschedule_eligible(alloc.reschedule_tracker, tg.reschedule_policy, self.env.now):
            evals[key] = self.raft.new_eval(job, TRIGGER_RETRY_FAILED_ALLOC)

    def _unblock_freed(self, freed: list[Allocation], index: int) -> None:
        """Nomad: fsm.applyAllocClientUpdate: a finished alloc frees capacity on its node. (A
        class unblocked once at `index` is not again: the first call released all it would.)"""
        classes: set[str] = set()
        for node_id in dict.fromkeys([alloc.node_id for alloc in freed]):
            node = self.state.node_by_id(node_id)
            if node is not None:
                if node.computed_class not in classes:
                    classes.add(node.computed_class)
                    self.blocked.unblock(node.computed_class, index)
                self.blocked.unblock_node(node.id, index)

    # -- node evaluations ---------------------------------------------------------------------

    def create_node_evals(self, node_id: str, node_index: int = 0, node: Node | None = None) -> list[Evaluation]:
        """One `node-update` eval per job with allocs on the node, plus every system job that
        may run there; written and enqueued. Nomad: Node.createNodeEvals.

        `node` is given for a node already deregistered. Allocs that turned terminal more than
        ALLOC_GC_THRESHOLD ago count as collected.
        """
        state = self.state
        node = node or self._node(node_id)
        now = self.env.now
        evals: list[Evaluation] = []
        seen: set[tuple[str, str]] = set()
        for alloc in state.allocs_by_node(node_id):
            key = (alloc.namespace, alloc.job_id)
            if key in seen or (alloc.terminal() and now - alloc.modify_time > ALLOC_GC_THRESHOLD):
                continue
            seen.add(key)
            job = state.job_by_id(*key) or alloc.job
            evals.append(self._node_eval(job, node_id, node_index))
        for job in state.jobs(namespace=None):
            if job.type != JOB_TYPE_SYSTEM or job.ns_id in seen:
                continue
            if node_in_pool(node, job.node_pool or "default") and node_in_any_dc(node, job.datacenters or ["*"]):
                seen.add(job.ns_id)
                evals.append(self._node_eval(job, node_id, node_index))
        if evals:
            self.raft.create_evals(evals)
        return evals

    def _node_eval(self, job: Job, node_id: str, node_index: int) -> Evaluation:
        return self.raft.new_eval(job, TRIGGER_NODE_UPDATE, node_id=node_id, node_modify_index=node_index)

    def _node(self, node_id: str) -> Node:
        node = self.state.node_by_id(node_id)
        if node is None:
            raise ValidationError("NodeID", "node not found")
        return node

    # -- registration ------------------------------------------------------------------------

    def register_nodes(self, nodes: list[Node]) -> list[Evaluation]:
        """New nodes join the cluster, ready. Nomad: Node.Register (a new ready node asks for
        node evals: system jobs) and fsm.applyUpsertNode (a ready node unblocks its class)."""
        index = self.state.upsert_nodes(nodes)
        evals: list[Evaluation] = []
        for cls in dict.fromkeys(n.computed_class for n in nodes if n.status == NODE_STATUS_READY):
            self.blocked.unblock(cls, index)
        for node in nodes:
            if transition_requires_eval(node.status, NODE_STATUS_INIT):
                evals += self.create_node_evals(node.id, index)
        return evals

    def deregister_nodes(self, node_ids: list[str]) -> list[Evaluation]:
        """Remove nodes from the cluster. Nomad: Node.BatchDeregister: the nodes are deleted,
        their heartbeat timers cleared, and each gets its node evals, whose schedulers find
        the allocs on a missing node and mark them lost."""
        nodes = [self._node(node_id) for node_id in node_ids]
        index = self.state.delete_nodes(node_ids)
        evals: list[Evaluation] = []
        for node in nodes:
            self.drainer.stop(node.id)
            evals += self.create_node_evals(node.id, index, node)
        return evals

    # -- node status, eligibility, drain -----------------------------------------------------

    def set_node_status(self, node_id: str, status: str, message: str = "") -> list[Evaluation]:
        """Change a node's status, with a `Cluster` node event `message` (a node back from `down`
        without one gets `Node reregistered by heartbeat`); returns the evals created.
        Nomad: Node.UpdateStatus."""
        if status not in NODE_STATUSES:
            raise ValidationError("Status", "invalid status for node")
        node = self._node(node_id)
        old = node.status
        if old == status:
            return []
        if not message and old == NODE_STATUS_DOWN:
            message = NODE_REREGISTERED_BY_HEARTBEAT
        event = NodeEvent(message, SUBSYSTEM_CLUSTER, self.env.now) if message else None
        index = self.state.update_node(node_id, event=event, status=status)
        if status == NODE_STATUS_READY:
            self.blocked.unblock(node.computed_class, index)
            self.blocked.unblock_node(node_id, index)
        if transition_requires_eval(status, old):
            return self.create_node_evals(node_id, index)
        return []

    def set_eligibility(self, node_id: str, eligible: bool) -> list[Evaluation]:
        """Mark a node (in)eligible for placements. Nomad: Node.UpdateEligibility."""
        node = self._node(node_id)
        if node.drain and eligible:
            raise ValidationError("Eligibility", "can not set node's scheduling eligibility to eligible while it is draining")
        target = NODE_ELIGIBLE if eligible else NODE_INELIGIBLE
        if node.scheduling_eligibility == target:
            return []
        event = NodeEvent(NODE_ELIGIBLE_EVENT if eligible else NODE_INELIGIBLE_EVENT, SUBSYSTEM_CLUSTER, self.env.now)
        index = self.state.update_node(node_id, event=event, scheduling_eligibility=target)
        if not eligible:
            return []
        self.blocked.unblock(node.computed_class, index)
        return self.create_node_evals(node_id, index)

    def set_drain(self, node_id: str, drain: bool, deadline: float | None = None, mark_eligible: bool = False,
                  ignore_system_jobs: bool = False, meta: dict[str, str] | None = None) -> list[Evaluation]:
        """Start or stop draining a node. Nomad: Node.UpdateDrain.

        `deadline` is seconds from now (Nomad's DrainSpec.Deadline): None or 0 waits as long as
        it takes, a negative value forces the drain at once. Draining makes the node ineligible;
        stopping a drain keeps it ineligible unless `mark_eligible`. `meta` is the operator's
        metadata kept in the node's LastDrain.
        """
        node = self._node(node_id)
        if drain:
            self.drainer.drain(node_id, deadline, ignore_system_jobs, meta)
            return []
        was_ineligible = node.scheduling_eligibility == NODE_INELIGIBLE
        now = self.env.now
        changes: dict[str, Any] = {
            "drain": False, "drain_strategy": None,
            "last_drain": next_last_drain(node.drain_strategy, None, node.last_drain, now, meta=meta)}
        if mark_eligible:
            changes["scheduling_eligibility"] = NODE_ELIGIBLE
        event = NodeEvent(NODE_DRAIN_DISABLED, SUBSYSTEM_DRAIN, now) if node.drain_strategy is not None else None
        index = self.state.update_node(node_id, event=event, **changes)
        self.drainer.stop(node_id)
        if not (mark_eligible and was_ineligible):
            return []
        self.blocked.unblock(node.computed_class, index)
        return self.create_node_evals(node_id, index)
