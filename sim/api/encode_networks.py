"""Task networks in Nomad's JSON shapes: a node's `NodeResources.Networks` (its NICs) and an
allocation's `AllocatedResources.Tasks[task].Networks`.

Nomad: structs.NetworkResource (with structs.Port: Label, Value, To, HostNetwork).
"""

from __future__ import annotations

from typing import Any

from sim.structs.alloc import Allocation
from sim.structs.node import Node


def _network(device: str, cidr: str, ip: str, mbits: int, reserved: list[dict[str, Any]] | None = None,
             dynamic: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"Mode": "", "Device": device, "CIDR": cidr, "IP": ip, "Hostname": "", "MBits": mbits, "DNS": None,
            "ReservedPorts": reserved, "DynamicPorts": dynamic}


def _ports(ports: tuple[tuple[str, int], ...]) -> list[dict[str, Any]] | None:
    return [{"Label": label, "Value": value, "To": 0, "HostNetwork": "default"} for label, value in ports] or None


def encode_node_networks(node: Node) -> list[dict[str, Any]] | None:
    """Nomad: NodeResources.Networks; None when the node declares no NIC."""
    return [_network(n.device, n.cidr, n.ip, n.mbits) for n in node.resources.networks] or None


def encode_task_networks(alloc: Allocation, task: str) -> list[dict[str, Any]] | None:
    """Nomad: AllocatedTaskResources.Networks of one task; None when it holds none."""
    out = [_network(n.device, "", n.ip, n.mbits, _ports(n.reserved_ports), _ports(n.dynamic_ports))
           for n in alloc.networks if n.task == task]
    return out or None
