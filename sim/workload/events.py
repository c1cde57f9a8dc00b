"""Node events of a scenario: nodes and failure domains going down and up, drains, random failures,
and node groups joining or leaving the cluster.

A node going down stops its client (sim.client.clients: its allocs go silent and the server notices after
the heartbeat TTL); coming back up re-registers it. A drain goes through the node endpoint and
the drainer, as `nomad node drain` would. `domain_down`/`domain_up` apply to every node under a
rack or datacenter of the topology. `random_failures` is one process for the whole cluster: a heap
of each node's next failure (Exp(mtbf) after it last came back) and repair (Exp(mttr) after it
failed). `drain_fraction` drains a random share of a node class's ready, eligible nodes. Draws
come from the `events` stream, one child stream per event in scenario order. `add_nodes` registers
a node group (ready) through the node endpoint, which unblocks blocked evals; `remove_nodes`
deregisters the highest-numbered registered nodes of a name prefix (their clients stop; the node
evals' schedulers mark their allocs lost). Every change is a row of the `node_events` table.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from sim.errors import SimError, ValidationError
from sim.scenario.types import (
    AddNodes,
    DomainEvent,
    DrainFraction,
    NodeEvent,
    NodeGroup,
    RandomFailures,
    RemoveNodes,
)

if TYPE_CHECKING:
    import numpy as np
    import simpy

    from sim.scenario.topology import Topology
    from sim.structs.node import Node
    from sim.world import World


TimedEvent = NodeEvent | DomainEvent | DrainFraction | AddNodes | RemoveNodes


class NodeEvents:
    """Schedules a scenario's `events` and applies them to the clients and the server."""

    def __init__(self, sim: World, topology: Topology, reject: Callable[[str, str, str], None]):
        self.sim = sim
        self.env = sim.env
        self.topology = topology
        self.reject = reject
        self.ids = {n.name: n.id for n in sim.state.nodes.nodes}
        sim.node_watchers.append(self._joined)
        for event in sim.scenario.events:
            rng = sim.rngs["events"].spawn(1)[0]
            if isinstance(event, RandomFailures):
                self.env.process(self._random_failures(event, rng))
            else:
                timer = self.env.timeout(max(0.0, event.at - self.env.now))
                timer.callbacks.append(self._callback(event, rng))

    def _callback(self, event: TimedEvent, rng: np.random.Generator) -> Callable[[simpy.Event], None]:
        """A timer callback that applies `event` (drawing from `rng`)."""
        return lambda _timer: self._apply(event, rng)

    def _apply(self, event: TimedEvent, rng: np.random.Generator) -> None:
        if isinstance(event, NodeEvent):
            for name in event.nodes:
                node_id = self.ids.get(name)
                if node_id is None:
                    self.reject(f"node_{event.action}", name, "node not found (it has not joined yet)")
                else:
                    self.node(event.action, node_id, "node_event", event.deadline)
        elif isinstance(event, AddNodes):
            self.sim.add_nodes(event.group)  # the world records it and tells `_joined`
        elif isinstance(event, RemoveNodes):
            self.remove_nodes(event)
        elif isinstance(event, DomainEvent):
            for node_id in self.topology.nodes_under(event.domain):
                if self.sim.state.node_by_id(node_id) is not None:  # nodes that left are skipped
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
        if self.sim.state.node_by_id(node_id) is None:
            raise ValidationError("NodeID", "node not found (it left the cluster)")
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

    def _joined(self, nodes: list[Node], group: NodeGroup) -> None:
        """Nodes that joined (from an event or the API) go into the topology and the name map."""
        self.topology.add(nodes, dict.fromkeys(group.node_names(), group.rack_value()))
        self.ids.update((node.name, node.id) for node in nodes)

    def remove_nodes(self, event: RemoveNodes) -> None:
        """Deregister the `count` registered nodes of the prefix with the highest numbers."""
        node_ids = self.removal_candidates(event)
        if not node_ids:
            self.reject("remove_nodes", event.name_prefix, f"no registered node named {event.name_prefix}-<i>")
            return
        self.sim.remove_nodes(node_ids)

    def removal_candidates(self, event: RemoveNodes) -> list[str]:
        """IDs of the registered nodes named `<prefix>-<i>`, highest i first, at most `count`."""
        pattern = re.compile(rf"{re.escape(event.name_prefix)}-(\d+)")
        numbered = [(int(m.group(1)), n.id) for n in self.sim.state.nodes.live() if (m := pattern.fullmatch(n.name))]
        numbered.sort(reverse=True)
        return [node_id for _, node_id in numbered[: event.count]]

    def drain_candidates(self, event: DrainFraction, rng: np.random.Generator) -> list[str]:
        """A random `fraction` (at least one) of the class's ready, eligible, undrained nodes, in cluster order."""
        nodes = [n for n in self.sim.state.nodes.live()
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
            if self.sim.state.node_by_id(node_id) is None:
                continue  # the node left the cluster
            if action == "down" and self.node("down", node_id, "random_failure"):
                mine.add(node_id)
                heapq.heappush(heap, (now + float(rng.exponential(spec.mttr)) if spec.mttr > 0 else now, i, "up"))
                continue
            if action == "up" and node_id in mine:
                mine.discard(node_id)
                self.node("up", node_id, "random_failure")
            heapq.heappush(heap, (now + float(rng.exponential(spec.mtbf)), i, "down"))
