"""The cluster's nodes as numpy columns, for vectorised feasibility, fit and ranking.

Each node has a fixed row (nodes are never removed: they go down and come back). The table owns
the resource columns (capacity net of reserved, and what non-terminal allocs use), the status
masks, categorical codes for datacenter / pool / class, lazily built attribute columns for
constraint targets, and each node's set of used host ports. The state store keeps the usage
columns in step with allocations; the scheduler copies them once per evaluation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

from sim.structs.devices import AllocatedDevice
from sim.structs.node import Node, parse_port_spec

GPU_TYPE = "gpu"  # the device type counted as GPUs in the gpu columns and metrics

_NODE_TARGETS = {
    "${node.unique.id}": "id",
    "${node.datacenter}": "datacenter",
    "${node.unique.name}": "name",
    "${node.class}": "node_class",
    "${node.pool}": "node_pool",
}


def computed_class(node: Node) -> str:
    """Nomad: Node.ComputeClass: a hash of the node's non-unique placement properties."""
    parts = [node.datacenter, node.node_class, node.node_pool, ",".join(sorted(node.drivers))]
    parts += [f"a:{k}={v}" for k, v in sorted(node.attributes.items()) if not k.startswith("unique.")]
    parts += [f"m:{k}={v}" for k, v in sorted(node.meta.items()) if not k.startswith("unique.")]
    for d in node.resources.devices:  # vendor, type, name and attributes; not the instances
        parts.append(f"d:{d.vendor}/{d.type}/{d.name}")
        parts += [f"da:{k}={v}" for k, v in sorted(d.attributes) if not k.startswith("unique.")]
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).hexdigest()
    return f"v1:{int(digest, 16)}"


class NodeTable:
    """Column store of every node's resources, usage, status and placement attributes."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.index_of: dict[str, int] = {}
        self.cap = np.zeros((0, 3), dtype=np.float64)  # cpu, memory, disk net of reserved
        self.used = np.zeros((0, 3), dtype=np.float64)
        self.ready = np.zeros(0, dtype=bool)
        self.used_ports: list[set[int]] = []
        self.used_devices: list[set[str]] = []  # device instance IDs held by live allocs
        self.gpu_total = np.zeros(0, dtype=np.int64)  # instances of type "gpu" per node
        self.gpu_used = np.zeros(0, dtype=np.int64)
        self.version = 0  # bumps whenever a placement attribute or status changes
        self.derived: dict[str, object] = {}  # readers' caches of node-derived data (the scheduler's)
        self._columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._codes: dict[str, tuple[np.ndarray, list[str]]] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def add(self, node: Node) -> int:
        """Append a node (or refresh an existing one's properties); returns its row."""
        node.computed_class = computed_class(node)
        row = self.index_of.get(node.id)
        capacity = _capacity(node)
        if row is None:
            row = len(self.nodes)
            self.nodes.append(node)
            self.index_of[node.id] = row
            self.cap = np.vstack([self.cap, capacity]) if len(self.cap) else np.array([capacity], dtype=np.float64)
            self.used = np.vstack([self.used, np.zeros(3)])
            self.ready = np.append(self.ready, node.ready())
            self.used_ports.append(set(parse_port_spec(node.reserved.reserved_ports)))
            self.used_devices.append(set())
            self.gpu_total = np.append(self.gpu_total, _gpus(node))
            self.gpu_used = np.append(self.gpu_used, 0)
        else:
            self.nodes[row] = node
            self.cap[row] = capacity
            self.ready[row] = node.ready()
            self.gpu_total[row] = _gpus(node)
        self._changed()
        return row

    def add_many(self, nodes: list[Node]) -> None:
        """Append many nodes at once (one column rebuild instead of one per node)."""
        for node in nodes:
            node.computed_class = computed_class(node)
            self.index_of[node.id] = len(self.nodes)
            self.nodes.append(node)
            self.used_ports.append(set(parse_port_spec(node.reserved.reserved_ports)))
            self.used_devices.append(set())
        n = len(self.nodes)
        self.gpu_total = np.array([_gpus(x) for x in self.nodes], dtype=np.int64)
        self.gpu_used = np.append(self.gpu_used, np.zeros(n - len(self.gpu_used), dtype=np.int64))
        self.cap = np.array([_capacity(x) for x in self.nodes], dtype=np.float64).reshape(n, 3)
        self.used = np.vstack([self.used, np.zeros((n - len(self.used), 3))])
        self.ready = np.array([x.ready() for x in self.nodes], dtype=bool)
        self._changed()

    def refresh_status(self, node: Node) -> None:
        """Re-read a node's status, eligibility and drain flag into the ready mask."""
        self.ready[self.index_of[node.id]] = node.ready()
        self._changed()

    def _changed(self) -> None:
        self.version += 1
        self._columns.clear()
        self._codes.clear()

    # -- usage -----------------------------------------------------------------------------

    def reserve(self, row: int, cpu: float, mem: float, disk: float, ports: Iterable[int]) -> None:
        """Account a non-terminal alloc on a node."""
        u = self.used[row]
        u[0] += cpu
        u[1] += mem
        u[2] += disk
        self.used_ports[row].update(ports)

    def release(self, row: int, cpu: float, mem: float, disk: float, ports: Iterable[int]) -> None:
        """Forget an alloc that became terminal."""
        u = self.used[row]
        u[0] -= cpu
        u[1] -= mem
        u[2] -= disk
        self.used_ports[row].difference_update(ports)

    def hold_devices(self, row: int, devices: Iterable[AllocatedDevice], sign: int) -> None:
        """Account (sign 1) or forget (sign -1) the device instances a live alloc holds."""
        held = self.used_devices[row]
        for d in devices:
            if sign > 0:
                held.update(d.device_ids)
            else:
                held.difference_update(d.device_ids)
            if d.type == GPU_TYPE:
                self.gpu_used[row] += sign * len(d.device_ids)

    # -- attribute columns -----------------------------------------------------------------

    def column(self, target: str) -> tuple[np.ndarray, np.ndarray]:
        """Resolve a constraint target over all nodes: (values as object array, found mask).

        Nomad: scheduler/feasible/feasible.go resolveTarget. A literal (not `${...}`) resolves to
        itself on every node.
        """
        cached = self._columns.get(target)
        if cached is not None:
            return cached
        n = len(self.nodes)
        values = np.empty(n, dtype=object)
        found = np.ones(n, dtype=bool)
        if not target.startswith("${"):
            values[:] = target
        elif target in _NODE_TARGETS:
            attr = _NODE_TARGETS[target]
            values[:] = [getattr(x, attr) for x in self.nodes]
        elif target.startswith("${attr.") or target.startswith("${meta."):
            source = "attributes" if target.startswith("${attr.") else "meta"
            key = target[7:-1]
            for i, x in enumerate(self.nodes):
                v = getattr(x, source).get(key)
                values[i] = "" if v is None else v
                found[i] = v is not None
        else:
            values[:] = ""
            found[:] = False
        self._columns[target] = (values, found)
        return values, found

    def codes(self, attr: str) -> tuple[np.ndarray, list[str]]:
        """Integer codes of a categorical node field (datacenter, node_pool, node_class, computed_class)."""
        cached = self._codes.get(attr)
        if cached is None:
            raw = [getattr(x, attr) for x in self.nodes]
            labels = sorted(set(raw))
            lookup = {v: i for i, v in enumerate(labels)}
            cached = (np.array([lookup[v] for v in raw], dtype=np.int32), labels)
            self._codes[attr] = cached
        return cached

    def is_ready_row(self, row: int) -> bool:
        """Whether a node accepts placements (ready, eligible, not draining)."""
        return self.nodes[row].ready()


def _capacity(node: Node) -> list[float]:
    """A node's cpu, memory and disk net of what it reserves."""
    res, reserved = node.resources, node.reserved
    return [res.cpu - reserved.cpu, res.memory_mb - reserved.memory_mb, res.disk_mb - reserved.disk_mb]


def _gpus(node: Node) -> int:
    """How many device instances of type "gpu" a node has."""
    return sum(len(d.instance_ids) for d in node.resources.devices if d.type == GPU_TYPE)
