"""Compacted allocations: a dead job's finished allocs read back exactly as they were stored.

Each scenario runs twice, with and without compaction (sim.state.allocs AllocTable.compact_job);
every alloc the store gives back, field by field (the metric's packed top scores bit for bit),
is the same in both runs.
"""

from __future__ import annotations

import copy
import dataclasses
import operator
import random
from typing import Any, cast

import pytest
from conftest import ROOT

from sim.simulation import Simulation
from sim.state.alloc_columns import AllocColumns, MadeColumn, SharedColumn
from sim.state.allocs import AllocTable
from sim.structs.alloc import Allocation, AllocMetric, DesiredTransition
from sim.structs.networks import AllocatedNetwork

CASES: dict[str, dict[str, Any]] = {
    "periodic-batch": {},
    "node-failures": {},
    "alibaba-trace": {"workload[0].trace.limit": 150, "duration": "2h"},
    "preemption": {},
    "canary-autorevert": {},
}


def _metric(metric: AllocMetric | None) -> object:
    if metric is None:
        return None
    fields = {f.name: metric.peek(f.name) for f in dataclasses.fields(metric) if f.name != "_top"}
    return fields, metric.packed(), metric.top_scores()


def snapshot(alloc: Allocation) -> dict[str, object]:
    """Every field of an alloc as read (the metric by its fields and packed scores)."""
    out: dict[str, object] = {}
    for f in dataclasses.fields(alloc):
        value = getattr(alloc, f.name)
        out[f.name] = _metric(value) if f.name == "metrics" else value
    out["_name_index"] = alloc.index()
    return out


def run(name: str, compact: bool, monkeypatch: pytest.MonkeyPatch) -> Simulation:
    with monkeypatch.context() as m:
        if not compact:
            m.setattr(AllocTable, "compact_job", lambda self, key: None)
        sim = Simulation.from_scenario(ROOT / "scenarios" / f"{name}.yaml", overrides=CASES[name])
        sim.run()
    return sim


@pytest.mark.parametrize("name", sorted(CASES))
def test_compacted_allocs_read_back_the_same(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    plain, compacted = run(name, False, monkeypatch), run(name, True, monkeypatch)
    table = compacted.state._allocs
    rows = len(table.columns)
    if name in ("periodic-batch", "alibaba-trace"):
        assert rows > 0
    assert compacted.state.alloc_count() == len(plain.state.allocs())
    assert [snapshot(a) for a in compacted.state.allocs()] == [snapshot(a) for a in plain.state.allocs()]
    # a read builds the job's allocs again, once: later reads and writes see the same objects
    for key in sorted(table.compacted):
        allocs = compacted.state.allocs_by_job(*key)
        assert [snapshot(a) for a in allocs] == [snapshot(a) for a in plain.state.allocs_by_job(*key)]
        assert all(compacted.state.alloc_by_id(a.id) is a for a in allocs)
        assert compacted.state.allocs_by_job(*key) == allocs
    assert not table.compacted
    for node in compacted.state.nodes.nodes:
        assert ([snapshot(a) for a in compacted.state.allocs_by_node(node.id)]
                == [snapshot(a) for a in plain.state.allocs_by_node(node.id)])


def test_numbers_beyond_the_int32_columns_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """An int too large for its 4-byte column (or of another type) is kept whole, in the side dict
    (a metric's counters with its containers)."""
    allocs = run("periodic-batch", False, monkeypatch).state.allocs()[:4]
    metric = copy.copy(allocs[2].metrics)
    assert metric is not None
    metric.allocation_time, metric.nodes_evaluated = 2**40, 2**31
    odd = [dataclasses.replace(allocs[0], cpu=2**40, create_index=-(2**31) - 1),
           dataclasses.replace(allocs[1], modify_index=2**31, disk_mb=2**31 - 1),
           dataclasses.replace(allocs[2], metrics=metric),
           dataclasses.replace(allocs[3], memory_mb=-(2**31), score=1)]
    columns = AllocColumns()
    first = columns.add(odd)
    assert [snapshot(columns.build(first + i)) for i in range(4)] == [snapshot(a) for a in odd]


@pytest.mark.parametrize("seed", range(5))
def test_odd_names_transitions_and_metrics_read_back(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Names not of Nomad's form, transitions other than the default (or of another type), task
    networks, and rows without a metric or without candidate counts, mixed at random among plain rows, read back equal."""
    rng = random.Random(seed)
    allocs = run("periodic-batch", False, monkeypatch).state.allocs()[:30]
    odd = []
    for alloc in allocs:
        changes: dict[str, Any] = {}
        if rng.random() < 0.2:
            changes["name"] = rng.choice(["web", f"{alloc.job_id}.{alloc.task_group}[07]", "x[-1]",
                                          f"{alloc.job_id}.other[{alloc.index()}]"])
        if rng.random() < 0.2:
            changes["desired_transition"] = rng.choice([DesiredTransition(migrate=True), DesiredTransition(),
                                                        DesiredTransition(reschedule=1)])  # type: ignore[arg-type]
        if rng.random() < 0.2:
            changes["networks"] = (AllocatedNetwork("web", "eth0", "10.0.0.1", 10, dynamic_ports=(("http", 20000),)),)
        if rng.random() < 0.2:
            changes["metrics"] = None
        elif rng.random() < 0.2:
            changes["metrics"] = AllocMetric(nodes_evaluated=3, node_pool="default")
        odd.append(dataclasses.replace(alloc, **changes))
    columns = AllocColumns()
    first = columns.add(odd)
    assert [snapshot(columns.build(first + i)) for i in range(len(odd))] == [snapshot(a) for a in odd]
    assert [type(columns.build(first + i).desired_transition.reschedule) for i in range(len(odd))] == [
        type(a.desired_transition.reschedule) for a in odd]


def _running_job_table(n: int, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Allocation], tuple[str, str], AllocTable]:
    """The first `n` allocs of a periodic-batch run, set running again, as the only job of a new table."""
    allocs = [dataclasses.replace(a, client_status="running")
              for a in run("periodic-batch", False, monkeypatch).state.allocs()[:n]]
    key = (allocs[0].namespace, allocs[0].job_id)
    table = AllocTable(cast(Any, None), cast(Any, None))
    table.by_job[key] = list(allocs)
    table.by_id.update((a.id, a) for a in allocs)
    return allocs, key, table


def test_a_job_compacted_twice_reads_back_in_creation_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Allocs finished after a first compaction get later rows: reads still follow the job's list."""
    allocs, key, table = _running_job_table(7, monkeypatch)
    for finished in ({0, 2, 3}, {1, 5}, {6}):
        for i in finished:
            allocs[i].client_status = "complete"
        table.compact_job(key)
    assert len(table.columns) == 6
    expected = [snapshot(a) for a in allocs]
    got = table.of_job(key)
    assert [snapshot(a) for a in got] == expected
    assert got[4] is allocs[4] and all(table.get(a.id) is a for a in got) and not table.compacted


def test_shared_objects_read_back_by_identity() -> None:
    """SharedColumn gives each row its own object back, equal objects told apart."""
    a, b = {"t": 1}, {"t": 1}
    values = [a, a, None, b, a, b, None]
    column = SharedColumn()
    column.extend(values[:3])
    column.extend(values[3:])
    assert all(column[i] is value for i, value in enumerate(values)) and len(column.objects) == 3


@pytest.mark.parametrize("seed", range(5))
def test_metric_containers_read_back_equal_and_their_own(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A metric's containers of scalars are kept once per distinct value (types told apart: 1, 1.0
    and True), others in the side dict; each row reads back equal containers of its own."""
    rng = random.Random(seed)
    allocs = run("periodic-batch", False, monkeypatch).state.allocs()
    values = [1, 1.0, True, 2, "x", None, 0.5]
    odd = []
    for i in range(40):
        made: dict[str, Any] = {}
        for name in rng.sample(["dimension_exhausted", "class_filtered", "constraint_filtered", "class_exhausted",
                                "quota_exhausted"], rng.randint(0, 3)):
            keys = rng.sample(["cpu", "memory", "disk", "c1"], rng.randint(0, 2))
            made[name] = (keys if name == "quota_exhausted"
                          else {k: rng.choice(values) for k in keys})
        if rng.random() < 0.15:
            made["class_filtered"] = {"nested": {"a": 1}}  # not scalars: the side dict
        if i < 3:
            made = {"dimension_exhausted": {"cpu": values[i]}}  # 1, 1.0, True: equal, not alike
        metric = AllocMetric(nodes_evaluated=rng.randint(0, 3), **made)
        odd.append(dataclasses.replace(allocs[i % len(allocs)], metrics=metric))
    expected = copy.deepcopy([snapshot(a) for a in odd])
    columns = AllocColumns()
    first = columns.add(odd[:25])
    columns.add(odd[25:])
    built = [columns.build(first + i) for i in range(len(odd))]
    assert [snapshot(a) for a in built] == expected
    for a, b in zip(built, odd, strict=True):
        for name, value in b.metrics.made().items():  # type: ignore[union-attr]
            got = a.metrics.peek(name)  # type: ignore[union-attr]
            assert [type(v) for v in (value.values() if isinstance(value, dict) else value)] == \
                [type(v) for v in (got.values() if isinstance(got, dict) else got)]
    containers = [id(c) for a in built for c in a.metrics.made().values()]  # type: ignore[union-attr]
    assert len(containers) == len(set(containers)) > 0
    assert len(columns.made.values) < 1 + sum(1 for a in odd if a.metrics.made())  # type: ignore[union-attr]
    for a in odd:  # (the compacted allocs' own containers of scalars, changed later, are not the rows')
        made = a.metrics.made()  # type: ignore[union-attr]
        if "nested" not in made.get("class_filtered", {}):
            for value in made.values():
                value.append("later") if isinstance(value, list) else value.update(later=1)
    assert [snapshot(columns.build(first + i)) for i in range(len(odd))] == expected


@pytest.mark.parametrize("seed", range(12))
def test_alike_metric_containers_store_as_the_generic_path(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """`MadeColumn.extend_alike` (every metric with containers made the same dicts of str to int)
    reads back what the generic path (`made`, `_frozen` per metric) does; other shapes (a list,
    a float, a bool, mixed kinds) fall back to it."""
    rng = random.Random(seed)
    allocs = run("periodic-batch", False, monkeypatch).state.allocs()
    names = rng.sample(["dimension_exhausted", "class_filtered", "constraint_filtered", "class_exhausted"],
                       rng.randint(1, 2))
    odd = []
    for i in range(30):
        made: dict[str, Any] = {}
        if rng.random() < 0.7:
            for name in names:
                made[name] = {k: rng.choice([0, 1, 2, 2**40]) for k in rng.sample(["cpu", "memory", "disk"], rng.randint(0, 2))}
        if rng.random() < 0.05:
            made[names[0]] = {"cpu": rng.choice([1.0, True])}  # not an int: the generic path
        if rng.random() < 0.03:
            made["quota_exhausted"] = ["q"]  # another kind made
        metric = AllocMetric(nodes_evaluated=rng.randint(0, 3), **made) if rng.random() < 0.9 else None
        odd.append(dataclasses.replace(allocs[i % len(allocs)], metrics=metric))
    expected = copy.deepcopy([snapshot(a) for a in odd])
    fast, slow = AllocColumns(), AllocColumns()
    cut = rng.randint(1, len(odd) - 1)
    for columns in (fast, slow):
        columns.add(odd[:cut])
        columns.add(odd[cut:])
        if columns is fast:
            monkeypatch.setattr(MadeColumn, "extend_alike", lambda self, metrics, flags: False)
    for columns in (fast, slow):
        built = [columns.build(i) for i in range(len(odd))]
        assert [snapshot(a) for a in built] == expected
        for a, b in zip(built, odd, strict=True):
            if b.metrics is not None:
                for name, value in b.metrics.made().items():
                    got = a.metrics.peek(name)  # type: ignore[union-attr]
                    assert got is not value and got == value
                    assert [type(v) for v in (value.values() if isinstance(value, dict) else value)] == \
                        [type(v) for v in (got.values() if isinstance(got, dict) else got)]


@pytest.mark.parametrize("seed", range(12))
def test_runs_of_one_value_read_back_with_their_types(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A column whose rows all hold one value stores it repeated; equal values of other types
    (1, 1.0, True), 0.0 and -0.0, ints beyond the column and rows without a metric among them
    are told apart, each row read back as it was."""
    rng = random.Random(seed)
    base = run("periodic-batch", False, monkeypatch).state.allocs()[0]
    alike = {"cpu": rng.choice([[1, 1.0, True], [2**31, 2**31], [-(2**31), -(2**31)]]),
             "create_time": rng.choice([[0.0, -0.0, 0], [1.5, 1.5], [float("nan")] * 2]),
             "client_status": ["complete", "complete", "failed"]}
    counts = rng.choice([[1, 1.0, True], [2**31, 2**31], [3, 3]])
    pools = rng.choice([["default", "default"], ["default", None]])
    odd = []
    for _ in range(rng.randrange(1, 12)):
        changes: dict[str, Any] = {name: values[0] if rng.random() < 0.7 else rng.choice(values)
                                   for name, values in alike.items()}
        metric = copy.copy(base.metrics)
        assert metric is not None
        metric.nodes_evaluated = counts[0] if rng.random() < 0.7 else rng.choice(counts)
        pool = pools[0] if rng.random() < 0.7 else rng.choice(pools)
        metric.node_pool = pool or "default"
        changes["metrics"] = metric if pool else None
        odd.append(dataclasses.replace(base, **changes))
    columns = AllocColumns()
    columns.add(odd[:1])
    first = columns.add(odd)
    expected = [repr(snapshot(a)) for a in odd]
    assert [repr(snapshot(columns.build(first + i))) for i in range(len(odd))] == expected


@pytest.mark.parametrize("seed", range(6))
def test_a_write_goes_to_the_stored_allocs(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """`own` gives, for any mix of stored allocs and objects compacted since, the stored ones
    (as `stored` does, alloc by alloc), whichever way it takes."""
    rng = random.Random(seed)
    allocs, key, table = _running_job_table(12, monkeypatch)
    held = list(allocs)  # what a writer (a client) read earlier
    for i in rng.sample(range(len(allocs)), rng.randrange(1, len(allocs))):
        allocs[i].client_status = rng.choice(["complete", "failed", "lost"])
    table.compact_job(key)
    for _ in range(20):
        writes = rng.sample(held, rng.randrange(1, len(held) + 1))
        expected = [table.get(a.id) for a in writes]
        assert all(map(operator.is_, table.own(writes), expected))
        assert all(map(operator.is_, table.stored(writes), expected))
