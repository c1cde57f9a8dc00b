"""The world of one run: environment, random streams, state, server, clients and recorder.

The only place an Environment or a random stream is created. One seed becomes a numpy
SeedSequence whose named children drive each concern (ids, broker, scheduler, clients,
workload, ...), so adding randomness to one concern does not shift another's draws.

The workload and the API facade see a run through this class; `sim.simulation.Simulation`
adds them (and the results tables) on top, so nothing below it needs to know the facade.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import simpy

from sim.client.behavior import BehaviorResolver
from sim.client.clients import Clients
from sim.errors import SimError, ValidationError
from sim.metrics.heap import trim_heap
from sim.metrics.recorder import Recorder, control_plane_counts
from sim.scenario.types import NodeGroup, Scenario
from sim.server.server import Server
from sim.state.namespaces import Namespace, NodePool
from sim.state.store import StateStore
from sim.structs.consts import EVAL_STATUS_BLOCKED, EVAL_TERMINAL
from sim.structs.devices import NodeDeviceResource
from sim.structs.ids import IdGenerator
from sim.structs.node import Node, NodeResources

if TYPE_CHECKING:
    from sim.scheduler.policies import Policy
    from sim.structs.evaluation import Evaluation

STREAMS = ("ids", "broker", "scheduler", "clients", "workload", "heartbeat", "events", "api", "nodes")


class World:
    """One run's engine: a SimPy environment, the state store, a server and client nodes."""

    def __init__(self, scenario: Scenario, seed: int | None = None):
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else int(seed)
        children = np.random.SeedSequence(self.seed).spawn(len(STREAMS))
        self.rngs = {name: np.random.default_rng(s) for name, s in zip(STREAMS, children, strict=True)}
        self.env = simpy.Environment()
        self.has_run = False  # set by the first `run` (the collector policy reclaims before it)
        self.recorder = Recorder(clock=lambda: self.env.now)
        config = scenario.control_plane.to_config()
        self.state = StateStore(clock=lambda: self.env.now, tracked_versions=config.job_tracked_versions)
        self.server = Server(self.env, self.state, config, self.rngs, self.recorder,
                             start_unix=scenario.start_time, policy=_load_policy(config.policy, scenario.file))
        self.server.job_watchers.append(self.recorder)  # job first-write times for the `jobs` table
        self.state.catalog.declare([Namespace(n.name, n.description, dict(n.meta)) for n in scenario.namespaces],
                                   [NodePool(p.name, p.description, dict(p.meta)) for p in scenario.node_pools])
        self.node_ids = IdGenerator(self.rngs["nodes"])  # node IDs, initial and joining ones
        self.node_watchers: list[Callable[[list[Node], NodeGroup], None]] = []  # told of joining nodes
        self.state.upsert_nodes(build_nodes(scenario.cluster.nodes, self.node_ids))
        self._start_clients()
        self.server.establish_leadership()  # after the clients: they act on a commit before the deployment watcher

    def _start_clients(self) -> None:
        """The client nodes, following the plans the server applies."""
        resolver = BehaviorResolver(self.scenario.task_behavior)
        self.clients = Clients(self.env, self.state, self.server, self.rngs["clients"], resolver)
        self.clients.watch_allocations(self.server.plan_queue)

    # -- nodes joining and leaving ----------------------------------------------------------

    def add_nodes(self, group: NodeGroup, cause: str = "add_nodes") -> list[Node]:
        """A node group joins the cluster now (registered ready): `node_events` rows, then the
        `node_watchers` hear of it. Returns its nodes."""
        nodes = build_nodes((group,), self.node_ids)
        self.server.node_endpoint.register_nodes(nodes)
        self._record_nodes([n.id for n in nodes], "add", cause)
        for watcher in self.node_watchers:
            watcher(nodes, group)
        return nodes

    def remove_nodes(self, node_ids: list[str], cause: str = "remove_nodes") -> list[Evaluation]:
        """Nodes leave the cluster for good: their clients stop and the server deregisters them
        (their allocs are then marked lost by the node evals' schedulers). Returns those evals.

        Raises:
            ValidationError: a node is not registered (nothing is changed).
        """
        if any(self.state.node_by_id(node_id) is None for node_id in node_ids):
            raise ValidationError("NodeID", "node not found")
        for node_id in node_ids:
            self.clients.node_removed(node_id)
            self.server.heartbeats.clear(node_id)
        evals = self.server.node_endpoint.deregister_nodes(node_ids)
        self._record_nodes(node_ids, "remove", cause)
        return evals

    def _record_nodes(self, node_ids: list[str], event: str, cause: str) -> None:
        now = float(self.env.now)
        self.recorder.rows["node_events"].extend([(now, node_id, event, cause) for node_id in node_ids])

    # -- running ----------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """Simulated seconds since the scenario's start."""
        return float(self.env.now)

    def run(self, until: float | None = None) -> None:
        """Advance simulated time to `until` seconds from the start (default: the scenario's duration).

        Raises:
            SimError: `until` is before the current simulated time (time never goes back).
        """
        target = self.scenario.duration if until is None else float(until)
        if target < self.env.now:
            raise SimError(f"cannot run until {target:g} s: the simulation is already at {self.env.now:g} s "
                           "(use advance(seconds) to run on from now)")
        with _fewer_collections(self):
            if target > self.env.now:
                self.env.run(until=target)
            while self.env.peek() == target:  # what happens at `until` itself belongs to the run
                self.env.step()

    def advance(self, seconds: float) -> float:
        """Run `seconds` more of simulated time; returns the new time."""
        self.run(self.env.now + max(0.0, float(seconds)))
        return self.now

    def release(self) -> None:
        """End the world for good (a run that is over, its results built next): the state, the
        server, the clients and every pending event are dropped and collected; the recorder, the
        scenario and the time reached stay. The world cannot run after, and the dropped parts are
        emptied (a reference to one kept elsewhere finds none of its attributes)."""
        self.env = simpy.Environment(initial_time=self.env.now)
        dropped = [self.state, self.server, self.clients]
        del self.state, self.server, self.clients
        self.node_watchers.clear()
        for part in dropped:  # (emptied first: what they hold is freed by its reference counts as it
            vars(part).clear()  # goes, not by a collection walking every object of a cycle through them)
        del dropped, part
        gc.collect()
        trim_heap()

    def busy(self) -> bool:
        """Whether any eval is pending or in flight, or any deployment is running."""
        broker = self.server.broker
        if broker.ready_count() or broker.in_flight() or self.server.plan_queue.depth():
            return True
        if any(not e.terminal() and e.status != EVAL_STATUS_BLOCKED for e in self.state.evals()):
            return True
        return any(d.active() for d in self.state.deployments())

    def settle(self, max_seconds: float = 3600.0, step: float = 1.0) -> bool:
        """Run until nothing is pending (see `busy`) or `max_seconds` pass; True if it settled.

        What is due now (the scenario's 0 s registrations at the start) runs first.
        """
        self.run(self.env.now)
        deadline = self.env.now + max_seconds
        while self.env.now < deadline:
            if not self.busy():
                return True
            self.run(min(deadline, self.env.now + step))
        return not self.busy()

    def pending_evals(self) -> int:
        """Evaluations not yet terminal (blocked ones included)."""
        return sum(1 for e in self.state.evals() if e.status not in EVAL_TERMINAL)

    # -- observation ------------------------------------------------------------------------

    def start_sampling(self) -> None:
        """Sample node usage and control-plane counts every `metrics.sample_every` seconds."""
        self.env.process(self._sample_nodes(self.scenario.metrics.sample_every))

    def _sample_nodes(self, every: float) -> Generator[simpy.Event, None, None]:
        table = self.state.nodes
        while True:
            self.recorder.sample_nodes(self.env.now, table)
            self.recorder.sample_cluster(self.env.now, *control_plane_counts(self.server))
            yield self.env.timeout(every)


SIMULATING_THRESHOLDS = (50_000, 10, 10)
"""The cyclic garbage collector's thresholds (gc.set_threshold) from the first `World.run` on."""
RECLAIM_NEW_WORLD = 20  # collections since the last reclaim before a world's first run reclaims
RECLAIM_ANY = 1_000  # collections since the last reclaim before any run reclaims

# The collector is the process's, so its policy keeps process state (never read by a simulation):
_simulating = False  # inside `World.run`, with the collector's survivors frozen
_reclaimed_at = -RECLAIM_ANY  # the collector's count of collections after the last reclaim


@contextlib.contextmanager
def _fewer_collections(world: World) -> Iterator[None]:
    """The cyclic garbage collector's policy while `world` simulates.

    Nothing a run makes is a reference cycle but the world itself: an evaluation's stack, scan
    caches and proposed state, the plans, allocations and client runners are all freed by
    reference counting once dropped. What is left for the collector is rescanning what a run
    keeps (allocations, runners, metrics: tens of objects per allocation) over and over. So:

    - Collections are rarer (SIMULATING_THRESHOLDS: a young collection every 50,000 net new
      container objects) and, while `run` lasts, what survives a collection is frozen
      (gc.freeze, from a gc callback): each object the run keeps is scanned once, by the young
      collection that first finds it, and the world as built leaves the collector at the first
      one. A cycle that dies during the run is still collected at the next collection, unless
      it had survived one: then it waits for the end of the run.
    - When `run` returns, everything is unfrozen (gc.unfreeze) and the collector is as it was;
      no collection is started and the thresholds stay (restoring lower ones would start a
      collection of what the run made at once, on every return: costly for callers that run
      a world in steps).
    - `run` collects everything (gc.collect) before it starts when enough collections were
      made since the last time: RECLAIM_NEW_WORLD at a world's first run, so that a process
      running one world after another (sweeps, tests) reclaims the dropped ones and keeps a
      flat footprint; RECLAIM_ANY otherwise, so that with a world run in many short steps (the
      API's clock) other code's garbage that aged while frozen is still reclaimed.

    Objects someone else froze are left alone (no freezing then). Results are unaffected: only
    when cycles are collected changes.
    """
    global _simulating
    if gc.get_threshold() != SIMULATING_THRESHOLDS:
        gc.set_threshold(*SIMULATING_THRESHOLDS)
    first = not world.has_run
    world.has_run = True
    if _simulating:  # a nested run: the outer one has set everything up
        yield
        return
    _reclaim(first)
    if gc.get_freeze_count():  # frozen by someone else: theirs to unfreeze
        yield
        return
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)
    _simulating = True
    try:
        yield
    finally:
        _simulating = False
        gc.unfreeze()


def _reclaim(first_run: bool) -> None:
    """Collect everything when due (see `_fewer_collections`)."""
    global _reclaimed_at
    if gc.isenabled() and _collections() - _reclaimed_at >= (RECLAIM_NEW_WORLD if first_run else RECLAIM_ANY):
        gc.collect()
        _reclaimed_at = _collections()


def _freeze_survivors(phase: str, info: dict[str, int]) -> None:
    """gc callback: while a world simulates, what survived a collection leaves the collector."""
    if _simulating and phase == "stop":
        gc.freeze()


def _collections() -> int:
    """How many collections the collector has made, every generation."""
    return sum(int(g["collections"]) for g in gc.get_stats())


def build_nodes(groups: Iterable[NodeGroup], ids: IdGenerator) -> list[Node]:
    """The client nodes of node groups, group by group, with Nomad-like default attributes."""
    nodes = []
    for group in groups:
        for name in group.node_names():
            attributes = {"kernel.name": "linux", "cpu.arch": "amd64", "nomad.version": "1.11.0",
                          "unique.hostname": name}
            attributes.update({f"driver.{d}": "1" for d in group.drivers})
            attributes.update(group.attributes)
            node_id = ids.uuid()
            devices = tuple(  # each instance its own ID, drawn after the node's
                NodeDeviceResource(d.vendor, d.type, d.name, tuple(ids.uuid() for _ in range(d.count)),
                                   tuple(sorted(d.attributes.items())))
                for d in group.devices
            )
            nodes.append(Node(
                id=node_id, name=name, datacenter=group.datacenter, node_class=group.node_class,
                node_pool=group.node_pool, attributes=attributes, meta=dict(group.meta),
                drivers=list(group.drivers),
                resources=NodeResources(group.resources.cpu, group.resources.memory, group.resources.disk,
                                        devices=devices),
                reserved=NodeResources(group.reserved.cpu, group.reserved.memory, group.reserved.disk,
                                       group.reserved.ports),
                min_dynamic_port=group.port_range.min, max_dynamic_port=group.port_range.max,
            ))
    return nodes


def _load_policy(spec: str, scenario_file: str | None) -> Policy | None:
    """A custom ranking policy named `module:function` (found next to the scenario file or in the cwd), or None."""
    if not spec:
        return None
    from sim.scheduler.policies import load_policy

    search = [Path(scenario_file).resolve().parent] if scenario_file else []
    return load_policy(spec, [*search, Path.cwd()])
