"""Feasibility: constraint operators, target resolution, drivers, distinct_hosts/_property, node sets.

Cases ported from Nomad scheduler/feasible/feasible_test.go (each docstring names the Nomad test).
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.scheduler.feasible.checks import FeasibilityCache, candidate_rows
from sim.scheduler.feasible.constraints import (
    check_constraint,
    check_lexical_order,
    check_order,
    check_regexp_match,
    check_set_contains_any,
    check_version_match,
    distinct_hosts_enabled,
    resolve_target,
)
from sim.scheduler.node_sets import glob_match
from sim.structs.job import Constraint

from ..fixtures_stack import generic_stack, mock_alloc, mock_job, mock_node, table_of

CHECK_CONSTRAINT_CASES = [
    ("=", "foo", "foo", True),
    ("is", "foo", "foo", True),
    ("==", "foo", "foo", True),
    ("==", "foo", None, False),
    ("==", None, "foo", False),
    ("==", None, None, False),
    ("!=", "foo", "foo", False),
    ("!=", "foo", "bar", True),
    ("!=", None, "foo", True),
    ("!=", "foo", None, True),
    ("!=", None, None, False),
    ("not", "foo", "bar", True),
    ("regexp", "foobarbaz", r"[\w]+", True),
    ("regexp", None, r"[\w]+", False),
    ("<", "foo", "bar", False),
    ("<", None, "bar", False),
    ("set_contains", "foo,bar,baz", "foo,  bar  ", True),
    ("set_contains", "foo,bar,baz", "foo,bam", False),
    ("is_set", "foo", None, True),
    ("is_set", None, None, False),
    ("is_not_set", None, None, True),
    ("is_not_set", "foo", None, False),
    ("distinct_hosts", None, None, True),
    ("bogus", "foo", "foo", False),
]


@pytest.mark.parametrize(("op", "left", "right", "expected"), CHECK_CONSTRAINT_CASES)
def test_check_constraint(op, left, right, expected):
    """Nomad: feasible_test.go TestCheckConstraint (nil = not found)."""
    assert check_constraint(op, left, right, left is not None, right is not None) is expected


@pytest.mark.parametrize(("op", "left", "right", "expected"), [
    ("<", "bar", "foo", True),
    ("<=", "foo", "foo", True),
    (">", "bar", "foo", False),
    (">=", "bar", "bar", True),
    (">", "1", "foo", False),
    ("<", "10", "1", False),
    ("<", "1", "10", True),
    ("<", "10.5", "1.5", False),
    ("<", "1.5", "10.5", True),
])
def test_check_order(op, left, right, expected):
    """Nomad: feasible_test.go TestCheckOrder: int64, then float64, then lexical comparison."""
    assert check_order(op, left, right) is expected


def test_check_order_follows_go_number_parsing():
    """Go's ParseInt/ParseFloat reject spaces and underscores, so those compare lexically."""
    assert check_order("<", "9", "10") is True
    assert check_order("<", " 9", "10") is True  # lexical: " " < "1"
    assert check_order("<", "1_0", "9") is True  # lexical: "1" < "9"
    assert check_lexical_order(">", "b", "a") is True


@pytest.mark.parametrize(("value", "pattern", "expected"), [
    ("foobar", "bar", True),
    ("foobar", "^foo", True),
    ("foobar", "^bar", False),
    ("zipzap", "foo", False),
    ("foo", "(", False),
])
def test_check_regexp_match(value, pattern, expected):
    """Nomad: feasible_test.go TestCheckRegexpConstraint (unanchored; invalid patterns never match)."""
    assert check_regexp_match(value, pattern) is expected


def test_set_contains_any():
    """Nomad: feasible_test.go TestSetContainsAny."""
    assert check_set_contains_any("a", "a") is True
    assert check_set_contains_any("a", "b") is False
    assert check_set_contains_any("a,b", " b , c") is True


def test_resolve_target():
    """Nomad: feasible_test.go TestResolveConstraintTarget."""
    node = mock_node()
    assert resolve_target("${node.unique.id}", node) == (node.id, True)
    assert resolve_target("${node.datacenter}", node) == ("dc1", True)
    assert resolve_target("${node.unique.name}", node) == (node.name, True)
    assert resolve_target("${node.class}", node) == ("linux-medium-pci", True)
    assert resolve_target("${node.pool}", node) == ("default", True)
    assert resolve_target("${node.foo}", node)[1] is False
    assert resolve_target("${attr.kernel.name}", node) == ("linux", True)
    assert resolve_target("${attr.rand}", node) == ("", False)
    assert resolve_target("${meta.pci-dss}", node) == ("true", True)
    assert resolve_target("${meta.rand}", node) == ("", False)
    assert resolve_target("literal", node) == ("literal", True)


def test_constraint_checker_masks():
    """Nomad: feasible_test.go TestConstraintChecker: all constraints must hold on a node."""
    nodes = [mock_node() for _ in range(4)]
    nodes[0].attributes["kernel.name"] = "freebsd"
    nodes[1].datacenter = "dc2"
    nodes[2].node_class = "large"
    nodes[2].attributes["foo"] = "bar"
    nodes[3].node_pool = "prod"
    table = table_of(nodes)
    cache = FeasibilityCache()
    constraints = [
        ("${node.datacenter}", "=", "dc1"),
        ("${attr.kernel.name}", "is", "linux"),
        ("${node.class}", "!=", "linux-medium-pci"),
        ("${node.pool}", "!=", "prod"),
        ("${attr.foo}", "is_set", ""),
    ]
    mask = np.logical_and.reduce([cache.constraint_mask(table, *c) for c in constraints])
    assert mask.tolist() == [False, False, True, False]


def test_constraint_between_two_attributes():
    """Both targets may be node properties: evaluated per distinct pair of values."""
    nodes = [mock_node() for _ in range(3)]
    nodes[0].meta["a"], nodes[0].meta["b"] = "1", "1"
    nodes[1].meta["a"], nodes[1].meta["b"] = "1", "2"
    table = table_of(nodes)
    mask = FeasibilityCache().constraint_mask(table, "${meta.a}", "=", "${meta.b}")
    assert mask.tolist() == [True, False, False]


def test_driver_info_and_legacy_attributes():
    """Nomad: feasible_test.go TestDriverChecker_DriverInfo and TestDriverChecker_Compatibility."""
    nodes = [mock_node(drivers=["foo"]), mock_node(drivers=[])]
    for value in ("1", "0", "true", "False"):
        node = mock_node(drivers=[])
        node.attributes["driver.foo"] = value
        nodes.append(node)
    table = table_of(nodes)
    mask = FeasibilityCache().driver_mask(table, "foo")
    assert mask.tolist() == [True, False, True, False, True, False]


def test_distinct_hosts_flag():
    """Nomad: feasible_test.go TestDistinctHostsIterator_JobDistinctHosts_Table (unset/true/false/unparsable)."""
    def enabled(rtarget: str) -> bool:
        return distinct_hosts_enabled([Constraint(operand="distinct_hosts", r_target=rtarget)])
    assert enabled("") and enabled("true") and not enabled("false") and enabled("not_a_bool")
    assert not distinct_hosts_enabled([Constraint("${attr.a}", "b", "=")])


def test_job_distinct_hosts_counts_other_groups():
    """Nomad: feasible_test.go TestDistinctHostsIterator_JobDistinctHosts_InfeasibleCount."""
    job = mock_job()
    job.constraints.append(Constraint(operand="distinct_hosts"))
    other = mock_job().task_groups[0]
    other.name = "other"
    job.task_groups.append(other)
    nodes = [mock_node(), mock_node()]
    stack = generic_stack(nodes, job)
    stack.place(0, mock_alloc(job, nodes[0], "web"))
    stack.place(1, mock_alloc(job, nodes[1], "other"))
    option, metric = stack.select(other)
    assert option is None and metric.constraint_filtered == {"distinct_hosts": 2}


def test_group_distinct_hosts_ignores_other_jobs():
    """Nomad: feasible_test.go TestDistinctHostsIterator_TaskGroupDistinctHosts."""
    job = mock_job()
    web = job.task_groups[0]
    web.constraints.append(Constraint(operand="distinct_hosts"))
    plain = mock_job().task_groups[0]
    plain.name = "baz"
    job.task_groups.append(plain)
    other_job = mock_job()
    nodes = [mock_node(), mock_node()]
    stack = generic_stack(nodes, job, allocs=[mock_alloc(job, nodes[0])], batch=True)
    stack.place(1, mock_alloc(other_job, nodes[1]))  # same group name, another job
    option, metric = stack.select(web)
    assert option.row == 1 and metric.constraint_filtered == {"distinct_hosts": 1}
    stack.offset = 0
    assert stack.select(plain)[1].constraint_filtered == {}


def _rack_nodes(count: int) -> list:
    nodes = [mock_node() for _ in range(count)]
    for i, node in enumerate(nodes):
        node.meta["rack"] = str(i)
    return nodes


def test_job_distinct_property():
    """Nomad: feasible_test.go TestDistinctPropertyIterator_JobDistinctProperty: only the rack whose
    alloc is being stopped is free."""
    job = mock_job()
    job.constraints.append(Constraint(l_target="${meta.rack}", operand="distinct_property"))
    web = job.task_groups[0]
    nodes = _rack_nodes(5)
    in_state = [mock_alloc(job, nodes[1]), mock_alloc(job, nodes[3]), mock_alloc(job, nodes[4])]
    stack = generic_stack(nodes, job, allocs=in_state)
    stack.place(0, mock_alloc(job, nodes[0]))
    stack.place(2, mock_alloc(job, nodes[2]))
    stack.stop(in_state[2])
    stack.limit = 5
    option, metric = stack.select(web)
    assert option.row == 4
    assert metric.nodes_filtered == 4
    assert metric.constraint_filtered["distinct_property: ${meta.rack}=0 used by 1 allocs"] == 1


def test_job_distinct_property_count():
    """Nomad: feasible_test.go TestDistinctPropertyIterator_JobDistinctProperty_Count: RTarget 2."""
    job = mock_job()
    job.constraints.append(Constraint(l_target="${meta.rack}", r_target="2", operand="distinct_property"))
    nodes = _rack_nodes(3)
    stack = generic_stack(nodes, job, allocs=[mock_alloc(job, nodes[0]), mock_alloc(job, nodes[1])])
    for row in (0, 1, 2):
        stack.place(row, mock_alloc(job, nodes[row]))
    stack.limit = 3
    option, metric = stack.select(job.task_groups[0])
    assert option.row == 2
    assert metric.constraint_filtered == {
        "distinct_property: ${meta.rack}=0 used by 2 allocs": 1,
        "distinct_property: ${meta.rack}=1 used by 2 allocs": 1,
    }


def test_distinct_property_remove_and_replace():
    """Nomad: feasible_test.go TestDistinctPropertyIterator_JobDistinctProperty_RemoveAndReplace."""
    job = mock_job()
    job.constraints.append(Constraint(l_target="${meta.rack}", operand="distinct_property"))
    node = _rack_nodes(1)[0]
    stopping = mock_alloc(job, node)
    stack = generic_stack([node], job, allocs=[stopping])
    stack.place(0, mock_alloc(job, node))
    stack.stop(stopping)
    assert stack.select(job.task_groups[0])[0] is None


def test_distinct_property_missing_attribute():
    """Nomad: propertyset.go UsedCount: a node without the property is filtered."""
    job = mock_job()
    job.task_groups[0].constraints.append(Constraint(l_target="${meta.zone}", operand="distinct_property"))
    stack = generic_stack([mock_node()], job)
    option, metric = stack.select(job.task_groups[0])
    assert option is None and metric.constraint_filtered == {'missing property "${meta.zone}"': 1}


def test_group_distinct_property_counts_only_its_group():
    """Nomad: feasible_test.go TestDistinctPropertyIterator_TaskGroupDistinctProperty."""
    job = mock_job()
    web = job.task_groups[0]
    web.constraints.append(Constraint(l_target="${meta.rack}", operand="distinct_property"))
    other = mock_job().task_groups[0]
    other.name = "other"
    job.task_groups.append(other)
    nodes = _rack_nodes(2)
    stack = generic_stack(nodes, job, allocs=[mock_alloc(job, nodes[0], "other")])
    stack.place(1, mock_alloc(job, nodes[1], "web"))
    stack.limit = 2
    option, metric = stack.select(web)
    assert option.row == 0 and metric.nodes_filtered == 1


def test_candidate_rows_dc_globs_pools_and_readiness():
    """Nomad: util.go readyNodesInDCsAndPool: ready nodes matching a DC glob and the pool."""
    nodes = [mock_node(datacenter="dc1"), mock_node(datacenter="dc2"), mock_node(datacenter="eu1"),
             mock_node(datacenter="dc1", node_pool="gpu"), mock_node(datacenter="dc1", drain=True)]
    table = table_of(nodes)
    rows, by_dc, in_pool = candidate_rows(table, mock_job(datacenters=["dc*"]))
    assert rows.tolist() == [0, 1] and by_dc == {"dc1": 1, "dc2": 1} and in_pool == 2
    rows, by_dc, _ = candidate_rows(table, mock_job(datacenters=["*"], node_pool="all"))
    assert rows.tolist() == [0, 1, 2, 3]
    assert candidate_rows(table, mock_job(datacenters=["dc1"], node_pool="gpu"))[0].tolist() == [3]


def test_glob_matches_like_go_glob():
    """ryanuber/go-glob: only `*` is special."""
    assert glob_match("*", "anything") and glob_match("dc*", "dc12") and glob_match("*-1", "us-1")
    assert glob_match("d*c*1", "dxc1") and not glob_match("dc?", "dc1") and not glob_match("dc1", "dc10")


# -- version operators (need sim.structs.versions) -----------------------------------------------


@pytest.mark.parametrize(("version", "constraint", "expected"), [
    ("1.2.3", "~> 1.0", True),
    ("1.2.3", ">= 1.0, < 1.4", True),
    ("2.0.1", "~> 1.0", False),
    ("1.4", ">= 1.0, < 1.4", False),
    ("1", "~> 1.0", True),
    ("1.3.0-beta1", ">= 0.6.1", False),
    ("1.7.0-alpha1", ">= 1.6.0-beta1", False),
    ("1.3.0-beta1+ent", "= 1.3.0-beta1", True),
])
def test_check_version_constraint(version, constraint, expected):
    """Nomad: feasible_test.go TestCheckVersionConstraint."""
    pytest.importorskip("sim.structs.versions")
    assert check_version_match(version, constraint, strict_semver=False) is expected


@pytest.mark.parametrize(("version", "constraint", "expected"), [
    ("1.2.3", "~> 1.0", False),
    ("1.2.3", ">= 1.0, < 1.4", True),
    ("1.4", ">= 1.0, < 1.4", False),
    ("1.3.0-beta1", ">= 0.6.1", True),
    ("1.7.0-alpha1", ">= 1.6.0-beta1", True),
    ("1.7.0-beta", ">= 1.7.0", False),
    ("1.7.0", ">= 1.7.0-dev", True),
    ("1.7.0-beta.1", ">= 1.7.0-a", True),
    ("1.7.0-rc.1", ">= 1.7.0-dev", True),
    ("1.3.0-beta1+ent", "= 1.3.0-beta1", True),
])
def test_check_semver_constraint(version, constraint, expected):
    """Nomad: feasible_test.go TestCheckSemverConstraint."""
    pytest.importorskip("sim.structs.versions")
    assert check_version_match(version, constraint, strict_semver=True) is expected


def test_version_operand_through_check_constraint():
    """Nomad: feasible_test.go TestCheckConstraint (version rows): a missing version never matches."""
    pytest.importorskip("sim.structs.versions")
    assert check_constraint("version", "1.2.3", "~> 1.0", True, True) is True
    assert check_constraint("version", None, "~> 1.0", False, True) is False
