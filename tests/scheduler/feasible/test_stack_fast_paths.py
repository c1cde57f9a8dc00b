"""The stack's shortcuts against the per-item semantics they stand in for.

A select whose source runs dry is now decided by the scan cache (Nomad's LimitIterator replayed on
the cached options, every miss tallied, in bulk when no node fits); the candidate rows are memoised
per table version; the proposed state counts a job's allocs in bulk; class eligibility has an
all-feasible shortcut; a group without distinct_hosts, distinct_property or ports is evaluated by a
leaner fit stage. Each must give exactly what the general path gives.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.scheduler.feasible import scan_cache
from sim.scheduler.feasible.checks import StaticFeasibility, candidate_rows
from sim.scheduler.feasible.proposed import ClassEligibility, ProposedState
from sim.scheduler.feasible.scan_cache import DRY_TALLY_MIN, ScanResult
from sim.scheduler.feasible.select import ReasonCodes
from sim.scheduler.feasible.stack import GenericStack
from sim.scheduler.feasible.stack_group import Ahead, GroupInputs, over_mask
from sim.structs.job import Constraint, NetworkResource, Port
from sim.structs.node import NodeResources

from ..fixtures_stack import mock_alloc, mock_job, mock_node, table_of
from .test_scan_cache import _nodes, _same, _stack


def _fill(stacks: list[GenericStack], rng: np.random.Generator, share: float) -> None:
    """Fill a share of the nodes in one random dimension, identically on every stack."""
    n = len(stacks[0].table)
    full = np.flatnonzero(rng.random(n) < share)
    which = rng.integers(0, 3, len(full))
    for stack in stacks:
        stack.proposed.used[full, which] = stack.table.cap[full, which]


@pytest.mark.parametrize("bulk", [True, False])
@pytest.mark.parametrize("size", [1, 3, 8, DRY_TALLY_MIN - 1, DRY_TALLY_MIN, 60, 200, 1100])
def test_dry_select_matches_chunked_scan(size, bulk, monkeypatch):
    """Every node full: the cached scan's failure (metric, offset) is the chunked scan's, whether
    it checks every node at once or walks them one by one."""
    if not bulk:
        monkeypatch.setattr(scan_cache, "DRY_CHECK_MAX", 0)
    rng = np.random.default_rng(size)
    nodes = _nodes(rng, size)
    job = mock_job(datacenters=["dc1", "dc2"])
    tg = job.task_groups[0]
    tg.constraints.append(Constraint(operand="distinct_hosts"))
    stacks = [_stack(nodes, job, size, fast) for fast in (True, False)]
    _fill(stacks, rng, 1.0)
    running = np.flatnonzero(rng.random(size) < 0.2)
    for stack in stacks:  # some nodes already run the group: distinct_hosts filters them
        stack.proposed.counts_of("web")[running] += 1
    for _ in range(3):
        results = [stack.select(tg) for stack in stacks]
        _same(*results)
        assert results[0][0] is None and results[0][1].nodes_evaluated == size
        assert stacks[0].offset == stacks[1].offset


@pytest.mark.parametrize("case", range(12))
def test_crowded_selects_with_dry_sources_match(case, monkeypatch):
    """Mostly full clusters, with placements between selects: dry and non-dry scans agree."""
    if case % 4 == 1:
        monkeypatch.setattr(scan_cache, "DRY_CHECK_MAX", 0)
    rng = np.random.default_rng(3000 + case)
    nodes = _nodes(rng, int(rng.choice([4, 9, 50, 120])))
    job = mock_job(datacenters=["dc1", "dc2"])
    tg = job.task_groups[0]
    if case % 2:
        tg.networks = []
    stacks = [_stack(nodes, job, case, fast, "spread" if case % 3 == 0 else "binpack") for fast in (True, False)]
    _fill(stacks, rng, 0.8)
    for _ in range(30):
        results = [stack.select(tg) for stack in stacks]
        _same(*results)
        option = results[0][0]
        if option is None:
            row = int(rng.integers(len(nodes)))
            for stack in stacks:  # free a node so the next selects see a change
                stack.proposed.used[row] = 0.0
                stack.proposed.touched.append(row)
            continue
        alloc = mock_alloc(job, option.node, ports=list(option.ports))
        for stack in stacks:
            stack.place(option.row, alloc)


def test_dry_source_replays_set_aside_options():
    """Spread fit scores full-after-placement nodes 0: the limit sets them aside, the source
    runs dry, and the set-aside options are replayed in Nomad's order (the cache decides)."""
    nodes = [mock_node(resources=NodeResources(cpu=600, memory_mb=512, disk_mb=100 * 1024)) for _ in range(3)]
    job = mock_job()
    tg = job.task_groups[0]
    tg.networks = []
    stacks = [_stack(nodes, job, 0, fast, "spread") for fast in (True, False)]
    stacks[0]._run = None  # the cached scan must not fall back to the chunked one
    results = [stack.select(tg) for stack in stacks]
    _same(*results)
    option, metric = results[0]
    assert option is not None and option.final_score == 0.0 and metric.nodes_evaluated == 3


def test_no_fitting_node_takes_the_bulk_tally():
    """A cluster where nothing fits is decided by the scan cache alone, with a dry result."""
    rng = np.random.default_rng(7)
    nodes = _nodes(rng, 80)
    job = mock_job(datacenters=["dc1", "dc2"])
    stack = _stack(nodes, job, 0, True)
    stack.proposed.used[:] = stack.table.cap
    stack._run = None
    option, metric = stack.select(job.task_groups[0])
    cache = stack._scan_caches["web"]
    assert option is None and cache.ranked_valid == 0
    assert metric.nodes_exhausted == len(cache.positions) and sum(metric.dimension_exhausted.values()) == 80 - metric.nodes_filtered


@pytest.mark.parametrize("seed", range(6))
def test_bulk_miss_tally_matches_per_node_tally(seed):
    """The vectorised tally of a dry scan equals the per-miss tally, key order included."""
    rng = np.random.default_rng(seed)
    nodes = _nodes(rng, int(rng.integers(DRY_TALLY_MIN, 300)))
    job = mock_job(datacenters=["dc1", "dc2"])
    tg = job.task_groups[0]
    tg.constraints.append(Constraint(operand="distinct_hosts"))
    tg.networks = [NetworkResource(mode="host", reserved_ports=[Port(label="web", value=8080)])]
    stack = _stack(nodes, job, seed, True)
    _fill([stack], rng, 1.0)
    stack.proposed.counts_of("web")[np.flatnonzero(rng.random(len(nodes)) < 0.3)] += 1
    stack.select(tg)
    cache = stack._scan_caches["web"]
    cache._refresh_all(0, stack._cache_evaluator(stack._group(tg)))
    size = len(cache.positions)
    assert cache.ranked_valid == 0
    for fi0 in (0, int(rng.integers(size)), size - 1):
        for first_chunk in (1, 6, 103):
            bulk, single = (stack._new_metric(size) for _ in range(2))
            cache._dry_metrics(bulk, fi0, first_chunk, stack.table)
            cache._miss_metrics(single, [(j, (fi0 + j) % size) for j in range(size)], first_chunk, stack.table)
            assert bulk == single
            for name in ("constraint_filtered", "class_filtered", "dimension_exhausted", "class_exhausted"):
                assert list(getattr(bulk, name)) == list(getattr(single, name)), name
    assert ScanResult(-1, 5, [], [], dry_from=0).dry_from == 0


@pytest.mark.parametrize("seed", range(8))
def test_fit_stage_matches_general_stage(seed):
    """The lean AllocsFit evaluation gives the general chain's verdicts, codes and scores."""
    rng = np.random.default_rng(seed)
    nodes = _nodes(rng, 60)
    job = mock_job(datacenters=["dc1", "dc2"])
    tg = job.task_groups[0]
    tg.networks = []
    stack = _stack(nodes, job, seed, True)
    _fill([stack], rng, 0.5)
    g = stack._group(tg)
    general = GroupInputs(**{f: getattr(g, f) for f in GroupInputs.__slots__})
    general.distinct_hosts = "group"  # the general path; no alloc runs yet, so nothing is filtered
    for rows in (np.arange(60), np.flatnonzero(rng.random(60) < 0.3), np.zeros(0, dtype=np.int64)):
        lean = stack._evaluate(g, rows, -1.0, np.zeros(0, dtype=np.int64), ReasonCodes())
        full = stack._evaluate(general, rows, -1.0, np.zeros(0, dtype=np.int64), ReasonCodes())
        for name in ("rows", "status", "reason", "ranked"):
            a, b = getattr(lean, name), getattr(full, name)
            assert a.dtype == b.dtype and np.array_equal(a, b), name
        for name in ("binpack", "final"):
            assert np.array_equal(getattr(lean.scores, name), getattr(full.scores, name))
        assert (lean.scores.anti is None) == (full.scores.anti is None)


def test_candidate_rows_are_memoised_per_table_version():
    """Same job placement inputs: the same read-only rows; a node going down refreshes them."""
    nodes = [mock_node(datacenter=dc) for dc in ("dc1", "dc2", "dc1", "dc3")]
    table = table_of(nodes)
    job = mock_job(datacenters=["dc1", "dc2"])
    rows, by_dc, n = candidate_rows(table, job)
    assert rows.tolist() == [0, 1, 2] and by_dc == {"dc1": 2, "dc2": 1} and n == 3
    assert not rows.flags.writeable
    by_dc["dc1"] = 99  # the caller's copy
    again, by_dc2, _ = candidate_rows(table, job)
    assert again is rows and by_dc2 == {"dc1": 2, "dc2": 1}
    nodes[0].status = "down"
    table.refresh_status(nodes[0])
    fresh, by_dc3, n3 = candidate_rows(table, job)
    assert fresh.tolist() == [1, 2] and by_dc3 == {"dc1": 1, "dc2": 1} and n3 == 2


def test_set_nodes_counts_available_nodes_for_any_rows():
    """NodesAvailable from the memo (candidate rows) or recounted (other rows) agree."""
    nodes = [mock_node(datacenter=dc) for dc in ("dc2", "dc1", "dc2", "dc1", "dc3")]
    table = table_of(nodes)
    job = mock_job(datacenters=["dc*"])
    rows, by_dc, _ = candidate_rows(table, job)
    memo = GenericStack(table, False, np.random.default_rng(0))
    memo.set_nodes(rows)
    other = GenericStack(table, False, np.random.default_rng(0))
    other.set_nodes(np.array(rows.tolist()))
    assert list(memo.nodes_available.items()) == list(other.nodes_available.items()) == list(by_dc.items())
    assert memo.order.tolist() == other.order.tolist() and memo.nodes_in_pool == 5


def _reference_counts(table, job, allocs):
    """The per-alloc counting ProposedState.reset used to do (Nomad: ProposedAllocs of the state)."""
    job_count = np.zeros(len(table), dtype=np.int64)
    groups: dict[str, np.ndarray] = {}
    counted, touched = {}, []
    for alloc in allocs:
        row = table.index_of.get(alloc.node_id)
        if row is not None and not alloc.client_terminal():
            counted[alloc.id] = (row, alloc.task_group, not alloc.terminal(), alloc)
            touched.append(row)
            if alloc.job_id == job.id:
                job_count[row] += 1
                groups.setdefault(alloc.task_group, np.zeros(len(table), dtype=np.int64))[row] += 1
    return job_count, groups, counted, touched


def test_proposed_reset_counts_allocs_in_bulk():
    """Client-terminal, stopped, other-job, unknown-node and duplicate allocs count as one by one."""
    rng = np.random.default_rng(0)
    nodes = [mock_node() for _ in range(6)]
    table = table_of(nodes)
    job, other = mock_job(), mock_job()
    allocs = []
    for i in range(60):
        owner = job if rng.random() < 0.8 else other
        alloc = mock_alloc(owner, nodes[int(rng.integers(6))], task_group=str(rng.choice(["web", "db"])))
        alloc.client_status = str(rng.choice(["pending", "running", "complete", "failed", "lost"]))
        alloc.desired_status = str(rng.choice(["run", "run", "stop", "evict"]))
        if i % 17 == 0:
            alloc.node_id = "gone"
        allocs.append(alloc)
    allocs.append(allocs[3])  # the same alloc twice
    state = ProposedState(table)
    state.reset(job, allocs)
    job_count, groups, counted, touched = _reference_counts(table, job, allocs)
    assert np.array_equal(state.job_count, job_count) and state.touched == touched
    assert list(state.group_count) == list(groups)
    assert all(np.array_equal(state.group_count[k], v) for k, v in groups.items())
    assert {k: (e.row, e.group, e.holds_resources, e.alloc) for k, e in state.counted.items()} == counted
    assert state.existing == [a for a in allocs if not a.terminal()]


@pytest.mark.parametrize("first", ["place_new", "stop", "place"])
def test_proposed_entries_made_late_are_made_in_order(first):
    """The state's entries in `counted` are made on first use: placements before then still
    come after them, a placed ID of a state alloc replaces it, and stops find their entries;
    a new alloc placed again replaces itself."""
    nodes = [mock_node() for _ in range(4)]
    table = table_of(nodes)
    job = mock_job()
    allocs = [mock_alloc(job, nodes[i % 4]) for i in range(8)]
    new = [mock_alloc(job, nodes[i % 4]) for i in range(3)]
    state = ProposedState(table)
    state.reset(job, allocs)
    ask = np.array([500.0, 256.0, 150.0])
    if first == "place_new":
        state.place_new([0, 1, 2], new, "web", ask)
    elif first == "stop":
        state.stop(allocs[2])
        state.place_new([0, 1, 2], new, "web", ask)
    else:
        state.place_new([0, 1, 2], new, "web", ask)
        state.place(1, allocs[5])  # a state alloc's ID placed again: it moves to node 1
    expected = [a.id for a in allocs if not (first == "stop" and a is allocs[2])] + [a.id for a in new]
    if first == "place":
        expected.remove(allocs[5].id)
        expected.append(allocs[5].id)
    assert list(state.counted) == expected
    counts = np.bincount([i % 4 for i in range(8)] + [0, 1, 2], minlength=4)
    if first == "stop":
        counts[2] -= 1
    if first == "place":
        counts[1] += 1
        counts[5 % 4] -= 1
    assert state.counts_of("web").tolist() == counts.tolist()
    state.place_new([3], [mock_alloc(job, nodes[3], id=new[0].id)], "web", ask)  # a placed ID: replaced one by one
    assert list(state.counted)[-1] == new[0].id and state.counts_of("web")[0] == counts[0] - 1


@pytest.mark.parametrize("escape", ["", "job", "group"])
def test_class_eligibility_shortcut_matches_general_rule(escape):
    """An all-feasible group marks each visited class eligible, as the per-node rule does
    (also when the job's or the group's constraints escape computed classes)."""
    nodes = [mock_node(node_class=c, attributes={"k": c}) for c in ("a", "b", "a", "c", "b", "d")]
    table = table_of(nodes)
    job = mock_job()
    unique = Constraint(l_target="${node.unique.id}", r_target="x", operand="!=")
    if escape == "job":
        job.constraints.append(unique)
    elif escape == "group":
        job.task_groups[0].constraints.append(unique)
    zeros = np.zeros(len(nodes), dtype=np.int16)
    fast = StaticFeasibility(zeros, zeros.astype(np.int8), [], True)
    slow = StaticFeasibility(zeros, zeros.astype(np.int8), [], False)
    order = np.array([4, 0, 3, 1, 5, 2])
    verdicts = []
    for static in (fast, slow):
        elig = ClassEligibility(table)
        elig.set_job(job)
        elig.observe("web", static, order, 3, 2)
        elig.observe("web", static, order, 5, 2)  # wraps around
        verdicts.append(elig.class_eligibility())
    assert verdicts[0] == verdicts[1]
    seen = {nodes[r].computed_class for r in (1, 5, 2, 4)}
    assert verdicts[0] == {c: True for c in sorted(seen)}


@pytest.mark.parametrize("seed", range(20))
def test_column_reductions_match_numpy_reductions(seed):
    """`over_mask` has a row's bit j set exactly where dimension j is over capacity (so it is
    non-zero where `any(axis=1)` is, and its lowest bit is `argmax(axis=1)`), and a fit-only
    group's room (the least over the asked dimensions, column by column) is the floor of free
    over ask, minimised along the row."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 40))
    used, cap = rng.integers(0, 4, (n, 3)).astype(np.float64), rng.integers(0, 4, (n, 3)).astype(np.float64)
    over, mask = used > cap, over_mask(used, cap).astype(np.int64)
    assert mask.shape == (n,) and all((mask >> j & 1 == over[:, j]).all() for j in range(3))
    first = (mask & -mask)
    assert ((mask != 0) == over.any(axis=1)).all() and (first[mask != 0] == 1 << over.argmax(axis=1)[mask != 0]).all()
    job = mock_job()
    job.task_groups[0].networks = []  # a fit-only group
    stack = _stack(_nodes(rng, max(n, 1)), job, seed, True)
    stack.proposed.used[:] = np.floor(stack.table.cap * rng.random(stack.table.cap.shape))
    g = stack._group(stack.job.task_groups[0])
    g.ask = np.array(rng.choice([0.0, 1.0, 7.0, 250.0], 3))
    rows = rng.permutation(len(stack.table))
    room = Ahead(stack, g).room(rows)
    asked = g.ask > 0
    if asked.any():
        free = stack.table.cap[rows] - stack.proposed.used[rows]
        expected = np.maximum(np.floor_divide(free[:, asked], g.ask[asked]).min(axis=1), 0).astype(np.int64)
    else:
        expected = np.full(len(rows), np.iinfo(np.int64).max // 4, dtype=np.int64)
    assert room.dtype == np.int64 and (room == expected).all()
