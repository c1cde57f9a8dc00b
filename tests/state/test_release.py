"""AllocTable._release_all: the usage of many finished allocs released at once, bit for bit as
`_release` of each in turn would leave it."""

from __future__ import annotations

import random
from typing import Any, cast

import pytest

from sim.state.allocs import AllocTable
from sim.state.node_table import NodeTable
from sim.structs.alloc import Allocation
from sim.structs.node import Node, NodeResources


def _table() -> AllocTable:
    nodes = NodeTable()
    nodes.add_many([Node(id=f"n{i}", name=f"n{i}", resources=NodeResources(64000, 131072, 10**6)) for i in range(5)])
    return AllocTable(nodes, cast(Any, None))


@pytest.mark.parametrize("seed", range(10))
def test_release_all_is_release_of_each(seed: int) -> None:
    rng = random.Random(seed)
    asks = [(500, 1024, 0), (500.0, 1024, 0.0), (True, 1, 0), (0.1, 0.2, 0.3), (1e-9, 3, 1e17)]
    same = rng.random() < 0.5  # one ask for all (a job's), or a mix of equal and unequal ones
    allocs = []
    for i in range(rng.randrange(1, 40)):
        cpu, mem, disk = asks[0] if same or rng.random() < 0.5 else rng.choice(asks)
        allocs.append(Allocation(id=f"a{i}", namespace="default", eval_id="e", name="j.g[0]", node_id=f"n{rng.randrange(5)}",
                                 node_name="", job_id="j", job=cast(Any, None), task_group="g",
                                 cpu=cpu, memory_mb=mem, disk_mb=disk))
    bulk, each = _table(), _table()
    start = [[rng.uniform(0, 1e6) for _ in range(3)] for _ in range(5)] if seed % 2 else 0.0
    for table in (bulk, each):
        table.nodes.used[:] = start
    bulk._release_all(allocs)
    for alloc in allocs:
        each._release(alloc)
    assert bulk.nodes.used.tobytes() == each.nodes.used.tobytes()
