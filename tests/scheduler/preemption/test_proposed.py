"""What the stages see of a node once the plan evicts and preempts there.

Nomad: scheduler/context_test.go TestEvalContext_ProposedAlloc_EvictPreempt.
"""

from __future__ import annotations

from sim.scheduler.feasible.bandwidth import proposed_allocs
from sim.scheduler.feasible.proposed import ProposedState
from sim.structs.node import NodeResources

from ..fixtures import World, mock_alloc, mock_job, mock_node


def test_proposed_allocs_leave_out_the_plans_preemptions_and_stops() -> None:
    """Three allocs of three jobs on a 3072 MHz / 3072 MB node; the plan preempts one and stops
    another: one is proposed, and only its resources count."""
    w = World()
    (node,) = w.add_nodes(mock_node(resources=NodeResources(cpu=3072, memory_mb=3072, disk_mb=1024),
                                    reserved=NodeResources()))
    evict, preempt, propose = (mock_alloc(w.add_job(mock_job()), node, cpu=1024, memory_mb=1024, disk_mb=0)
                               for _ in range(3))
    w.add_allocs(evict, preempt, propose)
    proposed = ProposedState(w.state.nodes)
    proposed.evict(evict)  # Plan.NodePreemptions
    proposed.stop(preempt)  # Plan.NodeUpdate
    assert [a.id for a in proposed_allocs(proposed, w.state.allocs_by_node, node.id)] == [propose.id]
    assert proposed.used[w.state.nodes.index_of[node.id]].tolist() == [1024.0, 1024.0, 0.0]
