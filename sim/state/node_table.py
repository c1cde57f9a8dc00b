"""The cluster's nodes as numpy columns, for vectorised feasibility, fit and ranking.

Each node has a fixed row for the whole run: a node that joins later is appended (the columns
grow by doubling their buffers), and a deregistered node keeps its row as a tombstone (not
`present`, never ready, invisible to `node_by_id`), so rows held by a scheduler mid-evaluation
and the usage of allocs still on the node stay valid. The table owns
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
        self.index_of: dict[str, int] = {}  # every row ever, removed nodes included
        self.removed: set[str] = set()      # IDs of deregistered nodes (tombstone rows)
        self._cap_buf = np.zeros((0, 3), dtype=np.float64)
        self._used_buf = np.zeros((0, 3), dtype=np.float64)
        self._ready_buf = np.zeros(0, dtype=bool)
        self._present_buf = np.zeros(0, dtype=bool)
        self._gpu_total_buf = np.zeros(0, dtype=np.int64)
        self._gpu_used_buf = np.zeros(0, dtype=np.int64)
        self._views(0)
        self.used_ports: list[set[int]] = []
        self.used_devices: list[set[str]] = []  # device instance IDs held by live allocs
        self.version = 0  # bumps whenever a placement attribute or status changes
        self.derived: dict[str, object] = {}  # readers' caches of node-derived data (the scheduler's)
        self._columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._codes: dict[str, tuple[np.ndarray, list[str]]] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def _views(self, n: int) -> None:
        """Point the public columns at the first `n` rows of their buffers."""
        self.cap = self._cap_buf[:n]  # cpu, memory, disk net of reserved
        self.used = self._used_buf[:n]
        self.ready = self._ready_buf[:n]
        self.present = self._present_buf[:n]  # False for deregistered nodes
        self.gpu_total = self._gpu_total_buf[:n]  # instances of type "gpu" per node (0 once removed)
        self.gpu_used = self._gpu_used_buf[:n]

    def _grow(self, n: int) -> None:
        """Make room for `n` rows, doubling the buffers when they are full."""
        size = len(self._ready_buf)
        if n > size:
            size = max(n, 2 * size, 16)
            for name in ("_cap_buf", "_used_buf", "_ready_buf", "_present_buf", "_gpu_total_buf", "_gpu_used_buf"):
                old = getattr(self, name)
                buf = np.zeros((size, *old.shape[1:]), dtype=old.dtype)
                buf[: len(old)] = old
                setattr(self, name, buf)
        self._views(n)

    def add(self, node: Node) -> int:
        """Append a node (or refresh an existing one's properties); returns its row."""
        row = self.index_of.get(node.id)
        if row is None:
            self.add_many([node])
            return len(self.nodes) - 1
        node.computed_class = computed_class(node)
        self.nodes[row] = node
        self.cap[row] = _capacity(node)
        self.ready[row] = node.ready() and self.present[row]
        self.gpu_total[row] = _gpus(node) if self.present[row] else 0
        self._changed()
        return row

    def add_many(self, nodes: list[Node]) -> None:
        """Append nodes that join the cluster (amortised O(1) per node)."""
        start = len(self.nodes)
        for node in nodes:
            node.computed_class = computed_class(node)
            self.index_of[node.id] = len(self.nodes)
            self.nodes.append(node)
            self.used_ports.append(set(parse_port_spec(node.reserved.reserved_ports)))
            self.used_devices.append(set())
        self._grow(len(self.nodes))
        if nodes:
            self.cap[start:] = [_capacity(x) for x in nodes]
            self.ready[start:] = [x.ready() for x in nodes]
            self.present[start:] = True
            self.gpu_total[start:] = [_gpus(x) for x in nodes]
        self._changed()

    def remove(self, node_ids: Iterable[str]) -> None:
        """Deregister nodes: their rows stay, not present and never ready."""
        for node_id in node_ids:
            row = self.index_of[node_id]
            self.present[row] = self.ready[row] = False
            self.gpu_total[row] = 0
            self.removed.add(node_id)
        self._changed()

    def live(self) -> list[Node]:
        """The registered nodes (removed ones left out), in row order."""
        removed = self.removed
        return [n for n in self.nodes if n.id not in removed] if removed else self.nodes

    def node(self, node_id: str) -> Node | None:
        """A registered node by ID (None if unknown or removed)."""
        row = self.index_of.get(node_id)
        return None if row is None or node_id in self.removed else self.nodes[row]

    def refresh_status(self, node: Node) -> None:
        """Re-read a node's status, eligibility and drain flag into the ready mask."""
        row = self.index_of[node.id]
        self.ready[row] = node.ready() and self.present[row]
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
