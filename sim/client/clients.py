"""Client nodes: the alloc runners of every node, node failures and the batched reports to the server.

Nomad: client/client.go (allocSync batching). Each alloc runs in an `AllocRunner`
(sim.client.runner); the runners of allocs a plan places together are made and started together
(`start_together`). Client-status transitions are recorded in the `allocations` metrics table at
the moment they happen on the client; the server learns of them at the next flush.

Wiring: `Clients(env, state, server, rng, resolver)`, where `server` is the `ServerRPC` the
clients call (alloc reports, heartbeats); `watch_allocations(plans)` subscribes them to the plans
the server applies. The server never calls the clients.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import simpy

from sim.client.behavior import BehaviorResolver
from sim.client.runner import AllocRunner, start_together
from sim.client.tasks import GroupSpec, SharedEvents, running_tasks
from sim.state.store import StateStore
from sim.structs.alloc import Allocation
from sim.structs.consts import CLIENT_TERMINAL, SERVER_TERMINAL
from sim.structs.job import Job

if TYPE_CHECKING:
    from sim.metrics.recorder import Recorder
    from sim.server.config import ControlPlaneConfig
    from sim.server.plan_apply import AppliedPlan

Timer = tuple[Any, ...]  # (callback, *args)
_ALLOC = attrgetter("alloc")


class AllocUpdater(Protocol):
    """Takes the clients' batched alloc reports. Nomad: the Node.UpdateAlloc RPC."""

    def update_allocs(self, updates: list[tuple[Allocation, dict[str, Any]]]) -> int: ...

    def update_alloc_groups(self, groups: list[tuple[list[Allocation], dict[str, Any]]]) -> int: ...


class HeartbeatReceiver(Protocol):
    """Learns when a node stops and resumes heartbeating. Nomad: heartbeats (Node.UpdateStatus)."""

    def node_failed(self, node_id: str) -> float: ...

    def node_recovered(self, node_id: str) -> None: ...


class ServerRPC(Protocol):
    """What the clients reach on the server: its config (the report interval), the metrics, the
    node endpoint and the heartbeat tracker. Nomad: the client's RPCs to the servers."""

    @property
    def config(self) -> ControlPlaneConfig: ...

    @property
    def recorder(self) -> Recorder: ...

    @property
    def node_endpoint(self) -> AllocUpdater: ...

    @property
    def heartbeats(self) -> HeartbeatReceiver: ...


class PlanFeed(Protocol):
    """Publishes every applied plan (the server's plan queue)."""

    def subscribe(self, subscriber: Callable[[AppliedPlan], None]) -> None: ...


class Clients:
    """Every client node of the cluster: alloc runners, node failures and batched reports.

    Hooks: after `watch_allocations(plans)`, each applied plan comes to `on_plan_applied(placed,
    stopped)`; scenario events call `node_down(node_id)` / `node_up(node_id)` and, for nodes
    deregistered for good, `node_removed(node_id)`. Reports go to
    `server.node_endpoint.update_allocs(updates)`; node liveness to `server.heartbeats`.
    """

    def __init__(self, env: simpy.Environment, state: StateStore, server: ServerRPC,
                 rng: np.random.Generator, resolver: BehaviorResolver | None = None):
        self.env = env
        self.state = state
        self.server = server
        self.rng = rng
        self.resolver = resolver or BehaviorResolver()
        self.interval = server.config.client_update_interval
        self.runners: dict[str, AllocRunner] = {}
        self.down: set[str] = set()
        self._by_node: dict[str, dict[str, AllocRunner]] = {}
        self._pending: dict[AllocRunner, None] = {}  # the runners to report, in order (one per alloc)
        self._flush_armed = False
        self._timers: dict[float, list[Timer]] = {}
        self._groups: dict[tuple[int, str], tuple[Job, GroupSpec]] = {}
        self.events = SharedEvents()

    def group_spec(self, alloc: Allocation) -> GroupSpec:
        """The resolved group of an alloc's job version (cached; the job is kept alive)."""
        key = (id(alloc.job), alloc.task_group)
        found = self._groups.get(key)
        if found is None or found[0] is not alloc.job:
            found = self._groups[key] = (alloc.job, GroupSpec(alloc.job, alloc.task_group, self.resolver))
        return found[1]

    # -- timers ---------------------------------------------------------------------------------

    def at(self, when: float, fn: Callable[..., None], *args: object) -> None:
        """Call `fn(*args)` at simulated time `when`; callbacks due at the same time share one event.

        A timer is one tuple (no bound method or partial): runners arm one or two per alloc.
        """
        bucket = self._timers.get(when)
        if bucket is not None:
            bucket.append((fn, *args))
            return
        self._timers[when] = [(fn, *args)]
        event = self.env.timeout(max(0.0, when - self.env.now))
        event.callbacks.append(partial(self._fire, when))

    def _fire(self, when: float, _event: simpy.Event) -> None:
        for call in self._timers.pop(when):
            try:
                call[0](*call[1:])
            except Exception as err:  # fails the runners the timer belongs to, never the run
                target = call[1] if len(call) > 1 else None
                runners = [target] if isinstance(target, AllocRunner) else getattr(target, "runners", None)
                if not runners:
                    raise
                for runner in runners:
                    runner.crash(err)

    # -- plan hooks -----------------------------------------------------------------------------

    def watch_allocations(self, plans: PlanFeed) -> None:
        """Act on every plan applied from now on. Nomad: Client.watchAllocations (the client's
        blocking query for its allocs)."""
        plans.subscribe(self._on_applied)

    def _on_applied(self, applied: AppliedPlan) -> None:
        self.on_plan_applied(applied.placed, applied.stopped, applied.new)

    def on_plan_applied(self, placed: list[Allocation], stopped: list[Allocation], new: bool = False) -> None:
        """The plan applier committed: kill stopped allocs, start new ones, update in-place ones.
        `new`: every placed alloc is a new one, as stored (no runner nor stored version looked up).

        New allocs of one job group whose tasks all start at once (and all in a deployment or all
        outside one) come in runs: each run's runners are made and started together
        (`start_together`), as if one after the other.
        """
        runners = self.runners
        for stop in stopped:
            runner = runners.get(stop.id)
            if runner is not None:
                runner.kill()
        down = self.down
        job = group = spec = None  # placements come in runs of one job group: resolve it once per run
        run: list[Allocation] = []  # to start together
        in_deployment = False
        known: dict[str, AllocRunner] = {} if new else runners
        for stored in placed if new else self.state.stored_allocs(placed):
            runner = known.get(stored.id)
            if runner is not None:
                if run:
                    run = self._start_run(run, spec)
                runner.update(stored)
            elif (stored.desired_status not in SERVER_TERMINAL and stored.client_status not in CLIENT_TERMINAL
                  and stored.node_id not in down):
                if stored.job is not job or stored.task_group != group:
                    if run:
                        run = self._start_run(run, spec)
                    job, group, spec = stored.job, stored.task_group, self.group_spec(stored)
                assert spec is not None
                if not spec.instant:
                    self._start_runner(self._add_runner(stored, spec))
                    continue
                if run and bool(stored.deployment_id) != in_deployment:
                    run = self._start_run(run, spec)
                if not run:
                    in_deployment = bool(stored.deployment_id)
                run.append(stored)
        if run:
            self._start_run(run, spec)

    def _start_run(self, allocs: list[Allocation], spec: GroupSpec | None) -> list[Allocation]:
        """Make, register and start together the runners of a run of allocs of one instant group,
        sharing its `running_tasks`; a new run starts empty."""
        assert spec is not None
        now = self.env.now
        arrivals, started_event = self.events.arrival_and_start(now)
        tasks, states = running_tasks(spec, arrivals, started_event, now)
        run = AllocRunner.borrowing(self, allocs, spec, tasks, states, now)
        self._register(run)
        try:
            start_together(self, run, spec, now)
        except Exception as err:  # fails these allocs, never the run
            for runner in run:
                runner.crash(err)
        return []

    def _start(self, alloc: Allocation) -> None:
        self._start_runner(self._add_runner(alloc))

    @staticmethod
    def _start_runner(runner: AllocRunner) -> None:
        try:
            runner.start()
        except Exception as err:  # fails this alloc, never the run
            runner.crash(err)

    def _add_runner(self, alloc: Allocation, spec: GroupSpec | None = None) -> AllocRunner:
        runner = AllocRunner(self, alloc, spec)
        self._register([runner])
        return runner

    def _register(self, runners: list[AllocRunner]) -> None:
        """Track the runners by alloc ID and by node."""
        by_id, by_node = self.runners, self._by_node
        node_id, node = "", None  # (a plan's allocs come node by node: one look-up per node)
        for runner in runners:
            alloc = runner.alloc
            alloc_id = alloc.id
            by_id[alloc_id] = runner
            if alloc.node_id != node_id or node is None:
                node_id = alloc.node_id
                node = by_node.setdefault(node_id, {})
            node[alloc_id] = runner

    def runner(self, alloc_id: str) -> AllocRunner | None:
        """The live runner of an alloc (None once it finished and reported, or never ran)."""
        return self.runners.get(alloc_id)

    # -- node failures --------------------------------------------------------------------------

    def node_down(self, node_id: str) -> None:
        """The node stops: its runners go silent; the server notices after the heartbeat TTL."""
        if node_id in self.down:
            return
        self._silence(node_id)
        self.server.heartbeats.node_failed(node_id)

    def node_removed(self, node_id: str) -> None:
        """The node is gone for good (deregistered): its runners go silent, and it never returns."""
        self._silence(node_id)

    def _silence(self, node_id: str) -> None:
        self.down.add(node_id)
        for alloc_id, runner in self._by_node.pop(node_id, {}).items():
            runner.silence()
            self.runners.pop(alloc_id, None)
            self._pending.pop(runner, None)

    def node_up(self, node_id: str) -> None:
        """The node is back: it re-registers (ready) and reruns the allocs it should still run."""
        if node_id not in self.down or self.state.node_by_id(node_id) is None:
            return
        self.down.discard(node_id)
        self.server.heartbeats.node_recovered(node_id)
        for alloc in self.state.allocs_by_node(node_id):
            if alloc.id in self.runners or alloc.client_terminal():
                continue
            if alloc.server_terminal():  # stopped while the node was away: kill it and report
                self._add_runner(alloc).kill()
            else:
                self._start(alloc)

    # -- reports --------------------------------------------------------------------------------

    def record(self, alloc: Allocation, status: str, now: float) -> None:
        """One `allocations` metrics row for a client-status transition."""
        self.server.recorder.rows["allocations"].append(
            (now, alloc.id, alloc.job_id, alloc.task_group, alloc.node_id, status, alloc.desired_status))

    def record_all(self, runners: list[AllocRunner], status: str, now: float) -> None:
        """`record` for the alloc of each runner, in turn."""
        self.server.recorder.rows["allocations"].extend(
            [(now, a.id, a.job_id, a.task_group, a.node_id, status, a.desired_status) for a in map(_ALLOC, runners)])

    def mark_all_dirty(self, runners: list[AllocRunner]) -> None:
        """`mark_dirty` for each runner, in turn."""
        if runners:
            self._pending.update(dict.fromkeys(runners))
            if not self._flush_armed:
                self._flush_armed = True
                self.env.timeout(self.interval).callbacks.append(self._flush)

    def mark_dirty(self, runner: AllocRunner) -> None:
        """Queue a runner's report for the next flush (one flush timer for all nodes)."""
        self._pending[runner] = None
        if not self._flush_armed:
            self._flush_armed = True
            self.env.timeout(self.interval).callbacks.append(self._flush)

    def _flush(self, _event: simpy.Event) -> None:
        """Send every pending report in one batch. Nomad: client.go allocSync.

        Consecutive reports with the same changes (runners started together that are still in
        step share their task states) go as one group of allocs with one changes map.
        """
        self._flush_armed = False
        pending, self._pending = self._pending, {}
        groups: list[tuple[list[Allocation], dict[str, Any]]] = []
        allocs: list[Allocation] = []
        states = status = description = health = None
        runners, by_node = self.runners, self._by_node
        for runner in pending:
            # runner.report(), without a map per runner
            runner.shared = True
            verdict = runner.health
            if verdict is not None and verdict != runner.health_sent:
                runner.health_sent = verdict
            else:
                verdict = None
            if (runner.states is not states or runner.status != status or runner.description != description
                    or verdict is not health):
                states, status, description, health = runner.states, runner.status, runner.description, verdict
                changes: dict[str, Any] = {"client_status": status, "client_description": description,
                                           "task_states": states}
                if verdict is not None:
                    changes["healthy"] = verdict
                allocs = []
                groups.append((allocs, changes))
            allocs.append(runner.alloc)
            if runner.done:
                alloc = runner.alloc
                runners.pop(alloc.id, None)
                node = by_node.get(alloc.node_id)
                if node is not None:
                    node.pop(alloc.id, None)
        if groups:
            self.server.node_endpoint.update_alloc_groups(groups)
