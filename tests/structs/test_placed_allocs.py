"""placed_allocs: the run of selects' stand-in for one Allocation constructor call per pick."""

from __future__ import annotations

import random
from types import SimpleNamespace

from sim.structs.alloc import Allocation, AllocMetric, placed_allocs


def _constructed(alloc_ids, names, nodes, ports, metrics, scores, namespace, eval_id, job_id, job, group, cpu, mem,
                 disk, deployment_id):
    return [
        Allocation(alloc_id, namespace, eval_id, name, node.id, node.name, job_id, job, group, cpu, mem, disk,
                   offered, metrics=metric, score=score, deployment_id=deployment_id)
        for alloc_id, name, node, offered, metric, score in zip(alloc_ids, names, nodes, ports, metrics, scores,
                                                                strict=True)
    ]


def test_placed_allocs_equal_the_constructor_slot_by_slot():
    rng = random.Random(14)
    job = SimpleNamespace(id="j")
    for _ in range(50):
        n = rng.randrange(0, 6)
        nodes = [SimpleNamespace(id=f"n{rng.randrange(9)}", name=f"node-{rng.randrange(9)}") for _ in range(n)]
        args = ([f"a{i}" for i in range(n)], [f"j.g[{rng.randrange(20)}]" for _ in range(n)], nodes,
                [[("http", rng.randrange(20000, 30000))] if rng.random() < 0.5 else [] for _ in range(n)],
                [AllocMetric(nodes_evaluated=rng.randrange(5)) for _ in range(n)], [rng.random() for _ in range(n)],
                rng.choice(["default", "ns"]), "e1", "j", job, rng.choice(["g", "h"]), rng.randrange(4000),
                rng.randrange(4000), rng.randrange(300), rng.choice(["", "d1"]))
        got, want = placed_allocs(*args), _constructed(*args)
        assert got == want
        for a, b in zip(got, want, strict=True):
            for name in Allocation.__slots__:  # every slot, the uncompared ones too, with the same types
                assert getattr(a, name) == getattr(b, name) and type(getattr(a, name)) is type(getattr(b, name))
            # the mutable defaults are the alloc's own; the shared empty ones are shared
            assert a.reschedule_tracker is b.reschedule_tracker and a.extra is b.extra
            a.task_states["t"] = a.task_states.get("t")
            a.desired_transition.migrate = True
            assert b.task_states == {} and not b.desired_transition.migrate
        if n > 1:
            assert got[0].task_states is not got[1].task_states
            assert got[0].desired_transition is not got[1].desired_transition
