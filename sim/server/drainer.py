"""The node drainer: moves allocations off draining nodes at the pace their groups allow.

Nomad: nomad/drainer/ (drainer.go NodeDrainer, watch_jobs.go handleTaskGroup, draining_node.go).
A drained node is ineligible (the node endpoint sets that). On every change to allocations or
nodes while a drain is active, one pass (coalesced over `PASS_DELAY`) does what Nomad's watchers
do:
- service groups with a migrate block: mark up to `healthy - (count - migrate.max_parallel)` of
  their allocs on draining nodes with `DesiredTransition.Migrate`, where `healthy` counts the
  group's live allocs that have a health verdict (so the next batch waits for replacements);
- batch allocs are left to finish; system allocs stay until everything else is done (and are
  left alone with `IgnoreSystemJobs`);
- a node whose non-system allocs are all client-terminal is done: its system allocs are marked,
  and the drain completes (the node stays ineligible);
- at the deadline every remaining alloc is marked and the drain completes.
Every marking writes the transitions in one state write plus one `node-drain` eval per job.

Wiring: `Drainer(env, state, raft)`, with the evals written through `raft` (RaftApplier, the
server's FSM). The node endpoint's Node.UpdateDrain calls `drain(node_id, deadline)` to start a
drain (scenario events call it directly) and `stop(node_id)` to cancel one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Protocol

import simpy

from sim.errors import ValidationError
from sim.server.fsm import EvalCreator
from sim.state.store import StateStore
from sim.structs.alloc import Allocation
from sim.structs.consts import JOB_TYPE_BATCH, JOB_TYPE_SYSTEM, NODE_INELIGIBLE, TRIGGER_NODE_DRAIN
from sim.structs.job import Job, MigrateStrategy, TaskGroup
from sim.structs.node import (
    NODE_DRAIN_COMPLETE,
    NODE_DRAIN_DEADLINED,
    NODE_DRAIN_SET,
    NODE_DRAIN_UPDATED,
    SUBSYSTEM_DRAIN,
    DrainStrategy,
    NodeEvent,
    next_last_drain,
)

PASS_DELAY = 0.05  # Nomad: drainer batch window (batchUpdateInterval)


class RaftApplier(EvalCreator, Protocol):
    """The drainer's eval writes (it writes transitions and drain flags to the state itself).

    Nomad: nomad/drainer/drainer.go, RaftApplier.
    """


@dataclass(slots=True)
class DrainState:
    """One draining node: when the drain started, its force deadline (None: none) and whether
    its system allocs stay (Nomad: DrainSpec.IgnoreSystemJobs)."""

    started_at: float
    deadline_at: float | None
    gen: int
    ignore_system_jobs: bool = False


class Drainer:
    """Nomad: nomad/drainer/drainer.go, NodeDrainer."""

    def __init__(self, env: simpy.Environment, state: StateStore, raft: RaftApplier):
        self.env = env
        self.state = state
        self.raft = raft
        self.nodes: dict[str, DrainState] = {}
        self._gen = 0
        self._pass_armed = False
        self.state.subscribe(self._on_write)

    # -- control ------------------------------------------------------------------------------

    def drain(self, node_id: str, deadline: float | None, ignore_system_jobs: bool = False,
              meta: dict[str, str] | None = None) -> None:
        """Start (or update) draining a node: set its drain strategy, LastDrain and node event,
        flag it draining and ineligible, then track it. The write of Nomad's Node.UpdateDrain
        (and the state store's updateNodeDrainImpl), for the node endpoint and scenario events.

        Raises:
            ValidationError: the node does not exist.
        """
        node = self.state.node_by_id(node_id)
        if node is None:
            raise ValidationError("NodeID", "node not found")
        now, old = self.env.now, node.drain_strategy
        strategy = DrainStrategy(deadline=deadline or 0.0, ignore_system_jobs=ignore_system_jobs,
                                 started_at=old.started_at if old else now,
                                 force_deadline=now + deadline if deadline and deadline > 0 else None)
        event = NodeEvent(NODE_DRAIN_SET if old is None else NODE_DRAIN_UPDATED, SUBSYSTEM_DRAIN, now)
        self.state.update_node(node_id, event=event, drain=True, drain_strategy=strategy,
                               scheduling_eligibility=NODE_INELIGIBLE,
                               last_drain=next_last_drain(old, strategy, node.last_drain, now, meta=meta))
        self.start(node_id, deadline, ignore_system_jobs)

    def start(self, node_id: str, deadline: float | None, ignore_system_jobs: bool = False) -> None:
        """Track a draining node. `deadline`: seconds from now; None/0 none; negative: now."""
        now = self.env.now
        self._gen += 1
        at = None if not deadline else now + max(0.0, deadline)
        old = self.nodes.get(node_id)
        self.nodes[node_id] = DrainState(old.started_at if old else now, at, self._gen, ignore_system_jobs)
        if at is not None:
            timer = self.env.timeout(at - now)
            timer.callbacks.append(partial(self._on_deadline, node_id, self._gen))
        self._arm_pass()

    def stop(self, node_id: str) -> None:
        """Forget a node whose drain was cancelled (allocs already marked stay marked)."""
        self.nodes.pop(node_id, None)

    def deadline_of(self, node_id: str) -> float | None:
        """The simulated time a drain is forced at (None: no deadline or not draining)."""
        drain = self.nodes.get(node_id)
        return drain.deadline_at if drain else None

    # -- triggers -----------------------------------------------------------------------------

    def _on_write(self, _index: int, tables: frozenset[str]) -> None:
        if self.nodes and ("allocs" in tables or "nodes" in tables):
            self._arm_pass()

    def _arm_pass(self) -> None:
        if not self._pass_armed:
            self._pass_armed = True
            self.env.timeout(PASS_DELAY).callbacks.append(self._pass)

    def _on_deadline(self, node_id: str, gen: int, _event: simpy.Event) -> None:
        """Nomad: handleDeadlinedNodes: every remaining alloc is marked, the drain completes."""
        drain = self.nodes.get(node_id)
        if drain is None or drain.gen != gen:
            return
        remaining = [a for a in self.state.allocs_by_node(node_id)
                     if not a.terminal() and not (drain.ignore_system_jobs and a.job.type == JOB_TYPE_SYSTEM)]
        self._migrate(remaining)
        self._complete(node_id, deadlined=True)

    # -- the pass -----------------------------------------------------------------------------

    def _pass(self, _event: simpy.Event) -> None:
        self._pass_armed = False
        marks: list[Allocation] = []
        for node_id, drain in list(self.nodes.items()):
            allocs = self.state.allocs_by_node(node_id)
            if all(a.client_terminal() for a in allocs if a.job.type != JOB_TYPE_SYSTEM):
                if not drain.ignore_system_jobs:
                    marks += [a for a in allocs if not a.terminal()]
                self._complete(node_id)
        for key in self._draining_jobs():
            marks += self._job_drains(key)
        self._migrate(marks)

    def _draining_jobs(self) -> list[tuple[str, str]]:
        """Jobs with live, non-system allocs on draining nodes. Nomad: DrainingJobs."""
        jobs: dict[tuple[str, str], None] = {}
        for node_id in self.nodes:
            for alloc in self.state.allocs_by_node(node_id):
                if not alloc.terminal() and alloc.job.type != JOB_TYPE_SYSTEM:
                    jobs[(alloc.namespace, alloc.job_id)] = None
        return list(jobs)

    def _job_drains(self, key: tuple[str, str]) -> list[Allocation]:
        """Allocs of one job to mark now. Nomad: watch_jobs.go, handleJob."""
        job = self.state.job_by_id(*key)
        if job is None or job.type == JOB_TYPE_BATCH:
            return []
        allocs = self.state.allocs_by_job(*key)
        out: list[Allocation] = []
        for tg in job.task_groups:
            if tg.migrate is not None:
                out += self._group_drains(tg, tg.migrate, [a for a in allocs if a.task_group == tg.name])
        return out

    def _group_drains(self, tg: TaskGroup, migrate: MigrateStrategy, allocs: list[Allocation]) -> list[Allocation]:
        """Nomad: watch_jobs.go, handleTaskGroup (service groups).

        Unlike Nomad, allocs already marked for migration do not count as healthy: Nomad's
        watcher never wakes on its own write, so it does not see them before the scheduler
        stops them; a pass here may run in between.
        """
        healthy = 0
        drainable: list[Allocation] = []
        for alloc in allocs:
            if alloc.terminal() or alloc.desired_transition.migrate:
                continue
            status = alloc.deployment_status
            if status is not None and status.healthy is not None:
                healthy += 1
            if alloc.node_id in self.nodes:
                drainable.append(alloc)
        threshold = (tg.count or 0) - migrate.max_parallel
        count = min(len(drainable), healthy - threshold)
        return drainable[:count] if count > 0 else []

    # -- writes -------------------------------------------------------------------------------

    def _migrate(self, allocs: list[Allocation]) -> None:
        """Mark allocs for migration and create one `node-drain` eval per job. Nomad: drainAllocs."""
        allocs = [a for a in allocs if not a.desired_transition.migrate]
        if not allocs:
            return
        self.state.update_alloc_desired_transition(allocs, migrate=True)
        jobs: dict[tuple[str, str], Job] = {}
        for alloc in allocs:
            key = (alloc.namespace, alloc.job_id)
            if key not in jobs:
                jobs[key] = self.state.job_by_id(*key) or alloc.job
        self.raft.create_evals([self.raft.new_eval(job, TRIGGER_NODE_DRAIN) for job in jobs.values()])

    def _complete(self, node_id: str, deadlined: bool = False) -> None:
        """Nomad: NodesDrainComplete: the drain strategy goes (LastDrain `complete`, event `Node
        drain complete`, with `deadline_reached` when forced), the node stays ineligible."""
        self.nodes.pop(node_id, None)
        node = self.state.node_by_id(node_id)
        if node is None or not node.drain:
            return
        now = self.env.now
        event = NodeEvent(NODE_DRAIN_COMPLETE, SUBSYSTEM_DRAIN, now,
                          {NODE_DRAIN_DEADLINED: "true"} if deadlined else None)
        self.state.update_node(node_id, event=event, drain=False, drain_strategy=None,
                               last_drain=next_last_drain(node.drain_strategy, None, node.last_drain, now, completed=True))
