"""The placement stacks end to end: node order, limit, filters, exhaustion, metrics, in-place checks.

Cases ported from Nomad scheduler/feasible/stack_test.go (each docstring names the Nomad test);
the builders (after nomad/mock Node() and Job()) are in fixtures_stack.py.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from sim.scheduler.feasible.checks import FeasibilityCache, candidate_rows
from sim.scheduler.feasible.stack import GenericStack, SystemStack
from sim.structs.alloc import Allocation
from sim.structs.job import Constraint, Job, Resources
from sim.structs.node import Node, NodeResources

from ..fixtures_stack import generic_stack, mock_alloc, mock_job, mock_node, place, table_of

# -- GenericStack --------------------------------------------------------------------------------


def test_set_nodes_sets_log2_limit():
    """Nomad: stack_test.go TestServiceStack_SetNodes: 8 nodes give a scan limit of 3."""
    stack = generic_stack([mock_node() for _ in range(8)], mock_job(), shuffle=True)
    assert stack.limit == 3
    assert sorted(stack.order.tolist()) == list(range(8))


def test_batch_limit_is_two():
    """Nomad: stack.go GenericStack.SetNodes: batch jobs always look at 2 options."""
    stack = generic_stack([mock_node() for _ in range(1000)], mock_job(type="batch"), batch=True)
    assert stack.limit == 2


def test_select_single_node():
    """Nomad: stack_test.go TestServiceStack_Select_Size."""
    job = mock_job()
    stack = generic_stack([mock_node()], job)
    option, metric = stack.select(job.task_groups[0])
    assert option is not None and option.row == 0
    assert metric.nodes_evaluated == 1


def test_metrics_reset_between_selects():
    """Nomad: stack_test.go TestServiceStack_Select_MetricsReset: each select evaluates 2 of 4."""
    job = mock_job()
    stack = generic_stack([mock_node() for _ in range(4)], job)
    first, m1 = stack.select(job.task_groups[0])
    second, m2 = stack.select(job.task_groups[0])
    assert first is not None and second is not None
    assert m1.nodes_evaluated == 2 and m2.nodes_evaluated == 2


def test_source_offset_persists_and_wraps():
    """Nomad: feasible_test.go TestStaticIterator_Reset: the next select starts where the last stopped."""
    job = mock_job()
    stack = generic_stack([mock_node() for _ in range(5)], job, batch=True)
    first, _ = stack.select(job.task_groups[0])
    assert stack.offset == 2
    stack.select(job.task_groups[0])
    assert stack.offset == 4
    _, metric = stack.select(job.task_groups[0])
    assert stack.offset == 1 and metric.nodes_evaluated == 2  # visited rows 4 then 0


def test_preferred_node_is_tried_first():
    """Nomad: stack_test.go TestServiceStack_Select_PreferringNodes."""
    job = mock_job()
    nodes = [mock_node(), mock_node()]
    stack = generic_stack(nodes, job)
    option, _ = stack.select(job.task_groups[0], preferred_rows=[1])
    assert option.row == 1
    assert stack.offset == 0


def test_infeasible_preferred_node_falls_back():
    """Nomad: stack_test.go TestServiceStack_Select_PreferringNodes (windows preferred node)."""
    job = mock_job()
    windows = mock_node()
    windows.attributes["kernel.name"] = "windows"
    stack = generic_stack([mock_node(), windows], job)
    option, _ = stack.select(job.task_groups[0], preferred_rows=[1])
    assert option.row == 0


def test_driver_filter():
    """Nomad: stack_test.go TestServiceStack_Select_DriverFilter."""
    job = mock_job()
    job.task_groups[0].tasks[0].driver = "foo"
    zero = mock_node()
    zero.attributes["driver.foo"] = "1"
    stack = generic_stack([zero, mock_node()], job)
    option, metric = stack.select(job.task_groups[0])
    assert option.node is zero
    assert metric.constraint_filtered == {"missing drivers": 1}


def test_constraint_filter_metrics():
    """Nomad: stack_test.go TestServiceStack_Select_ConstraintFilter."""
    job = mock_job()
    job.constraints[0].r_target = "freebsd"
    zero = mock_node()
    zero.attributes["kernel.name"] = "freebsd"
    stack = generic_stack([mock_node(), zero], job)
    option, metric = stack.select(job.task_groups[0])
    assert option.node is zero
    assert metric.nodes_filtered == 1
    assert metric.class_filtered == {"linux-medium-pci": 1}
    assert metric.constraint_filtered == {"${attr.kernel.name} = freebsd": 1}


def test_binpack_overflow_metrics():
    """Nomad: stack_test.go TestServiceStack_Select_BinPack_Overflow."""
    job = mock_job()
    full = mock_node()
    full.reserved.cpu = full.resources.cpu
    stack = generic_stack([full, mock_node()], job)
    option, metric = stack.select(job.task_groups[0])
    assert option.row == 1
    assert metric.nodes_exhausted == 1
    assert metric.class_exhausted == {"linux-medium-pci": 1}
    assert metric.dimension_exhausted == {"cpu": 1}
    assert len(metric.score_meta_data) == 1


def test_computed_class_ineligible_after_first_failure():
    """Nomad: feasible_test.go TestFeasibilityWrapper_JobIneligible: later nodes of a failed class
    are filtered as "computed class ineligible"."""
    job = mock_job()
    job.constraints[0].r_target = "freebsd"
    nodes = [mock_node() for _ in range(3)]
    stack = generic_stack(nodes, job)
    option, metric = stack.select(job.task_groups[0])
    assert option is None
    assert metric.nodes_evaluated == 3 and metric.nodes_filtered == 3
    assert metric.constraint_filtered == {"${attr.kernel.name} = freebsd": 1, "computed class ineligible": 2}
    _, again = stack.select(job.task_groups[0])
    assert again.constraint_filtered == {"computed class ineligible": 3}
    assert stack.class_eligibility() == ({nodes[0].computed_class: False}, False)


def test_metrics_count_only_the_nodes_visited():
    """Nomad's lazy chain: nodes after the limit's last option are neither evaluated nor filtered."""
    job = mock_job(type="batch")
    nodes = []
    for i in range(10):
        node = mock_node()
        if i % 2 == 0:
            node.attributes["kernel.name"] = "windows"
        nodes.append(node)
    stack = generic_stack(nodes, job, batch=True)
    option, metric = stack.select(job.task_groups[0])
    assert option.row in (1, 3)
    assert metric.nodes_evaluated == 4 and metric.nodes_filtered == 2
    assert metric.constraint_filtered == {"${attr.kernel.name} = linux": 1, "computed class ineligible": 1}
    assert stack.offset == 4


def test_group_level_class_ineligibility_is_per_group():
    """Nomad: feasible_test.go TestFeasibilityWrapper_JobEligible_TgIneligible: group verdicts are per group."""
    job = mock_job()
    web = job.task_groups[0]
    web.constraints.append(Constraint("${meta.database}", "postgres", "="))
    other = mock_job().task_groups[0]
    other.name = "other"
    other.constraints.append(Constraint("${meta.database}", "oracle", "="))
    job.task_groups.append(other)
    stack = generic_stack([mock_node() for _ in range(2)], job)
    _, metric = stack.select(web)
    assert metric.constraint_filtered == {"${meta.database} = postgres": 1, "computed class ineligible": 1}
    stack.offset = 0
    _, metric = stack.select(other)
    assert metric.constraint_filtered == {"${meta.database} = oracle": 1, "computed class ineligible": 1}


def test_escaped_constraint_checks_every_node():
    """Nomad: feasible_test.go TestFeasibilityWrapper_JobEscapes: unique targets bypass class caching."""
    job = mock_job()
    job.constraints = [Constraint("${node.unique.name}", "nowhere", "=")]
    stack = generic_stack([mock_node() for _ in range(3)], job)
    _, metric = stack.select(job.task_groups[0])
    assert metric.constraint_filtered == {"${node.unique.name} = nowhere": 3}
    assert stack.has_escaped()


def test_distinct_hosts_through_stack():
    """Nomad: feasible_test.go TestDistinctHostsIterator_JobDistinctHosts, driven by the stack."""
    job = mock_job()
    job.constraints.append(Constraint(operand="distinct_hosts"))
    nodes = [mock_node() for _ in range(3)]
    stack = generic_stack(nodes, job, allocs=[mock_alloc(job, nodes[0])])
    stack.place(1, mock_alloc(job, nodes[1]))
    option, metric = stack.select(job.task_groups[0])
    assert option.row == 2
    assert metric.constraint_filtered == {"distinct_hosts": 2}
    place(stack, job, option)
    option, _ = stack.select(job.task_groups[0])
    assert option is None


def test_planned_stop_frees_the_node():
    """Nomad: rank_test.go TestBinPackIterator_ExistingAlloc_PlannedEvict: a planned stop's resources are free."""
    job = mock_job()
    node = mock_node()
    node.resources.cpu = 600  # room for one alloc of 500 MHz once reserved 100 is taken
    existing = mock_alloc(job, node)
    stack = generic_stack([node], job, allocs=[existing])
    stack.table.reserve(0, existing.cpu, existing.memory_mb, existing.disk_mb, [])
    stack.set_job(job, [existing])
    assert stack.select(job.task_groups[0])[0] is None
    stack.stop(existing)
    assert stack.select(job.task_groups[0])[0] is not None


def test_pop_stop_takes_back_a_planned_stop():
    """Nomad: Plan.PopUpdate: a destructive update whose replacement failed keeps the old alloc."""
    job = mock_job()
    node = mock_node()
    node.resources.cpu = 600
    existing = mock_alloc(job, node)
    stack = generic_stack([node], job, allocs=[existing])
    stack.table.reserve(0, existing.cpu, existing.memory_mb, existing.disk_mb, [])
    stack.set_job(job, [existing])
    stack.stop(existing)
    assert stack.proposed.used[0, 0] == 0
    stack.pop_stop(existing)
    assert stack.proposed.used[0, 0] == existing.cpu and stack.proposed.job_count[0] == 1
    assert stack.select(job.task_groups[0])[0] is None


def test_select_on_node_discounts_the_updated_alloc():
    """Nomad: util.go genericAllocUpdateFn: the in-place check removes the alloc being updated."""
    job = mock_job()
    node = mock_node()
    node.resources.cpu = 600
    existing = mock_alloc(job, node)
    stack = generic_stack([node, mock_node()], job, allocs=[existing])
    stack.table.reserve(0, existing.cpu, existing.memory_mb, existing.disk_mb, [])
    stack.set_job(job, [existing])
    option, metric = stack.select_on_node(job.task_groups[0], 0, ignore_alloc=existing)
    assert option is not None and option.row == 0 and metric.nodes_evaluated == 1
    assert stack.select_on_node(job.task_groups[0], 0)[0] is None
    assert stack.offset == 0 and stack.proposed.used[0, 0] == existing.cpu


def test_reschedule_penalty_avoids_previous_node():
    """Nomad: rank_test.go TestNodeAntiAffinity_PenaltyNodes through the stack: -1 loses to a fresh node."""
    job = mock_job()
    nodes = [mock_node(), mock_node()]
    stack = generic_stack(nodes, job)
    option, metric = stack.select(job.task_groups[0], penalty_node_ids={nodes[0].id})
    assert option.row == 1
    penalised = next(m for m in metric.score_meta_data if m.node_id == nodes[0].id)
    assert penalised.scores["node-reschedule-penalty"] == -1.0


def test_metrics_report_nodes_available():
    """Nomad: generic_sched.go computePlacements: NodesAvailable per DC and NodesInPool on the metric."""
    job = mock_job(datacenters=["dc*"])
    nodes = [mock_node(), mock_node(datacenter="dc2"), mock_node(datacenter="dc2")]
    table = table_of(nodes)
    rows, by_dc, in_pool = candidate_rows(table, job)
    stack = GenericStack(table, False, np.random.default_rng(1))
    stack.set_job(job, [])
    stack.set_nodes(rows)
    _, metric = stack.select(job.task_groups[0])
    assert metric.nodes_available == by_dc == {"dc1": 1, "dc2": 2}
    assert metric.nodes_in_pool == in_pool == 3 and metric.node_pool == "default"


def test_same_seed_same_choices():
    """Determinism: the shuffle and the dynamic ports come from the stack's rng only."""
    def run(seed: int) -> list[tuple[int, list]]:
        job = mock_job()
        job.id = "same"
        stack = generic_stack([mock_node() for _ in range(50)], job, seed=seed, shuffle=True)
        out = []
        for _ in range(20):
            option, _ = stack.select(job.task_groups[0])
            place(stack, job, option)
            out.append((option.row, option.ports))
        return out
    assert run(3) == run(3)
    assert run(3) != run(4)


def test_shared_cache_serves_later_evaluations():
    """A FeasibilityCache passed to every stack keeps group masks across evaluations."""
    job = mock_job()
    table = table_of([mock_node() for _ in range(10)])
    cache = FeasibilityCache()
    for seed in range(2):
        stack = GenericStack(table, False, np.random.default_rng(seed), cache=cache)
        stack.set_job(job, [])
        stack.set_nodes(np.arange(10))
        assert stack.select(job.task_groups[0])[0] is not None
    assert len(cache._groups) == 1


# -- SystemStack ---------------------------------------------------------------------------------


def system_stack(nodes: list[Node], job: Job, allocs: list[Allocation] = ()) -> SystemStack:
    """A system stack over the nodes."""
    stack = SystemStack(table_of(nodes), np.random.default_rng(0))
    stack.set_job(job, list(allocs))
    return stack


def test_system_select_metrics_reset():
    """Nomad: stack_test.go TestSystemStack_Select_MetricsReset: one node evaluated per select."""
    job = mock_job()
    stack = system_stack([mock_node() for _ in range(4)], job)
    for row in (0, 1):
        option, metric = stack.select_on_node(job.task_groups[0], row)
        assert option.row == row and metric.nodes_evaluated == 1


def test_system_driver_filter():
    """Nomad: stack_test.go TestSystemStack_Select_DriverFilter."""
    job = mock_job()
    job.task_groups[0].tasks[0].driver = "foo"
    zero = mock_node()
    zero.attributes["driver.foo"] = "1"
    assert system_stack([zero], job).select_on_node(job.task_groups[0], 0)[0] is not None
    zero.attributes["driver.foo"] = "0"
    option, metric = system_stack([zero], job).select_on_node(job.task_groups[0], 0)
    assert option is None and metric.constraint_filtered == {"missing drivers": 1}


def test_system_secrets_filter():
    """Nomad: stack_test.go TestSystemStack_Select_Secrets."""
    job = mock_job()
    job.task_groups[0].tasks[0].extra["Secrets"] = [{"Provider": "foo"}]
    zero = mock_node()
    zero.attributes["plugins.secrets.foo.version"] = "0.0.1"
    stack = system_stack([zero, mock_node()], job)
    assert stack.select_on_node(job.task_groups[0], 0)[0] is not None
    option, metric = stack.select_on_node(job.task_groups[0], 1)
    assert option is None and metric.constraint_filtered == {"missing secrets provider": 1}


def test_system_constraint_filter_reports_real_reason_every_time():
    """Nomad: stack_test.go TestSystemStack_Select_ConstraintFilter (eligibility reset per select)."""
    job = mock_job()
    job.constraints[0].r_target = "freebsd"
    stack = system_stack([mock_node(), mock_node()], job)
    for row in (0, 1):
        option, metric = stack.select_on_node(job.task_groups[0], row)
        assert option is None
        assert metric.class_filtered == {"linux-medium-pci": 1}
        assert metric.constraint_filtered == {"${attr.kernel.name} = freebsd": 1}


def test_system_binpack_overflow():
    """Nomad: stack_test.go TestSystemStack_Select_BinPack_Overflow."""
    job = mock_job()
    full = mock_node()
    full.reserved.cpu = full.resources.cpu
    stack = system_stack([full, mock_node()], job)
    option, metric = stack.select_on_node(job.task_groups[0], 0)
    assert option is None and metric.nodes_exhausted == 1 and metric.dimension_exhausted == {"cpu": 1}
    assert metric.class_exhausted == {"linux-medium-pci": 1}
    option, metric = stack.select_on_node(job.task_groups[0], 1)
    assert option is not None and len(metric.score_meta_data) == 1
    assert set(metric.score_meta_data[0].scores) == {"binpack"}


def test_system_stack_ignores_distinct_hosts():
    """Nomad: stack.go NewSystemStack has no DistinctHostsIterator."""
    job = mock_job(type="system")
    job.constraints.append(Constraint(operand="distinct_hosts"))
    node = mock_node()
    stack = system_stack([node], job, allocs=[mock_alloc(job, node)])
    assert stack.select_on_node(job.task_groups[0], 0)[0] is not None


# -- benchmark -----------------------------------------------------------------------------------


@pytest.mark.benchmark
def test_select_cost_on_5000_nodes():
    """Benchmark: select + place on 5,000 nodes, a group of 100,000 with two dynamic ports.

    Prints the median over batches of CPU µs per select (the place is not timed)."""
    nodes = [mock_node(resources=NodeResources(cpu=14000, memory_mb=32768, disk_mb=100 * 1024),
                       reserved=NodeResources(cpu=100, memory_mb=256, disk_mb=4096, reserved_ports="22"))
             for _ in range(5000)]
    job = mock_job()
    tg = job.task_groups[0]
    tg.count = 100_000
    tg.tasks[0].resources = Resources(cpu=100, memory_mb=64)
    stack = generic_stack(nodes, job, shuffle=True)
    batches = []
    for _ in range(50):
        t0 = time.thread_time()
        options = [stack.select(tg)[0] for _ in range(100)]
        batches.append((time.thread_time() - t0) / 100 * 1e6)
        for option in options:
            place(stack, job, option)
    batches.sort()
    print(f"\nselect on 5000 nodes: median {batches[25]:.1f} us/select (best batch {batches[0]:.1f})")
    assert batches[25] < 1000
