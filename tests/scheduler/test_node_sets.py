"""Tainted nodes, datacenter globs and node pools."""

from __future__ import annotations

from sim.scheduler.node_sets import node_in_any_dc, node_in_pool, tainted_nodes

from .fixtures_reconcile import Ids, mock_alloc, mock_job, mock_node


def test_tainted_nodes():
    """Nomad: scheduler/util_test.go TestTaintedNodes."""
    ids, job = Ids(), mock_job()
    ready, down, drain = mock_node(ids), mock_node(ids, status="down"), mock_node(ids, drain=True)
    disconnected = mock_node(ids, status="disconnected")
    nodes = {n.id: n for n in (ready, down, drain, disconnected)}
    allocs = [mock_alloc(ids, job, i, node_id=n) for i, n in enumerate([*nodes, "gone"])]
    tainted = tainted_nodes(allocs, nodes.get)
    assert tainted == {down.id: down, drain.id: drain, disconnected.id: disconnected, "gone": None}


def test_datacenter_globs_and_pools():
    """Nomad: Node.IsInAnyDC (go-glob) and Node.IsInPool."""
    ids = Ids()
    node = mock_node(ids)
    node.datacenter = "us-east-1a"
    assert (
        node_in_any_dc(node, ["us-*"])
        and node_in_any_dc(node, ["*"])
        and node_in_any_dc(node, ["us-*-1*"])
    )
    assert not node_in_any_dc(node, ["eu-*", "us-east-1"])
    assert (
        node_in_pool(node, "default")
        and node_in_pool(node, "all")
        and not node_in_pool(node, "gpu")
    )
