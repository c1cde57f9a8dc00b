"""AllocMetric's compact form: containers created on first use, top scores packed until read.

Every reader must see exactly the values of Nomad's struct (as the plain dataclass held them):
the same maps, lists and NodeScoreMeta rows, bit for bit.
"""

from __future__ import annotations

import copy
import math
import pickle
from dataclasses import replace

from sim.structs.alloc import AllocMetric, NodeScoreMeta, ScoreLayout

CONTAINERS = ("nodes_available", "class_filtered", "constraint_filtered", "class_exhausted", "dimension_exhausted",
              "quota_exhausted", "resources_exhausted", "score_meta_data")
LAYOUT = ScoreLayout((("binpack", None), ("job-anti-affinity", None), ("node-reschedule-penalty", 0.0),
                      ("node-affinity", 0.0)))
ROWS = [NodeScoreMeta("n1", {"binpack": 0.75, "job-anti-affinity": -0.0, "node-reschedule-penalty": 0.0,
                             "node-affinity": 0.0}, 0.375),
        NodeScoreMeta("n2", {"binpack": 0.5, "job-anti-affinity": -0.5, "node-reschedule-penalty": 0.0,
                             "node-affinity": 0.0}, 0.0)]


def _packed() -> AllocMetric:
    metric = AllocMetric(nodes_evaluated=2)
    metric.set_top_scores(LAYOUT, ["n1", "n2"], [0.375, 0.75, -0.0, 0.0, 0.5, -0.5])
    return metric


def test_containers_are_created_on_first_use_only():
    """A fresh metric holds no container; reading one gives an empty one, kept for later writes."""
    metric = AllocMetric(nodes_evaluated=3)
    assert all(metric.peek(name) is None for name in CONTAINERS)
    assert metric.class_filtered == {} and metric.quota_exhausted == [] and metric.score_meta_data == []
    metric.dimension_exhausted["cpu"] = metric.dimension_exhausted.get("cpu", 0) + 1
    assert metric.peek("dimension_exhausted") == {"cpu": 1} and metric.dimension_exhausted == {"cpu": 1}
    metric.exhausted_node("small", "memory")
    metric.filter_node("", "missing drivers")
    assert (metric.class_exhausted, metric.dimension_exhausted) == ({"small": 1}, {"cpu": 1, "memory": 1})
    assert (metric.nodes_filtered, metric.constraint_filtered) == (1, {"missing drivers": 1})
    assert metric == AllocMetric(nodes_evaluated=3, nodes_exhausted=1, nodes_filtered=1, class_exhausted={"small": 1},
                                 dimension_exhausted={"cpu": 1, "memory": 1}, constraint_filtered={"missing drivers": 1})


def test_given_containers_are_kept_as_given():
    """The constructor keeps the caller's objects (a shared NodesAvailable map is not copied)."""
    available = {"dc1": 3}
    metric = AllocMetric(nodes_available=available, score_meta_data=list(ROWS))
    assert metric.nodes_available is available and metric.score_meta_data == ROWS


def test_packed_scores_build_nomads_rows_exactly():
    """The packed rows give the NodeScoreMeta list, key order, -0.0 and constants included."""
    metric = _packed()
    assert metric.peek("score_meta_data") is None
    rows = metric.top_scores()
    assert rows == ROWS and [list(r.scores) for r in rows] == [list(r.scores) for r in ROWS]
    assert math.copysign(1.0, rows[0].scores["job-anti-affinity"]) == -1.0
    assert metric.peek("score_meta_data") is None  # top_scores builds, keeps nothing
    assert metric.score_meta_data == ROWS and metric.peek("score_meta_data") is metric.score_meta_data
    metric.score_meta_data.append(NodeScoreMeta("n3", {"binpack": 0.1}, 0.1))
    assert len(metric.top_scores()) == 3


def test_set_top_scores_adds_to_scores_already_there():
    """PopulateScoreMetaData on a metric that holds scores appends, as Nomad's append does."""
    metric = _packed()
    metric.set_top_scores(LAYOUT, ["n3"], [0.25, 0.5, 0.0])
    assert [r.node_id for r in metric.score_meta_data] == ["n1", "n2", "n3"]
    listed = AllocMetric()
    listed.score_meta_data.append(ROWS[0])
    listed.set_top_scores(LAYOUT, ["n2"], [0.0, 0.5, -0.5])
    assert listed.score_meta_data == ROWS


def test_layout_with_every_scorer_stored():
    """A layout without constants stores every scorer per node."""
    layout = ScoreLayout((("binpack", None), ("node-affinity", None)))
    metric = AllocMetric()
    metric.set_top_scores(layout, ["a", "b"], [1.0, 0.5, 1.5, 0.25, -1.0, 0.75])
    assert metric.score_meta_data == [NodeScoreMeta("a", {"binpack": 0.5, "node-affinity": 1.5}, 1.0),
                                      NodeScoreMeta("b", {"binpack": -1.0, "node-affinity": 0.75}, 0.25)]


def test_equality_copy_replace_and_pickle_see_the_full_struct():
    """Packed and listed forms of the same metric are equal; copies and replace keep every field."""
    listed = AllocMetric(nodes_evaluated=2, score_meta_data=list(ROWS))
    assert _packed() == listed and _packed() != AllocMetric(nodes_evaluated=2)
    for copied in (copy.copy(_packed()), copy.deepcopy(_packed()), pickle.loads(pickle.dumps(_packed())),
                   replace(_packed(), nodes_filtered=1)):
        assert copied.score_meta_data == ROWS and copied.nodes_evaluated == 2
    assert replace(_packed(), class_filtered={"c": 1}).class_filtered == {"c": 1}


def test_a_scan_metric_is_the_constructed_one():
    """`AllocMetric.of_scan` gives what the constructor gives from the same fields, as it is
    used after (containers made on first use, top scores packed)."""
    available = {"dc1": 3}
    made, built = AllocMetric.of_scan(7, 9, "pool", available), AllocMetric(7, 0, 9, "pool", available)
    assert not made.made_any() and made.peek("constraint_filtered") is None and made.top_scores() == []
    assert made.nodes_available is available and made == built  # (comparing reads every field)
    for metric in (made, built):
        metric.constraint_filtered["cpu"] = 2
        metric.nodes_exhausted += 1
        metric.coalesced_failures += 3
    assert made == built and made.made() == built.made()


def _fields(metric: AllocMetric) -> tuple[object, ...]:
    """Every field as read, the maps' key order included."""
    return (metric.nodes_filtered, metric.nodes_exhausted, list(metric.made().items()),
            [list(metric.peek(name).items()) if isinstance(metric.peek(name), dict) else None
             for name in ("constraint_filtered", "dimension_exhausted")])


def test_bulk_metric_helpers_equal_one_call_at_a_time() -> None:
    """`of_scans`, `set_all_top_scores` and `add_misses` against `of_scan`, `set_top_scores` and
    per-node updates, on random counts, with and without maps already made (key order kept)."""
    import random

    rng = random.Random(3)
    labels = ["cpu", "memory", "disk", "distinct_hosts", "x"]
    for _ in range(200):
        counts = [rng.randrange(0, 50) for _ in range(rng.randrange(0, 5))]
        fast = AllocMetric.of_scans(counts, 7, "pool", {"dc": 7})
        slow = [AllocMetric.of_scan(c, 7, "pool", {"dc": 7}) for c in counts]
        for a, b in zip(fast, slow, strict=True):
            if rng.random() < 0.3:  # a map made beforehand (a visit's filtered nodes), and top scores
                for m in (a, b):
                    m.constraint_filtered["y"] = 1
                    m.set_top_scores(LAYOUT, ["n0"], [0.5, 0.25, 0.0])
            for exhausted in (rng.random() < 0.5, rng.random() < 0.5):
                tallied = {}
                for label in rng.sample(labels, rng.randrange(1, 4)):
                    n = rng.randrange(1, 9)
                    tallied[label] = tallied.get(label, 0) + n
                    for _ in range(n):
                        if exhausted:
                            b.exhausted_node("", label)
                        else:
                            b.filter_node("", label)
                a.add_misses(exhausted, dict(tallied), sum(tallied.values()))
        rows = [[f"n{i}" for i in range(rng.randrange(0, 3))] for _ in counts]
        values = [[rng.random() for _ in range(3 * len(r))] for r in rows]
        AllocMetric.set_all_top_scores(fast, LAYOUT, rows, values)
        for m, r, v in zip(slow, rows, values, strict=True):
            m.set_top_scores(LAYOUT, r, v)
        for a, b in zip(fast, slow, strict=True):
            assert _fields(a) == _fields(b) and a == b and pickle.dumps(a) == pickle.dumps(b)
            assert a.top_scores() == b.top_scores()
