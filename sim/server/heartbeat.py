"""Node liveness: when the server notices that a client stopped heartbeating, and its return.

Nomad: nomad/heartbeat.go (nodeHeartbeater) and helper.RateScaledInterval. Heartbeats are not
simulated one by one: each node has a heartbeat period (the TTL the server hands out, rate-scaled
by cluster size, plus Nomad's random stagger of up to one TTL) and a phase, both drawn once. When a
node fails at t, its last heartbeat is the latest phase + k·period before t, and the server marks
it `down` one period plus `heartbeat_grace` after that heartbeat: a single timer per failure.

Wiring: `Heartbeats(env, state, config, rng, nodes)` draws from `rng` (the run's `heartbeat`
stream). Status changes go through `nodes.set_node_status` (the node endpoint's Node.UpdateStatus).
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING, Protocol

import numpy as np
import simpy

from sim.server.config import ControlPlaneConfig
from sim.state.store import StateStore
from sim.structs.consts import NODE_STATUS_DOWN, NODE_STATUS_READY
from sim.structs.node import NODE_HEARTBEAT_MISSED

if TYPE_CHECKING:
    from sim.structs.evaluation import Evaluation

MAX_HEARTBEATS_PER_SECOND = 50.0  # Nomad: config.MaxHeartbeatsPerSecond


class NodeStatusUpdater(Protocol):
    """Where the heartbeater sends a node's new status. Nomad: the Node.UpdateStatus endpoint."""

    def set_node_status(self, node_id: str, status: str, message: str = "") -> list[Evaluation]: ...


class Heartbeats:
    """Nomad: nomad/heartbeat.go, nodeHeartbeater (one timer per failed node)."""

    def __init__(self, env: simpy.Environment, state: StateStore, config: ControlPlaneConfig,
                 rng: np.random.Generator, nodes: NodeStatusUpdater):
        self.env = env
        self.state = state
        self.config = config
        self.rng = rng
        self.nodes = nodes
        self._rhythm: dict[str, tuple[float, float]] = {}  # node -> (period, phase)
        self._armed: dict[str, int] = {}                    # failed node -> timer generation
        self._gen = 0
        self.down_at: dict[str, float] = {}                  # failed node -> when it will be marked down

    def base_ttl(self) -> float:
        """The heartbeat TTL before stagger. Nomad: helper.RateScaledInterval."""
        table = self.state.nodes
        nodes = len(table) - len(table.removed)  # registered nodes
        return max(self.config.heartbeat_ttl, nodes / MAX_HEARTBEATS_PER_SECOND)

    def rhythm(self, node_id: str) -> tuple[float, float]:
        """(period, phase) of a node's heartbeats, drawn on first use."""
        found = self._rhythm.get(node_id)
        if found is None:
            ttl = self.base_ttl()
            period = ttl + float(self.rng.random()) * ttl  # Nomad: ttl + RandomStagger(ttl)
            found = self._rhythm[node_id] = (period, float(self.rng.random()) * period)
        return found

    def last_heartbeat(self, node_id: str, t: float) -> float:
        """The time of the node's last heartbeat at or before `t`."""
        period, phase = self.rhythm(node_id)
        return phase + math.floor((t - phase) / period) * period

    def node_failed(self, node_id: str) -> float:
        """A node stopped at now; arm the one timeout that marks it down. Returns that time."""
        now = self.env.now
        period, _ = self.rhythm(node_id)
        when = self.last_heartbeat(node_id, now) + period + self.config.heartbeat_grace
        self._gen += 1
        self._armed[node_id] = self._gen
        self.down_at[node_id] = when
        timer = self.env.timeout(max(0.0, when - now))
        timer.callbacks.append(partial(self._expire, node_id, self._gen))
        return when

    def _expire(self, node_id: str, gen: int, _event: simpy.Event) -> None:
        """The TTL (plus grace) ran out: the node is down. Nomad: invalidateHeartbeat."""
        if self._armed.get(node_id) != gen:
            return
        del self._armed[node_id]
        self.down_at.pop(node_id, None)
        self.nodes.set_node_status(node_id, NODE_STATUS_DOWN, NODE_HEARTBEAT_MISSED)

    def clear(self, node_id: str) -> None:
        """Forget a deregistered node's pending timeout. Nomad: clearHeartbeatTimer."""
        self._armed.pop(node_id, None)
        self.down_at.pop(node_id, None)

    def node_recovered(self, node_id: str) -> None:
        """The node heartbeats again: cancel a pending timeout, or re-register it as ready."""
        self._armed.pop(node_id, None)
        self.down_at.pop(node_id, None)
        period, _ = self.rhythm(node_id)
        self._rhythm[node_id] = (period, self.env.now)
        node = self.state.node_by_id(node_id)
        if node is not None and node.status != NODE_STATUS_READY:
            self.nodes.set_node_status(node_id, NODE_STATUS_READY)
