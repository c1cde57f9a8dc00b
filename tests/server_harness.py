"""A fake server for tests of the client side and the node endpoint (shared by tests/client/,
tests/server/ and tests/test_fast_paths.py): the real node endpoint, heartbeats and drainer over a
real state store, with the FSM's eval writes, the blocked tracker and the deployment watcher
replaced by recorders. It offers what the clients reach (sim.client.clients.ServerRPC)."""

from __future__ import annotations

import numpy as np
import simpy

from sim.metrics.recorder import Recorder
from sim.server.config import ControlPlaneConfig
from sim.server.drainer import Drainer
from sim.server.fsm import FSM
from sim.server.heartbeat import Heartbeats
from sim.server.node_endpoint import NodeEndpoint
from sim.state.store import StateStore
from sim.structs.alloc import Allocation
from sim.structs.evaluation import Evaluation
from sim.structs.ids import IdGenerator


class FakeBlocked:
    """Records unblock calls (the real tracker is tested in tests/server/test_blocked.py)."""

    def __init__(self) -> None:
        self.unblocked: list[tuple[str, int]] = []
        self.unblocked_nodes: list[str] = []

    def unblock(self, computed_class: str, index: int) -> None:
        self.unblocked.append((computed_class, index))

    def unblock_node(self, node_id: str, index: int) -> None:
        self.unblocked_nodes.append(node_id)


class FakeWatcher:
    """Collects health reports forwarded to the deployment watcher: (timestamp, alloc ID, healthy)."""

    def __init__(self) -> None:
        self.reports: list[tuple[float, str, bool | None]] = []

    def on_alloc_health(self, allocs: list[Allocation]) -> None:
        self.reports += [(a.deployment_status.timestamp, a.id, a.deployment_status.healthy) for a in allocs]


class FakeServer:
    """The parts of Server the clients, node endpoint, heartbeats and drainer use; it stands in
    for the FSM too (`new_eval`, `create_evals`, recording the evals in `evals`).

    `ids_seed` and `heartbeat_seed` seed the ID generator and the heartbeat jitter.
    """

    new_eval = FSM.new_eval

    def __init__(self, env: simpy.Environment, state: StateStore, ids_seed: int, heartbeat_seed: int):
        self.env = env
        self.state = state
        self.config = ControlPlaneConfig()
        self.recorder = Recorder()
        self.ids = IdGenerator(np.random.default_rng(ids_seed))
        self.rngs = {"heartbeat": np.random.default_rng(heartbeat_seed)}
        self.blocked = FakeBlocked()
        self.deployment_watcher = FakeWatcher()
        self.evals: list[Evaluation] = []
        self.drainer = Drainer(env, state, self)
        self.node_endpoint = NodeEndpoint(env, state, self, self.blocked, self.drainer, self.deployment_watcher)
        self.heartbeats = Heartbeats(env, state, self.config, self.rngs["heartbeat"], self.node_endpoint)

    def create_evals(self, evals: list[Evaluation]) -> int:
        self.evals += evals
        return self.state.upsert_evals(evals)
