"""Node events of a scenario: nodes and failure domains going down and up, drains, random failures.

A node going down stops its client (sim.client.clients: its allocs go silent and the server notices after
the heartbeat TTL); coming back up re-registers it. A drain goes through the node endpoint and
the drainer, as `nomad node drain` would. `domain_down`/`domain_up` apply to every node under a
rack or datacenter of the topology. `random_failures` is one process for the whole cluster: a heap
of each node's next failure (Exp(mtbf) after it last came back) and repair (Exp(mttr) after it
failed). `drain_fraction` drains a random share of a node class's ready, eligible nodes. Draws
come from the `events` stream, one child stream per event in scenario order. Every change is a
row of the `node_events` table.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from sim.errors import SimError
from sim.scenario.types import DomainEvent, DrainFraction, NodeEvent, RandomFailures

if TYPE_CHECKING:
    import numpy as np
    import simpy

    from sim.scenario.topology import Topology
    from sim.world import World


class NodeEvents:
    """Schedules a scenario's `events` and applies them to the clients and the server."""

    def __init__(self, sim: World, topology: Topology, reject: Callable[[str, str, str], None]):
        self.sim = sim
        self.env = sim.env
        self.topology = topology
        self.reject = reject
        self.ids = {n.name: n.id for n in sim.state.nodes.nodes}
        for event in sim.scenario.events:
            rng = sim.rngs["events"].spawn(1)[0]
            if isinstance(event, RandomFailures):
                self.env.process(self._random_failures(event, rng))
            else:
                timer = self.env.timeout(max(0.0, event.at - self.env.now))
                timer.callbacks.append(self._callback(event, rng))

    def _callback(self, event: NodeEvent | DomainEvent | DrainFraction, rng: np.random.Generator) -> Callable[[simpy.Event], None]:
        """A timer callback that applies `event` (drawing from `rng`)."""
        return lambda _timer: self._apply(event, rng)

    def _apply(self, event: NodeEvent | DomainEvent | DrainFraction, rng: np.random.Generator) -> None:
        if isinstance(event, NodeEvent):
            for name in event.nodes:
                self.node(event.action, self.ids[name], "node_event", event.deadline)
        elif isinstance(event, DomainEvent):
            for node_id in self.topology.nodes_under(event.domain):
                self.node(event.action, node_id, f"domain:{event.domain}")
        elif isinstance(event, DrainFraction):
            for node_id in self.drain_candidates(event, rng):
                self.node("drain", node_id, "drain_fraction", event.deadline)

    def node(self, action: str, node_id: str, cause: str, deadline: float | None = None) -> bool:
        """Take a node down, bring it up or drain it; False (and nothing recorded) if it was no change."""
        try:
            return self._node(action, node_id, cause, deadline)
        except SimError as err:
            self.reject(f"node_{action}", node_id, str(err))
            return False

    def _node(self, action: str, node_id: str, cause: str, deadline: float | None) -> bool:
        clients = self.sim.clients
        if action == "down":
            if node_id in clients.down:
                return False
            clients.node_down(node_id)
        elif action == "up":
            if node_id not in clients.down:
                return False
            clients.node_up(node_id)
        else:
            self.sim.server.drainer.drain(node_id, deadline)
        self.sim.recorder.add("node_events", float(self.env.now), node_id, action, cause)
        return True

    def drain_candidates(self, event: DrainFraction, rng: np.random.Generator) -> list[str]:
        """A random `fraction` (at least one) of the class's ready, eligible, undrained nodes, in cluster order."""
        nodes = [n for n in self.sim.state.nodes.nodes
                 if (event.node_class is None or n.node_class == event.node_class)
                 and n.status == "ready" and not n.drain and n.scheduling_eligibility == "eligible"]
        if not nodes or event.fraction <= 0:
            return []
        k = min(len(nodes), max(1, round(event.fraction * len(nodes))))
        chosen = sorted(int(i) for i in rng.choice(len(nodes), size=k, replace=False))
        return [nodes[i].id for i in chosen]

    def _random_failures(self, spec: RandomFailures, rng: np.random.Generator) -> Generator[simpy.Event, Any, None]:
        """Every node fails after Exp(mtbf) of uptime and is repaired after Exp(mttr)."""
        nodes = [n.id for n in self.sim.state.nodes.nodes]
        first = spec.start + rng.exponential(spec.mtbf, len(nodes))
        heap = [(float(t), i, "down") for i, t in enumerate(first)]
        heapq.heapify(heap)
        mine: set[str] = set()  # nodes this process took down (only those it repairs)
        while heap:
            when, i, action = heapq.heappop(heap)
            if action == "down" and when >= spec.stop:
                continue
            if when > self.env.now:
                yield self.env.timeout(when - self.env.now)
            node_id, now = nodes[i], float(self.env.now)
            if action == "down" and self.node("down", node_id, "random_failure"):
                mine.add(node_id)
                heapq.heappush(heap, (now + float(rng.exponential(spec.mttr)) if spec.mttr > 0 else now, i, "up"))
                continue
            if action == "up" and node_id in mine:
                mine.discard(node_id)
                self.node("up", node_id, "random_failure")
            heapq.heappush(heap, (now + float(rng.exponential(spec.mtbf)), i, "down"))
