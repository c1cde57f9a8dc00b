"""Namespaces and node pools: the names jobs may use.

Nomad: nomad/structs (Namespace, NodePool), the state store's namespaces and node_pools tables,
and the job admission hooks (job_endpoint_validators.go, job_endpoint_hook_node_pool.go): a job in a
namespace or node pool that does not exist is refused. The "default" namespace and the built-in
pools "all" and "default" always exist; a scenario declares more; registering a node creates its
pool if it is new (Nomad: Node.Register).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

DEFAULT_NAMESPACE_DESCRIPTION = "Default shared namespace"
BUILTIN_POOLS = {"all": "Node pool with all nodes in the cluster.", "default": "Default node pool."}


@dataclass(slots=True)
class Namespace:
    """Nomad: structs.Namespace (no quotas, capabilities or node pool configuration)."""

    name: str
    description: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    create_index: int = 1
    modify_index: int = 1


@dataclass(slots=True)
class NodePool:
    """Nomad: structs.NodePool (no scheduler configuration)."""

    name: str
    description: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    create_index: int = 1
    modify_index: int = 1


class Catalog:
    """The namespaces and node pools of one cluster, by name."""

    def __init__(self) -> None:
        self.namespaces = {"default": Namespace("default", DEFAULT_NAMESPACE_DESCRIPTION)}
        self.node_pools = {name: NodePool(name, text) for name, text in BUILTIN_POOLS.items()}

    def declare(self, namespaces: Iterable[Namespace] = (), node_pools: Iterable[NodePool] = ()) -> None:
        """Add (or replace) namespaces and node pools."""
        self.namespaces.update((ns.name, ns) for ns in namespaces)
        self.node_pools.update((pool.name, pool) for pool in node_pools)

    def pools_of_nodes(self, pools: Iterable[str], index: int) -> None:
        """Create the pools registered nodes name that do not exist yet."""
        for name in pools:
            if name not in self.node_pools:
                self.node_pools[name] = NodePool(name, create_index=index, modify_index=index)

    def job_errors(self, job_id: str, namespace: str, node_pool: str) -> list[tuple[str, str]]:
        """(field, message) for a job's unknown namespace and node pool, in Nomad's order."""
        out = []
        if namespace not in self.namespaces:
            out.append(("Namespace", f"job {_quote(job_id)} is in nonexistent namespace {_quote(namespace)}"))
        if node_pool not in self.node_pools:
            out.append(("NodePool", f"job {_quote(job_id)} is in nonexistent node pool {_quote(node_pool)}"))
        return out


def _quote(text: str) -> str:
    """Go's %q for the plain names used here."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
