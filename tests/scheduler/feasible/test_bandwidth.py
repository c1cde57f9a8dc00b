"""Task networks and bandwidth: Nomad's NetworkIndex (AssignTaskNetwork) and BinPack's task loop.

Nomad: nomad/structs/network.go and network_test.go (TestNetworkIndex_AssignTaskNetwork's
rules: a NIC's bandwidth, reserved ports per address, the addresses of its CIDR in order).
"""

from __future__ import annotations

from sim.scheduler.feasible.bandwidth import BANDWIDTH_EXCEEDED, NO_NETWORKS, NetworkIndex
from sim.structs.networks import AllocatedNetwork, NodeNetwork, TaskNetworkAsk
from sim.structs.node import NodeResources

from ..fixtures import World, group, mock_alloc, mock_job, mock_node

NIC = NodeNetwork("eth0", "192.168.0.100/32", 1000, ip="192.168.0.100")


def _ask(mbits: int, *ports: int, dynamic: int = 0) -> TaskNetworkAsk:
    return TaskNetworkAsk("web", mbits, tuple(("p", p) for p in ports), tuple(f"d{i}" for i in range(dynamic)))


def test_the_nic_bandwidth_and_its_reserved_ports() -> None:
    """The ask must fit the NIC's MBits left; the node's reserved ports are taken on the NIC's IP."""
    node = mock_node(resources=NodeResources(cpu=4000, memory_mb=8192, disk_mb=1024, networks=(NIC,)))
    index = NetworkIndex(node)
    assert index.assign(_ask(1001)) == BANDWIDTH_EXCEEDED
    assert index.assign(_ask(10, 22)) == "reserved port collision p=22"
    offer = index.assign(_ask(1000, 80))
    assert offer == AllocatedNetwork("web", "eth0", "192.168.0.100", 1000, (("p", 80),))
    index.add(offer)  # type: ignore[arg-type]
    assert index.assign(_ask(1)) == BANDWIDTH_EXCEEDED and index.free_bandwidth("eth0") == 0


def test_addresses_are_tried_in_cidr_order_and_ports_are_per_address() -> None:
    """A port used on the CIDR's first address is offered on the next one; no NIC: no networks."""
    nic = NodeNetwork("eth0", "10.0.0.0/31", 1000)
    node = mock_node(resources=NodeResources(cpu=4000, memory_mb=8192, disk_mb=1024, networks=(nic,)))
    index = NetworkIndex(node)
    index.add(AllocatedNetwork("web", "eth0", "10.0.0.0", 10, (("p", 88),)))
    offer = index.assign(_ask(10, 88))
    assert isinstance(offer, AllocatedNetwork) and offer.ip == "10.0.0.1"
    assert NetworkIndex(mock_node()).assign(_ask(1)) == NO_NETWORKS


def _network_job(count: int, mbits: int):
    def tweak(d):
        g = group(d)
        g["Count"], g["Networks"] = count, []
        g["Tasks"][0]["Resources"]["Networks"] = [{"MBits": mbits, "DynamicPorts": [{"Label": "http"}]}]
    return mock_job(tweak)


def test_a_node_out_of_bandwidth_is_exhausted() -> None:
    """Two NIC nodes of 1000 MBits and 600 MBit asks: one alloc per node, the third placement
    fails with "network: bandwidth exceeded" on both; each offer is on the NIC with a dynamic port."""
    w = World()
    nodes = w.nodes(2, resources=NodeResources(cpu=14000, memory_mb=8192, disk_mb=100 * 1024, networks=(NIC,)))
    job = w.add_job(_network_job(3, 600))
    h = w.process(w.eval_for(job))
    placed = [a for allocs in h.plans[0].node_allocation.values() for a in allocs]
    assert sorted(a.node_id for a in placed) == sorted(n.id for n in nodes)
    for alloc in placed:
        (offer,) = alloc.networks
        assert (offer.device, offer.ip, offer.mbits) == ("eth0", "192.168.0.100", 600)
        assert [label for label, _ in offer.dynamic_ports] == ["http"] and 20000 <= offer.dynamic_ports[0][1] <= 32000
    metric = h.evals[0].failed_tg_allocs["web"]
    assert metric.dimension_exhausted == {"network: bandwidth exceeded": 2}


def test_an_alloc_holding_bandwidth_frees_it_when_stopped() -> None:
    """The state's live allocs hold their task networks; a client-terminal one does not."""
    w = World()
    (node,) = w.nodes(1, resources=NodeResources(cpu=14000, memory_mb=8192, disk_mb=100 * 1024, networks=(NIC,)))
    other = w.add_job(mock_job())
    holder = mock_alloc(other, node, client_status="running",
                        networks=(AllocatedNetwork("web", "eth0", "192.168.0.100", 700),))
    w.add_allocs(holder)
    job = w.add_job(_network_job(1, 600))
    h = w.process(w.eval_for(job))
    assert h.evals[0].failed_tg_allocs["web"].dimension_exhausted == {"network: bandwidth exceeded": 1}
    assert NetworkIndex(node, [holder]).free_bandwidth("eth0") == 300
    holder.client_status = "complete"
    assert NetworkIndex(node, [holder]).free_bandwidth("eth0") == 1000


def test_nodes_without_nics_do_not_model_task_networks() -> None:
    """A node that declares no NICs places a task network ask without an offer (as before)."""
    w = World()
    w.nodes(1)
    job = w.add_job(_network_job(1, 5000))
    h = w.process(w.eval_for(job))
    (alloc,) = [a for allocs in h.plans[0].node_allocation.values() for a in allocs]
    assert alloc.networks == ()
