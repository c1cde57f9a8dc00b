"""Which nodes a job may use, and which of its allocs' nodes are tainted.

Nomad: Node.IsInAnyDC (datacenter globs, go-glob's rules), Node.IsInPool (the "all" pool), and
scheduler/util.go, taintedNodes (nodes gone, down, draining or disconnected).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sim.structs.alloc import Allocation
from sim.structs.consts import NODE_STATUS_DISCONNECTED, NODE_STATUS_DOWN
from sim.structs.node import Node

NODE_POOL_ALL = "all"


def tainted_nodes(
    allocs: Iterable[Allocation], node_by_id: Callable[[str], Node | None]
) -> dict[str, Node | None]:
    """Nodes of the allocs that are gone (None), down, draining or disconnected.

    Nomad: scheduler/util.go, taintedNodes.
    """
    out: dict[str, Node | None] = {}
    for node_id in dict.fromkeys([alloc.node_id for alloc in allocs]):  # each node once, first seen first
        node = node_by_id(node_id)
        if (
            node is None
            or node.status in (NODE_STATUS_DOWN, NODE_STATUS_DISCONNECTED)
            or node.drain
        ):
            out[node_id] = node
    return out


def node_in_any_dc(node: Node, datacenters: Iterable[str]) -> bool:
    """Nomad: Node.IsInAnyDC: datacenter globs where `*` matches any run of characters."""
    return any(glob_match(pattern, node.datacenter) for pattern in datacenters)


def node_in_pool(node: Node, pool: str) -> bool:
    """Nomad: Node.IsInPool: the "all" pool holds every node."""
    return pool == NODE_POOL_ALL or node.node_pool == pool


def glob_match(pattern: str, subject: str) -> bool:
    """ryanuber/go-glob as Nomad uses it for datacenters: only `*` is special."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return subject == pattern
    if not subject.startswith(parts[0]) or not subject.endswith(parts[-1]):
        return False
    pos, end = len(parts[0]), len(subject) - len(parts[-1])
    for part in parts[1:-1]:
        found = subject.find(part, pos, end)
        if found < 0:
            return False
        pos = found + len(part)
    return pos <= end
