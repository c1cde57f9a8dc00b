"""Devices in Nomad's JSON shapes: a node's `NodeResources.Devices` and an allocation's
`AllocatedResources.Tasks[task].Devices`.

Nomad: structs.NodeDeviceResource (with NodeDevice instances and psstructs.Attribute values,
which carry no JSON tags: Float, Int, String, Bool, Unit) and structs.AllocatedDeviceResource.
"""

from __future__ import annotations

from typing import Any

from sim.structs.alloc import Allocation
from sim.structs.attribute import Attribute
from sim.structs.node import Node


def _attribute(a: Attribute) -> dict[str, Any]:
    return {"Float": a.float_value, "Int": a.int_value, "String": a.string, "Bool": a.boolean, "Unit": a.unit}


def encode_node_devices(node: Node) -> list[dict[str, Any]] | None:
    """Nomad: NodeResources.Devices (every instance healthy); None when the node has none."""
    devices = node.resources.devices
    if not devices:
        return None
    return [{
        "Vendor": d.vendor, "Type": d.type, "Name": d.name,
        "Instances": [{"ID": i, "Healthy": True, "HealthDescription": "", "Locality": None} for i in d.instance_ids],
        "Attributes": {k: _attribute(v) for k, v in d.typed_attributes.items()} or None,
    } for d in devices]


def encode_task_devices(alloc: Allocation, task: str) -> list[dict[str, Any]] | None:
    """Nomad: AllocatedTaskResources.Devices of one task; None when it holds none."""
    out = [{"Vendor": d.vendor, "Type": d.type, "Name": d.name, "DeviceIDs": list(d.device_ids)}
           for d in alloc.devices if d.task == task]
    return out or None
