"""Client nodes as the servers see them. Nomad: nomad/structs/structs.go `Node`."""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.structs.consts import (
    DEFAULT_MAX_DYNAMIC_PORT,
    DEFAULT_MIN_DYNAMIC_PORT,
    NODE_ELIGIBLE,
    NODE_STATUS_READY,
)
from sim.structs.devices import NodeDeviceResource


@dataclass(slots=True)
class NodeResources:
    """Total or reserved node resources: CPU MHz, memory MB, disk MB and reserved host ports."""

    cpu: int = 0
    memory_mb: int = 0
    disk_mb: int = 0
    reserved_ports: str = ""  # Nomad's port spec, e.g. "22,80,8000-8010"
    devices: tuple[NodeDeviceResource, ...] = ()  # NodeResources.Devices (none when reserved)


@dataclass(slots=True)
class Node:
    """A client node: identity, placement attributes, resources and status."""

    id: str
    name: str
    datacenter: str = "dc1"
    node_class: str = ""
    node_pool: str = "default"
    attributes: dict[str, str] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    drivers: list[str] = field(default_factory=list)
    resources: NodeResources = field(default_factory=NodeResources)
    reserved: NodeResources = field(default_factory=NodeResources)
    min_dynamic_port: int = DEFAULT_MIN_DYNAMIC_PORT
    max_dynamic_port: int = DEFAULT_MAX_DYNAMIC_PORT
    status: str = NODE_STATUS_READY
    status_description: str = ""
    scheduling_eligibility: str = NODE_ELIGIBLE
    drain: bool = False
    computed_class: str = ""
    create_index: int = 0
    modify_index: int = 0
    status_updated_at: int = 0  # Unix seconds

    def ready(self) -> bool:
        """Nomad: Node.Ready: ready, eligible and not draining."""
        return self.status == NODE_STATUS_READY and self.scheduling_eligibility == NODE_ELIGIBLE and not self.drain


def parse_port_spec(spec: str) -> list[int]:
    """Nomad: structs.ParsePortRanges: "22,80,8000-8010" -> the ports, sorted and unique."""
    ports: set[int] = set()
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        lo, _, hi = part.partition("-")
        start, end = int(lo), int(hi or lo)
        if end < start:
            raise ValueError(f"invalid range {part!r}: {end} < {start}")
        ports.update(range(start, end + 1))
    return sorted(ports)
