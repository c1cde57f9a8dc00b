"""Spread scoring and property sets.

Cases ported from Nomad scheduler/feasible/spread_test.go (each docstring names the Nomad test).
Nomad's tests run the spread iterator alone, so a node's final score there is its spread score;
here that is the total `spread_scores` returns for the node.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.scheduler.feasible.checks import FeasibilityCache
from sim.scheduler.feasible.proposed import ProposedState
from sim.scheduler.feasible.spread import (
    PropertySet,
    SpreadInfo,
    spread_infos,
    spread_scores,
    spread_sets,
)
from sim.structs.job import Spread, SpreadTarget

from ..fixtures_stack import generic_stack, mock_alloc, mock_job, mock_node, table_of


class Harness:
    """Nodes, a job whose group "web" has `count`, and the proposed state the spread sets watch."""

    def __init__(self, nodes, count: int, spreads: list[Spread], existing=()) -> None:
        self.nodes = nodes
        self.table = table_of(nodes)
        self.job = mock_job()
        self.tg = self.job.task_groups[0]
        self.tg.count = count
        self.tg.spreads = spreads
        self.existing = [mock_alloc(self.job, nodes[i]) for i in existing]
        self.proposed = ProposedState(self.table)
        self.proposed.reset(self.job, self.existing)
        self.sets = spread_sets(FeasibilityCache(), self.table, spreads, "web")
        for ps in self.sets:
            self.proposed.watch(ps)
        self.infos, self.weights = spread_infos(self.job, self.tg)

    def plan(self, node_index: int, times: int = 1, group: str = "web") -> None:
        for _ in range(times):
            self.proposed.place(node_index, mock_alloc(self.job, self.nodes[node_index], group))

    def scores(self, lowest: float = -1.0) -> list[float]:
        totals, _ = spread_scores(self.sets, self.infos, self.weights, np.arange(len(self.nodes)), lowest)
        return totals.tolist()


def _nodes(dcs: list[str], racks: list[str] | None = None) -> list:
    nodes = [mock_node(datacenter=dc) for dc in dcs]
    for node, rack in zip(nodes, racks or [], strict=False):
        node.meta["rack"] = rack
    return nodes


def test_single_attribute():
    """Nomad: spread_test.go TestSpreadIterator_SingleAttribute: 80% in dc1 with 2 of 10 placed."""
    spread = Spread("${node.datacenter}", 100, [SpreadTarget("dc1", 80)])
    h = Harness(_nodes(["dc1", "dc2", "dc1", "dc1"]), 10, [spread], existing=[0, 2])
    assert h.scores() == [0.625, 0.5, 0.625, 0.625]
    h.plan(0, 2)
    h.plan(3, 3)
    h.plan(0, 1, group="other")  # another group's alloc does not count
    assert h.scores() == [0.0, 0.5, 0.0, 0.0]


def test_multiple_attributes():
    """Nomad: spread_test.go TestSpreadIterator_MultipleAttributes: weights 100 and 50 combine."""
    spreads = [Spread("${node.datacenter}", 100, [SpreadTarget("dc1", 60), SpreadTarget("dc2", 40)]),
               Spread("${meta.rack}", 50, [SpreadTarget("r1", 40), SpreadTarget("r2", 60)])]
    h = Harness(_nodes(["dc1", "dc2", "dc1", "dc1"], ["r1", "r1", "r2", "r2"]), 10, spreads, existing=[0, 2])
    assert [f"{s:.3f}" for s in h.scores()] == ["0.500", "0.667", "0.556", "0.556"]


def test_even_spread():
    """Nomad: spread_test.go TestSpreadIterator_EvenSpread: no targets -> balance the values."""
    spread = Spread("${node.datacenter}", 100)
    dcs = ["dc1", "dc2", "dc1", "dc2", "dc1", "dc2", "dc2", "dc1", "dc1", "dc1", "dc3"]
    h = Harness(_nodes(dcs), 10, [spread])
    by_dc = lambda: {dc: round(s, 3) for dc, s in zip(dcs, h.scores(), strict=True)}  # noqa: E731
    assert by_dc() == {"dc1": 0.0, "dc2": 0.0, "dc3": 0.0}
    h.plan(0)
    h.plan(2)
    assert by_dc() == {"dc1": -1.0, "dc2": 1.0, "dc3": 1.0}
    h.plan(1, 2)
    h.plan(3)
    assert by_dc() == {"dc1": 0.5, "dc2": -0.5, "dc3": 1.0}
    h.plan(4)
    assert by_dc() == {"dc1": -1.0, "dc2": -1.0, "dc3": 1.0}


def test_max_penalty():
    """Nomad: spread_test.go TestSpreadIterator_MaxPenalty: untargeted value or missing attribute -> -1."""
    targets = [SpreadTarget("dc1", 80), SpreadTarget("dc2", 20)]
    h = Harness(_nodes(["dc3"] * 5), 5, [Spread("${node.datacenter}", 100, targets)])
    assert h.scores() == [-1.0] * 5
    h = Harness(_nodes(["dc3"] * 5), 5, [Spread("${meta.foo}", 100, [SpreadTarget("bar", 80), SpreadTarget("baz", 20)])])
    assert h.scores() == [-1.0] * 5


def test_no_infinity():
    """Nomad: spread_test.go TestSpreadIterator_NoInfinity: a 0% target scores the lowest boost seen."""
    targets = [SpreadTarget("dc1", 50), SpreadTarget("dc2", 50), SpreadTarget("*", 0)]
    h = Harness(_nodes(["dc1", "dc2", "dc3"]), 8, [Spread("${node.datacenter}", 100, targets)])
    assert h.scores() == [0.75, 0.75, -1.0]
    targets = [SpreadTarget("dc1", 99), SpreadTarget("dc2", 1), SpreadTarget("*", 0)]
    h = Harness(_nodes(["dc1", "dc2", "dc3"]), 8, [Spread("${node.datacenter}", 100, targets)])
    desired = 8 * 0.99
    scores = h.scores()
    assert scores[0] == pytest.approx((desired - 1) / desired)
    assert scores[1] == pytest.approx(-11.5)
    assert scores[1] <= scores[2]


def test_even_spread_score_boost_with_cleared_values():
    """Nomad: spread_test.go Test_evenSpreadScoreBoost: stopped allocs clear their values."""
    table = table_of(_nodes(["dc1", "dc2", "dc3"]))
    ps = PropertySet(FeasibilityCache(), table, "${node.datacenter}")
    for label in ("dc1", "dc2", "dc3"):
        ps.proposed[ps.labels.index(label)] += 1
    for label in ("dc2", "dc3"):
        ps.cleared[ps.labels.index(label)] += 1
    totals, _ = spread_scores([ps], {"${node.datacenter}": SpreadInfo(100, {})}, 100, np.array([1]), -1.0)
    assert totals.tolist() == [1.0]


def test_implicit_target_gets_the_remainder():
    """Nomad: spread.go computeSpreadInfo: unassigned percentage goes to `*`."""
    job = mock_job()
    tg = job.task_groups[0]
    tg.count = 10
    tg.spreads = [Spread("${node.datacenter}", 70, [SpreadTarget("dc1", 70)])]
    infos, weights = spread_infos(job, tg)
    assert infos["${node.datacenter}"].desired == pytest.approx({"dc1": 7.0, "*": 3.0})
    assert weights == 70


def test_spread_widens_the_scan_and_balances():
    """Nomad: stack.go Select: a spread raises the limit to 100 and placements alternate between DCs."""
    job = mock_job(datacenters=["dc1", "dc2"])
    tg = job.task_groups[0]
    tg.count = 4
    tg.spreads = [Spread("${node.datacenter}", 100)]
    nodes = _nodes(["dc1"] * 6 + ["dc2"] * 2)
    stack = generic_stack(nodes, job, shuffle=True, seed=5)
    chosen = []
    for _ in range(4):
        option, metric = stack.select(tg)
        stack.place(option.row, mock_alloc(job, option.node, ports=option.ports))
        chosen.append(option.node.datacenter)
        assert metric.nodes_evaluated == 8
    assert stack.limit == 100
    assert sorted(chosen) == ["dc1", "dc1", "dc2", "dc2"]
