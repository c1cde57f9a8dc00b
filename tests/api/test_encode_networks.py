"""Task networks in Nomad's JSON: a node's NICs and an allocation's task networks, against the
OpenAPI schemas."""

from __future__ import annotations

from dataclasses import replace

from sim.api import encode as E
from sim.structs.networks import AllocatedNetwork, NodeNetwork
from sim.structs.node import Node, NodeResources

from .support import validate_response
from .test_encode import _alloc, nanos


def test_node_nics_and_alloc_task_networks_fit_the_openapi_schemas() -> None:
    nic = NodeNetwork("eth0", "192.168.0.100/32", 1000, ip="192.168.0.100")
    node = Node(id="n1", name="node-0", resources=NodeResources(4000, 8192, 102400, networks=(nic,)))
    full = E.encode_node(node, nanos)
    assert full["NodeResources"]["Networks"] == [{
        "Mode": "", "Device": "eth0", "CIDR": "192.168.0.100/32", "IP": "192.168.0.100", "Hostname": "",
        "MBits": 1000, "DNS": None, "ReservedPorts": None, "DynamicPorts": None}]
    validate_response("GetNodeResponse", full)
    held = AllocatedNetwork("redis", "eth0", "192.168.0.100", 200, (("db", 88),), (("http", 21000),))
    alloc = E.encode_alloc(replace(_alloc(), networks=(held,)), nanos, lambda job: {"ID": job.id})
    (net,) = alloc["AllocatedResources"]["Tasks"]["redis"]["Networks"]
    assert (net["Device"], net["IP"], net["MBits"]) == ("eth0", "192.168.0.100", 200)
    assert [p["Value"] for p in net["ReservedPorts"] + net["DynamicPorts"]] == [88, 21000]
    validate_response("GetAllocationResponse", alloc)
