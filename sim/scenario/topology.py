"""The cluster's failure domains as a networkx graph: region → datacenter → rack → node.

Racks come from each node group's `rack` key (`meta.rack`, `attr.<key>`, ...); a node whose group
names no rack hangs directly under its datacenter. Scenario events use the graph to find every
node under a rack or a datacenter; the `nodes` results table (one row per node with its domains)
lets any table with a `node_id` be grouped by domain, which the helpers at the end of this module
do for the usual questions: allocations per rack, how a job spreads across racks, failures per
domain.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import networkx as nx
import pandas as pd

if TYPE_CHECKING:
    from sim.scenario.types import ClusterSpec
    from sim.structs.node import Node

DEFAULT_REGION = "global"
LEVELS = ("region", "datacenter", "rack", "node")

# column -> (dtype, meaning) of the `nodes` table
NODES_SCHEMA: list[tuple[str, str, str]] = [
    ("node_id", "string", "node ID"),
    ("name", "string", "node name"),
    ("region", "string", "region (the scenario's cluster has one: global)"),
    ("datacenter", "string", "datacenter"),
    ("rack", "string", "rack from the node group's `rack` key (empty when none)"),
    ("node_class", "string", "node class"),
    ("node_pool", "string", "node pool"),
]


class Topology:
    """A DiGraph whose vertices are `(level, name)` pairs; node vertices are `("node", node_id)`."""

    def __init__(self, graph: nx.DiGraph, rows: list[tuple[str, ...]]):
        self.graph = graph
        self._rows = rows  # NODES_SCHEMA rows in node order
        self._order = {row[0]: i for i, row in enumerate(rows)}

    @classmethod
    def build(cls, nodes: Iterable[Node], racks: dict[str, str | None], region: str = DEFAULT_REGION) -> Topology:
        """The topology of `nodes` (in order), `racks` mapping node names to their rack (or None)."""
        graph = nx.DiGraph()
        graph.add_node(("region", region))
        topology = cls(graph, [])
        topology.add(nodes, racks, region)
        return topology

    def add(self, nodes: Iterable[Node], racks: dict[str, str | None], region: str = DEFAULT_REGION) -> None:
        """Add nodes (joining the cluster) after those already there."""
        graph = self.graph
        for node in nodes:
            dc = ("datacenter", node.datacenter)
            graph.add_edge(("region", region), dc)
            rack = racks.get(node.name) or ""
            parent = dc
            if rack:
                parent = ("rack", rack)
                graph.add_edge(dc, parent)
            graph.add_edge(parent, ("node", node.id), name=node.name)
            self._order[node.id] = len(self._rows)
            self._rows.append((node.id, node.name, region, node.datacenter, rack, node.node_class, node.node_pool))

    @classmethod
    def from_cluster(cls, nodes: Iterable[Node], cluster: ClusterSpec) -> Topology:
        """The topology of a scenario's nodes, racks taken from each group's `rack` key."""
        racks = {name: group.rack_value() for group in cluster.nodes for name in group.node_names()}
        return cls.build(nodes, racks)

    def domain(self, name: str) -> tuple[str, str] | None:
        """The vertex a domain name refers to: a rack first, then a datacenter, then a region."""
        for level in ("rack", "datacenter", "region"):
            if (level, name) in self.graph:
                return (level, name)
        return None

    def domains(self, level: str) -> list[str]:
        """Names of every domain at `level`, sorted."""
        return sorted(name for lvl, name in self.graph if lvl == level)

    def nodes_under(self, name: str) -> list[str]:
        """IDs of the nodes in a rack, datacenter or region, in cluster order.

        Raises:
            KeyError: no domain has that name.
        """
        vertex = self.domain(name)
        if vertex is None:
            raise KeyError(f"no rack, datacenter or region named {name!r}")
        found = [v[1] for v in nx.descendants(self.graph, vertex) if v[0] == "node"]
        return sorted(found, key=self._order.__getitem__)

    def domain_of(self, node_id: str, level: str) -> str:
        """The name of the `level` domain a node belongs to ("" for a node without a rack)."""
        row = self._rows[self._order[node_id]]
        return row[LEVELS.index(level) + 2] if level != "node" else node_id

    def frame(self) -> pd.DataFrame:
        """The `nodes` table: one row per node with its domains (NODES_SCHEMA)."""
        frame = pd.DataFrame.from_records(self._rows, columns=[c for c, _, _ in NODES_SCHEMA])
        return frame.astype({c: t for c, t, _ in NODES_SCHEMA})


# --- metrics grouped by domain ------------------------------------------------------------------


def _with_domain(frame: pd.DataFrame, nodes: pd.DataFrame, level: str) -> pd.DataFrame:
    return frame.merge(nodes[["node_id", level]], on="node_id", how="inner")


def allocs_per_domain(placements: pd.DataFrame, nodes: pd.DataFrame, level: str = "rack") -> pd.Series:
    """How many allocations were placed in each domain (every domain listed, zeros included)."""
    placed = _with_domain(placements[placements["alloc_id"] != ""], nodes, level)
    counts = placed.groupby(level, sort=True).size()
    return counts.reindex(sorted(nodes[level].unique()), fill_value=0).astype("int64").rename("allocs")


def spread_across(placements: pd.DataFrame, nodes: pd.DataFrame, level: str = "rack") -> pd.DataFrame:
    """Per job and group: allocs placed, distinct domains used and the largest share in one domain."""
    placed = _with_domain(placements[placements["alloc_id"] != ""], nodes, level)
    if placed.empty:
        return pd.DataFrame(columns=["job_id", "task_group", "allocs", "domains", "max_share"])
    per = placed.groupby(["job_id", "task_group", level], sort=True).size().rename("n").reset_index()
    g = per.groupby(["job_id", "task_group"], sort=True)["n"]
    out = pd.DataFrame({"allocs": g.sum(), "domains": g.size(), "max_share": g.max() / g.sum()})
    return out.reset_index()


FAILURE_STATUSES = ("failed", "lost")


def failures_per_domain(allocations: pd.DataFrame, nodes: pd.DataFrame, level: str = "rack") -> pd.Series:
    """Allocation transitions to failed or lost in each domain (every domain listed)."""
    failed = allocations[allocations["client_status"].isin(FAILURE_STATUSES)]
    failed = failed.drop_duplicates(["alloc_id", "client_status"])
    counts = _with_domain(failed, nodes, level).groupby(level, sort=True).size()
    return counts.reindex(sorted(nodes[level].unique()), fill_value=0).astype("int64").rename("failures")
