"""Host ports: the group network ask, the node check, dynamic assignment and the proposed overlay.

Cases ported from Nomad nomad/structs/network_test.go (each docstring names the Nomad test).
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.scheduler.feasible.ports import PortAsk, PortOverlay, assign_ports, check_ports, port_ask
from sim.structs.job import NetworkResource, Port

from ..fixtures_stack import generic_stack, mock_alloc, mock_job, mock_node, table_of

LO, HI = 20000, 32000


def test_port_ask_from_group_network():
    """Nomad uses the group's first network; a static port of value 0 is assigned dynamically."""
    tg = mock_job().task_groups[0]
    tg.networks = [NetworkResource(reserved_ports=[Port("static", 443), Port("zero", 0)], dynamic_ports=[Port("http")]),
                   NetworkResource(dynamic_ports=[Port("ignored")])]
    assert port_ask(tg) == PortAsk((("static", 443),), ("zero", "http"))
    tg.networks = []
    assert not port_ask(tg)


def test_assign_ports_in_nearly_full_range():
    """Nomad: network_test.go TestNetworkIndex_AssignPorts: two free dynamic ports for two asks."""
    used = set(range(LO, HI - 1))
    ask = PortAsk((("static", 443),), ("http", "admin"))
    assert check_ports(used, LO, HI, ask) is None
    offer = dict(assign_ports(used, LO, HI, ask, np.random.default_rng(0)))
    assert offer["static"] == 443
    assert offer["http"] != offer["admin"]
    assert {offer["http"], offer["admin"]} == {HI - 1, HI}


@pytest.mark.parametrize(("lo", "hi", "labels", "error"), [
    (20000, 20000, ("http",), None),
    (20000, 20000, ("http", "admin"), "dynamic port selection failed"),
    (20000, 20001, ("http", "admin"), None),
])
def test_assign_ports_small_range(lo, hi, labels, error):
    """Nomad: network_test.go TestNetworkIndex_AssignPortss_SmallRange."""
    ask = PortAsk((), labels)
    assert check_ports(set(), lo, hi, ask) == error
    if error is None:
        offer = assign_ports(set(), lo, hi, ask, np.random.default_rng(1))
        assert [label for label, _ in offer] == list(labels)
        assert all(lo <= port <= hi for _, port in offer)


def test_reserved_port_collision_message():
    """Nomad: network_test.go TestNetworkIndex_AssignPorts_TwoIp: `reserved port collision static=7000`."""
    assert check_ports({7000}, LO, HI, PortAsk((("static", 7000),), ())) == "reserved port collision static=7000"
    assert check_ports(set(), LO, HI, PortAsk((("bad", 70000),), ())) == "invalid port 70000 (out of range)"


def test_dynamic_ports_avoid_used_and_static_ports():
    """Nomad: network.go getDynamicPortsStochastic: picks skip used ports, the ask's static ports and earlier picks."""
    used = {LO + 1, LO + 3}
    ask = PortAsk((("static", LO + 2),), ("a", "b"))
    for seed in range(20):
        offer = dict(assign_ports(used, LO, LO + 4, ask, np.random.default_rng(seed)))
        assert {offer["a"], offer["b"]} == {LO, LO + 4}


def test_overlay_copies_on_write():
    """Proposed ports never change the table's port sets."""
    table = table_of([mock_node()])
    overlay = PortOverlay(table)
    overlay.add(0, [8080])
    assert overlay.used(0) == {22, 8080}
    assert table.used_ports[0] == {22}
    overlay.remove(0, [22])
    assert overlay.used(0) == {8080} and overlay.sizes([0]) == [1]


def test_stack_reports_reserved_port_collision():
    """Nomad: rank.go BinPackIterator: a taken static port exhausts the node with `network: <error>`."""
    job = mock_job()
    job.task_groups[0].networks = [NetworkResource(reserved_ports=[Port("ssh", 22)])]
    stack = generic_stack([mock_node(), mock_node()], job)
    option, metric = stack.select(job.task_groups[0])
    assert option is None
    assert metric.dimension_exhausted == {"network: reserved port collision ssh=22": 2}
    assert metric.nodes_exhausted == 2


def test_stack_offers_and_reserves_ports():
    """Placed ports are taken: the next alloc on the node cannot get the same static port."""
    job = mock_job()
    job.task_groups[0].networks = [NetworkResource(reserved_ports=[Port("http", 8080)], dynamic_ports=[Port("admin")])]
    node = mock_node()
    stack = generic_stack([node], job)
    option, _ = stack.select(job.task_groups[0])
    assert option.ports[0] == ("http", 8080) and LO <= option.ports[1][1] < HI
    stack.place(option.row, mock_alloc(job, node, ports=option.ports))
    option, metric = stack.select(job.task_groups[0])
    assert option is None and metric.dimension_exhausted == {"network: reserved port collision http=8080": 1}


def test_stack_dynamic_range_exhausted():
    """Nomad: rank.go BinPackIterator: no free dynamic port gives `network: dynamic port selection failed`."""
    job = mock_job()
    node = mock_node(min_dynamic_port=30000, max_dynamic_port=30001)
    stack = generic_stack([node], job)
    option, _ = stack.select(job.task_groups[0])
    assert sorted(p for _, p in option.ports) == [30000, 30001]
    stack.place(option.row, mock_alloc(job, node, ports=option.ports))
    option, metric = stack.select(job.task_groups[0])
    assert option is None and metric.dimension_exhausted == {"network: dynamic port selection failed": 1}


def test_overlay_failures_name_the_nodes_that_cannot_take_the_ask():
    """A static port in use fails that node; a dynamic ask only reads nodes short of free ports."""
    nodes = [mock_node(min_dynamic_port=LO, max_dynamic_port=LO + 1) for _ in range(3)]
    overlay = PortOverlay(table_of(nodes))
    overlay.add(1, [LO, LO + 1])  # node 1: its whole dynamic range in use
    overlay.add(2, [443])
    span = np.full(3, 2, dtype=np.int64)
    rows = np.arange(3)
    assert overlay.failures(rows, span, PortAsk((), ("http",))) == [(1, "dynamic port selection failed")]
    assert overlay.failures(rows, span, PortAsk((("https", 443),), ())) == [(2, "reserved port collision https=443")]
    assert overlay.failures(rows[[0, 2]], span, PortAsk((("https", 443),), ())) == [(1, "reserved port collision https=443")]
