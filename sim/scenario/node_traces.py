"""Clusters built from a trace's node list (`cluster.nodes: [{from_trace: {...}}]`).

The openb node list (Alibaba's GPU cluster, cluster-trace-gpu-v2023) becomes node groups of
identical nodes that keep the trace's node names: CPU milli to MHz (`mhz_per_core` per core),
memory MiB as MB, and `gpu` instances of one device group with vendor `nvidia`, type `gpu` and
the trace's model string as its name (e.g. `V100M16`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError
from sim.scenario.traces import Machine, TraceNode, read_openb_nodes
from sim.scenario.types import DEFAULT_DRIVERS, DeviceSpec, NodeGroup, NodeResourcesSpec

NODE_TRACE_FORMATS = ("openb",)
TRACE_GPU_VENDOR, TRACE_GPU_TYPE = "nvidia", "gpu"


def node_groups_from_trace(raw: Mapping[str, Any], path: str, base_dir: Path) -> list[NodeGroup]:
    """The node groups of a `from_trace` entry, one per distinct node shape, in first-seen order."""
    file = (base_dir / raw["path"]).resolve()
    if not file.is_file():
        raise ScenarioError(f"{path}.path", f"file not found: {file}")
    try:
        machine = Machine(mhz_per_core=raw["mhz_per_core"]) if "mhz_per_core" in raw else Machine()
        nodes = read_openb_nodes(file, machine)
    except (OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}.path", f"cannot read {raw['format']} node list: {exc}") from None
    if not nodes:
        raise ScenarioError(f"{path}.path", "the node list has no nodes")
    shapes: dict[tuple[int, int, int, str], list[TraceNode]] = {}
    for node in nodes:
        if node.cpu < 1 or node.memory < 1:
            raise ScenarioError(f"{path}.path", f"node {node.name!r} has no CPU or memory")
        shapes.setdefault((node.cpu, node.memory, node.gpus, node.model), []).append(node)
    datacenter = raw.get("datacenter", "dc1")
    groups = []
    for (cpu, memory, gpus, model), members in shapes.items():
        devices = (DeviceSpec(TRACE_GPU_VENDOR, TRACE_GPU_TYPE, model or "unknown", gpus),) if gpus else ()
        groups.append(NodeGroup(
            count=len(members), resources=NodeResourcesSpec(cpu, memory), name_prefix="trace-node",
            datacenter=datacenter, drivers=DEFAULT_DRIVERS, devices=devices, names=tuple(n.name for n in members),
        ))
    return groups
